"""``raqib feeds list|add|status`` and ``raqib fetch``: the fetcher from the command line.

``raqib fetch --once --stdout [--allow-private] URL...`` is a contract other tools rely on:
each URL is polled once (article pages too, when the feed's text is thin), every new
``RawArticle`` is printed as one JSON line on stdout as soon as it is ready, each story once;
a feed that fails is reported on stderr and the others still come out. Exit code 0 when every
feed was fetched, 1 when any failed, 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:  # imported where used, so ``raqib --help`` starts fast
    from services.fetcher.core import FeedConfig
    from services.fetcher.poller import FeedPoll
    from services.fetcher.settings import FetcherSettings

feeds_app = typer.Typer(
    help="The feeds file and the fetcher's per-feed state.", no_args_is_help=True
)

FeedsFileOption = Annotated[
    Path | None, typer.Option("--file", help="Feeds YAML (default: RAQIB_FETCHER_FEEDS_FILE).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"raqib: {message}", err=True)
    raise typer.Exit(code)


def _feeds_file(path: Path | None) -> Path:
    from services.fetcher.settings import FetcherSettings

    return path or FetcherSettings().feeds_file


def _load(path: Path) -> list[FeedConfig]:
    from services.common.errors import ConfigError
    from services.fetcher.poller import load_feeds_file

    try:
        return load_feeds_file(path)
    except ConfigError as error:
        _fail(str(error))


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@feeds_app.command("list")
def feeds_list(file: FeedsFileOption = None, as_json: JsonOption = False) -> None:
    """List the feeds in the feeds file."""
    rows = [
        {
            "name": feed.name,
            "enabled": feed.enabled,
            "language": feed.language,
            "poll_interval_s": feed.poll_interval_s,
            "source": feed.publication,
            "url": str(feed.url),
        }
        for feed in _load(_feeds_file(file))
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        _print_table(rows, ["name", "enabled", "language", "poll_interval_s", "url"])


def _list_indent(text: str) -> str:
    """The indentation of the existing ``feeds:`` items, so an appended one lines up."""
    match = re.search(r"^feeds:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*([ \t]*)- ", text, re.MULTILINE)
    return match.group(1) if match else "  "


@feeds_app.command("add")
def feeds_add(
    name: Annotated[str, typer.Argument(help="Unique short name (logs, RawArticle.feed).")],
    url: Annotated[str, typer.Argument(help="http(s) address of the RSS/RDF/Atom document.")],
    source: Annotated[str | None, typer.Option(help="Publication name.")] = None,
    language: Annotated[str, typer.Option(help="ISO 639 code of the articles.")] = "ar",
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 600.0,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it switched off.")] = False,
    file: FeedsFileOption = None,
) -> None:
    """Append a feed to the feeds file (its comments are kept); a running fetcher polls it
    within RAQIB_FETCHER_FEEDS_RELOAD_S."""
    from pydantic import ValidationError

    from services.common.addresses import UnsafeURLError, check_url_syntax
    from services.common.errors import ConfigError
    from services.fetcher.core import FeedConfig, feed_yaml_block, parse_feeds

    path = _feeds_file(file)
    try:
        check_url_syntax(url)
        feed = FeedConfig(
            name=name,
            url=url,  # validated into AnyHttpUrl
            source=source,
            language=language,
            poll_interval_s=interval,
            enabled=not disabled,
        )
    except (UnsafeURLError, ValidationError) as error:
        _fail(f"invalid feed: {error}")
    text = path.read_text(encoding="utf-8") if path.exists() else "feeds:\n"
    if text.strip() and not text.endswith("\n"):
        text += "\n"
    existing = (
        parse_feeds(text, str(path))
        if re.search(r"^feeds:[ \t]*\S", text, re.M) or re.search(r"^[ \t]*- ", text, re.M)
        else []
    )
    if any(f.name == name for f in existing):
        _fail(f"{path}: a feed named {name!r} already exists")
    if any(str(f.url) == str(feed.url) for f in existing):
        typer.echo(f"raqib: note: {path} already polls {feed.url} under another name", err=True)
    block = feed_yaml_block(feed, _list_indent(text))
    if existing:
        updated = f"{text}\n{block}"
    else:  # an empty list (``feeds:`` or ``feeds: []``): open it as a block list
        updated = re.sub(r"^feeds:.*$", "feeds:", text, count=1, flags=re.MULTILINE)
        updated = f"{updated}{block}" if updated.strip() else f"feeds:\n{block}"
    try:
        parse_feeds(updated, str(path))
    except ConfigError as error:
        _fail(f"{path}: cannot append to this file's layout, edit it by hand ({error})")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside it and moved into place: a running fetcher never reads half a file.
    draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    draft.write_text(updated, encoding="utf-8")
    os.replace(draft, path)
    typer.echo(f"added {name} to {path}")


@feeds_app.command("status")
def feeds_status(
    file: FeedsFileOption = None,
    state_file: Annotated[
        Path | None, typer.Option(help="State file (default: RAQIB_FETCHER_STATE_FILE).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Per feed: last poll, last success, failures, next poll, last error (from the state file)."""
    from services.common.errors import ConfigError
    from services.fetcher.settings import FetcherSettings
    from services.fetcher.store import read_feed_states

    settings = FetcherSettings()
    feeds = _load(file or settings.feeds_file)
    try:
        states = {s.name: s for s in read_feed_states(state_file or settings.state_file)}
    except ConfigError as error:
        _fail(str(error))
    rows = []
    for feed in feeds:
        state = states.get(feed.name)
        rows.append(
            {
                "name": feed.name,
                "enabled": feed.enabled,
                "last_status": state.last_status if state else None,
                "last_poll": _when(state.last_poll_at) if state else None,
                "last_success": _when(state.last_success_at) if state else None,
                "failures": state.failures if state else 0,
                "next_poll": _when(state.next_poll_at) if state else None,
                "published": state.published if state else 0,
                "last_error": state.last_error if state else None,
            }
        )
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        _print_table(rows, list(rows[0]) if rows else ["name"])


