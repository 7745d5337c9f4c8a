"""From one article to the alerts it raises: rule kinds, replays, cooldowns.

An archived article that ``raqib retag`` sent again carries its alert mode (``retag.alerts``):
``none`` evaluates nothing; ``new`` evaluates it as usual, and since alert ids are deterministic
only the alerts that were never raised come out (the others are ``repeated``).

The engine is pure; the state it needs (window counts, alerts already raised, recent firings)
comes through ``EngineState``, which the service keeps in its state file
(``services/alerting/state.py``) and writes in one transaction per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from schemas import Alert, EnrichedArticle
from services.alerting.core.alerts import build_alert
from services.alerting.core.evaluate import evaluate_rules
from services.alerting.core.kinds import RuleMatch, WindowCounter
from services.alerting.core.rules import ChannelKind, RuleSet


class EngineState(WindowCounter, Protocol):
    def alert_exists(self, alert_id: str) -> bool: ...

    def fired_near(self, key: str, at: datetime, within: timedelta) -> str | None:
        """The id of an alert fired under ``key`` less than ``within`` from ``at``, if any."""
        ...

    def record_fire(self, key: str, at: datetime, alert_id: str) -> None: ...


def cooldown_key(match: RuleMatch) -> str:
    """Per rule, and per set of matched actors unless the rule says ``cooldown_by: rule``."""
    if match.rule.cooldown_by == "rule":
        return match.rule.id
    return match.rule.id + "|" + ",".join(sorted(match.entities))


@dataclass(frozen=True)
class Suppressed:
    match: RuleMatch
    by: str  # the alert whose cooldown covered it


@dataclass
class Evaluation:
    raised: list[Alert] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # alert ids raised before (a replay)
    suppressed: list[Suppressed] = field(default_factory=list)


ChannelKinds = Sequence[tuple[str, ChannelKind]]


class Engine:
    def __init__(self, rule_set: RuleSet) -> None:
        self.rule_set = rule_set

    def channel_kinds(self, names: list[str]) -> ChannelKinds:
        return [(name, self.rule_set.channels[name].kind) for name in names]

    def evaluate(
        self, article: EnrichedArticle, state: EngineState, *, now: datetime
    ) -> Evaluation:
        result = Evaluation()
        if article.retag is not None and article.retag.alerts == "none":
            # An archived article re-tagged with "no alerts" (``raqib retag``): the rules do
            # not run, so it raises nothing and counts in no window.
            return result
        for match in evaluate_rules(self.rule_set.rules, article, state):
            if state.alert_exists(match.alert_id):
                result.repeated.append(match.alert_id)
                continue
            rule = match.rule
            at = match.at or now
            key = cooldown_key(match)
            if rule.cooldown is not None:
                covering = state.fired_near(key, at, rule.cooldown)
                if covering is not None:
                    result.suppressed.append(Suppressed(match, covering))
                    continue
            state.record_fire(key, at, match.alert_id)
            alert = build_alert(match, article, self.channel_kinds(rule.channels), now=now)
            result.raised.append(alert)
        return result
