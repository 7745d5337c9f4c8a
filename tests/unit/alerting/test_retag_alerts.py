"""Re-tagged archived articles (``raqib retag``): the alert mode they carry decides."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import EnrichedArticle, Retag, alert_id
from services.alerting.core import Engine, parse_rules
from tests.unit.alerting.articles import enriched
from tests.unit.alerting.test_rule_kinds import THRESHOLD, MemoryState, engine

NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
RULES = """channels:
  hook: {kind: webhook, url: 'https://hooks.example.org/x'}
rules:
  - id: deterrence
    name: Deterrence
    match: {actors: {any: [special-deterrence-force]}}
    channels: [hook]
"""


def retagged(article: EnrichedArticle, alerts: str) -> EnrichedArticle:
    marker = Retag.model_validate(
        {"id": "retag-1", "requested_at": NOW, "alerts": alerts, "placed_at": NOW}
    )
    return article.model_copy(update={"retag": marker})


def test_mode_none_raises_nothing_and_counts_in_no_window() -> None:
    eng, state = Engine(parse_rules(RULES, "r.yaml", env={})), MemoryState()
    evaluation = eng.evaluate(retagged(enriched(), "none"), state, now=NOW)
    assert (evaluation.raised, evaluation.repeated, evaluation.suppressed) == ([], [], [])
    windows, window_state = engine(THRESHOLD), MemoryState()
    windows.evaluate(retagged(enriched(), "none"), window_state, now=NOW)
    assert window_state.events == {}
    # The same article without the marker does raise: the mode is what held it back.
    assert len(eng.evaluate(enriched(), state, now=NOW).raised) == 1


def test_mode_new_raises_only_alerts_never_raised() -> None:
    eng, state = Engine(parse_rules(RULES, "r.yaml", env={})), MemoryState()
    article = enriched()
    expected = alert_id("deterrence", article.id)
    state.alerts.add(expected)  # raised when the article first came
    again = eng.evaluate(retagged(article, "new"), state, now=NOW)
    assert again.raised == [] and again.repeated == [expected]
    # An article that now names a watched actor for the first time raises, with today's id.
    other = enriched(n=2)
    (alert,) = eng.evaluate(retagged(other, "new"), state, now=NOW).raised
    assert alert.id == alert_id("deterrence", other.id)
