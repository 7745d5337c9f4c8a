"""``raqib dlq list|show|replay``: the dead letters of the stages, for operators."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from services.common.settings import KafkaSettings
    from services.operations.core import DeadLetterRecord, Decision, StageSummary

dlq_app = typer.Typer(
    help="Dead letters: list, show and replay what the stages could not handle.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"raqib dlq: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> KafkaSettings:
    from pydantic import ValidationError

    from services.common.settings import KafkaSettings

    try:
        return KafkaSettings()
    except ValidationError as error:
        _fail(f"invalid Kafka settings: {error}")


def _stage(stage: str) -> str:
    from services.operations.core import UnknownStageError, check_stage

    try:
        return check_stage(stage)
    except UnknownStageError as error:
        _fail(str(error))


def _run(coroutine: Any) -> Any:
    """Run the command's coroutine; a broker that cannot be reached is a clear error."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from services.common.progress import run_async

    try:
        return run_async(coroutine)
    except (KafkaConnectionError, OSError) as error:
        _fail(f"cannot reach Kafka: {error}", 1)
    except KafkaError as error:
        _fail(f"Kafka refused: {type(error).__name__}: {error}", 1)


@dlq_app.command("list")
def dlq_list(
    stage: Annotated[
        str | None, typer.Argument(help="enrichment, indexer or alerting (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per stage.")] = False,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics",
            help="Print Prometheus gauges instead (for node_exporter's textfile collector).",
        ),
    ] = False,
) -> None:
    """Per stage: how many dead letters, by error type, the oldest and the newest."""
    from services.operations.core import DEAD_LETTER_STAGES, summarise
    from services.operations.dlq import read_dead_letters, replayed_offsets

    stages = [_stage(stage)] if stage else list(DEAD_LETTER_STAGES)
    settings = _settings()

    async def read_all() -> list[StageSummary]:
        summaries = []
        for name in stages:
            records = await read_dead_letters(settings, name)
            done = await replayed_offsets(settings, name, {r.error_type for r in records})
            summaries.append(summarise(name, records, done))
        return summaries

    summaries: list[StageSummary] = _run(read_all())
    if metrics:
        from services.operations.metrics import dead_letter_gauges

        typer.echo(dead_letter_gauges(summaries), nl=False)
        return
    for summary in summaries:
        if as_json:
            typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
            continue
        span = (
            f", {summary.oldest:%Y-%m-%d %H:%M:%S} … {summary.newest:%Y-%m-%d %H:%M:%S} UTC"
            if summary.oldest and summary.newest
            else ""
        )
        typer.echo(
            f"{summary.stage}: {summary.count} dead letters, {summary.pending} not replayed{span}"
        )
        for error_type, count in summary.by_error_type.most_common():
            typer.echo(f"  {count:>7}  {error_type}")
        if summary.cannot_replay:
            typer.echo(f"  ({summary.cannot_replay} cannot be replayed: see raqib dlq show)")


@dlq_app.command("show")
def dlq_show(
    stage: Annotated[str, typer.Argument(help="enrichment, indexer or alerting.")],
    error_type: Annotated[
        list[str] | None, typer.Option("--error-type", help="Only this error type (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most records to show.")] = 20,
    max_bytes: Annotated[
        int, typer.Option(min=16, help="Most bytes of each value to print (text output).")
    ] = 2000,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per record, the value whole.")
    ] = False,
) -> None:
    """Each dead letter: source topic, partition, offset, time, error and its original bytes."""
    from services.operations.dlq import read_dead_letters

    stage = _stage(stage)
    records = _run(read_dead_letters(_settings(), stage))
    selected = [r for r in records if not error_type or r.error_type in error_type][:limit]
    for record in selected:
        if as_json:
            typer.echo(json.dumps(record_json(record), ensure_ascii=False))
        else:
            typer.echo(record_text(record, max_bytes))
    if not as_json:
        typer.echo(f"({len(selected)} of {len(records)} dead letters of {stage} shown)", err=True)


