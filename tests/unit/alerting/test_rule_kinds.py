"""Threshold, spike and cooldown through the engine, with the state kept in a dict.

Windows use the article's own time, so the tests set published_at; a replay of the same
articles (in any order) must raise nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import EnrichedArticle, window_alert_id
from services.alerting.core import Engine, parse_rules, window_horizon, window_start
from tests.unit.alerting.articles import enriched

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
CHANNELS = "channels:\n  hook: {kind: webhook, url: 'https://hooks.example.org/x'}\nrules:\n"


class MemoryState:
    """The engine's EngineState in memory (the service keeps the same in SQLite)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], datetime] = {}
        self.alerts: set[str] = set()
        self.fires: list[tuple[str, datetime, str]] = []

    def record(self, rule_id: str, article_id: str, at: datetime) -> None:
        self.events.setdefault((rule_id, article_id), at)

    def articles_between(self, rule_id: str, start: datetime, end: datetime) -> list[str]:
        found = [
            (at, a) for (r, a), at in self.events.items() if r == rule_id and start <= at < end
        ]
        return [a for _, a in sorted(found)]

    def count_between(self, rule_id: str, start: datetime, end: datetime) -> int:
        return len(self.articles_between(rule_id, start, end))

    def alert_exists(self, alert_id: str) -> bool:
        return alert_id in self.alerts

    def fired_near(self, key: str, at: datetime, within: timedelta) -> str | None:
        near = [a for k, t, a in self.fires if k == key and abs(t - at) < within]
        return near[0] if near else None

    def record_fire(self, key: str, at: datetime, alert_id: str) -> None:
        self.fires.append((key, at, alert_id))


def engine(rule: str) -> Engine:
    return Engine(parse_rules(CHANNELS + rule, "r.yaml", env={}))


def at(minutes: float, n: int) -> EnrichedArticle:
    article = enriched(n=n)
    return article.model_copy(update={"published_at": T0 + timedelta(minutes=minutes)})


def run(eng: Engine, state: MemoryState, articles: list[EnrichedArticle]) -> list[str]:
    """Alert ids raised, as the service would: raised alerts are remembered."""
    raised = []
    for article in articles:
        for alert in eng.evaluate(article, state, now=NOW).raised:
            state.alerts.add(alert.id)
            raised.append(alert.id)
    return raised


THRESHOLD = """  - id: surge
    name: Surge
    kind: threshold
    threshold: {count: 3, window: 1h}
    match: {actors: {any: [special-deterrence-force]}}
    channels: [hook]
"""


def test_threshold_fires_once_when_the_window_reaches_the_count() -> None:
    eng, state = engine(THRESHOLD), MemoryState()
    articles = [at(1, 1), at(10, 2), at(70, 3), at(20, 4), at(30, 5), at(75, 6)]
    raised = run(eng, state, articles)
    assert raised == [window_alert_id("surge", T0)]  # 12:00 window: 3rd article at 12:20
    alert_state = eng.evaluate(at(40, 7), state, now=NOW)
    assert alert_state.raised == [] and alert_state.repeated == [window_alert_id("surge", T0)]


def test_threshold_alert_says_which_window_and_articles() -> None:
    eng, state = engine(THRESHOLD), MemoryState()
    for article in [at(1, 1), at(2, 2)]:
        assert eng.evaluate(article, state, now=NOW).raised == []
    (alert,) = eng.evaluate(at(3, 3), state, now=NOW).raised
    assert alert.kind == "threshold" and alert.rule.kind == "threshold"
    assert alert.window is not None
    assert (alert.window.start, alert.window.end, alert.window.count) == (
        T0,
        T0 + timedelta(hours=1),
        3,
    )
    assert alert.window.article_ids == [at(m, n).id for m, n in [(1, 1), (2, 2), (3, 3)]]
    assert alert.article.id == at(3, 3).id  # the article that crossed the line


def test_a_replay_in_another_order_raises_the_same_window_alert_once() -> None:
    eng = engine(THRESHOLD)
    articles = [at(5, 1), at(15, 2), at(25, 3), at(35, 4)]
    first_state, second_state = MemoryState(), MemoryState()
    first = run(eng, first_state, articles)
    again = run(eng, first_state, articles)
    reversed_run = run(eng, second_state, list(reversed(articles)))
    assert first == reversed_run == [window_alert_id("surge", T0)] and again == []


