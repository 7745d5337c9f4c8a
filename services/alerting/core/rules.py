"""The rules file: channels and watch rules, validated into typed models.

Every mistake becomes one ``ConfigError`` naming the file, the rule (id, or index when the id
is missing) or channel, and the field, so an operator can fix it without reading code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from services.alerting.core.interpolate import InterpolationError, interpolate
from services.alerting.core.keywords import normalize
from services.common.addresses import UnsafeURLError, check_url_syntax
from services.common.errors import ConfigError

_SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"

ChannelKind = Literal["email", "webhook"]
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class _Config(BaseModel):
    # A misspelt key must be an error, not a silently ignored option.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EmailChannelConfig(_Config):
    kind: Literal["email"]
    to: list[str] = Field(min_length=1)
    sender: str | None = Field(default=None, alias="from")
    max_attempts: int | None = Field(default=None, ge=1, le=20)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not _EMAIL.match(address)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(map(repr, bad))}")
        return value


class WebhookChannelConfig(_Config):
    kind: Literal["webhook"]
    url: str
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key; empty = unsigned")
    format: Literal["raqib", "slack"] = "raqib"
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_connections: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Requests in flight to this URL at once. 8 carry over a thousand alerts a "
        "second to a receiver that answers in a few milliseconds; raise it for a slow one "
        "(each open connection costs CPU on every request in the HTTP client's pool).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The syntax here; the resolved addresses at each delivery (they can change).
        try:
            check_url_syntax(value)
        except UnsafeURLError as error:
            raise ValueError(f"webhook URL refused: {error}") from None
        if not urlsplit(value).hostname:
            raise ValueError(f"webhook URL has no host: {value!r}")
        return value

    @field_validator("secret")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # `secret: ${RAQIB_WEBHOOK_SECRET:-}` turns signing off where the variable is unset.
        return value if value is not None and value.get_secret_value() else None


ChannelConfig = Annotated[EmailChannelConfig | WebhookChannelConfig, Field(discriminator="kind")]


class TermSet(_Config):
    """Ids an article must have: at least one of ``any``, every one of ``all``, none of ``none``."""

    any: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)

    @field_validator("any", "all", "none")
    @classmethod
    def _slugs(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not re.match(_SLUG, item)]
        if bad:
            raise ValueError(f"ids must be lowercase slugs, got {', '.join(map(repr, bad))}")
        return value

    @property
    def is_empty(self) -> bool:
        return not (self.any or self.all or self.none)

    @property
    def wanted(self) -> list[str]:
        """Ids whose presence the set asks for (``any`` then ``all``), in order, once each."""
        return list(dict.fromkeys([*self.any, *self.all]))


class Match(_Config):
    actors: TermSet = Field(default_factory=TermSet)
    topics: TermSet = Field(default_factory=TermSet)
    languages: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        # A keyword of only punctuation would normalise to "" and match every article.
        empty = [keyword for keyword in value if not normalize(keyword)]
        if empty:
            raise ValueError(f"keywords need a letter or digit, got {', '.join(map(repr, empty))}")
        return value

    @model_validator(mode="after")
    def _not_everything(self) -> Match:
        if (
            self.actors.is_empty
            and self.topics.is_empty
            and not (self.languages or self.sources or self.keywords)
        ):
            raise ValueError(
                "needs at least one condition (actors, topics, languages, sources, keywords)"
            )
        return self


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` → timedelta; other values pass on."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '15m', '1h', '2d'")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 1h, 2d)")
        return timedelta(seconds=float(found[1]) * _UNITS[found[2] or "s"])
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class ThresholdParams(_Config):
    """Fire once per window in which at least ``count`` articles match."""

    count: int = Field(ge=1)
    window: Duration

    _window = field_validator("window")(_positive)


class SpikeParams(_Config):
    """Fire once per window whose count is ``factor`` times what the baseline rate predicts."""

    window: Duration
    baseline: Duration = Field(description="The window before ``window`` giving the usual rate.")
    factor: float = Field(default=3.0, gt=1)
    min_count: int = Field(default=3, ge=1, description="Never fire on fewer articles.")

    _durations = field_validator("window", "baseline")(_positive)

    @model_validator(mode="after")
    def _baseline_longer(self) -> SpikeParams:
        if self.baseline < self.window:
            raise ValueError("baseline must be at least as long as window")
        return self


class DigestParams(_Config):
    """Collect a rule's alerts of each ``window`` into one message per channel."""

    window: Duration

    _window = field_validator("window")(_positive)


