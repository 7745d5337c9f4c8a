"""The alerting service against a real Kafka-protocol broker, SMTP server and webhook receiver."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas import Alert, DeliveryStatus, EnrichedArticle, alert_id
from services.alerting.app import build_app
from services.alerting.core import build_alert as real_build_alert
from services.alerting.settings import AlertingSettings, SmtpSettings
from services.alerting.state import AlertingState
from services.common.kafka import ALERTS, ARTICLES_ENRICHED
from services.common.settings import KafkaSettings
from services.devstack.receivers import ReceivedRequest, SmtpCatcher, WebhookReceiver
from services.devstack.servers import free_port
from services.devstack.topics import group_lag, read_topic
from tests.unit.alerting.articles import BASHAGHA, enriched
from tests.waiting import until

pytestmark = pytest.mark.integration

SECRET = "integration-secret"
TIMEOUT = 30.0


async def eventually(predicate: Callable[[], bool], within: float = TIMEOUT) -> None:
    """``until``, with the time a service process may need here."""
    await until(predicate, within_s=within, every_s=0.1)


async def publish(kafka: KafkaSettings, *values: bytes, key: bytes = b"one-partition") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(kafka.topic(ARTICLES_ENRICHED), value, key=key)
    finally:
        await producer.stop()


def as_bytes(article: EnrichedArticle) -> bytes:
    return article.model_dump_json().encode()


def settings_for(
    tmp_path: Path,
    kafka: KafkaSettings,
    rules: str,
    smtp: SmtpCatcher | None = None,
    **env: str,
) -> AlertingSettings:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rules, encoding="utf-8")
    return AlertingSettings(
        rules_file=rules_file,
        state_file=tmp_path / "state" / "alerting.sqlite3",
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.2,
        breaker_probe_s=0.5,
        allow_private_targets=True,  # the receivers listen on 127.0.0.1
        digest_check_s=0.2,
        kafka=kafka,
        smtp=SmtpSettings(host="127.0.0.1", port=smtp.port if smtp else free_port(), timeout_s=5),
        **env,  # type: ignore[arg-type]
    )


def latest(records: list[Any]) -> dict[str, Alert]:
    """The alert log as the index keeps it: the last state per alert id."""
    states = {}
    for record in records:
        alert = Alert.model_validate_json(record.value)
        assert record.key == alert.id.encode()
        states[alert.id] = alert
    return states


def valid_signature(request: ReceivedRequest) -> bool:
    signed = request.headers["X-Raqib-Timestamp"].encode() + b"." + request.body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["X-Raqib-Signature"])


async def test_alerts_once_by_email_and_signed_webhooks_across_replays_and_restarts(
    tmp_path: Path,
    kafka_settings: KafkaSettings,
    smtp_catcher: SmtpCatcher,
    webhook_receiver: WebhookReceiver,
) -> None:
    base = f"http://127.0.0.1:{webhook_receiver.port}"
    rules = f"""
channels:
  desk-email: {{kind: email, to: ["desk@raqib.example"], from: "Raqib <alerts@raqib.example>"}}
  desk-hook: {{kind: webhook, url: "{base}/hooks/raqib", secret: "{SECRET}"}}
  desk-slack: {{kind: webhook, url: "{base}/hooks/slack", format: slack}}
rules:
  - id: deterrence
    name: Deterrence
    match: {{actors: {{any: [special-deterrence-force]}}}}
    channels: [desk-email, desk-hook, desk-slack]
  - id: bashagha
    name: Bashagha
    match: {{actors: {{any: [fathi-bashagha]}}}}
    channels: [desk-hook]
