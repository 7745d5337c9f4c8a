"""``raqib retag``: re-enrich archived articles with the current knowledge base.

The command reads the selected documents from the articles alias, page by page in id order,
and publishes each as the raw article it was enriched from, with a ``retag`` marker (run id,
time requested, alert mode, the month its document is in), to ``articles.raw``, keyed by its
id like any new article. From there the articles take the path new ones take: enrichment tags
them with the knowledge base it runs with and carries the marker, the indexer replaces each
document by id (in the month its document already was), alerting honours the alert mode. The
command then waits until the index shows the run's marker on each document it sent and no
document of the selection with another knowledge-base version, and reports the tags that
changed per actor. Decision 60 says why the archive, not a raw topic, is the source.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import typer

from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.operations.retag_core import (
    ALERTS_MODES,
    AlertsMode,
    RetagInputError,
    Selection,
    TagChanges,
    new_run_id,
    parse_cutoff,
    parse_when,
    raw_article,
    retagged_query,
    scan_request,
    selection_query,
    stale_query,
)


class RetagError(Exception):
    """The re-tag cannot go on; the message says why and what was done."""


@dataclass(frozen=True)
class RetagPlan:
    selection: Selection
    kb_version: str
    alerts: AlertsMode | None
    cutoff: datetime
    run_id: str
    requested_at: datetime
    page_size: int = 500
    stall_s: float = 120.0  # give up waiting when no document was re-tagged for this long
    poll_s: float = 1.0


def _engine_failure(error: Exception, es: ElasticsearchSettings) -> RetagError:
    from services.indexer.engines import EngineError

    if isinstance(error, EngineError) and error.status == 404:
        return RetagError(f"no articles indexed: {es.articles_alias} not found at {es.url}")
    return RetagError(f"search engine at {es.url}: {error}")


async def run_retag(
    plan: RetagPlan,
    kafka: KafkaSettings,
    es: ElasticsearchSettings,
    *,
    stream: IO[str] | None = None,
    tty: bool | None = None,
) -> tuple[dict[str, Any], TagChanges]:
    """Publish, wait, compare; returns the summary and the changes. Raises ``RetagError``."""
    from services.indexer.engines import EngineError, open_engine

    engine = open_engine(es, max_retries=1)
    try:
        query = selection_query(plan.selection)
        try:
            total = await engine.count(es.articles_alias, query)
        except EngineError as error:
            raise _engine_failure(error, es) from error
        if total == 0:
            raise RetagError(f"no archived article matches the selection {_describe(plan)}")
        started = time.monotonic()
        before, published, skipped, modes = await _publish(
            plan, kafka, es, engine, total, stream, tty
        )
        published_s = time.monotonic() - started
        retagged = await _wait(plan, es, engine, len(before), skipped, stream, tty)
        changes = await _compare(plan, es, engine, before)
    finally:
        await engine.close()
    return {
        "retag": plan.run_id,
        "status": "done",
        "matched": total,
        "published": published,
        "skipped": skipped,
        "retagged": retagged,
        "knowledge_base_version": plan.kb_version,
        "alerts": modes,
        "changed_documents": changes.changed_documents,
        "changed": changes.as_dict(),
        "published_s": round(published_s, 3),
        "elapsed_s": round(time.monotonic() - started, 3),
    }, changes


async def _publish(
    plan: RetagPlan,
    kafka: KafkaSettings,
    es: ElasticsearchSettings,
    engine: Any,
    total: int,
    stream: IO[str] | None,
    tty: bool | None,
) -> tuple[dict[str, tuple[str, ...]], int, int, dict[str, int]]:
    """Every selected document to ``articles.raw``, marked; returns the actors each had
    before (by id), how many were published and skipped, and the alert modes given."""
    from aiokafka.errors import KafkaError

    from services.common.kafka import ARTICLES_RAW, ensure_topics, standalone_producer
    from services.common.progress import Progress
    from services.indexer.engines import EngineError

    topic = kafka.topic(ARTICLES_RAW)
    producer = standalone_producer(kafka)
    try:
        await producer.start()
        await ensure_topics(kafka, [topic])
    except (KafkaError, OSError) as error:
        await producer.stop()
        raise RetagError(f"Kafka at {kafka.bootstrap_servers}: {error}") from error
    before: dict[str, tuple[str, ...]] = {}
    modes: dict[str, int] = dict.fromkeys(ALERTS_MODES, 0)
    skipped = 0
    query = selection_query(plan.selection)
    hint = f"run the same command with --resume {plan.run_id} to go on where it stopped"
    try:
        with Progress(
            total=total, label="retag", unit="articles", stream=stream, tty=tty, resume_hint=hint
        ) as progress:
            page = asyncio.ensure_future(
                engine.search(es.articles_alias, scan_request(query, None, plan.page_size))
            )
            while True:
                try:
                    hits = (await page)["hits"]["hits"]
                except EngineError as error:
                    raise _engine_failure(error, es) from error
                if not hits:
                    break
                after = str(hits[-1]["sort"][0])
                # The next page is read while this one is sent.
                page = asyncio.ensure_future(
                    engine.search(es.articles_alias, scan_request(query, after, plan.page_size))
                )
                acks = []
                for hit in hits:
                    try:
                        marked = raw_article(
                            hit["_source"],
                            run_id=plan.run_id,
                            requested_at=plan.requested_at,
                            alerts=plan.alerts,
                            cutoff=plan.cutoff,
                        )
                    except RetagInputError as error:
                        skipped += 1
                        progress.count("skipped")
                        progress.note(f"skipped: {error}")
                        continue
                    article = marked.article
                    assert article.retag is not None
                    modes[article.retag.alerts] += 1
                    before[article.id] = marked.actors
                    acks.append(
                        await producer.send(
                            topic, article.model_dump_json().encode(), key=article.id.encode()
                        )
                    )
                try:
                    await asyncio.gather(*acks)
                except KafkaError as error:
                    page.cancel()
                    raise RetagError(
                        f"Kafka at {kafka.bootstrap_servers} refused articles after "
                        f"{len(before) - len(acks)} were published: {error}"
                    ) from error
                progress.advance(len(hits))
    finally:
        await producer.stop()
    return before, len(before), skipped, modes


async def _wait(
    plan: RetagPlan,
    es: ElasticsearchSettings,
    engine: Any,
    published: int,
    skipped: int,
    stream: IO[str] | None,
    tty: bool | None,
) -> int:
    """Until the index shows the run's marker on every document sent and no document of the
    selection keeps another knowledge-base version (but those skipped); gives up when nothing
    moved for ``plan.stall_s``."""
    from services.common.progress import Progress
    from services.indexer.engines import EngineError

    stale_q = stale_query(plan.selection, plan.kb_version)
    done_q = retagged_query(plan.run_id)
    retagged = stale = 0
    moved_at = time.monotonic()
    with Progress(
        total=published, label="retag: indexed", unit="articles", stream=stream, tty=tty
    ) as progress:
        while True:
            try:
                now_retagged = await engine.count(es.articles_alias, done_q)
                stale = await engine.count(es.articles_alias, stale_q)
            except EngineError as error:
                raise _engine_failure(error, es) from error
            if now_retagged != retagged:
                progress.advance(now_retagged - retagged)
                retagged = now_retagged
                moved_at = time.monotonic()
            if retagged >= published and stale <= skipped:
                return retagged
            if time.monotonic() - moved_at > plan.stall_s:
                versions = await _versions(engine, es.articles_alias, stale_q)
                raise RetagError(
                    f"gave up waiting after {plan.stall_s:g} s without progress: "
                    f"{retagged} of {published} documents re-tagged; {stale} of the selection "
                    f"still carry another knowledge-base version than {plan.kb_version} "
                    f"({versions}). Is enrichment running with the knowledge base this command "
                    "read (RAQIB_ENRICHMENT_KNOWLEDGE_BASE), and are enrichment and the indexer "
                    "running?"
                )
            await asyncio.sleep(plan.poll_s)


async def _versions(engine: Any, alias: str, query: Mapping[str, Any]) -> str:
    body = {
        "query": dict(query),
        "size": 0,
        "aggs": {"versions": {"terms": {"field": "knowledge_base_version", "size": 5}}},
    }
    try:
        answer = await engine.search(alias, body)
    except Exception:  # only for the message
        return "versions unknown"
    buckets = answer.get("aggregations", {}).get("versions", {}).get("buckets", [])
    return ", ".join(f"{b['key']}: {b['doc_count']}" for b in buckets) or "none"


async def _compare(
    plan: RetagPlan,
    es: ElasticsearchSettings,
    engine: Any,
    before: Mapping[str, tuple[str, ...]],
) -> TagChanges:
    """The run's documents as indexed now against the actors they had before."""
    from services.indexer.engines import EngineError

    changes = TagChanges()
    after: str | None = None
    query = retagged_query(plan.run_id)
    while True:
        request = scan_request(query, after, max(plan.page_size, 1000))
        request["_source"] = ["id", "actors"]
        try:
            hits = (await engine.search(es.articles_alias, request))["hits"]["hits"]
        except EngineError as error:
            raise _engine_failure(error, es) from error
        if not hits:
            return changes
        for hit in hits:
            source = hit["_source"]
            if source["id"] in before:
                changes.compare(before[source["id"]], source.get("actors") or ())
        after = str(hits[-1]["sort"][0])


