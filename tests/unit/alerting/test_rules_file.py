"""Rules-file loading: each kind of mistake is one ConfigError naming file, rule and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.alerting.core import SpikeParams, ThresholdParams, load_rules, parse_rules
from services.alerting.core.rules import WebhookChannelConfig
from services.alerting.settings import AlertingSettings
from services.common.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

CHANNELS = """
channels:
  mail: {kind: email, to: [analysts@example.org]}
  hook: {kind: webhook, url: "https://hooks.example.org/raqib", secret: s3cret}
"""


def _rules(body: str) -> str:
    return CHANNELS + "rules:\n" + body


def _error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_rules(text, "watch.yaml", env=env or {})
    return str(caught.value)


def test_a_valid_file_loads_every_field() -> None:
    rule_set = parse_rules(
        _rules("""
  - id: rada
    name: Rada
    description: the deterrence force
    match:
      actors: {any: [special-deterrence-force], none: [khalifa-haftar]}
      topics: {any: [armed-clashes]}
      languages: [ar]
      sources: [Libya Observer]
      keywords: [اشتباكات]
    channels: [mail, hook]
"""),
        "watch.yaml",
        env={},
    )
    (rule,) = rule_set.rules
    assert rule.kind == "match"
    assert rule.match.actors.none == ["khalifa-haftar"]
    assert rule.match.keywords == ["اشتباكات"]
    hook = rule_set.channels["hook"]
    assert isinstance(hook, WebhookChannelConfig)
    assert hook.secret is not None and hook.secret.get_secret_value() == "s3cret"
    assert (hook.format, hook.give_up_after, hook.max_attempts) == ("raqib", None, None)


def test_the_default_rules_file_watches_deterrence_and_bashagha() -> None:
    rule_set = load_rules(REPO / "deploy" / "rules.yaml", env={})
    by_id = {rule.id: rule for rule in rule_set.rules}
    assert by_id["deterrence"].name == "Deterrence"
    assert by_id["deterrence"].match.actors.any == ["special-deterrence-force"]
    assert by_id["bashagha"].name == "Bashagha"
    assert by_id["bashagha"].match.actors.any == ["fathi-bashagha"]
    for rule in rule_set.rules:
        assert rule.channels == ["analysts-email", "analysts-webhook"]
    hook = rule_set.channels["analysts-webhook"]
    assert isinstance(hook, WebhookChannelConfig)
    assert hook.secret is None  # unsigned unless RAQIB_WEBHOOK_SECRET is set


def test_the_default_rules_file_takes_its_addresses_from_the_environment() -> None:
    env = {
        "RAQIB_WEBHOOK_URL": "https://ops.example.org/hook",
        "RAQIB_WEBHOOK_SECRET": "k",
        "RAQIB_ALERT_EMAIL_TO": "desk@example.org",
    }
    rule_set = load_rules(REPO / "deploy" / "rules.yaml", env=env)
    hook = rule_set.channels["analysts-webhook"]
    assert isinstance(hook, WebhookChannelConfig)
    assert hook.url == "https://ops.example.org/hook"
    assert hook.secret is not None and hook.secret.get_secret_value() == "k"
    assert rule_set.channels["analysts-email"].to == ["desk@example.org"]  # type: ignore[union-attr]


def test_unknown_channel_names_the_rule_and_field() -> None:
    message = _error(_rules("  - {id: r1, name: R, match: {languages: [ar]}, channels: [pager]}"))
    assert message.startswith("watch.yaml: ")
    assert "rule 'r1' (rules[0]): channels: unknown channel 'pager'" in message


def test_duplicate_rule_ids_are_an_error() -> None:
    message = _error(
        _rules(
            "  - {id: same, name: A, match: {languages: [ar]}, channels: [mail]}\n"
            "  - {id: same, name: B, match: {languages: [en]}, channels: [mail]}\n"
        )
    )
    assert "rule 'same' (rules[1]): id: duplicate rule id, first used by rules[0]" in message


def test_unknown_rule_kind_is_an_error() -> None:
    message = _error(
        _rules("  - {id: r1, name: R, kind: burst, match: {languages: [ar]}, channels: [mail]}")
    )
    assert "rule 'r1' (rules[0]): kind: unknown rule kind 'burst'" in message


def test_missing_fields_name_the_rule_by_index_when_it_has_no_id() -> None:
    message = _error(
        _rules(
            "  - {id: r1, match: {languages: [ar]}, channels: [mail]}\n"
            "  - {name: No id, match: {languages: [ar]}, channels: [mail]}\n"
            "  - {id: r3, name: R3, channels: [mail]}\n"
        )
    )
    assert "rule 'r1' (rules[0]): name: Field required" in message
    assert "rules[1]: id: Field required" in message
    assert "rule 'r3' (rules[2]): match: Field required" in message


def test_misspelt_and_empty_conditions_are_errors() -> None:
    message = _error(
        _rules(
            "  - {id: r1, name: R, match: {actor: {any: [x]}}, channels: [mail]}\n"
            "  - {id: r2, name: R, match: {}, channels: [mail]}\n"
            "  - {id: r3, name: R, match: {actors: {any: [Not A Slug]}}, channels: [mail]}\n"
            "  - {id: r4, name: R, match: {keywords: ['!!', '  ']}, channels: [mail]}\n"
        )
    )
    assert "rule 'r1' (rules[0]): match.actor: Extra inputs are not permitted" in message
    assert "rule 'r2' (rules[1]): match: needs at least one condition" in message
    assert "rule 'r3' (rules[2]): match.actors.any: ids must be lowercase slugs" in message
    assert "rule 'r4' (rules[3]): match.keywords: keywords need a letter or digit" in message


def test_channel_mistakes_name_the_channel_and_field() -> None:
    message = _error(
        """
