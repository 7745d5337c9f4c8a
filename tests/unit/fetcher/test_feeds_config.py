from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.fetcher.core import FeedConfig, feed_yaml_block, parse_feeds

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


def test_a_feed_block_appended_to_a_file_parses_back_and_keeps_comments() -> None:
    feed = FeedConfig.model_validate(
        {
            "name": "libya-observer",
            "url": "https://www.libyaobserver.ly/rss.xml?lang=ar&x=1",
            "source": "Libya Observer: عربي",
            "language": "ar",
            "poll_interval_s": 900,
            "enabled": False,
        }
    )
    text = "# our feeds\n" + GOOD.strip() + "\n" + feed_yaml_block(feed)
    *_, added = parse_feeds(text, "feeds.yaml")
    assert added == feed
    assert text.startswith("# our feeds\n")
