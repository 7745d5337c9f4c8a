"""Telegram, Microsoft Teams and Mattermost channels against a real HTTP server standing in
for each API (the base URL or webhook URL points at it): what is posted where, what each
answer means, and, through the whole service, retries and dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import Alert, DeliveryStatus
from services.alerting.app import build_app
from services.alerting.channels import (
    AttemptFailed,
    MattermostChannel,
    TeamsChannel,
    TelegramChannel,
)
from services.alerting.core import (
    MattermostChannelConfig,
    TeamsChannelConfig,
    TelegramChannelConfig,
)
from services.alerting.settings import AlertingSettings
from services.common.kafka import ALERTS
from services.common.settings import KafkaSettings
from services.devstack.receivers import ReceivedRequest, WebhookReceiver
from services.devstack.topics import read_topic
from tests.integration.alerting.test_alerting_service import (
    TIMEOUT,
    as_bytes,
    eventually,
    latest,
    publish,
    settings_for,
)
from tests.unit.alerting.articles import deterrence_alert, enriched

pytestmark = pytest.mark.integration

TOKEN = "123456789:AAH-test_token-for-the-local-stand-in"
TOKEN_ENV = "RAQIB_TEST_TELEGRAM_BOT_TOKEN"
ARTICLE = enriched()
SETTINGS = AlertingSettings(allow_private_targets=True, retry_max_delay_s=30)


def _alert() -> Alert:
    return deterrence_alert(ARTICLE, [("c", "telegram")])


def _telegram(base_url: str) -> TelegramChannel:
    config = TelegramChannelConfig.model_validate(
        {"kind": "telegram", "chat_id": -1001234567890, "base_url": base_url},
        context={"env": {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN}},
    )
    return TelegramChannel("tg", config, SETTINGS)


def _teams(url: str) -> TeamsChannel:
    config = TeamsChannelConfig.model_validate({"kind": "teams", "url": url})
    return TeamsChannel("teams", config, SETTINGS)


def _mattermost(url: str) -> MattermostChannel:
    config = MattermostChannelConfig.model_validate(
        {"kind": "mattermost", "url": url, "username": "raqib", "channel": "alerts"}
    )
    return MattermostChannel("mm", config, SETTINGS)


def _base(receiver: WebhookReceiver) -> str:
    return f"http://127.0.0.1:{receiver.port}"


async def test_telegram_posts_send_message_with_the_token_in_the_path() -> None:
    with WebhookReceiver() as receiver:
        channel = _telegram(_base(receiver) + "/")
        try:
            code = await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    (request,) = receiver.requests
    assert code == 200
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["Content-Type"].startswith("application/json")
    body = json.loads(request.body)
    assert body["chat_id"] == "-1001234567890" and body["parse_mode"] == "HTML"
    assert "قوة الردع الخاصة" in body["text"] and body["text"].startswith("<b>")


async def test_teams_posts_an_adaptive_card_to_the_workflow_url() -> None:
    with WebhookReceiver(responder=lambda _seen, _request: 202) as receiver:
        channel = _teams(_base(receiver) + "/workflows/abc/triggers/manual/paths/invoke?sig=s")
        try:
            code = await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    (request,) = receiver.requests
    assert code == 202
    assert request.path == "/workflows/abc/triggers/manual/paths/invoke?sig=s"
    body = json.loads(request.body)
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert "قوة الردع الخاصة" in json.dumps(card, ensure_ascii=False)


async def test_mattermost_posts_markdown_to_the_hook_of_a_self_hosted_server() -> None:
    with WebhookReceiver() as receiver:
        channel = _mattermost(_base(receiver) + "/hooks/xyz123")
        try:
            await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    (request,) = receiver.requests
    assert request.path == "/hooks/xyz123"
    body = json.loads(request.body)
    assert body["username"] == "raqib" and body["channel"] == "alerts"
    assert "قوة الردع الخاصة" in body["text"] and "**" in body["text"]


def _telegram_error(status: int, description: str, **parameters: Any) -> tuple[int, bytes]:
    answer: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        answer["parameters"] = parameters
    return status, json.dumps(answer).encode()


@pytest.mark.parametrize(
    ("answer", "retry", "wait", "said"),
    [
        (_telegram_error(429, "Too Many Requests: retry after 7", retry_after=7), True, 7.0,
         "Too Many Requests"),
        (_telegram_error(500, "Internal Server Error"), True, None, "Internal Server Error"),
        (_telegram_error(400, "Bad Request: chat not found"), False, None, "chat not found"),
        (_telegram_error(401, "Unauthorized"), False, None, "Unauthorized"),
        (
            _telegram_error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            migrate_to_chat_id=-1009876543210),
            False,
            None,
            "the group is now chat -1009876543210: set chat_id",
        ),
    ],
)  # fmt: skip
async def test_telegram_answers_decide_the_retry_and_never_show_the_token(
    answer: tuple[int, bytes], retry: bool, wait: float | None, said: str
) -> None:
    with WebhookReceiver(responder=lambda _seen, _request: answer) as receiver:
        channel = _telegram(_base(receiver))
        try:
            with pytest.raises(AttemptFailed) as caught:
                await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    assert caught.value.retry is retry and caught.value.status_code == answer[0]
    assert caught.value.retry_after_s == wait
    assert said in str(caught.value) and TOKEN not in str(caught.value)


async def test_a_refused_telegram_target_names_no_token() -> None:
    config = TelegramChannelConfig.model_validate(
        {"kind": "telegram", "chat_id": "@raqib_alerts", "base_url": "http://127.0.0.1:9"},
        context={"env": {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN}},
    )
    channel = TelegramChannel("tg", config, AlertingSettings(allow_private_targets=False))
    try:
        with pytest.raises(AttemptFailed, match="refused target") as caught:
            await channel.send(_alert(), ARTICLE)
    finally:
        await channel.aclose()
    assert not caught.value.retry and TOKEN not in str(caught.value)
    assert "<token>" in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("make", [_teams, _mattermost])
async def test_teams_and_mattermost_retry_overload_and_server_errors(
    make: Any, status: int
) -> None:
    with WebhookReceiver(responder=lambda _seen, _request: status) as receiver:
        channel = make(receiver.url)
        try:
            with pytest.raises(AttemptFailed, match=f"HTTP {status}") as caught:
                await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    assert caught.value.retry


@pytest.mark.parametrize("make", [_teams, _mattermost])
async def test_teams_and_mattermost_fail_at_once_on_a_bad_request(make: Any) -> None:
    with WebhookReceiver(responder=lambda _seen, _request: (400, b"Invalid payload")) as receiver:
        channel = make(receiver.url)
        try:
            with pytest.raises(AttemptFailed, match="HTTP 400: Invalid payload") as caught:
                await channel.send(_alert(), ARTICLE)
        finally:
            await channel.aclose()
    assert not caught.value.retry


async def test_the_service_retries_each_chat_channel_and_dead_letters_a_refused_one(
    tmp_path: Path, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the whole service: Telegram answers 429 then accepts, Teams 500 then accepts,
    Mattermost refuses the message (400): two delivered on their second attempt, the third
    failed at once and dead-lettered with the API's words."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)

    def answer(seen: list[ReceivedRequest], request: ReceivedRequest) -> int | tuple[int, bytes]:
        earlier = [r for r in seen if r.path == request.path]
        if request.path.startswith("/bot"):
            if len(earlier) == 1:
                return _telegram_error(429, "Too Many Requests: retry after 1", retry_after=1)
            return 200, b'{"ok": true, "result": {}}'
        if request.path.startswith("/workflows"):
            return 500 if len(earlier) == 1 else 202
        return 400, b"Unable to parse incoming data"

    with WebhookReceiver(responder=answer) as receiver:
        base = _base(receiver)
        rules = f"""
