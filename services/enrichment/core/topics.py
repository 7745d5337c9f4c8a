"""Topics decided by weighted term occurrences over the normalised text."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

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
            start, end, word_start, term = match
            key = (term.topic_id, word_start)
            current = best.get(key)
            if current is None:
                best[key] = match
                continue
            weight, current_weight = term.weight, current[3].weight
            if weight > current_weight or (
                weight == current_weight and end - start > current[1] - current[0]
            ):
                best[key] = match
        for _, _, _, term in sorted(best.values(), key=_START):
            topic_id = term.topic_id
            scores[topic_id] = scores.get(topic_id, 0) + term.weight
            terms = evidence.get(topic_id)
            if terms is None:
                evidence[topic_id] = {term.normalized: None}
            else:
                terms[term.normalized] = None
    return [
        FoundTopic(topic.id, list(evidence[topic.id]))
        for topic in knowledge_base.topics.values()
        if scores.get(topic.id, 0) >= topic.min_score
    ]


_START = itemgetter(0)
