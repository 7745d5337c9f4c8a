from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.fetcher.core import FeedConfig, PollSchedule, parse_feeds

REPO = Path(__file__).resolve().parents[3]

GOOD = """
feeds:
  - name: libya-news
    url: https://news.example.ly/rss.xml
    source: Libya News
    language: ar
    poll_interval_s: 300
    enabled: true
  - name: agency
    url: http://agency.example.org/ar.atom
"""


def test_valid_file_and_defaults() -> None:
    first, second = parse_feeds(GOOD, "feeds.yaml")
    assert first.name == "libya-news"
    assert str(first.url) == "https://news.example.ly/rss.xml"
    assert first.publication == "Libya News"
    assert first.poll_interval_s == 300
    assert second.language == "ar"
    assert second.enabled is True
    assert second.poll_interval_s == 600
    assert second.publication == "agency"


def test_the_example_deploy_file_is_valid_and_all_disabled() -> None:
    path = REPO / "deploy" / "feeds.yaml"
    feeds = parse_feeds(path.read_text(encoding="utf-8"), str(path))
    assert feeds, "the example should list real feeds"
    assert all(not feed.enabled for feed in feeds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds: [{name: a, url: 'not a url'}]", "feeds[0].url"),
        ("feeds: [{name: a, url: 'ftp://example.ly/rss'}]", "feeds[0].url"),
        ("feeds: [{name: a, url: 'https://a.example/rss', language: Arabic}]", "feeds[0].language"),
        ("feeds: [{name: a, url: 'https://a.example/r', poll_interval_s: 0}]", "poll_interval_s"),
        ("feeds: [{name: a, url: 'https://a.example/r', enabled: maybe}]", "feeds[0].enabled"),
        ("feeds: [{url: 'https://a.example/r'}]", "feeds[0].name"),
        ("feeds: [{name: '', url: 'https://a.example/r'}]", "feeds[0].name"),
        ("feeds: [{name: a, url: 'https://a.example/r', intervall: 5}]", "feeds[0].intervall"),
        (
            "feeds:\n - {name: a, url: 'https://a.example/1'}\n - {name: a, url: 'https://b.example/2'}",
            "feeds[1].name: duplicate feed name 'a'",
        ),
        ("feeds: {name: a}", "feeds: "),
        ("sources: []", "feeds: Field required"),
        ("- just a list", "expected a mapping"),
        ("", "expected a mapping"),
        ("feeds: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_files_name_the_file_and_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_feeds(text, "deploy/feeds.yaml")
    assert str(caught.value).startswith("deploy/feeds.yaml: ")
    assert message in str(caught.value)


def _feed(name: str, interval: float, enabled: bool = True) -> FeedConfig:
    return FeedConfig.model_validate(
        {
            "name": name,
            "url": f"https://{name}.example/rss",
            "poll_interval_s": interval,
            "enabled": enabled,
        }
    )


def test_schedule_polls_enabled_feeds_at_start_then_each_at_its_interval() -> None:
    fast, slow, off = _feed("fast", 10), _feed("slow", 60), _feed("off", 1, enabled=False)
    schedule = PollSchedule([fast, slow, off], now=100.0)
    assert schedule.due(100.0) == [fast, slow]
    schedule.polled(fast, 100.0)
    schedule.polled(slow, 100.0)
    assert schedule.due(105.0) == []
    assert schedule.seconds_until_next(105.0) == 5.0
    assert schedule.due(110.0) == [fast]
    assert schedule.due(160.0) == [fast, slow]


def test_schedule_without_enabled_feeds_has_nothing_to_wait_for() -> None:
    schedule = PollSchedule([_feed("off", 5, enabled=False)], now=0.0)
    assert schedule.feeds == []
    assert schedule.seconds_until_next(0.0) is None