channels:
  pager: {kind: sms, to: [x]}
  ftp: {kind: webhook, url: "ftp://files.example.org/in"}
  bad-mail: {kind: email, to: [not-an-address]}
  slow: {kind: webhook, url: "http://h.example.org/", timeout_s: 0}
rules: []
"""
    )
    assert "channel 'pager': kind: Input tag 'sms'" in message
    assert (
        "channel 'ftp': url: webhook URL refused: 'ftp://files.example.org/in': only http"
        in message
    )
    assert "channel 'bad-mail': to: not an email address: 'not-an-address'" in message
    assert "channel 'slow': timeout_s: Input should be greater than 0" in message


def test_yaml_syntax_errors_give_the_line() -> None:
    message = _error("channels: {}\nrules:\n  - id: r1\n    name: [unclosed\n")
    assert message.startswith("watch.yaml:5:")
    assert "YAML syntax error" in message


def test_a_file_that_is_not_a_mapping_is_an_error() -> None:
    assert "expected a mapping" in _error("- just\n- a list\n")


def test_unset_variable_without_default_names_the_field() -> None:
    message = _error(CHANNELS.replace("s3cret", '"${HOOK_SECRET}"') + "rules: []\n")
    assert "channel 'hook': secret: environment variable HOOK_SECRET is not set" in message


def test_known_actor_hook_rejects_unknown_actor_ids() -> None:
    text = _rules(
        "  - {id: r1, name: R, match: {actors: {all: [fathi-bashagha, nobody]}}, channels: [mail]}"
    )
    with pytest.raises(ConfigError, match=r"rule 'r1' \(rules\[0\]\): match.actors.all: unknown"):
        parse_rules(text, "w.yaml", env={}, known_actor=lambda a: a == "fathi-bashagha")
    assert parse_rules(text, "w.yaml", env={}).rules[0].match.actors.all[1] == "nobody"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read rules file"):
        load_rules(tmp_path / "missing.yaml", env={})


def test_window_kinds_cooldown_and_digest_load() -> None:
    rule_set = parse_rules(
        _rules(
            """  - id: surge
    name: Surge
    kind: threshold
    threshold: {count: 5, window: 30m}
    match: {actors: {any: [special-deterrence-force]}}
    channels: [hook]
    cooldown: 2h
    cooldown_by: rule
    digest: {window: 1d}
  - id: breaking
    name: Breaking
    kind: spike
    spike: {window: 1h, baseline: 1d, factor: 4, min_count: 2}
    match: {topics: {any: [armed-clashes]}}
    channels: [mail]
