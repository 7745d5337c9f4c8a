"""Links that open documents in Kibana Discover, and the names they depend on.

The data views of ``deploy/kibana/`` and their time fields are named here once: the indexer
writes the time field, ``raqib kibana import`` loads the data views, alerts link to them (a
test checks the saved objects agree). The link is Discover's URL state in Rison
(``/app/discover#/?_g=(time:(...))&_a=(index:...,query:...)``): the legacy ``index`` key,
which Kibana 8 reads and Kibana 8.15+ and OpenSearch Dashboards redirect to their newer form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

ARTICLES_DATA_VIEW = "raqib-articles"
ALERTS_DATA_VIEW = "raqib-alerts"
ARTICLE_TIME_FIELD = "time"  # published_at, else fetched_at: never empty
ALERT_TIME_FIELD = "created_at"

# Around a single document: wide enough for clocks and time zones to disagree.
MARGIN = timedelta(days=1)


def rison_string(value: str) -> str:
    """A Rison string literal: quoted, with ``!`` and ``'`` escaped by ``!``."""
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def kql_equals(field: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"'


def discover_url(
    base_url: str,
    *,
    data_view: str,
    time_field: str,
    start: datetime,
    end: datetime,
    query: str,
    columns: tuple[str, ...] = (),
) -> str:
    """Discover on ``data_view`` between ``start`` and ``end``, searching ``query`` (KQL),
    newest first by ``time_field``."""
    time = f"(from:{rison_string(_stamp(start))},to:{rison_string(_stamp(end))})"
    global_state = f"(filters:!(),time:{time})"
    shown = ",".join(rison_string(column) for column in columns)
    app_state = (
        f"(columns:!({shown}),index:{rison_string(data_view)},"
        f"query:(language:kuery,query:{rison_string(query)}),"
        f"sort:!(!({rison_string(time_field)},desc)))"
    )
    safe = "!'(),:*"
    return (
        f"{base_url.rstrip('/')}/app/discover#/"
        f"?_g={quote(global_state, safe=safe)}&_a={quote(app_state, safe=safe)}"
    )


def article_link(base_url: str, article_id: str, when: datetime) -> str:
    """Discover on one article; ``when`` is its time field's value (published, else fetched)."""
    return discover_url(
        base_url,
        data_view=ARTICLES_DATA_VIEW,
        time_field=ARTICLE_TIME_FIELD,
        start=when - MARGIN,
        end=when + MARGIN,
        query=kql_equals("id", article_id),
        columns=("title", "source", "actor_names"),
    )


def alert_link(base_url: str, alert_id: str, created_at: datetime) -> str:
    return discover_url(
        base_url,
        data_view=ALERTS_DATA_VIEW,
        time_field=ALERT_TIME_FIELD,
        start=created_at - MARGIN,
        end=created_at + MARGIN,
        query=kql_equals("id", alert_id),
        columns=("rule.name", "article.title", "entities"),
    )


def rule_window_link(base_url: str, rule_id: str, start: datetime, end: datetime) -> str:
    """Discover on the alerts one rule raised in ``[start, end)`` (a digest's window)."""
    return discover_url(
        base_url,
        data_view=ALERTS_DATA_VIEW,
        time_field=ALERT_TIME_FIELD,
        start=start,
        end=end,
        query=kql_equals("rule.id", rule_id),
        columns=("article.title", "entities", "article.source"),
    )
