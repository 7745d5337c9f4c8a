from __future__ import annotations

import pytest

from services.alerting.core.interpolate import InterpolationError, interpolate, interpolate_string


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${URL}", {"URL": "https://a.example/h"}, "https://a.example/h"),
        ("${URL:-http://127.0.0.1:8025/h}", {}, "http://127.0.0.1:8025/h"),
        ("${URL:-http://127.0.0.1:8025/h}", {"URL": ""}, "http://127.0.0.1:8025/h"),
        ("${URL:-fallback}", {"URL": "set"}, "set"),
        ("${EMPTY}", {"EMPTY": ""}, ""),
        ("${SECRET:-}", {}, ""),
        ("mailto:${USER}@${HOST:-raqib.local}", {"USER": "desk"}, "mailto:desk@raqib.local"),
        ("costs $$5 and $HOME stays", {}, "costs $5 and $HOME stays"),
        ("قوة ${NAME:-الردع}", {}, "قوة الردع"),
    ],
)
def test_references_are_replaced(value: str, env: dict[str, str], expected: str) -> None:
    assert interpolate_string(value, env) == expected


@pytest.mark.parametrize("value", ["${MISSING}", "${1BAD}", "${UNCLOSED"])
def test_unset_or_malformed_references_fail(value: str) -> None:
    with pytest.raises(ValueError, match=r"MISSING|malformed"):
        interpolate_string(value, {})


def test_only_string_values_are_touched_and_the_path_is_reported() -> None:
    data = {"a": ["${X}", 3, True, None], "b": {"c": "${Y:-d}"}}
    assert interpolate(data, {"X": "x"}) == {"a": ["x", 3, True, None], "b": {"c": "d"}}
    with pytest.raises(InterpolationError) as caught:
        interpolate({"a": {"b": ["ok", "${NOPE}"]}}, {})
    assert caught.value.path == ("a", "b", 1)


def test_a_value_cannot_inject_yaml_structure() -> None:
    assert interpolate({"url": "${V}"}, {"V": "x\nkey: [1, 2]"}) == {"url": "x\nkey: [1, 2]"}
