"""Topic and actor-type labels (Arabic and English) from the knowledge base to the enriched
article, where alerts read them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from schemas import EntityType, Labels, RawArticle, article_id, content_hash
from services.common.errors import ConfigError
from services.enrichment.core import KnowledgeBase, Tagger, enrich
from services.enrichment.core.knowledge_base import parse_knowledge_base

NOW = datetime(2026, 1, 2, tzinfo=UTC)
SMALL = """
version: "1"
actors:
  special-deterrence-force:
    type: armed-group
    name: Special Deterrence Force (قوة الردع الخاصة)
    aliases: [قوة الردع الخاصة]
topics:
  armed-clashes:
    name: Armed clashes
    min_score: 1
    terms: [اشتباكات]
"""


def _raw(text: str) -> RawArticle:
    return RawArticle(
        id=article_id(text),
        source="Test",
        title="خبر",
        text=text,
        fetched_at=NOW,
        content_hash=content_hash(text),
    )


def test_every_topic_and_actor_type_of_the_shipped_base_has_both_labels(
    knowledge_base: KnowledgeBase,
) -> None:
    assert set(knowledge_base.type_labels) == set(EntityType)
    assert all(t.labels is not None for t in knowledge_base.topics.values())
    assert knowledge_base.type_labels[EntityType.ARMED_GROUP] == Labels(
        ar="جماعة مسلحة", en="Armed group"
    )


def test_enrichment_puts_the_labels_beside_the_ids(tagger: Tagger) -> None:
    article = enrich(
        _raw("اندلعت اشتباكات عنيفة وقالت قوة الردع الخاصة إنها ترد."), tagger, now=NOW
    )
    (clashes,) = [t for t in article.topics if t.id == "armed-clashes"]
    assert clashes.labels == Labels(
        ar="الاشتباكات المسلحة والقتال", en="Armed clashes and fighting"
    )
    (force,) = [e for e in article.entities if e.id == "special-deterrence-force"]
    assert force.type_labels == Labels(ar="جماعة مسلحة", en="Armed group")


def test_without_labels_in_the_base_the_article_reads_as_before() -> None:
    tagger = Tagger(parse_knowledge_base(SMALL))
    article = enrich(_raw("اشتباكات قرب قوة الردع الخاصة."), tagger, now=NOW)
    assert [t.labels for t in article.topics] == [None]
    assert [e.type_labels for e in article.entities] == [None]
    document = json.loads(article.model_dump_json())
    assert "labels" not in document["topics"][0]  # left out: older readers still accept it
    assert "type_labels" not in document["entities"][0]


@pytest.mark.parametrize(
    ("addition", "message"),
    [
        ("actor_types:\n  militia: {ar: ميليشيا, en: Militia}\n", "actor_types.militia"),
        ("actor_types:\n  person: {ar: شخص}\n", "actor_types.person.en"),
        ("actor_types:\n  person: Person\n", "actor_types.person: expected a mapping"),
    ],
)
def test_broken_type_labels_are_refused_naming_the_field(addition: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_knowledge_base(SMALL + addition, source="kb.yaml")


def test_broken_topic_labels_are_refused_naming_the_topic() -> None:
    broken = SMALL.replace("    min_score: 1\n", "    min_score: 1\n    labels: {en: Clashes}\n")
    with pytest.raises(ConfigError, match=re.escape("topics.armed-clashes.labels.ar")):
        parse_knowledge_base(broken, source="kb.yaml")
