from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from schemas import EntityType
from services.common.errors import ConfigError
from services.enrichment.core import KnowledgeBase, Tagger, load_knowledge_base
from services.enrichment.core.knowledge_base import (
    DESIGN_ACTOR_IDS,
    DESIGN_TOPIC_IDS,
    build_knowledge_base,
    parse_knowledge_base,
)

MINIMAL = {
    "version": "1",
    "actors": {"libya": {"type": "country", "name": "Libya", "aliases": ["ليبيا"]}},
}


def test_every_design_actor_and_topic_exists(knowledge_base: KnowledgeBase) -> None:
    assert set(knowledge_base.actors) >= DESIGN_ACTOR_IDS
    assert set(knowledge_base.topics) == DESIGN_TOPIC_IDS


def test_every_actor_has_arabic_and_latin_aliases(knowledge_base: KnowledgeBase) -> None:
    for actor in knowledge_base.actors.values():
        assert isinstance(actor.type, EntityType)
        assert any(a.is_arabic for a in actor.aliases), actor.id
        assert any(not a.is_arabic for a in actor.aliases), actor.id
        assert re.search(r"[A-Za-z]", actor.name) and re.search(r"[\u0600-\u06ff]", actor.name)


def test_version_names_the_file_content(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text(yaml.safe_dump(MINIMAL, allow_unicode=True), encoding="utf-8")
    first = load_knowledge_base(path).version
    path.write_text(path.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    second = load_knowledge_base(path).version
    assert re.fullmatch(r"1\+[0-9a-f]{8}", first)
    assert first != second


def test_packaged_version_format(knowledge_base: KnowledgeBase) -> None:
    assert re.fullmatch(r"\d{4}\.\d+\.\d+\+[0-9a-f]{8}", knowledge_base.version)


def test_a_custom_knowledge_base_tags(tmp_path: Path) -> None:
    kb = build_knowledge_base(MINIMAL)
    assert [e.id for e in Tagger(kb).tag("", "وصل إلى ليبيا").entities] == ["libya"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actors": {"Bad Id": {"type": "country", "name": "x", "aliases": ["x"]}}}, "slug"),
        ({"actors": {"a": {"type": "planet", "name": "x", "aliases": ["x"]}}}, "planet"),
        ({"actors": {"a": {"type": "city", "name": "x", "aliases": []}}}, "at least one alias"),
        ({"actors": {"a": {"type": "city", "name": "x", "aliases": ["..."]}}}, "empty"),
        (
            {
                "actors": {
                    "a": {
                        "type": "city",
                        "name": "x",
                        "aliases": ["x"],
                        "ambiguous": {"nope": ["y"]},
                    }
                }
            },
            "no such context rule",
        ),
        (
            {"context_rules": {"r": {"accept": [{"name": "c", "article_mentions": ["ghost"]}]}}},
            "ghost",
        ),
        ({"context_rules": {"r": {"accept": [{"name": "c", "around": ["x"]}]}}}, "around"),
        ({"context_rules": {"r": {"accept": [{"name": "c", "after_pattern": "("}]}}}, "regex"),
        (
            {"context_rules": {"r": {"reject": [{"name": "c", "tanwin": "yes"}]}}},
            r"r\.reject\[0\]\.tanwin: expected true or false",
        ),
        ({"version": None}, "version"),
    ],
)
def test_invalid_knowledge_base_names_the_field(change: dict[str, object], message: str) -> None:
    document = {**MINIMAL, **change}
    with pytest.raises(ConfigError, match=message):
        build_knowledge_base(document, source="kb.yaml")


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_knowledge_base(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("actors: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML"):
        load_knowledge_base(bad)


def test_matcher_is_built_once_per_knowledge_base(knowledge_base: KnowledgeBase) -> None:
    assert Tagger(knowledge_base)._matcher is Tagger(knowledge_base)._matcher


def test_topics_have_evidence(tagger: Tagger) -> None:
    result = tagger.tag("", "اندلعت اشتباكات عنيفة في طرابلس، وتواصلت الاشتباكات ليلا.")
    [topic] = [t for t in result.topics if t.id == "armed-clashes"]
    assert topic.evidence == ["اشتباكات"]
    assert "armed-clashes" not in {t.id for t in tagger.tag("", "قال إن هجوم البرد قادم.").topics}


def test_an_alias_two_actors_claim_needs_a_context_rule() -> None:
    twins = {
        "a": {"type": "person", "name": "A", "aliases": ["زيد عمرو"]},
        "b": {"type": "person", "name": "B", "aliases": ["زَيد عمرو"]},  # the same once normalised
    }
    with pytest.raises(ConfigError, match="claimed by \\['a', 'b'\\]"):
        build_knowledge_base({**MINIMAL, "actors": twins}, source="kb.yaml")
    decided = {
        "context_rules": {"r": {"accept": [{"name": "c", "before": ["السيد"]}]}},
        "actors": {**twins, "b": {"type": "person", "name": "B", "ambiguous": {"r": ["زيد عمرو"]}}},
    }
    tagger = Tagger(build_knowledge_base({**MINIMAL, **decided}, source="kb.yaml"))
    # The rule is tried first; the unconditional claim takes the alias when the rule refuses.
    assert [e.id for e in tagger.tag("", "قال السيد زيد عمرو").entities] == ["b"]
    assert [e.id for e in tagger.tag("", "قال زيد عمرو").entities] == ["a"]


def test_an_actor_id_written_twice_is_refused() -> None:
    text = (
        'version: "1"\nactors:\n'
        "  a: {type: city, name: A, aliases: [x]}\n"
        "  a: {type: city, name: B, aliases: [y]}\n"
        "topics:\n  t: {terms: [z]}\n"
    )
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        parse_knowledge_base(text, source="kb.yaml")