"""
    settings = settings_for(tmp_path, kafka_settings, rules, smtp_catcher)
    bootstrap = kafka_settings.bootstrap_servers
    deterrence = enriched(n=1)
    bashagha = enriched(
        "قال فتحي باشاغا إن الحكومة ستواصل عملها.", actors={BASHAGHA: ["فتحي باشاغا"]}, n=2
    )
    unrelated = enriched("خبر عن الطقس في بنغازي.", actors={}, n=3)
    deterrence_alert = alert_id("deterrence", deterrence.id)
    bashagha_alert = alert_id("bashagha", bashagha.id)

    def hooks(path: str) -> list[ReceivedRequest]:
        return [r for r in webhook_receiver.requests if r.path == path]

    await publish(kafka_settings, as_bytes(unrelated), as_bytes(deterrence))
    async with build_app(settings):
        await eventually(
            lambda: (
                len(smtp_catcher.messages) == 1
                and len(hooks("/hooks/raqib")) == 1
                and len(hooks("/hooks/slack")) == 1
            )
        )
        # Created, then one state per attempt (3 channels).
        alerts = await read_topic(
            bootstrap, kafka_settings.topic(ALERTS), min_count=4, timeout=TIMEOUT
        )

        # Replay: the same article again, then a new one that marks where the replay ends.
        await publish(kafka_settings, as_bytes(deterrence), as_bytes(bashagha))
        await eventually(lambda: len(hooks("/hooks/raqib")) == 2)
        after_replay = await read_topic(
            bootstrap, kafka_settings.topic(ALERTS), min_count=6, timeout=TIMEOUT
        )

    # The email: multipart, Arabic intact after decoding, threaded by alert id.
    (message,) = smtp_catcher.messages
    raw = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(raw, EmailMessage)
    assert raw["Subject"] == "[Raqib] Deterrence: قوة الردع الخاصة — انتشار أمني في طرابلس"
    assert raw["Message-ID"] == f"<{deterrence_alert}.alert@raqib.example>"
    assert raw["To"] == "desk@raqib.example"
    html_part, text_part = raw.get_body(("html",)), raw.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    assert '<html dir="rtl" lang="ar">' in html
    assert "<mark>قوة الردع الخاصة</mark>" in html
    assert "«قوة الردع الخاصة»" in text_part.get_content()

    # The webhooks: signed Alert JSON, and an unsigned Slack payload.
    signed, slack = hooks("/hooks/raqib")[0], hooks("/hooks/slack")[0]
    assert valid_signature(signed)
    assert signed.headers["X-Raqib-Alert-Id"] == deterrence_alert
    posted = Alert.model_validate_json(signed.body)
    assert (posted.id, posted.rule.id, posted.entities) == (
        deterrence_alert,
        "deterrence",
        ["special-deterrence-force"],
    )
    assert "X-Raqib-Signature" not in slack.headers
    assert set(json.loads(slack.body)) == {"text", "blocks"}

    # On `alerts`, keyed by alert id: the alert as created, then after each attempt.
    assert len(alerts) == 4
    created = Alert.model_validate_json(alerts[0].value)
    assert {d.status for d in created.deliveries} == {DeliveryStatus.PENDING}
    published = latest(alerts)[deterrence_alert]
    assert {(d.channel, d.status, d.attempts) for d in published.deliveries} == {
        ("desk-email", DeliveryStatus.DELIVERED, 1),
        ("desk-hook", DeliveryStatus.DELIVERED, 1),
        ("desk-slack", DeliveryStatus.DELIVERED, 1),
    }
    assert all(
        [(a.number, a.error) for a in d.attempt_log] == [(1, None)] for d in published.deliveries
    )

    # The replay sent nothing new; only the new article was alerted.
    assert len(smtp_catcher.messages) == 1 and len(hooks("/hooks/slack")) == 1
    assert [r.headers["X-Raqib-Alert-Id"] for r in hooks("/hooks/raqib")] == [
        deterrence_alert,
        bashagha_alert,
    ]
    assert [r.key for r in after_replay[4:]] == [bashagha_alert.encode()] * 2

    # A restart that reads the whole topic again (a new consumer group) re-sends nothing.
    restarted = settings.model_copy(update={"group_id": "raqib-alerting-rebuilt"})
    async with build_app(restarted):

        async def caught_up() -> bool:
            return (
                await group_lag(
                    bootstrap,
                    kafka_settings.group("raqib-alerting-rebuilt"),
                    kafka_settings.topic(ARTICLES_ENRICHED),
                )
                == 0
            )

        await until(caught_up, within_s=TIMEOUT, every_s=0.2)  # the restarted service
    assert len(smtp_catcher.messages) == 1 and len(webhook_receiver.requests) == 3
    assert len(await read_topic(bootstrap, kafka_settings.topic(ALERTS), timeout=2)) == 6


async def test_retries_failures_and_bad_messages_never_stop_the_service(
    tmp_path: Path, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 500 three times, then 200: one delivery, four attempts on record.
    flaky = WebhookReceiver(responder=lambda seen, _request: 500 if len(seen) <= 3 else 200)
    dead_url = f"http://127.0.0.1:{free_port()}/hooks/raqib"  # nothing listens there
    rules = f"""
