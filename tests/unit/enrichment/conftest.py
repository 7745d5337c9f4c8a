from __future__ import annotations

from collections.abc import Callable

import pytest

from services.enrichment.core import KnowledgeBase, Tagger, TagResult, load_knowledge_base


@pytest.fixture(scope="session")
def knowledge_base() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="session")
def tagger(knowledge_base: KnowledgeBase) -> Tagger:
    return Tagger(knowledge_base)


@pytest.fixture(scope="session")
def actor_ids(tagger: Tagger) -> Callable[[str], set[str]]:
    """The actor ids tagged in a text (title empty)."""

    def tag(text: str) -> set[str]:
        return {entity.id for entity in tagger.tag("", text).entities}

    return tag


@pytest.fixture(scope="session")
def tag_text(tagger: Tagger) -> Callable[[str], TagResult]:
    def tag(text: str) -> TagResult:
        return tagger.tag("", text)

    return tag
