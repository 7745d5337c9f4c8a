"""``raqib search`` against both local engines, OpenSearch and noida-db's Elasticsearch-8 API."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from schemas import EnrichedArticle, EntityType
from services.cli import app
from services.common.settings import ElasticsearchSettings
from services.devstack.servers import free_port
from services.indexer.core import alert_layout, article_layout, indexed_article
from services.indexer.engines import open_engine
from services.indexer.store import IndexStore
from tests.conftest import rest
from tests.unit.indexer.articles import DETERRENCE, bashagha_article, make_article

pytestmark = pytest.mark.integration

SDF = ("Special Deterrence Force", EntityType.ARMED_GROUP)


def tagged(text: str, surface: str, published: datetime | None = None) -> EnrichedArticle:
    """An article the tagger tagged with the Deterrence force through ``surface``."""
    article = make_article(f"خبر: {surface}", text, actors={DETERRENCE: (*SDF, surface)})
    return article.model_copy(update={"published_at": published or article.published_at})


PREFIXED = tagged("نددت الحكومة بالردع الذي مارسه الجهاز في المطار.", "بالردع")
# Forms the arabic analyzer does not reduce to الردع (a bare ل/و clitic, the English name):
# the actor id still finds them, because the tagger resolved them.
FORMS = [
    PREFIXED,
    tagged("انتشرت قوة الردع الخاصة في سوق الجمعة.", "قوة الردع الخاصة"),
    tagged("وجهت الحكومة انتقادا لردع طرابلس بعد الاشتباكات.", "لردع طرابلس"),
    tagged("The Radaa force said it had arrested three men.", "Radaa"),
    tagged(
        "قال جهاز الردع إنه أنهى العملية.", "جهاز الردع", published=datetime(2024, 1, 5, tzinfo=UTC)
    ),
]
OTHER = bashagha_article()


async def index(es_settings: ElasticsearchSettings, articles: list[EnrichedArticle]) -> None:
    layout = article_layout(es_settings.articles_alias)
    layouts = [layout, alert_layout(es_settings.alerts_alias)]
    store = IndexStore(open_engine(es_settings), layouts)
    try:
        await store.ensure_index()
        outcome = await store.bulk_index([indexed_article(a, layout) for a in articles])
        assert len(outcome.indexed) == len(articles)
        rest(es_settings.url, "POST", f"{es_settings.articles_alias}/_refresh")
    finally:
        await store.close()


@pytest.fixture
def runner(es_settings: ElasticsearchSettings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    use(es_settings, monkeypatch)
    asyncio.run(index(es_settings, [*FORMS, OTHER]))
    return CliRunner()


def use(es_settings: ElasticsearchSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``raqib search`` at this test's engine and alias."""
    monkeypatch.setenv("RAQIB_ES_URL", es_settings.url)
    monkeypatch.setenv("RAQIB_ES_ARTICLES_ALIAS", es_settings.articles_alias)


def found_ids(runner: CliRunner, *arguments: str) -> list[str]:
    result = runner.invoke(app, ["search", *arguments, "--json", "--limit", "50"])
    assert result.exit_code == 0, result.output
    return [json.loads(line)["id"] for line in result.stdout.splitlines()]


def test_full_text_finds_the_prefixed_form(runner: CliRunner) -> None:
    assert PREFIXED.id in found_ids(runner, "الردع")
    assert OTHER.id not in found_ids(runner, "الردع")


def test_actor_filter_finds_every_tagged_article_whatever_the_form(runner: CliRunner) -> None:
    assert sorted(found_ids(runner, "--actor", DETERRENCE)) == sorted(a.id for a in FORMS)
    assert found_ids(runner, "--actor", "fathi-bashagha") == [OTHER.id]


def test_filters_combine(runner: CliRunner) -> None:
    recent = found_ids(runner, "--actor", DETERRENCE, "--since", "2025-01-01")
    assert sorted(recent) == sorted(a.id for a in FORMS[:4])
    assert found_ids(runner, "--topic", "mediation") == [OTHER.id]
    assert found_ids(runner, "باشاغا", "--actor", DETERRENCE) == []


def test_terminal_output_shows_titles_and_mentions(runner: CliRunner) -> None:
    result = runner.invoke(app, ["search", "الردع", "--actor", DETERRENCE])
    assert result.exit_code == 0, result.output
    assert "articles match" in result.stdout
    assert PREFIXED.title in result.stdout
    assert f"{DETERRENCE}: " in result.stdout
    assert "بالردع" in result.stdout


def test_bad_date_and_unreachable_server_are_clear_errors(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = runner.invoke(app, ["search", "--since", "last week"])
    assert bad.exit_code == 2
    assert "--since" in bad.stderr
    monkeypatch.setenv("RAQIB_ES_URL", f"http://127.0.0.1:{free_port()}")
    down = runner.invoke(app, ["search", "الردع"])
    assert down.exit_code == 1
    assert "search failed" in down.stderr


def test_empty_cluster_says_nothing_is_indexed(
    es_settings: ElasticsearchSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(es_settings, monkeypatch)
    result = CliRunner().invoke(app, ["search", "الردع"])
    assert result.exit_code == 1
    assert "no articles indexed yet" in result.stderr
