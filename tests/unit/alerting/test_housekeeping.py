"""The housekeeping round's dropping of old articles: every finished alert past the cut, in
chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from services.alerting.housekeeping import Housekeeping
from services.alerting.state import AlertingState
from tests.unit.alerting.articles import deterrence_alert, enriched

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_every_finished_alert_past_the_cut_loses_its_article(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with AlertingState(":memory:") as store:
        article = enriched()
        ids = []
        with store.transaction():
            for n in range(1, 1201):  # more than one chunk
                alert = deterrence_alert(article, now=T0 - timedelta(days=30, seconds=n))
                alert = alert.model_copy(update={"id": f"{n:016x}"})
                store.add_alert(alert, article)
                store.mark_done(alert.id)
                ids.append(alert.id)
        housekeeping = Housekeeping(
            cast(Any, None),
            cast(Any, None),
            store,
            horizon=timedelta(hours=1),
            every_s=1.0,
            keep_articles=timedelta(days=7),
        )
        caplog.set_level("INFO", "raqib.alerting")
        assert await housekeeping.drop_articles(T0 - timedelta(days=7)) == 1200
        assert all(store.load_alert(alert_id) is None for alert_id in ids)
        assert "articles of finished alerts dropped" in caplog.text
