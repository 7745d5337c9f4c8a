"""``raqib rules check`` and ``raqib rules test``: try a rules file without running anything."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

rules_app = typer.Typer(help="Check and try alert rules files.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"raqib rules: {message}", err=True)
    raise typer.Exit(code)


@rules_app.command("check")
def check(
    rules_file: Annotated[Path, typer.Argument(help="The rules YAML file.")],
) -> None:
    """Validate a rules file; errors name the file, rule and field. Exit 2 when invalid."""
    from services.alerting.core import load_rules
    from services.common.errors import ConfigError

    try:
        rule_set = load_rules(rules_file)
    except ConfigError as error:
        _fail(str(error))
    kinds = {rule.id: rule.kind for rule in rule_set.rules}
    for deprecation in rule_set.deprecations:
        typer.echo(f"raqib rules: {rules_file}: warning: {deprecation}", err=True)
    channels = rule_set.channel_kinds
    typer.echo(
        json.dumps({"path": str(rules_file), "ok": True, "rules": kinds, "channels": channels})
    )


@rules_app.command("test")
def test(
    rules_file: Annotated[Path, typer.Argument(help="The rules YAML file.")],
    files: Annotated[list[str], typer.Argument(help="UTF-8 text files; '-' reads stdin.")],
    knowledge_base: Annotated[
        Path | None, typer.Option(help="Knowledge-base YAML (default: the packaged one).")
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the texts.")] = "ar",
    source: Annotated[str, typer.Option(help="Source name the texts are from.")] = "raqib-cli",
) -> None:
    """Enrich each file as the enrichment stage does and print the match rules that would
    fire, one JSON line per file: {"path", "rules": [ids]}. Nothing is sent."""
    from pydantic import ValidationError

    from schemas import RawArticle, article_id, content_hash
    from services.alerting.core import evaluate_rules, load_rules
    from services.common.errors import ConfigError
    from services.enrichment.core import InvalidText, Tagger, enrich, load_knowledge_base

    try:
        rule_set = load_rules(rules_file)
        tagger = Tagger(load_knowledge_base(knowledge_base))
    except ConfigError as error:
        _fail(str(error))
    match_rules = [rule for rule in rule_set.rules if rule.kind == "match"]
    now = datetime.now(UTC)
    failed = False
    for name in files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            text = data.decode("utf-8")
            raw = RawArticle(
                id=article_id(f"{source}\n{text}"),
                source=source,
                title="",
                text=text,
                language=language,
                fetched_at=now,
                content_hash=content_hash(text),
            )
            article = enrich(raw, tagger, now=now)
        except (OSError, UnicodeDecodeError, InvalidText, ValidationError) as error:
            typer.echo(f"raqib rules test: {name}: {error}", err=True)
            failed = True
            continue
        fired = [match.rule.id for match in evaluate_rules(match_rules, article)]
        typer.echo(json.dumps({"path": name, "rules": fired}, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)
