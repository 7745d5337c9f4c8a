"""The batch handler when an article comes again (a replay): its alert is not raised twice,
and a delivery that failed is tried again, even after the alert's article was dropped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from schemas import Alert, DeliveryStatus, EnrichedArticle
from services.alerting.batch import BatchAlerter
from services.alerting.channels import AttemptFailed
from services.alerting.core import Engine, load_rules
from services.alerting.state import AlertingState
from services.common.kafka import Record
from tests.unit.alerting.articles import enriched
from tests.unit.alerting.test_deliverer import Service
from tests.unit.alerting.test_dispatcher import NOW, ScriptedChannel
from tests.waiting import until

RULES = """
channels:
  hook: {kind: webhook, url: 'https://hooks.example/raqib'}
rules:
  - {id: deterrence, name: Deterrence, match: {actors: {any: [special-deterrence-force]}},
     channels: [hook]}
"""


def _record(article: EnrichedArticle, offset: int) -> Record:
    value = article.model_dump_json().encode()
    return ConsumerRecord(
        "articles.enriched", 0, offset, 0, 0, article.id.encode(), value, None, 0, len(value), []
    )


def _alerter(
    store: AlertingState,
    rules_file: Path,
    service: Service,
    replicate: Callable[[], Awaitable[None]] | None = None,
) -> BatchAlerter:
    """The batch handler over ``service``'s deliverer; nothing may be dead-lettered."""
    rules_file.write_text(RULES, encoding="utf-8")

    async def publish(alert: Alert) -> bool:
        return True

    async def dead_letter(record: Record, error_type: str, message: str) -> None:
        raise AssertionError(f"{error_type}: {message}")

    return BatchAlerter(
        Engine(load_rules(rules_file)),
        store,
        publish=publish,
        deliverer=service.deliverer,
        dead_letter=dead_letter,
        now=lambda: NOW,
        replicate=replicate,
    )


def _refused_then_taken() -> ScriptedChannel:
    return ScriptedChannel("hook", [AttemptFailed("HTTP 400: bad request", retry=False), None])


async def test_a_replay_puts_back_a_dropped_article_and_retries_the_failed_delivery(
    tmp_path: Path,
) -> None:
    with AlertingState(tmp_path / "alerting.sqlite3") as store:
        hook = _refused_then_taken()
        service = Service(store, hook)
        alerter = _alerter(store, tmp_path / "rules.yaml", service)
        article = enriched()
        await alerter([_record(article, 0)])
        await until(lambda: len(service.dead) == 1 and not service.deliverer.pending)
        (alert_id,) = hook.sent
        assert store.drop_articles(raised_before=NOW + timedelta(days=1)) == 1
        assert store.load_alert(alert_id) is None

        await alerter([_record(article, 1)])  # the replay
        await until(lambda: hook.calls == 2 and not service.deliverer.pending)
        assert hook.sent == [alert_id, alert_id]  # raised once, sent again
        record = store.get(alert_id, "hook")
        assert record is not None and record.status is DeliveryStatus.DELIVERED
        assert store.load_alert(alert_id) is not None


async def test_a_drop_round_between_the_replay_and_its_retry_loses_nothing(
    tmp_path: Path,
) -> None:
    with AlertingState(tmp_path / "alerting.sqlite3") as store:
        hook = _refused_then_taken()
        service = Service(store, hook)
        dropped: list[int] = []

        async def replicate() -> None:
            # Housekeeping's drop round lands while the batch waits on the changelog.
            dropped.append(store.drop_articles(raised_before=NOW + timedelta(days=1)))

        alerter = _alerter(store, tmp_path / "rules.yaml", service, replicate)
        article = enriched()
        await alerter([_record(article, 0)])
        await until(lambda: len(service.dead) == 1 and not service.deliverer.pending)
        await alerter([_record(article, 1)])  # the replay: restored, then dropped again
        assert dropped[-1] == 1
        await until(lambda: hook.calls == 2 and not service.deliverer.pending)
        (alert_id, again) = hook.sent
        assert again == alert_id
        record = store.get(alert_id, "hook")
        assert record is not None and record.status is DeliveryStatus.DELIVERED
