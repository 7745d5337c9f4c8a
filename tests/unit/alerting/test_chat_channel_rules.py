"""`raqib rules check` on Telegram, Teams and Mattermost channels: a good file passes, and
each mistake is named with the channel and the field, the bot token never read from the
file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.alerting.channels import CHANNEL_KINDS
from services.alerting.core import ChannelKind, TelegramChannelConfig, parse_rules
from services.cli import app
from services.common.errors import ConfigError

TOKEN = "123456789:AAH-a_token"
GOOD = """
channels:
  tg: {kind: telegram, chat_id: -1001234567890}
  tg-public: {kind: telegram, chat_id: "@raqib_alerts", base_url: "https://tg.example/"}
  teams: {kind: teams, url: "https://prod.example.logic.azure.com/workflows/1/invoke?sig=s"}
  mm: {kind: mattermost, url: "https://chat.example.ly/hooks/abc", channel: alerts}
rules:
  - {id: d, name: D, match: {actors: {any: [special-deterrence-force]}},
     channels: [tg, tg-public, teams, mm]}
"""


def _check(tmp_path: Path, text: str, env: dict[str, str]) -> tuple[int, str, str]:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "check", str(path)], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_every_channel_kind_is_in_the_one_registry() -> None:
    from typing import get_args

    assert set(CHANNEL_KINDS) == set(get_args(ChannelKind))


def test_rules_check_accepts_the_chat_channels(tmp_path: Path) -> None:
    code, out, _ = _check(tmp_path, GOOD, {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN})
    assert code == 0
    assert json.loads(out)["channels"] == {
        "tg": "telegram",
        "tg-public": "telegram",
        "teams": "teams",
        "mm": "mattermost",
    }


@pytest.mark.parametrize(
    ("change", "env", "message"),
    [
        (
            ("", ""),
            {},
            "channel 'tg': bot_token_env: RAQIB_TELEGRAM_BOT_TOKEN is not set; it must hold "
            "the bot's token",
        ),
        (
            ("", ""),
            {"RAQIB_TELEGRAM_BOT_TOKEN": "not-a-token"},
            "channel 'tg': bot_token_env: RAQIB_TELEGRAM_BOT_TOKEN does not hold a bot token",
        ),
        (
            ("chat_id: -1001234567890", "chat_id: analysts"),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'tg': chat_id: not a Telegram chat id: 'analysts'",
        ),
        (
            ("chat_id: -1001234567890", f"chat_id: 1, bot_token: '{TOKEN}'"),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'tg': bot_token: does not belong in the rules file",
        ),
        (
            ('base_url: "https://tg.example/"', 'base_url: "tg.example"'),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'tg-public': base_url: Telegram base_url refused",
        ),
        (
            ("https://prod.example.logic.azure.com", "ftp://prod.example"),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'teams': url: Teams webhook URL refused",
        ),
        (
            ("channel: alerts", "channel: alerts, colour: red"),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'mm': colour: Extra inputs are not permitted",
        ),
        (
            ("kind: mattermost", "kind: matermost"),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'mm': kind: Input tag 'matermost' found using 'kind' does not match",
        ),
        (
            ("kind: teams,", "kind: teams, timeout_s: 0,"),
            {"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN},
            "channel 'teams': timeout_s: Input should be greater than 0",
        ),
    ],
)
def test_rules_check_names_each_broken_chat_channel(
    tmp_path: Path, change: tuple[str, str], env: dict[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD
    code, out, err = _check(tmp_path, GOOD.replace(old, new, 1), env)
    assert code == 2 and out == ""
    assert f"rules.yaml: {message}" in err
    assert TOKEN not in err


def test_the_token_is_read_from_the_named_variable_and_never_shown() -> None:
    text = GOOD.replace(
        "chat_id: -1001234567890", "chat_id: -1001234567890, bot_token_env: OUR_BOT"
    )
    rule_set = parse_rules(
        text, "rules.yaml", env={"OUR_BOT": TOKEN, "RAQIB_TELEGRAM_BOT_TOKEN": TOKEN}
    )
    config = rule_set.channels["tg"]
    assert isinstance(config, TelegramChannelConfig)
    assert config.bot_token is not None and config.bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config) and "bot_token" not in config.model_dump()
    with pytest.raises(ConfigError, match="bot_token_env: OUR_BOT is not set"):
        parse_rules(text, "rules.yaml", env={"RAQIB_TELEGRAM_BOT_TOKEN": TOKEN})
