"""Topics decided by weighted term occurrences over the normalised text."""

from __future__ import annotations

from collections.abc import Iterable

from services.enrichment.core.knowledge_base import KnowledgeBase
from services.enrichment.core.matcher import TermMatch
from services.enrichment.core.results import FoundTopic

__all__ = ["decide_topics"]


def decide_topics(
    knowledge_base: KnowledgeBase, matches_by_field: Iterable[list[TermMatch]]
) -> list[FoundTopic]:
    """A topic whose matched term weights reach its ``min_score``; evidence = the terms.

    One word position counts once per topic (الاشتباكات and اشتباكات at one place are one
    occurrence, with the heavier term); every other occurrence adds its weight.
    """
    scores: dict[str, int] = {}
    evidence: dict[str, dict[str, None]] = {}
    for matches in matches_by_field:
        best: dict[tuple[str, int], TermMatch] = {}
        for match in matches:
            key = (match.term.topic_id, match.word_start)
            current = best.get(key)
            if (
                current is None
                or match.term.weight > current.term.weight
                or (
                    match.term.weight == current.term.weight
                    and match.end - match.start > current.end - current.start
                )
            ):
                best[key] = match
        for (topic_id, _), match in sorted(best.items(), key=lambda item: item[1].start):
            scores[topic_id] = scores.get(topic_id, 0) + match.term.weight
            evidence.setdefault(topic_id, {})[match.term.normalized] = None
    return [
        FoundTopic(topic.id, list(evidence[topic.id]))
        for topic in knowledge_base.topics.values()
        if scores.get(topic.id, 0) >= topic.min_score
    ]
