"""One batch of ``articles.enriched`` records → alerts in the outbox and on ``alerts`` →
deliveries started → dead letters.

Each record is parsed on its own: one that breaks the event contract goes alone to
``alerting.dlq`` with its original bytes. The rules run on the others inside one transaction
of the state file, synced to disk: the alerts they raise (with their articles), the window
counts, the cooldown firings and the digest memberships commit together, and are on the
replicas' changelog before the batch's offset is committed. Each article is evaluated in a
savepoint: one the rules fail on is dead-lettered and its writes undone. After the commit the
new alerts are published to ``alerts`` and handed to the deliverer (digest members wait for
their digest); an alert raised again (a replay) is delivered again only where it failed. The
batch returns once the deliverer has room: that is the consumer's back-pressure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from prometheus_client import Counter
from pydantic import ValidationError

from schemas import Alert, EnrichedArticle
from services.alerting.core import Engine, window_start
from services.alerting.deliverer import AlertDeliverer, Publish
from services.alerting.state import AlertingState
from services.common.kafka import DeadLetter, Record

ALERTS_RAISED = Counter("raqib_alerting_alerts_total", "Alerts raised, by rule.", ["rule"])
ALERTS_SUPPRESSED = Counter(
    "raqib_alerting_suppressed_total", "Alerts a cooldown suppressed, by rule.", ["rule"]
)
ALERTS_REPEATED = Counter(
    "raqib_alerting_repeated_total", "Alerts seen again (a replay), not raised twice.", ["rule"]
)

log = logging.getLogger("raqib.alerting")


class BatchAlerter:
    """Run the rules on one batch of records, write and publish the alerts they raise, start
    their delivery; dead-letter the records that cannot be evaluated."""

    def __init__(
        self,
        engine: Engine,
        state: AlertingState,
        *,
        publish: Publish,
        deliverer: AlertDeliverer,
        dead_letter: DeadLetter,
        now: Callable[[], datetime],
        replicate: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.rules = {rule.id: rule for rule in engine.rule_set.rules}
        self.state = state
        self.publish = publish
        self.deliverer = deliverer
        self.dead_letter = dead_letter
        self.now = now
        self.replicate = replicate

    async def __call__(self, records: Sequence[Record]) -> None:
        valid: list[tuple[Record, EnrichedArticle]] = []
        bad: list[tuple[Record, str, str]] = []
        for record in records:
            try:
                valid.append((record, EnrichedArticle.model_validate_json(record.value or b"")))
            except ValidationError as invalid:
                bad.append((record, "ValidationError", str(invalid)))
        now = self.now()
        raised: list[tuple[Alert, EnrichedArticle]] = []
        repeated: list[str] = []
        # Repeated alerts with a failed delivery, and their article: a replay retries them.
        retried: list[tuple[str, EnrichedArticle]] = []
        with self.state.transaction(durable=True):
            for record, article in valid:
                try:
                    with self.state.savepoint():
                        evaluation = self.engine.evaluate(article, self.state, now=now)
                        for alert in evaluation.raised:
                            self.state.add_alert(alert, article)
                            self._join_digest(alert)
                except Exception as error:
                    # Rules and rendering are pure: what fails once fails every time, so
                    # retrying would only block the partition; dead-letter the article.
                    bad.append(
                        (record, "RuleError", f"rules failed on article {article.id}: {error!r}")
                    )
                    continue
                raised += [(alert, article) for alert in evaluation.raised]
                repeated += evaluation.repeated
                for alert_id in evaluation.repeated:
                    if self.state.has_failed_delivery(alert_id):
                        retried.append((alert_id, article))
                        # Its article may have been dropped since: put back in this
                        # transaction, it is on the changelog before the offset is committed
                        # (the retry itself is handed the article, below).
                        self.state.restore_article(alert_id, article)
                for suppressed in evaluation.suppressed:
                    ALERTS_SUPPRESSED.labels(suppressed.match.rule.id).inc()
                    log.info(
                        "alert suppressed by cooldown",
                        extra={
                            "rule": suppressed.match.rule.id,
                            "alert_id": suppressed.match.alert_id,
                            "article_id": article.id,
                            "cooldown_of": suppressed.by,
                        },
                    )
        if self.replicate is not None:
            # On the changelog before the offset is committed (decision 52): a replica taking
            # over reads from the committed offsets, with every change they rely on.
            await self.replicate()
        for record, error_type, message in bad:
            await self.dead_letter(record, error_type, message)
        await asyncio.gather(*(self.publish(alert) for alert, _ in raised))
        for alert, article in raised:
            ALERTS_RAISED.labels(alert.rule.id).inc()
            log.info(
                "alert raised",
                extra={"alert_id": alert.id, "rule": alert.rule.id, "article_id": article.id},
            )
            if not any(d.digest_id for d in alert.deliveries):  # digest members wait for it
                self.deliverer.submit(alert, article)
        ALERTS_REPEATED.labels("replay").inc(len(repeated))
        for alert_id, article in retried:
            # A replay retries what failed before; what was delivered is skipped. With the
            # article in hand: a drop round during the awaits above may have emptied it again.
            self.deliverer.resume(alert_id, article)
        await self.deliverer.wait_for_room()

    def _join_digest(self, alert: Alert) -> None:
        rule = self.rules[alert.rule.id]
        if rule.digest is None or not alert.deliveries:
            return
        digest_id = alert.deliveries[0].digest_id
        assert digest_id is not None
        start = window_start(alert.created_at, rule.digest.window)
        end = start + rule.digest.window
        self.state.add_to_digest(digest_id, rule.id, start, end, alert.id)
