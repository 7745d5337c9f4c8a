"""The rules file: channels and watch rules, validated into typed models.

A rule's ``kind`` is looked up in ``RULE_KINDS`` (``kinds.py``); a kind with parameters reads
them from the block named after it, validated by the kind's own model. Every mistake becomes
one ``ConfigError`` naming the file, the rule (id, or index when the id is missing) or
channel, and the field, so an operator can fix it without reading code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.alerting.core.fields import Duration, StrictModel
from services.alerting.core.interpolate import InterpolationError, interpolate
from services.alerting.core.keywords import normalize
from services.alerting.core.kinds import RULE_KINDS, KindParams, NoParams
from services.common.addresses import UnsafeURLError, check_url_syntax
from services.common.errors import ConfigError

_SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"

ChannelKind = Literal["email", "webhook", "telegram", "teams", "mattermost"]
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


_GIVE_UP_AFTER = (
    "Retry a failed delivery for this long (e.g. 30m, 1d) before giving up and "
    "dead-lettering it; default RAQIB_ALERTING_GIVE_UP_AFTER_S (one day)."
)
_MAX_ATTEMPTS = (
    "Deprecated and ignored: deliveries are retried until give_up_after, however many "
    "attempts that takes (a count made a short outage a permanent failure)."
)


class EmailChannelConfig(StrictModel):
    kind: Literal["email"]
    to: list[str] = Field(min_length=1)
    sender: str | None = Field(default=None, alias="from")
    give_up_after: Duration | None = Field(default=None, description=_GIVE_UP_AFTER)
    max_attempts: int | None = Field(default=None, ge=1, le=20, description=_MAX_ATTEMPTS)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not _EMAIL.match(address)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(map(repr, bad))}")
        return value


class HttpChannelConfig(StrictModel):
    """What every channel that posts over HTTP has (webhook, telegram, teams, mattermost)."""

    timeout_s: float = Field(default=10.0, gt=0, le=300)
    give_up_after: Duration | None = Field(default=None, description=_GIVE_UP_AFTER)
    max_attempts: int | None = Field(default=None, ge=1, le=20, description=_MAX_ATTEMPTS)
    max_connections: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Requests in flight to this URL at once. 8 carry over a thousand alerts a "
        "second to a receiver that answers in a few milliseconds; raise it for a slow one "
        "(each open connection costs CPU on every request in the HTTP client's pool).",
    )


def _http_url(value: str, what: str) -> str:
    # The syntax here; the resolved addresses at each delivery (they can change).
    try:
        check_url_syntax(value)
    except UnsafeURLError as error:
        raise ValueError(f"{what} refused: {error}") from None
    if not urlsplit(value).hostname:
        raise ValueError(f"{what} has no host: {value!r}")
    return value


class WebhookChannelConfig(HttpChannelConfig):
    kind: Literal["webhook"]
    url: str
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key; empty = unsigned")
    format: Literal["raqib", "slack"] = "raqib"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value, "webhook URL")

    @field_validator("secret")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # `secret: ${RAQIB_WEBHOOK_SECRET:-}` turns signing off where the variable is unset.
        return value if value is not None and value.get_secret_value() else None


TELEGRAM_API = "https://api.telegram.org"
_TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_TELEGRAM_CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,31})$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TelegramChannelConfig(HttpChannelConfig):
    """A Telegram chat, group or channel, through a bot (Bot API ``sendMessage``, HTML)."""

    kind: Literal["telegram"]
    chat_id: str = Field(
        description="The chat's numeric id (groups and channels are negative, -100...) or a "
        "public channel's @username; the bot must be a member allowed to post."
    )
    bot_token_env: str = Field(
        default="RAQIB_TELEGRAM_BOT_TOKEN",
        description="The environment variable holding the bot's token (never the file).",
    )
    base_url: str = Field(
        default=TELEGRAM_API,
        description="The Bot API's address: a local Bot API server, or a stand-in in tests.",
    )
    bot_token: SecretStr | None = Field(
        default=None,
        exclude=True,
        description="Read from bot_token_env when the file is loaded; not a key of the file.",
    )

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not _TELEGRAM_CHAT.match(value.strip()):
            raise ValueError(
                f"not a Telegram chat id: {value!r} (a number such as -1001234567890, or "
                "@channelname)"
            )
        return value.strip() if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value.rstrip("/"), "Telegram base_url")

    @model_validator(mode="before")
    @classmethod
    def _no_token_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "bot_token" in data:
            raise ValueError(
                "bot_token: does not belong in the rules file; put the token in an environment "
                "variable and name it in bot_token_env (default RAQIB_TELEGRAM_BOT_TOKEN)"
            )
        return data

    @model_validator(mode="after")
    def _token_from_env(self, info: ValidationInfo) -> TelegramChannelConfig:
        if not _ENV_NAME.match(self.bot_token_env):
            raise ValueError(f"bot_token_env: not a variable name: {self.bot_token_env!r}")
        env = (info.context or {}).get("env")
        if env is None:
            return self  # built in code: the channel reads the variable when it starts
        token = env.get(self.bot_token_env, "").strip()
        if not token:
            raise ValueError(
                f"bot_token_env: {self.bot_token_env} is not set; it must hold the bot's token "
                "(from @BotFather, like 123456789:AA...)"
            )
        if not _TELEGRAM_TOKEN.match(token):
            raise ValueError(
                f"bot_token_env: {self.bot_token_env} does not hold a bot token (expected "
                "digits, a colon, then letters, digits, - and _)"
            )
        object.__setattr__(self, "bot_token", SecretStr(token))
        return self


class TeamsChannelConfig(HttpChannelConfig):
    """A Microsoft Teams channel or chat, through a Workflows webhook ("When a Teams webhook
    request is received"), which posts the Adaptive Card it is sent."""

    kind: Literal["teams"]
    url: str = Field(description="The workflow's HTTP URL (it holds its signature: a secret).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value, "Teams webhook URL")


class MattermostChannelConfig(HttpChannelConfig):
    """A Mattermost channel, through an incoming webhook (Slack-compatible payload)."""

    kind: Literal["mattermost"]
    url: str = Field(
        description="The incoming webhook's URL, https://SERVER/hooks/ID (a self-hosted "
        "server's own address)."
    )
    channel: str | None = Field(
        default=None, description="Post to this channel instead of the hook's own, if allowed."
    )
    username: str | None = Field(default=None, description="Shown as the poster, if allowed.")
    icon_url: str | None = Field(default=None, description="The poster's picture, if allowed.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value, "Mattermost webhook URL")

    @field_validator("icon_url")
    @classmethod
    def _icon_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "icon_url")


ChannelConfig = Annotated[
    EmailChannelConfig
    | WebhookChannelConfig
    | TelegramChannelConfig
    | TeamsChannelConfig
    | MattermostChannelConfig,
    Field(discriminator="kind"),
]


class TermSet(StrictModel):
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


class Match(StrictModel):
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


class DigestParams(StrictModel):
    """Collect a rule's alerts of each ``window`` into one message per channel."""

    window: Duration


class Rule(StrictModel):
    """A watch rule: what every rule has, and the parameters of its kind."""

    id: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1)
    description: str = ""
    kind: str = Field(default="match", description="The name of a kind in RULE_KINDS.")
    params: KindParams = Field(
        default_factory=NoParams,
        description="The kind's parameters; in the file, the block named after the kind.",
    )
    match: Match
    channels: list[str] = Field(min_length=1)
    cooldown: Duration | None = Field(
        default=None, description="After an alert, suppress the next ones for this long."
    )
    cooldown_by: Literal["actors", "rule"] = Field(
        default="actors",
        description="actors: one cooldown per set of matched actors; rule: one for the rule.",
    )
    digest: DigestParams | None = None

    @model_validator(mode="before")
    @classmethod
    def _block_to_params(cls, data: Any) -> Any:
        """The file gives a kind's parameters as a block named after the kind (``threshold:
        {count: 5, window: 30m}``); the model keeps them in ``params``."""
        if not isinstance(data, dict):
            return data
        kind = data.get("kind", "match")
        for name, other in RULE_KINDS.items():
            if name != kind and other.takes_block and name in data:
                raise _rule_error(name, f"only a {name} rule takes this block", data[name])
        own = RULE_KINDS.get(kind) if isinstance(kind, str) else None
        if own is None or not own.takes_block or "params" in data:
            return data  # an unknown kind is the kind field's error; params: built in code
        if kind not in data:
            raise _rule_error(kind, f"a {kind} rule needs a '{kind}' block", data)
        return {**{key: value for key, value in data.items() if key != kind}, "params": data[kind]}

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {value!r} (known: {', '.join(RULE_KINDS)})")
        return value

    @field_validator("params", mode="plain")
    @classmethod
    def _kind_params(cls, value: Any, info: ValidationInfo) -> KindParams:
        kind = RULE_KINDS.get(info.data.get("kind", ""))
        if kind is None:
            return NoParams()  # the kind field's error is the one to report
        params: KindParams = kind.params_model.model_validate(value)
        return params


def _rule_error(field: str, message: str, value: Any) -> ValidationError:
    """A validation error at ``field`` of the rule being validated."""
    error = PydanticCustomError("rule_kind", message)
    return ValidationError.from_exception_data(
        "Rule", [InitErrorDetails(type=error, loc=(field,), input=value)]
    )


class RuleSet(StrictModel):
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rules: list[Rule]

    @property
    def channel_kinds(self) -> dict[str, ChannelKind]:
        """Each channel's kind, by channel name."""
        return {name: config.kind for name, config in self.channels.items()}

    @property
    def deprecations(self) -> list[str]:
        """Keys the file still uses that no longer do anything, in words for the operator."""
        return [
            f"channel '{name}': max_attempts is deprecated and ignored; deliveries are "
            "retried until give_up_after (default one day)"
            for name, config in self.channels.items()
            if config.max_attempts is not None
        ]


# Checks an actor id against a knowledge base; None until the alerting service can load one.
ActorCheck = Callable[[str], bool]


def load_rules(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
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
        known_actor=known_actor,
    )


def parse_rules(
    text: str,
    source: str,
    *,
    env: Mapping[str, str],
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
        # The context lets a channel read a secret's variable (Telegram's bot token).
        rule_set = RuleSet.model_validate(data, context={"env": env})
    except ValidationError as error:
        problems = [_problem(data, item) for item in error.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    problems = _cross_check(rule_set, known_actor)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return rule_set


def _cross_check(rule_set: RuleSet, known_actor: ActorCheck | None) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(rule_set.rules):
        where = f"rule '{rule.id}' (rules[{index}])"
        if rule.id in seen:
            problems.append(f"{where}: id: duplicate rule id, first used by rules[{seen[rule.id]}]")
        seen.setdefault(rule.id, index)
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
    where = _describe(data, loc)
    field = re.match(r"^([a-z_]+): ", message)
    if where.endswith(_ITSELF) and field:  # a check across fields names the one at fault
        where, message = where.removesuffix(_ITSELF) + field[1], message[field.end() :]
    return f"{where}: {message}"


_ITSELF = "(the channel itself)"


def _describe(data: Any, loc: tuple[str | int, ...]) -> str:
    """Turn a location in the parsed file into words: ``rule 'x' (rules[1]): match.actors``."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        rule = rule if isinstance(rule, dict) else {}
        head = f"rule '{rule['id']}' (rules[{loc[1]}])" if rule.get("id") else f"rules[{loc[1]}]"
        field = loc[2:]
        kind = rule.get("kind", "match")
        if field[:1] == ("params",) and isinstance(kind, str) and kind in rule:
            field = (kind, *field[1:])  # the file gave them as the block named after the kind
        return f"{head}: {_dotted(field) or '(the rule itself)'}"
    if len(loc) >= 2 and loc[0] == "channels":
        # The discriminated union inserts the kind tag into the location; it is not a field.
        rest = [part for part in loc[2:] if part not in get_args(ChannelKind)]
        return f"channel '{loc[1]}': {_dotted(tuple(rest)) or _ITSELF}"
    return _dotted(loc) or "(top level)"


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
