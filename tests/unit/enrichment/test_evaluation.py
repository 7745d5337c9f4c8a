"""Precision and recall on evaluation snippets the knowledge base was not written against."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tagging_quality import (
    EvaluationSet,
    Snippet,
    evaluate,
    evaluate_set,
    evaluation_files,
    load_evaluation_set,
    main,
)
from services.enrichment.core import Tagger
from services.enrichment.core.knowledge_base import DESIGN_ACTOR_IDS

GOAL = 0.95
FILES = evaluation_files()
# The sets the knowledge base has been tuned against are held to the goal (blind.yaml and
# blind3.yaml since their errors were fixed by class). blind2.yaml is kept out of tuning: the
# benchmark reports its score, and a test that failed on it would invite fitting the rules to it.
TUNED_SETS = ("heldout.yaml", "fresh.yaml", "blind.yaml", "blind3.yaml")


def test_every_evaluation_set_is_found() -> None:
    assert {path.name for path in FILES} >= set(TUNED_SETS)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_the_evaluation_set_is_large_and_labels_known_actors(tagger: Tagger, path: Path) -> None:
    evaluation = load_evaluation_set(path)
    snippets = evaluation.snippets
    assert len(snippets) >= 60
    assert len({s.id for s in snippets}) == len(snippets)
    labelled = {actor for s in snippets for actor in s.actors}
    assert labelled <= (evaluation.labels or set(tagger.knowledge_base.actors))
    assert sum(1 for s in snippets if not s.actors) >= 10  # hard negatives with nothing to tag


@pytest.mark.parametrize("name", TUNED_SETS)
def test_micro_precision_and_recall_on_actor_ids_reach_the_goal(tagger: Tagger, name: str) -> None:
    [path] = [path for path in FILES if path.name == name]
    scores = evaluate_set(tagger, load_evaluation_set(path))
    assert scores.precision >= GOAL, scores.report()
    assert scores.recall >= GOAL, scores.report()


def test_the_design_label_set_is_the_design_actor_list(tagger: Tagger) -> None:
    assert len(DESIGN_ACTOR_IDS) == 34
    assert set(tagger.knowledge_base.actors) >= DESIGN_ACTOR_IDS
    assert load_evaluation_set(FILES[0]).label_set in {"all", "design"}


def test_fresh_set_is_scored_against_the_design_labels() -> None:
    [fresh] = [path for path in FILES if path.name == "fresh.yaml"]
    assert load_evaluation_set(fresh).labels == DESIGN_ACTOR_IDS


def test_a_declared_label_set_ignores_tags_of_other_actors(tagger: Tagger) -> None:
    snippet = Snippet(
        "un-and-haftar", "قالت الأمم المتحدة إن خليفة حفتر وافق.", frozenset({"khalifa-haftar"})
    )
    everything = evaluate(tagger, [snippet])
    design_only = evaluate_set(tagger, EvaluationSet("t", [snippet], label_set="design"))
    assert everything.false_positives["united-nations"] == 1
    assert design_only.false_positives.total() == 0
    assert design_only.precision == design_only.recall == 1.0


def test_a_missed_and_a_wrong_tag_are_both_counted(tagger: Tagger) -> None:
    snippet = Snippet(
        "wrong", "أعلنت الردع الخاصة القبض على مهربين.", frozenset({"khalifa-haftar"})
    )
    scores = evaluate(tagger, [snippet], DESIGN_ACTOR_IDS)
    assert scores.false_negatives["khalifa-haftar"] == 1
    assert scores.false_positives["special-deterrence-force"] == 1
    assert scores.precision == scores.recall == 0.0


def test_an_unknown_label_set_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("label_set: everything\nsnippets: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml.*label_set 'everything'"):
        load_evaluation_set(path)


def test_a_file_without_snippets_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.yaml"):
        load_evaluation_set(path)


def test_the_benchmark_prints_every_file_and_its_scores(capsys: pytest.CaptureFixture[str]) -> None:
    main([])
    out = capsys.readouterr().out
    for path in FILES:
        assert f"== {path.name}:" in out
    assert "label set design" in out
    assert "micro precision" in out