channels:
  flaky: {{kind: webhook, url: "{flaky.url}"}}
  dead: {{kind: webhook, url: "{dead_url}", give_up_after: 1s, timeout_s: 2}}
rules:
  - {{id: deterrence, name: Deterrence, match: {{actors: {{any: [special-deterrence-force]}}}},
      channels: [flaky]}}
  - {{id: bashagha, name: Bashagha, match: {{actors: {{any: [fathi-bashagha]}}}},
      channels: [dead]}}
"""
    settings = settings_for(tmp_path, kafka_settings, rules)
    bootstrap = kafka_settings.bootstrap_servers
    first = enriched(n=1)
    doomed = enriched(
        "قال فتحي باشاغا إن الحكومة ستواصل عملها.", actors={BASHAGHA: ["فتحي باشاغا"]}, n=2
    )
    not_json = b"\x00\xffnot json at all"
    breaks_schema = b'{"id": "xyz", "title": 42}'
    # A valid article the rules fail on (a bug there): dead-lettered, its writes undone.
    poison = enriched("وأكدت قوة الردع الخاصة الخبر.", n=3)

    def build_alert(match: Any, article: EnrichedArticle, *args: Any, **kwargs: Any) -> Alert:
        if article.id == poison.id:
            raise ValueError("a bug in the rules")
        return real_build_alert(match, article, *args, **kwargs)

    monkeypatch.setattr("services.alerting.core.engine.build_alert", build_alert)
    await publish(
        kafka_settings,
        as_bytes(first),
        as_bytes(poison),
        as_bytes(doomed),
        not_json,
        breaks_schema,
    )

    with flaky:
        async with build_app(settings):
            await eventually(lambda: len(flaky.accepted) == 1)
            dead = await read_topic(
                bootstrap,
                kafka_settings.dead_letter_topic("alerting"),
                min_count=4,
                timeout=TIMEOUT,
            )
            # created + 4 attempts, created + at least 2 attempts
            alerts = await read_topic(
                bootstrap, kafka_settings.topic(ALERTS), min_count=8, timeout=TIMEOUT
            )

    by_id = latest(alerts)
    (flaky_delivery,) = by_id[alert_id("deterrence", first.id)].deliveries
    assert (flaky_delivery.status, flaky_delivery.attempts) == (DeliveryStatus.DELIVERED, 4)
    assert [(a.number, a.status_code) for a in flaky_delivery.attempt_log] == [
        (1, 500),
        (2, 500),
        (3, 500),
        (4, 200),
    ]
    assert [r.status for r in flaky.requests] == [500, 500, 500, 200]

    # Retried until its give-up time (1 s here), however many attempts that took.
    (failed,) = by_id[alert_id("bashagha", doomed.id)].deliveries
    assert failed.status is DeliveryStatus.FAILED and failed.attempts >= 2
    assert [a.number for a in failed.attempt_log] == list(range(1, failed.attempts + 1))
    assert all(a.error and "ConnectError" in a.error for a in failed.attempt_log)
    assert failed.last_error is not None and "gave up after 1s" in failed.last_error

    # The dead-letter topic: the alert whose delivery failed, and the two bad messages as sent.
    headers = [{k: v.decode() for k, v in r.headers} for r in dead]
    kinds = sorted(h["x-raqib-error-type"] for h in headers)
    assert kinds == ["DeliveryFailed", "RuleError", "ValidationError", "ValidationError"]
    (rule_error,) = [h for h in headers if h["x-raqib-error-type"] == "RuleError"]
    assert f"rules failed on article {poison.id}" in rule_error["x-raqib-error"]
    assert alert_id("deterrence", poison.id) not in by_id
    with AlertingState(settings.state_file) as state:  # the firing it recorded was rolled back
        fired = {alert for (alert,) in state.db.execute("SELECT alert_id FROM fires")}
    assert fired == {alert_id("deterrence", first.id), alert_id("bashagha", doomed.id)}
    (failed_alert,) = [
        r for r, h in zip(dead, headers, strict=True) if h["x-raqib-error-type"] == "DeliveryFailed"
    ]
    assert failed_alert.key == alert_id("bashagha", doomed.id).encode()
    dead_alert = Alert.model_validate_json(failed_alert.value)
    assert dead_alert == by_id[dead_alert.id]  # dead-lettered once, in its final state
    (failed_headers,) = [h for h in headers if h["x-raqib-error-type"] == "DeliveryFailed"]
    assert re.findall(r"#(\d+) ConnectError", failed_headers["x-raqib-error"]) == [
        str(n) for n in range(1, failed.attempts + 1)
    ]
    assert {r.value for r in dead} >= {not_json, breaks_schema, as_bytes(poison)}


async def test_a_private_webhook_target_is_refused_unless_allowed(
    tmp_path: Path, kafka_settings: KafkaSettings, webhook_receiver: WebhookReceiver
) -> None:
    rules = f"""