class Rule(_Config):
    id: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1)
    description: str = ""
    kind: str = "match"
    match: Match
    channels: list[str] = Field(min_length=1)
    threshold: ThresholdParams | None = None
    spike: SpikeParams | None = None
    cooldown: Duration | None = Field(
        default=None, description="After an alert, suppress the next ones for this long."
    )
    cooldown_by: Literal["actors", "rule"] = Field(
        default="actors",
        description="actors: one cooldown per set of matched actors; rule: one for the rule.",
    )
    digest: DigestParams | None = None

    _cooldown = field_validator("cooldown")(
        lambda value: None if value is None else _positive(value)
    )


class RuleSet(_Config):
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rules: list[Rule]

    @property
    def channel_kinds(self) -> dict[str, ChannelKind]:
        """Each channel's kind, by channel name."""
        return {name: config.kind for name, config in self.channels.items()}


# Rule kinds with their own parameter block, named after the kind.
KIND_BLOCKS = ("threshold", "spike")

# Checks an actor id against a knowledge base; None until the alerting service can load one.
ActorCheck = Callable[[str], bool]


def load_rules(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    kinds: Collection[str] = ("match",),
    known_actor: ActorCheck | None = None,
) -> RuleSet:
    """Read, interpolate and validate a rules file; any mistake raises one ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read rules file: {error}") from None
    return parse_rules(
        text,
        str(path),
        env=os.environ if env is None else env,
        kinds=kinds,
        known_actor=known_actor,
    )


def parse_rules(
    text: str,
    source: str,
    *,
    env: Mapping[str, str],
    kinds: Collection[str] = ("match",),
    known_actor: ActorCheck | None = None,
) -> RuleSet:
    """``load_rules`` on text; ``source`` names the file in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'channels' and 'rules'")
    try:
        data = interpolate(data, env)
    except InterpolationError as error:
        raise ConfigError(f"{source}: {_describe(data, error.path)}: {error}") from None
    try:
        rule_set = RuleSet.model_validate(data)
    except ValidationError as error:
        problems = [_problem(data, item) for item in error.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    problems = _cross_check(rule_set, kinds, known_actor)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return rule_set


def _cross_check(
    rule_set: RuleSet, kinds: Collection[str], known_actor: ActorCheck | None
) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(rule_set.rules):
        where = f"rule '{rule.id}' (rules[{index}])"
        if rule.id in seen:
            problems.append(f"{where}: id: duplicate rule id, first used by rules[{seen[rule.id]}]")
        seen.setdefault(rule.id, index)
        if rule.kind not in kinds:
            problems.append(
                f"{where}: kind: unknown rule kind {rule.kind!r} (known: {', '.join(kinds)})"
            )
        for block in KIND_BLOCKS:
            given = getattr(rule, block) is not None
            if block == rule.kind and not given:
                problems.append(f"{where}: {block}: a {block} rule needs a '{block}' block")
            elif block != rule.kind and given:
                problems.append(f"{where}: {block}: only a {block} rule takes this block")
        for name in rule.channels:
            if name not in rule_set.channels:
                known = ", ".join(rule_set.channels) or "none defined"
                problems.append(f"{where}: channels: unknown channel {name!r} (known: {known})")
        if known_actor is not None:
            for field, terms in (
                ("any", rule.match.actors.any),
                ("all", rule.match.actors.all),
                ("none", rule.match.actors.none),
            ):
                for actor in terms:
                    if not known_actor(actor):
                        problems.append(
                            f"{where}: match.actors.{field}: unknown actor id {actor!r}"
                        )
    return problems


def _problem(data: Any, item: Any) -> str:
    loc = tuple(item["loc"])
    if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, "kind")  # the tag is what is wrong, name it
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{_describe(data, loc)}: {message}"


def _describe(data: Any, loc: tuple[str | int, ...]) -> str:
    """Turn a location in the parsed file into words: ``rule 'x' (rules[1]): match.actors``."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        head = f"rule '{rule_id}' (rules[{loc[1]}])" if rule_id else f"rules[{loc[1]}]"
        return f"{head}: {_dotted(loc[2:]) or '(the rule itself)'}"
    if len(loc) >= 2 and loc[0] == "channels":
        # The discriminated union inserts the kind tag into the location; it is not a field.
        rest = [part for part in loc[2:] if part not in ("email", "webhook")]
        return f"channel '{loc[1]}': {_dotted(tuple(rest)) or '(the channel itself)'}"
    return _dotted(loc) or "(top level)"


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
