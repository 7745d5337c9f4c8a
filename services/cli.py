"""``raqib``: the one command line for every entry point (contracts in docs/design.md)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="raqib",
    help="Raqib (رقيب): news monitoring for Libya's armed actors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="The event contracts' JSON Schemas.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
settings_app = typer.Typer(help="Raqib's settings.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")
from services.alerting.cli import rules_app  # noqa: E402

app.add_typer(rules_app, name="rules")
from services.fetcher.cli import feeds_app, fetch  # noqa: E402  (fetcher commands)

app.add_typer(feeds_app, name="feeds")
app.command()(fetch)

# The repository's fixtures wherever the command is started from (an editable install);
# in an installed image, ./seeds of the working directory.
_REPO_SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DEFAULT_SEEDS = _REPO_SEEDS if _REPO_SEEDS.is_dir() else Path("seeds")


class Service(StrEnum):
    fetcher = "fetcher"
    enrichment = "enrichment"
    indexer = "indexer"
    alerting = "alerting"


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"raqib: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def tag(
    files: Annotated[list[str], typer.Argument(help="UTF-8 text files; '-' reads stdin.")],
    knowledge_base: Annotated[
        Path | None, typer.Option(help="Knowledge-base YAML (default: the packaged one).")
    ] = None,
) -> None:
    """Tag text files with actors and topics, no server needed; one JSON line per file."""
    from services.common.errors import ConfigError
    from services.enrichment.core import InvalidText, Tagger, load_knowledge_base

    try:
        tagger = Tagger(load_knowledge_base(knowledge_base))
    except ConfigError as error:
        _fail(str(error))
    failed = False
    for name in files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            result = tagger.tag("", data.decode("utf-8"))
        except (OSError, UnicodeDecodeError, InvalidText) as error:
            typer.echo(f"raqib tag: {name}: {error}", err=True)
            failed = True
            continue
        line = {
            "path": name,
            "entities": [e.to_dict() for e in result.entities],
            "topics": [t.to_dict() for t in result.topics],
        }
        typer.echo(json.dumps(line, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)


@app.command()
def replay(
    directory: Annotated[Path, typer.Argument(help="Folder of NAME.txt (+ NAME.json).")] = (
        DEFAULT_SEEDS
    ),
) -> None:
    """Publish the fixture articles to articles.raw (ids are stable across replays, so an
    interrupted replay is finished by running it again)."""
    from services.common.errors import ConfigError
    from services.common.progress import Progress, run_async
    from services.common.settings import KafkaSettings
    from services.replay.publish import replay as publish_fixtures

    try:
        articles = run_async(
            publish_fixtures(
                directory,
                KafkaSettings(),
                progress=lambda total: Progress(total=total, label="replay", unit="articles"),
            )
        )
    except ConfigError as error:
        _fail(str(error))
    typer.echo(json.dumps({"published": len(articles), "ids": [a.id for a in articles]}))


@app.command()
def run(service: Annotated[Service, typer.Argument(help="The service to run.")]) -> None:
    """Run one service until SIGINT/SIGTERM."""
    from prometheus_client import start_http_server
    from pydantic import ValidationError

    from services.common.errors import ConfigError
    from services.common.logs import configure_logging
    from services.common.settings import ObservabilitySettings

    try:
        observability = ObservabilitySettings()
        configure_logging(service.value, observability.log_level)
        module: Any = importlib.import_module(f"services.{service.value}.app")
        service_app = module.build_app()
    except (ConfigError, ValidationError) as error:
        # Bad configuration is the operator's to fix: say what is wrong, no traceback.
        _fail(f"{service.value}: invalid configuration: {error}")
    if observability.metrics_port:
        start_http_server(observability.metrics_port, addr=observability.metrics_host)
    asyncio.run(service_app.run())


@app.command()
def demo(
    seeds: Annotated[Path, typer.Option(help="Fixture folder to replay.")] = DEFAULT_SEEDS,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the pipeline.")] = 180.0,
) -> None:
    """The whole system on this machine: replay the seeds, show articles and alerts, exit."""
    from services.devstack.stack import run_local

    summary, complete = run_local(seeds, keep_running=False, timeout=timeout)
    typer.echo(json.dumps(summary, ensure_ascii=False))
    if not complete:
        _fail("the pipeline did not process every seed in time; see the service logs", 1)


@app.command()
def dev(
    seeds: Annotated[Path, typer.Option(help="Fixture folder to replay.")] = DEFAULT_SEEDS,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the replay.")] = 180.0,
) -> None:
    """Like demo, then keep everything running until Ctrl-C, and stop what it started."""
    from services.devstack.stack import run_local

    # Prints the summary line once the replay is through, then blocks until Ctrl-C.
    run_local(seeds, keep_running=True, timeout=timeout)


@schemas_app.command("export")
def schemas_export() -> None:
    """Write schemas/json/*.schema.json from the pydantic models."""
    from schemas.export import export_schemas

    for path in export_schemas():
        typer.echo(str(path))


from services.indexer.cli import register as register_indexer  # noqa: E402

register_indexer(app)  # raqib search, raqib kibana import

from services.operations.cli import dlq_app  # noqa: E402

app.add_typer(dlq_app, name="dlq")  # raqib dlq list|show|replay

from services.operations.retag import retag as retag_command  # noqa: E402

app.command("retag")(retag_command)

if __name__ == "__main__":
    app()


@settings_app.command("table")
def settings_table(
    write: Annotated[
        Path | None,
        typer.Option(help="Put the table between the markers of this Markdown file instead."),
    ] = None,
) -> None:
    """Print every setting (variable, default, meaning), made from the settings classes."""
    from services import settings_table as generated

    if write is None:
        typer.echo(generated.table(), nl=False)
        return
    try:
        changed = generated.write(write)
    except (OSError, ValueError) as error:
        _fail(f"settings table: {write}: {error}")
    typer.echo(f"{write}: {'updated' if changed else 'already up to date'}", err=True)
