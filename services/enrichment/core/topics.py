"""Topics decided by weighted term occurrences, relative to the article's length.

A topic must be what the article is about, not a word it contains once. Each occurrence of a
topic's term adds the term's weight (half of it when the same term was met before), counted
``title_weight`` times in the title and ``lead_weight`` times in the lead (the text's first
``lead_words`` words). A topic is a candidate when its terms in the title and the lead alone
reach its ``min_score`` (so a short text, all lead, needs what it always needed), or when its
whole score reaches ``min_score`` times the lead weight times the square root of the text's
length in ``reference_words`` (a long article needs occurrences throughout, in proportion to
the square root of its length, not a word it contains once). Of the candidates, those with at
least ``min_share`` of the best topic's score are given, at most ``max_topics``, the strongest
first. Each topic keeps every term matched for it as its evidence.
"""

from __future__ import annotations

from math import sqrt
from operator import itemgetter

from services.enrichment.core.knowledge_base import KnowledgeBase
from services.enrichment.core.matcher import TermMatch
from services.enrichment.core.results import FoundTopic

__all__ = ["TopicScorer", "decide_topics"]


def decide_topics(
    knowledge_base: KnowledgeBase,
    title_matches: list[TermMatch],
    text_matches: list[TermMatch],
    text_words: int,
    lead_end: int,
) -> list[FoundTopic]:
    """The topics of an article from its term matches in the title and the text; the text
    holds ``text_words`` words, its lead ends at normalised offset ``lead_end``.

    One word position counts once per topic (الاشتباكات and اشتباكات at one place are one
    occurrence, with the heavier term), and so does a term inside another of the topic's
    terms (النواب in مجلس النواب). (The tagger keeps one ``TopicScorer`` per knowledge base.)
    """
    return TopicScorer(knowledge_base).decide(title_matches, text_matches, text_words, lead_end)


class TopicScorer:
    """``decide_topics`` for one knowledge base, with its scoring settings and its topics'
    order and thresholds read once: compiled, these are native fields rather than lookups on
    the (interpreted) knowledge base for every article."""

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        scoring = knowledge_base.topic_scoring
        self.title_weight: float = scoring.title_weight
        self.lead_weight: float = scoring.lead_weight
        self.reference_words: int = scoring.reference_words
        self.max_topics: int = scoring.max_topics
        self.min_share: float = scoring.min_share
        # Topic id -> its place in the knowledge base (ties are given in that order) and its
        # ``min_score``.
        self.topics: dict[str, tuple[int, int]] = {}
        for order, topic in enumerate(knowledge_base.topics.values()):
            self.topics.setdefault(topic.id, (order, topic.min_score))

    def decide(
        self,
        title_matches: list[TermMatch],
        text_matches: list[TermMatch],
        text_words: int,
        lead_end: int,
    ) -> list[FoundTopic]:
        """See ``decide_topics``."""
        found: dict[str, _Score] = {}
        if title_matches:
            _add(title_matches, self.title_weight, self.title_weight, -1, found)
        if text_matches:
            _add(text_matches, self.lead_weight, 1.0, lead_end, found)
        if not found:
            return []
        best = 0.0
        for candidate in found.values():
            if candidate.total > best:
                best = candidate.total
        floor = self.min_share * best
        length_factor = sqrt(max(1.0, text_words / self.reference_words))
        lead_weight = self.lead_weight
        topics = self.topics
        chosen: list[tuple[float, int, str]] = []
        for topic_id, score in found.items():
            if score.total < floor:
                continue
            known = topics.get(topic_id)
            if known is None:
                continue
            order, min_score = known
            if score.top >= min_score or score.total >= min_score * lead_weight * length_factor:
                chosen.append((-score.total, order, topic_id))
        chosen.sort()
        return [
            FoundTopic(topic_id, list(found[topic_id].terms))
            for _, _, topic_id in chosen[: self.max_topics]
        ]


class _Score:
    """One topic's occurrences in an article: its weighted score, its plain weights in the
    title and the lead, where its last counted occurrence ends, and its terms (the evidence)."""

    __slots__ = ("end", "terms", "top", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.top = 0.0
        self.end = -1
        self.terms: dict[str, None] = {}


def _add(
    matches: list[TermMatch],
    lead_factor: float,
    body_factor: float,
    lead_end: int,
    found: dict[str, _Score],
) -> None:
    """Adds one field's occurrences: ``lead_factor`` times the weight before ``lead_end``
    (every occurrence when it is negative), ``body_factor`` times after it; the plain weights
    before ``lead_end`` also to the topic's ``top``."""
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
    for start, end, _, term in sorted(best.values(), key=_START):
        score = found.get(term.topic_id)
        if score is None:
            score = found[term.topic_id] = _Score()
        elif start < score.end:
            continue  # inside a longer term of the topic (النواب in مجلس النواب)
        score.end = end
        if not term.weight:
            continue  # a phrase that is not the topic took the word: no score, no evidence
        value = float(term.weight)
        terms = score.terms
        if term.normalized in terms:
            value *= REPEAT_FACTOR  # the same word again says less than another word
        else:
            terms[term.normalized] = None
        if lead_end < 0 or start < lead_end:
            score.total += value * lead_factor
            score.top += value
        else:
            score.total += value * body_factor


_START = itemgetter(0)
# A term met again in the article counts this share of its weight.
REPEAT_FACTOR = 0.5