SPIKE = """  - id: breaking
    name: Breaking
    kind: spike
    spike: {window: 1h, baseline: 4h, factor: 3, min_count: 2}
    match: {actors: {any: [special-deterrence-force]}}
    channels: [hook]
"""


def test_spike_compares_the_window_with_the_baseline_rate() -> None:
    eng, state = engine(SPIKE), MemoryState()
    # Baseline (08:00-12:00): 4 articles = 1/h. 12:00-13:00 needs >= 3.
    baseline = [at(-60 * h - 30, 10 + h) for h in range(4)]
    assert run(eng, state, baseline) == []  # each hour alone: below min_count
    assert run(eng, state, [at(5, 1), at(10, 2)]) == []  # 2 < 3 x 1
    (alert_id,) = run(eng, state, [at(15, 3)])
    assert alert_id == window_alert_id("breaking", T0)
    alert = eng.evaluate(at(20, 4), state, now=NOW)
    assert alert.repeated == [alert_id]


def test_spike_with_an_empty_baseline_needs_min_count() -> None:
    eng, state = engine(SPIKE), MemoryState()
    assert run(eng, state, [at(1, 1)]) == []
    (raised,) = [a for a in (eng.evaluate(at(2, 2), state, now=NOW).raised)]
    assert raised.window is not None
    assert (raised.window.count, raised.window.baseline_count) == (2, 0)
    assert raised.window.baseline_start == T0 - timedelta(hours=4)


def test_unmatched_articles_are_not_counted() -> None:
    eng, state = engine(THRESHOLD), MemoryState()
    other = enriched("خبر عن الطقس.", actors={}, n=9)
    run(eng, state, [other, other, other])
    assert state.events == {}


COOLDOWN = """  - id: watch
    name: Watch
    match: {actors: {any: [special-deterrence-force]}}
    channels: [hook]
    cooldown: 30m
"""


def test_cooldown_suppresses_and_says_which_alert_covered_it() -> None:
    eng, state = engine(COOLDOWN), MemoryState()
    first = run(eng, state, [at(0, 1)])
    suppressed = eng.evaluate(at(10, 2), state, now=NOW)
    assert suppressed.raised == [] and [s.by for s in suppressed.suppressed] == first
    assert len(run(eng, state, [at(45, 3)])) == 1  # past the cooldown
    # An article older than the first one but within the cooldown is covered too.
    assert eng.evaluate(at(-20, 4), state, now=NOW).raised == []
    # A replay of the suppressed article is suppressed again, not raised.
    assert eng.evaluate(at(10, 2), state, now=NOW).raised == []


def test_cooldown_by_actors_keeps_separate_actor_sets_apart() -> None:
    from tests.unit.alerting.articles import BASHAGHA

    rule = COOLDOWN.replace(
        "any: [special-deterrence-force]", "any: [special-deterrence-force, fathi-bashagha]"
    )
    eng, state = engine(rule), MemoryState()
    deterrence = at(0, 1)
    bashagha = enriched("قال فتحي باشاغا شيئا.", actors={BASHAGHA: ["فتحي باشاغا"]}, n=2)
    bashagha = bashagha.model_copy(update={"published_at": T0 + timedelta(minutes=5)})
    assert len(run(eng, state, [deterrence, bashagha])) == 2
    by_rule = engine(rule + "    cooldown_by: rule\n")
    assert len(run(by_rule, MemoryState(), [deterrence, bashagha])) == 1


def test_window_start_is_aligned_to_the_epoch() -> None:
    assert window_start(T0 + timedelta(minutes=59), timedelta(hours=1)) == T0
    assert window_start(T0, timedelta(days=1)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_window_horizon_is_the_longest_look_back_of_any_rule() -> None:
    cooling = """  - id: cooling
    name: Cooling
    cooldown: 30m
    match: {actors: {any: [tripoli]}}
    channels: [hook]
"""
    assert window_horizon(engine(cooling).rule_set) == timedelta(hours=1)  # the least kept
    assert window_horizon(engine(THRESHOLD + cooling).rule_set) == timedelta(hours=1)
    assert window_horizon(engine(THRESHOLD + SPIKE).rule_set) == timedelta(hours=5)
    long_cooldown = cooling.replace("30m", "2d")
    assert window_horizon(engine(SPIKE + long_cooldown).rule_set) == timedelta(days=2)