def _describe(plan: RetagPlan) -> str:
    selection = plan.selection
    parts = [
        f"since {selection.since.isoformat()}" if selection.since else "",
        f"until {selection.until.isoformat()}" if selection.until else "",
        f"actor {selection.actor}" if selection.actor else "",
        f"older than knowledge base {selection.older_than_kb}" if selection.older_than_kb else "",
        f"not yet re-tagged by {selection.resume}" if selection.resume else "",
    ]
    shown = ", ".join(p for p in parts if p)
    return f"({shown})" if shown else "(the whole archive)"


# --- the command --------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"raqib retag: {message}", err=True)
    raise typer.Exit(code)


def retag(
    since: Annotated[
        str | None,
        typer.Option(help="Articles from this date (article time: published, else fetched)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Articles before the end of this date (or before this time).")
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            help="Only articles tagged with this actor id or naming one of its aliases "
            "(current knowledge base)."
        ),
    ] = None,
    older_than_kb: Annotated[
        bool,
        typer.Option(
            "--older-than-kb", help="Only articles tagged with another knowledge-base version."
        ),
    ] = False,
    alerts: Annotated[
        str | None,
        typer.Option(
            help="none: raise no alert; new: raise only alerts never raised before. "
            "Default: none for articles older than --alerts-cutoff, new for the others."
        ),
    ] = None,
    alerts_cutoff: Annotated[
        str, typer.Option(help="An age (7d, 36h, 90m) or a date: the default's cut-off.")
    ] = "7d",
    resume: Annotated[
        str | None,
        typer.Option(help="Go on with an interrupted run: its id; what it re-tagged is left out."),
    ] = None,
    wait: Annotated[
        float, typer.Option(min=1, help="Give up when nothing was re-tagged for this many seconds.")
    ] = 120.0,
    page_size: Annotated[int, typer.Option(min=1, max=10000, help="Documents read at once.")] = 500,
) -> None:
    """Re-tag archived articles with the current knowledge base, through enrichment."""
    from services.common.errors import ConfigError
    from services.common.progress import run_async
    from services.enrichment.core import load_knowledge_base
    from services.enrichment.settings import EnrichmentSettings

    requested_at = datetime.now(UTC)
    try:
        knowledge_base_path: Path | None = EnrichmentSettings().knowledge_base
        knowledge_base = load_knowledge_base(knowledge_base_path)
    except ConfigError as error:
        _fail(f"knowledge base: {error}", 2)
    if alerts is not None and alerts not in ALERTS_MODES:
        _fail(f"--alerts {alerts!r} is not one of {', '.join(ALERTS_MODES)}", 2)
    aliases: list[str] = []
    if actor is not None:
        known = knowledge_base.actors.get(actor)
        if known is None:
            _fail(
                f"--actor {actor!r} is not an actor of the knowledge base "
                f"{knowledge_base_path or '(packaged)'} (version {knowledge_base.version})",
                2,
            )
        aliases = [alias.text for alias in known.aliases]
    try:
        selection = Selection(
            since=parse_when(since, "--since") if since else None,
            until=parse_when(until, "--until", end_of_day=True) if until else None,
            actor=actor,
            actor_aliases=aliases,
            older_than_kb=knowledge_base.version if older_than_kb else None,
            resume=resume,
        )
        cutoff = parse_cutoff(alerts_cutoff, requested_at)
    except RetagInputError as error:
        _fail(str(error), 2)
    plan = RetagPlan(
        selection=selection,
        kb_version=knowledge_base.version,
        alerts=alerts,  # narrowed by the check above
        cutoff=cutoff,
        run_id=resume or new_run_id(requested_at),
        requested_at=requested_at,
        page_size=page_size,
        stall_s=wait,
    )
    try:
        summary, changes = run_async(run_retag(plan, KafkaSettings(), ElasticsearchSettings()))
    except RetagError as error:
        _fail(str(error), 1)
    for line in changes.lines():
        typer.echo(line)
    typer.echo(json.dumps(summary, ensure_ascii=False))