"""
        ),
        "watch.yaml",
        env={},
    )
    surge, breaking = rule_set.rules
    assert isinstance(surge.params, ThresholdParams)
    assert (surge.kind, surge.params.count, surge.params.window.total_seconds()) == (
        "threshold",
        5,
        1800,
    )
    assert surge.cooldown is not None and surge.cooldown.total_seconds() == 7200
    assert surge.digest is not None and surge.digest.window.days == 1
    assert isinstance(breaking.params, SpikeParams)
    assert (breaking.params.factor, breaking.params.min_count) == (4, 2)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "{id: t, name: T, kind: threshold, match: {languages: [ar]}, channels: [mail]}",
            "rule 't' (rules[0]): threshold: a threshold rule needs a 'threshold' block",
        ),
        (
            "{id: t, name: T, threshold: {count: 2, window: 1h}, match: {languages: [ar]},"
            " channels: [mail]}",
            "rule 't' (rules[0]): threshold: only a threshold rule takes this block",
        ),
        (
            "{id: t, name: T, kind: threshold, threshold: {count: 0, window: 1h},"
            " match: {languages: [ar]}, channels: [mail]}",
            "rule 't' (rules[0]): threshold.count: Input should be greater than or equal to 1",
        ),
        (
            "{id: t, name: T, kind: threshold, threshold: {count: 2, window: soon},"
            " match: {languages: [ar]}, channels: [mail]}",
            "rule 't' (rules[0]): threshold.window: not a duration: 'soon'",
        ),
        (
            "{id: s, name: S, kind: spike, spike: {window: 1d, baseline: 1h},"
            " match: {languages: [ar]}, channels: [mail]}",
            "rule 's' (rules[0]): spike: baseline must be at least as long as window",
        ),
        (
            "{id: s, name: S, kind: spike, spike: {window: 1h, baseline: 1d, factor: 1},"
            " match: {languages: [ar]}, channels: [mail]}",
            "rule 's' (rules[0]): spike.factor: Input should be greater than 1",
        ),
        (
            "{id: c, name: C, match: {languages: [ar]}, channels: [mail], cooldown: 0}",
            "rule 'c' (rules[0]): cooldown: a duration must be longer than zero",
        ),
        (
            "{id: c, name: C, match: {languages: [ar]}, channels: [mail], cooldown_by: topic}",
            "rule 'c' (rules[0]): cooldown_by: Input should be 'actors' or 'rule'",
        ),
        (
            "{id: d, name: D, match: {languages: [ar]}, channels: [mail], digest: {every: 1h}}",
            "rule 'd' (rules[0]): digest.window: Field required",
        ),
    ],
)
def test_window_cooldown_and_digest_mistakes_name_rule_and_field(rule: str, expected: str) -> None:
    assert expected in _error(_rules(f"  - {rule}\n"))


def test_max_attempts_still_loads_but_is_ignored_with_a_warning_and_give_up_after_is_read() -> None:
    rule_set = parse_rules(
        """
channels:
  mail: {kind: email, to: [analysts@example.org], max_attempts: 3, give_up_after: 6h}
  hook: {kind: webhook, url: "https://hooks.example.org/raqib", max_attempts: 5}
rules:
  - {id: r, name: R, match: {keywords: [x]}, channels: [mail, hook]}
""",
        "watch.yaml",
        env={},
    )
    assert rule_set.channels["mail"].give_up_after == timedelta(hours=6)
    assert rule_set.deprecations == [
        f"channel '{name}': max_attempts is deprecated and ignored; deliveries are retried "
        "until give_up_after (default one day)"
        for name in ("mail", "hook")
    ]
    assert "give_up_after: a duration must be longer than zero" in _error(
        _rules("  - {id: r, name: R, match: {keywords: [x]}, channels: [hook]}\n").replace(
            "secret: s3cret}", "secret: s3cret, give_up_after: 0s}"
        )
    )


def test_the_retired_email_max_attempts_setting_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_ALERTING_EMAIL_MAX_ATTEMPTS", "3")
    with pytest.warns(FutureWarning, match="EMAIL_MAX_ATTEMPTS is deprecated and ignored"):
        settings = AlertingSettings()
    assert settings.give_up_after_s == 86400
