"""Rule kinds as an extension point: a kind brings its parameters model and its evaluator,
and rules find it in the one registry by the ``kind`` they name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import get_args

import pytest
from pydantic import Field

from schemas import AlertRule, EnrichedArticle, alert_id
from services.alerting.core import (
    RULE_KINDS,
    Found,
    KindParams,
    Rule,
    RuleKind,
    RuleMatch,
    ThresholdKind,
    ThresholdParams,
    WindowCounter,
    evaluate_rules,
    parse_rules,
    register_rule_kind,
    window_horizon,
)
from services.alerting.core.fields import Duration
from services.common.errors import ConfigError
from tests.unit.alerting.articles import enriched

CHANNELS = "channels:\n  hook: {kind: webhook, url: 'https://hooks.example.org/x'}\nrules:\n"


class EveryNthParams(KindParams):
    every: int = Field(ge=2)
    memory: Duration = timedelta(hours=2)


class EveryNthKind(RuleKind[EveryNthParams]):
    """A kind written outside the core: fires on every ``every``-th matching article."""

    name = "every-nth"
    params_model = EveryNthParams

    def __init__(self) -> None:
        self.seen = 0

    def look_back(self, params: EveryNthParams) -> timedelta:
        return params.memory

    def evaluate(
        self,
        rule: Rule,
        params: EveryNthParams,
        article: EnrichedArticle,
        found: Found,
        counter: WindowCounter,
    ) -> RuleMatch | None:
        self.seen += 1
        if self.seen % params.every:
            return None
        return RuleMatch(
            rule, found.entities, found.topics, found.keywords, alert_id(rule.id, article.id)
        )


@pytest.fixture
def every_nth(monkeypatch: pytest.MonkeyPatch) -> Iterator[EveryNthKind]:
    # Put in the registry directly: alerts cannot carry this kind (see the contract test).
    kind = EveryNthKind()
    monkeypatch.setitem(RULE_KINDS, kind.name, kind)
    yield kind


def rule(body: str) -> str:
    return CHANNELS + "  - {id: nth, name: Nth, match: {languages: [ar]}, channels: [hook], " + body


def test_a_new_kind_reads_its_block_and_evaluates_its_rules(every_nth: EveryNthKind) -> None:
    rule_set = parse_rules(rule("kind: every-nth, 'every-nth': {every: 2}}\n"), "r.yaml", env={})
    (nth,) = rule_set.rules
    assert nth.kind == "every-nth" and nth.params == EveryNthParams(every=2)
    fired = [evaluate_rules(rule_set.rules, enriched(n=n)) for n in range(4)]
    assert [len(matches) for matches in fired] == [0, 1, 0, 1]
    assert window_horizon(rule_set) == timedelta(hours=2)  # the kind's look-back


def test_mistakes_in_a_new_kinds_block_name_the_rule_and_field(every_nth: EveryNthKind) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(
            rule("kind: every-nth, 'every-nth': {every: 1, memory: soon}}\n"), "r.yaml", env={}
        )
    assert "rule 'nth' (rules[0]): every-nth.every: Input should be greater than or equal to 2" in (
        str(caught.value)
    )
    assert "rule 'nth' (rules[0]): every-nth.memory: not a duration: 'soon'" in str(caught.value)
    with pytest.raises(ConfigError, match=r"every-nth: a every-nth rule needs a 'every-nth' block"):
        parse_rules(rule("kind: every-nth}\n"), "r.yaml", env={})
    with pytest.raises(ConfigError, match=r"every-nth: only a every-nth rule takes this block"):
        parse_rules(rule("'every-nth': {every: 2}}\n"), "r.yaml", env={})


def test_an_unregistered_kind_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(rule("kind: every-nth}\n"), "r.yaml", env={})
    known = "(known: match, threshold, spike)"
    assert f"rule 'nth' (rules[0]): kind: unknown rule kind 'every-nth' {known}" in str(
        caught.value
    )


def test_registering_checks_the_alert_contract_and_the_name() -> None:
    contract = get_args(AlertRule.model_fields["kind"].annotation)
    assert set(RULE_KINDS) == set(contract)  # every shipped kind can be carried by an alert
    with pytest.raises(ValueError, match=r"schemas.AlertRule.kind"):
        register_rule_kind(EveryNthKind())
    with pytest.raises(ValueError, match="registered already"):
        register_rule_kind(ThresholdKind())


def test_a_registered_kind_is_found_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(RULE_KINDS, "threshold")
    register_rule_kind(ThresholdKind())
    rule_set = parse_rules(
        rule("kind: threshold, threshold: {count: 2, window: 1h}}\n"), "r.yaml", env={}
    )
    assert rule_set.rules[0].params == ThresholdParams(count=2, window=timedelta(hours=1))


def test_a_kind_in_code_takes_its_params_object() -> None:
    params = ThresholdParams(count=2, window=timedelta(hours=1))
    built = Rule(
        id="t",
        name="T",
        kind="threshold",
        params=params,
        match={"languages": ["ar"]},
        channels=["x"],
    )
    assert built.params is params
    with pytest.raises(ValueError, match="Input should be a valid dictionary or instance"):
        Rule(
            id="t",
            name="T",
            kind="spike",
            params=params,
            match={"languages": ["ar"]},
            channels=["x"],
        )
