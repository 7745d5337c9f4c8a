"""Topics decided by weighted term occurrences, relative to the article's length.

A topic must be what the article is about, not a word it contains once. Each occurrence of a
topic's term adds the term's weight (half of it when the same term was met before), counted
``title_weight`` times in the title and ``lead_weight`` times in the lead (the text's first
``lead_words`` words). A topic is a candidate when its terms in the title and the lead alone
reach its ``min_score`` (so a short text, all lead, needs what it always needed), or when its
whole score reaches ``min_score`` times the lead weight times the square root of the text's
length in ``reference_words`` (a long article needs occurrences throughout, in proportion to
the square root of its length, not a word it contains once). Of the candidates, those with at
least ``min_share`` of the best topic's score are given (in a text no longer than its lead,
every candidate that reached ``min_score`` there), at most ``max_topics``, the strongest
first. Each topic keeps every term that counted for it as its evidence.

A term with a ``group`` is a cue: it counts only in the title and the lead, and only within
``PAIR_WINDOW`` characters of a counting term of its topic outside its group (a foreign state
beside a warship, a nationality beside fighters); a term of the group ``not`` counts nothing
and cancels its topic's terms within ``VETO_WINDOW`` characters (a derby around "ceasefire").
"""

from __future__ import annotations

from math import sqrt

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
    occurrence, with the heavier term; a phrase of more words there wins, so "war crimes" of
    weight 0 takes "war"), and so does a term inside another of the topic's terms (النواب in
    مجلس النواب). (The tagger keeps one ``TopicScorer`` per knowledge base.)
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
        self.lead_words: int = scoring.lead_words
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
        # A text no longer than its lead (a post, a headline, a wire brief) is about every topic
        # it names with enough weight: the share of the best topic only thins long articles.
        short = text_words <= self.lead_words
        length_factor = sqrt(max(1.0, text_words / self.reference_words))
        lead_weight = self.lead_weight
        topics = self.topics
        chosen: list[tuple[float, int, str]] = []
        for topic_id, score in found.items():
            known = topics.get(topic_id)
            if known is None:
                continue
            order, min_score = known
            if score.total < floor and not (short and score.top >= min_score):
                continue
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
    before ``lead_end`` also to the topic's ``top``. A term of a group counts only with a
    partner (``_paired``); any term within ``VETO_WINDOW`` of its topic's ``not`` term counts
    nothing."""
    # The matcher gives the matches word by word, so the ones at one word start are
    # neighbours: of those of one topic, one is kept. The phrase of more words wins (war
    # crimes over war, even at weight 0): terms match whole words, so at one word start it is
    # the one that ends later; then the heavier term, then the longer (الاشتباكات over
    # اشتباكات behind its ال). A cue in the body of a long article never counts: it is dropped
    # here.
    ordered: list[TermMatch] = []
    grouped = False
    word_from = 0  # where the matches at the current word start begin in ``ordered``
    current_word = -1
    for match in matches:
        start, end, word_start, term = match
        group = term.group
        if group:
            if group != VETO and 0 <= lead_end <= start:
                continue
            grouped = True
        if word_start != current_word:
            current_word = word_start
            word_from = len(ordered)
            ordered.append(match)
            continue
        topic_id = term.topic_id
        for position in range(word_from, len(ordered)):
            current = ordered[position]
            if current[3].topic_id != topic_id:
                continue
            current_end = current[1]
            if end != current_end:
                if end > current_end:
                    ordered[position] = match
            else:
                weight, current_weight = term.weight, current[3].weight
                if weight > current_weight or (weight == current_weight and start < current[0]):
                    ordered[position] = match
            break
        else:
            ordered.append(match)
    vetoes: dict[str, list[tuple[int, int]]] = {}
    if grouped:
        for start, end, _, term in ordered:
            if term.group == VETO:
                vetoes.setdefault(term.topic_id, []).append((start, end))
    for index, (start, end, _, term) in enumerate(ordered):
        score = found.get(term.topic_id)
        if score is None:
            score = found[term.topic_id] = _Score()
        elif start < score.end:
            continue  # inside a longer term of the topic (النواب in مجلس النواب)
        score.end = end
        if not term.weight:
            continue  # a phrase that is not the topic took the word: no score, no evidence
        if grouped:
            if term.group and (term.group == VETO or not _paired(ordered, index)):
                continue  # a cue says nothing alone
            near = vetoes.get(term.topic_id)
            if near is not None and _near(near, start, end, VETO_WINDOW):
                continue  # "ceasefire" before a derby
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


def _paired(ordered: list[TermMatch], index: int) -> bool:
    """Whether the grouped term at ``index`` has a partner within ``PAIR_WINDOW`` characters:
    a counting term of the same topic outside its group (a foreign state and a warship, a
    nationality and fighters)."""
    start, end, _, term = ordered[index]
    topic_id, group = term.topic_id, term.group
    for position in range(index + 1, len(ordered)):
        other_start, _, _, other = ordered[position]
        if other_start - end > PAIR_WINDOW:
            break
        if other.topic_id == topic_id and other.weight and other.group not in (group, VETO):
            return True
    for position in range(index - 1, -1, -1):
        other_start, other_end, _, other = ordered[position]
        if start - other_start > PAIR_WINDOW + _LONGEST_TERM:
            break
        if (
            start - other_end <= PAIR_WINDOW
            and other.topic_id == topic_id
            and other.weight
            and other.group not in (group, VETO)
        ):
            return True
    return False


def _near(spans: list[tuple[int, int]], start: int, end: int, window: int) -> bool:
    for span_start, span_end in spans:
        if span_start - end <= window and start - span_end <= window:
            return True
    return False


# A term met again in the article counts this share of its weight.
REPEAT_FACTOR = 0.5
# A grouped term's partner must be at most this many characters (of normalised text, about
# six words) away; a ``not`` term cancels the topic's terms this far away (about a sentence).
PAIR_WINDOW = 40
VETO_WINDOW = 100
VETO = "not"
# Longer than any topic term, so that a partner before a term is not missed.
_LONGEST_TERM = 60