channels:
  inside: {{kind: webhook, url: "{webhook_receiver.url}"}}
rules:
  - {{id: deterrence, name: Deterrence, match: {{actors: {{any: [special-deterrence-force]}}}},
      channels: [inside]}}
"""
    settings = settings_for(tmp_path, kafka_settings, rules).model_copy(
        update={"allow_private_targets": False}
    )
    bootstrap = kafka_settings.bootstrap_servers
    refused, accepted = enriched(n=1), enriched("وأكدت قوة الردع الخاصة الخبر.", n=2)
    await publish(kafka_settings, as_bytes(refused))
    async with build_app(settings):
        (dead,) = await read_topic(
            bootstrap, kafka_settings.dead_letter_topic("alerting"), min_count=1, timeout=TIMEOUT
        )
    (delivery,) = Alert.model_validate_json(dead.value).deliveries
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 1  # not retried
    assert delivery.last_error is not None and "127.0.0.1" in delivery.last_error
    assert "refused target" in delivery.last_error and webhook_receiver.requests == []

    # The service kept running; with the setting on, the next alert goes out.
    # (The refused alert is retried at this start too: a restart is how operators retry.)
    await publish(kafka_settings, as_bytes(accepted))
    wanted = alert_id("deterrence", accepted.id)
    async with build_app(settings.model_copy(update={"allow_private_targets": True})):
        await eventually(
            lambda: wanted in {r.headers["X-Raqib-Alert-Id"] for r in webhook_receiver.requests}
        )


async def test_a_bad_rules_file_stops_the_service_before_it_starts(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    from services.common.errors import ConfigError

    settings = settings_for(tmp_path, kafka_settings, "rules:\n  - {id: r, name: R}\n")
    with pytest.raises(ConfigError, match=r"rules.yaml: rule 'r' \(rules\[0\]\): match"):
        build_app(settings)
