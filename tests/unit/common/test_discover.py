"""Kibana Discover links: Rison state, and the data views and time fields they name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from services.common.discover import (
    ALERT_TIME_FIELD,
    ALERTS_DATA_VIEW,
    ARTICLE_TIME_FIELD,
    ARTICLES_DATA_VIEW,
    alert_link,
    article_link,
    kql_equals,
    rison_string,
    rule_window_link,
)

SAVED_OBJECTS = Path(__file__).resolve().parents[3] / "deploy" / "kibana" / "raqib.ndjson"
WHEN = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)


def test_rison_strings_escape_bang_and_quote() -> None:
    assert rison_string("it's!") == "'it!'s!!'"
    assert kql_equals("id", 'a"b\\') == 'id:"a\\"b\\\\"'


def test_an_article_link_opens_discover_on_that_article_around_its_time() -> None:
    link = article_link("https://kibana.example/base/", "0123456789abcdef", WHEN)
    assert link.startswith("https://kibana.example/base/app/discover#/?_g=(")
    state = unquote(link)
    assert "time:(from:'2026-01-01T09:30:00.000Z',to:'2026-01-03T09:30:00.000Z')" in state
    assert f"index:'{ARTICLES_DATA_VIEW}'" in state
    assert "query:(language:kuery,query:'id:\"0123456789abcdef\"')" in state
    assert f"sort:!(!('{ARTICLE_TIME_FIELD}',desc))" in state
    assert " " not in link and '"' not in link  # safe to paste and to put in an href


def test_alert_and_window_links_use_the_alerts_data_view() -> None:
    state = unquote(alert_link("http://k:5601", "fedcba9876543210", WHEN))
    assert f"index:'{ALERTS_DATA_VIEW}'" in state and 'id:"fedcba9876543210"' in state
    window = unquote(rule_window_link("http://k:5601", "deterrence", WHEN, WHEN))
    assert 'rule.id:"deterrence"' in window and f"!('{ALERT_TIME_FIELD}',desc)" in window


def test_the_saved_data_views_are_the_ones_the_links_name() -> None:
    """The one place the data views and their time fields are named: deploy/kibana must agree."""
    views = {
        item["id"]: item["attributes"]["timeFieldName"]
        for item in map(json.loads, SAVED_OBJECTS.read_text(encoding="utf-8").splitlines())
        if item.get("type") == "index-pattern"
    }
    assert views[ARTICLES_DATA_VIEW] == ARTICLE_TIME_FIELD
    assert views[ALERTS_DATA_VIEW] == ALERT_TIME_FIELD
