"""``raqib search`` and ``raqib kibana import``: the operators' commands of the indexer."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from services.indexer.search import SearchHit, Segment

kibana_app = typer.Typer(
    help="Kibana's saved objects (data views, dashboard).", no_args_is_help=True
)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"raqib: {message}", err=True)
    raise typer.Exit(code)


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--since {value!r} is not a date like 2026-11-01", 2)


def search(
    query: Annotated[
        str | None, typer.Argument(help="Words to find in title and text (Arabic analyzer).")
    ] = None,
    actor: Annotated[
        list[str] | None, typer.Option("--actor", help="Only articles tagged with this actor id.")
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="Only articles with this topic id.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only articles published on or after this date.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most articles to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per article.")] = False,
) -> None:
    """Search the archive: matching articles, newest first, with their mentions highlighted."""
    from services.indexer.search import read_hit, search_request

    request = search_request(
        query, actors=actor or [], topics=topic or [], since=_since(since), size=limit
    )
    total, hits = asyncio.run(_run_search(request))
    results = [read_hit(hit, actor or []) for hit in hits]
    if as_json:
        for result in results:
            typer.echo(json.dumps(_as_dict(result), ensure_ascii=False))
        return
    _print_results(total, results)


async def _run_search(request: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    from services.common.settings import ElasticsearchSettings
    from services.indexer.engines import EngineError, open_engine

    settings = ElasticsearchSettings()
    engine = open_engine(settings, max_retries=1)
    try:
        answer = await engine.search(settings.articles_alias, request)
    except EngineError as error:
        if error.status == 404:
            _fail(f"no articles indexed yet: {settings.articles_alias} not found at {settings.url}")
        _fail(f"search failed at {settings.url}: {error}")
    finally:
        await engine.close()
    hits: list[dict[str, Any]] = answer["hits"]["hits"]
    return int(answer["hits"]["total"]["value"]), hits


def _as_dict(result: SearchHit) -> dict[str, Any]:
    data: dict[str, Any] = asdict(result)
    data["title"] = "".join(piece for piece, _ in result.title)
    return data


def _print_results(total: int, results: list[SearchHit]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console()
    mark = "bold black on yellow"

    def text_of(segments: list[Segment], style: str = "") -> Text:
        line = Text(style=style)
        for piece, marked in segments:
            line.append(piece, style=mark if marked else None)
        return line

    console.print(f"{total} articles match; showing {len(results)}.", style="dim")
    for number, result in enumerate(results, start=1):
        console.print()
        heading = Text(f"{number}. ", style="bold")
        heading.append_text(text_of(result.title, "bold"))
        console.print(heading)
        console.print(
            f"{result.date or 'undated'} · {result.source} · {result.url or result.id}",
            style="dim",
            markup=False,
        )
        if result.actors or result.topics:
            actors, topics = ", ".join(result.actors), ", ".join(result.topics)
            console.print(
                f"actors: {actors or '-'}   topics: {topics or '-'}",
                style="cyan",
                markup=False,
            )
        for fragment in result.matches:
            console.print(text_of([("  ", False), *fragment]))
        for snippet in result.mentions:
            line = Text(f"  {snippet.actor}: ", style="green")
            line.append_text(text_of(snippet.segments))
            console.print(line)


@kibana_app.command("import")
def kibana_import(
    url: Annotated[str, typer.Argument(help="Kibana's base URL, e.g. http://kibana:5601.")],
    directory: Annotated[
        Path | None, typer.Option(help="Folder of .ndjson saved objects (default deploy/kibana).")
    ] = None,
) -> None:
    """Import the data views, visualizations, saved searches and dashboard (overwriting);
    the data views read the aliases RAQIB_ES_ARTICLES_ALIAS and RAQIB_ES_ALERTS_ALIAS."""
    from services.common.settings import ElasticsearchSettings
    from services.indexer.kibana import (
        DEFAULT_SAVED_OBJECTS_DIR,
        KibanaImportError,
        for_aliases,
        import_saved_objects,
        load_saved_objects,
        saved_object_files,
    )
    from services.indexer.settings import KibanaSettings

    es = ElasticsearchSettings()
    try:
        objects = for_aliases(
            load_saved_objects(saved_object_files(directory or DEFAULT_SAVED_OBJECTS_DIR)),
            articles_alias=es.articles_alias,
            alerts_alias=es.alerts_alias,
        )
        # One request with overwrite: an interrupted import is finished by running it again.
        from services.common.progress import Progress

        with Progress(total=len(objects), label="kibana import", unit="objects") as progress:
            result = import_saved_objects(url, objects, KibanaSettings())
            progress.advance(result.imported)
    except KibanaImportError as error:
        _fail(f"kibana import: {error}")
    typer.echo(json.dumps({"imported": result.imported, "objects": len(objects)}))


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.add_typer(kibana_app, name="kibana")
