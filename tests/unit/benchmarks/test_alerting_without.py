"""``benchmarks.alerting_without`` takes out what it names, and only that."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from benchmarks.alerting_without import PARTS, parse_parts, take_out
from schemas import Alert
from services.alerting import channels
from services.alerting.alert_log import AlertLog
from services.alerting.replication import Changelog
from services.alerting.state import AlertingState
from tests.unit.alerting.articles import deterrence_alert, enriched


def test_render_leaves_a_message_that_still_names_the_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    article = enriched()
    alert = deterrence_alert(article)
    rendered = vars(channels)["email_bytes"](
        alert, article, sender="raqib@raqib.example", recipients=["a@raqib.example"]
    )
    publish, capture = AlertLog.publish, Changelog.capture
    take_out(["render"], monkeypatch.setattr)
    cheap = vars(channels)["email_bytes"](
        alert, article, sender="raqib@raqib.example", recipients=["a@raqib.example"]
    )
    assert f"X-Raqib-Alert-Id: {alert.id}".encode() in cheap
    assert len(cheap) < len(rendered)
    webhook = channels.WebhookChannel.body(cast(Any, None), alert, article)
    assert json.loads(webhook) == {"id": alert.id}
    assert (AlertLog.publish, Changelog.capture) == (publish, capture)  # nothing else


def test_replication_captures_no_change(monkeypatch: pytest.MonkeyPatch) -> None:
    take_out(["replication"], monkeypatch.setattr)
    with AlertingState(":memory:") as state:
        changelog = Changelog(state.db)
        changelog.capture(True)
        article = enriched()
        state.add_alert(deterrence_alert(article), article)
        assert changelog.pending() == []


async def test_alert_log_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Alert] = []

    async def send(alert: Alert) -> None:
        sent.append(alert)

    take_out(["alert-log"], monkeypatch.setattr)
    assert await AlertLog(send, attempts=1, base_delay_s=0).publish(deterrence_alert(enriched()))
    assert sent == []


def test_an_unknown_part_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown parts \['rendering'\]"):
        parse_parts("render,rendering")
    assert parse_parts("render,,alert-log") == ["render", "alert-log"]
    assert parse_parts("") == []
    assert set(PARTS) == {"render", "replication", "alert-log"}