def record_json(record: DeadLetterRecord) -> dict[str, Any]:
    """A dead letter as JSON: text values as text, others in base64; nothing cut off."""
    from services.operations.core import replay_refusal

    try:
        text: str | None = record.value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    failed_at = record.failed_at
    return {
        "dead_letter": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        },
        "stage": record.stage,
        "source": {
            "topic": record.source_topic,
            "partition": record.source_partition,
            "offset": record.source_offset,
        },
        "failed_at": failed_at.isoformat() if failed_at else None,
        "error_type": record.error_type,
        "error": record.error,
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "value_text": text,
        "value_base64": None if text is not None else base64.b64encode(record.value).decode(),
        "value_bytes": len(record.value),
        "original_bytes": record.original_bytes,
        "truncated": record.truncated,
        "cannot_replay": replay_refusal(record),
    }


def record_text(record: DeadLetterRecord, max_bytes: int) -> str:
    """A dead letter for a terminal: every byte of it safe to print."""
    from services.operations.core import replay_refusal, show_value

    failed_at = record.failed_at
    key = show_value(record.key, 200).shown if record.key is not None else "-"
    value = show_value(record.value, max_bytes)
    omitted = f" … ({value.omitted:,} more bytes)" if value.omitted else ""
    lines = [
        f"── {record.where}  {failed_at:%Y-%m-%d %H:%M:%S} UTC"
        if failed_at
        else f"── {record.where}",
        f"   from   {record.source()}  key {key}",
        f"   error  {record.error_type}: {show_value(record.error.encode(), 4000).shown}",
    ]
    if record.truncated:
        lines.append(
            f"   only the first {len(record.value):,} of {record.original_bytes:,} bytes kept "
            f"(sha256 {record.original_sha256})"
        )
    refusal = replay_refusal(record)
    if refusal and not record.truncated:
        lines.append(f"   cannot be replayed: {refusal}")
    lines.append(f"   {value.kind} ({len(record.value):,} bytes): {value.shown}{omitted}")
    return "\n".join(lines)


@dlq_app.command("replay")
def dlq_replay(
    stage: Annotated[str, typer.Argument(help="enrichment, indexer or alerting.")],
    error_type: Annotated[
        list[str] | None,
        typer.Option("--error-type", help="Only this error type (repeatable); others stay."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only dead letters written since: 2026-11-01, 2026-11-01T08:00Z or 6h, 2d. "
            "Older ones not yet replayed are passed over for good."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be replayed; send nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Records per Kafka transaction.")
    ] = 100,
) -> None:
    """Send dead letters back to their source topics, each once, even across interrupted runs."""
    from services.common.progress import Progress
    from services.operations.core import Decision, parse_since, replay_refusal
    from services.operations.dlq import replay_dead_letters

    stage = _stage(stage)
    settings = _settings()
    try:
        since_at = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as error:
        _fail(f"--since: {error}")
    bars: list[Progress] = []

    def make_progress(total: int | None) -> Progress:
        bars.append(Progress(total=total, label=f"dlq replay {stage}", unit="records"))
        return bars[0]

    def on_record(record: DeadLetterRecord, decision: Decision) -> None:
        bar = bars[0] if bars else None
        say = bar.note if bar else lambda line: typer.echo(line, err=True)
        if decision is Decision.CANNOT_REPLAY:
            say(f"{record.where}: cannot replay: {replay_refusal(record)}")
        elif dry_run and decision is Decision.REPLAY:
            say(f"{record.where}: would replay {record.error_type} to {record.source()}")

    outcome = _run(
        replay_dead_letters(
            settings,
            stage,
            error_types=error_type or None,
            since=since_at,
            dry_run=dry_run,
            batch_size=batch_size,
            on_record=on_record,
            progress=make_progress,
        )
    )
    typer.echo(json.dumps(outcome.to_dict(), ensure_ascii=False))