def fetch(
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="Feed URLs (default: the feeds file's enabled feeds)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll each feed once, then exit.")] = False,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="Print articles as JSON lines instead of publishing.")
    ] = False,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Allow private and loopback addresses.")
    ] = False,
    language: Annotated[str, typer.Option(help="Language of the URL feeds' articles.")] = "ar",
) -> None:
    """Poll feeds once: print new articles (--stdout) or publish them to articles.raw."""
    from pydantic import ValidationError

    from services.common.logs import configure_logging
    from services.fetcher.core import FeedConfig
    from services.fetcher.settings import FetcherSettings

    if not once:
        _fail("only --once is supported; `raqib run fetcher` polls continuously")
    settings = FetcherSettings()
    if allow_private:
        settings = settings.model_copy(update={"allow_private": True})
    configure_logging("fetcher", "WARNING")
    bad_urls: list[str] = []
    if urls:
        feeds = []
        for url in urls:
            try:
                feeds.append(FeedConfig(name=url, url=url, language=language))
            except ValidationError as error:
                problem = error.errors(include_url=False)[0]["msg"]
                typer.echo(f"raqib fetch: {url}: failed (invalid_url): {problem}", err=True)
                bad_urls.append(url)
    else:
        feeds = [feed for feed in _load(settings.feeds_file) if feed.enabled]
    polls = asyncio.run(_fetch_once(feeds, settings, to_stdout=stdout))
    failed = [poll for poll in polls if poll.status == "failed"]
    for poll in failed:
        typer.echo(f"raqib fetch: {poll.feed.url}: failed ({poll.reason}): {poll.error}", err=True)
    if failed or bad_urls:
        raise typer.Exit(1)


async def _fetch_once(
    feeds: list[FeedConfig], settings: FetcherSettings, *, to_stdout: bool
) -> list[FeedPoll]:
    from schemas import RawArticle
    from services.fetcher.poller import poll_once

    if to_stdout:

        async def emit(article: RawArticle) -> None:
            sys.stdout.write(article.model_dump_json() + "\n")
            sys.stdout.flush()

        return await poll_once(feeds, settings, emit)

    from services.common.kafka import ARTICLES_RAW, ensure_topics, standalone_producer

    await ensure_topics(settings.kafka, [settings.kafka.topic(ARTICLES_RAW)])
    producer = standalone_producer(settings.kafka)
    await producer.start()
    try:

        async def publish(article: RawArticle) -> None:
            await producer.send_and_wait(
                settings.kafka.topic(ARTICLES_RAW),
                article.model_dump_json().encode(),
                key=article.id.encode(),
            )

        return await poll_once(feeds, settings, publish)
    finally:
        await producer.stop()