channels:
  tg: {{kind: telegram, chat_id: -100123, base_url: "{base}", bot_token_env: {TOKEN_ENV}}}
  teams: {{kind: teams, url: "{base}/workflows/w1?sig=x"}}
  mm: {{kind: mattermost, url: "{base}/hooks/h1"}}
rules:
  - {{id: deterrence, name: Deterrence, match: {{actors: {{any: [special-deterrence-force]}}}},
      channels: [tg, teams, mm]}}
"""
        settings = settings_for(tmp_path, kafka_settings, rules)
        article = enriched(n=7)
        await publish(kafka_settings, as_bytes(article))
        bootstrap = kafka_settings.bootstrap_servers
        async with build_app(settings):
            (dead,) = await read_topic(
                bootstrap,
                kafka_settings.dead_letter_topic("alerting"),
                min_count=1,
                timeout=TIMEOUT,
            )
            await eventually(lambda: len(receiver.accepted) == 2)
    deliveries = {d.channel: d for d in Alert.model_validate_json(dead.value).deliveries}
    assert deliveries["mm"].status is DeliveryStatus.FAILED and deliveries["mm"].attempts == 1
    assert "HTTP 400: Unable to parse incoming data" in (deliveries["mm"].last_error or "")
    assert dead.headers and dict(dead.headers)["x-raqib-error-type"] == b"DeliveryFailed"
    for name, kind in (("tg", "telegram"), ("teams", "teams")):
        assert deliveries[name].kind == kind
        assert deliveries[name].status is DeliveryStatus.DELIVERED
        assert deliveries[name].attempts == 2
    states = latest(await read_topic(bootstrap, kafka_settings.topic(ALERTS), min_count=1))
    assert {d.channel: d.status for d in states[dead.key.decode()].deliveries} == {
        "tg": DeliveryStatus.DELIVERED,
        "teams": DeliveryStatus.DELIVERED,
        "mm": DeliveryStatus.FAILED,
    }
    paths = [r.path for r in receiver.requests]
    assert paths.count(f"/bot{TOKEN}/sendMessage") == 2
    assert paths.count("/workflows/w1?sig=x") == 2 and paths.count("/hooks/h1") == 1
