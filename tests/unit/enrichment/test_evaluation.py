"""Precision and recall on held-out snippets the knowledge base was not written against."""

from __future__ import annotations

from benchmarks.tagging_quality import evaluate, load_snippets
from services.enrichment.core import Tagger

GOAL = 0.95


def test_the_evaluation_set_is_large_and_labels_known_actors(tagger: Tagger) -> None:
    snippets = load_snippets()
    assert len(snippets) >= 60
    assert len({s.id for s in snippets}) == len(snippets)
    labelled = {actor for s in snippets for actor in s.actors}
    assert labelled <= set(tagger.knowledge_base.actors)
    assert sum(1 for s in snippets if not s.actors) >= 10  # hard negatives with nothing to tag


def test_micro_precision_and_recall_on_actor_ids_reach_the_goal(tagger: Tagger) -> None:
    scores = evaluate(tagger, load_snippets())
    assert scores.precision >= GOAL, scores.report()
    assert scores.recall >= GOAL, scores.report()
