"""Precision and recall on evaluation snippets the knowledge base was not written against."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tagging_quality import (
    ACTOR_SETS,
    EVALUATION_DIR,
    READ_BY_TESTS,
    TOPIC_SETS,
    EvaluationSet,
    Snippet,
    evaluate,
    evaluate_set,
    evaluate_topics,
    evaluation_files,
    load_evaluation_set,
    main,
)
from services.enrichment.core import Tagger
from services.enrichment.core.knowledge_base import DESIGN_ACTOR_IDS

GOAL = 0.95
# The actor sets, by name (see READ_BY_TESTS): a set added to the directory is read by no test.
FILES = [EVALUATION_DIR / name for name in ACTOR_SETS]
# The sets the knowledge base has been tuned against are held to the goal (blind.yaml,
# blind3.yaml and blind4.yaml since their errors were fixed by class). blind2.yaml is kept out
# of tuning: the benchmark reports its score, and a test that failed on it would invite
# fitting the rules to it.
TUNED_SETS = ("heldout.yaml", "fresh.yaml", "blind.yaml", "blind3.yaml", "blind4.yaml")
# Topic sets tuned against, held to the topic goal (P 0.85, R 0.80).
TOPIC_GOAL = (0.85, 0.80)


def test_every_evaluation_set_is_found() -> None:
    # By name, never by listing the directory: a set being written there stays unread.
    assert all((EVALUATION_DIR / name).is_file() for name in READ_BY_TESTS)
    assert set(ACTOR_SETS) >= set(TUNED_SETS)
    assert not set(ACTOR_SETS) & set(TOPIC_SETS)


@pytest.mark.parametrize("name", TOPIC_SETS)
def test_micro_precision_and_recall_on_topic_ids_reach_the_goal(tagger: Tagger, name: str) -> None:
    evaluation = load_evaluation_set(EVALUATION_DIR / name)
    scores = evaluate_topics(tagger, evaluation.snippets)
    assert scores.precision >= TOPIC_GOAL[0], scores.report()
    assert scores.recall >= TOPIC_GOAL[1], scores.report()


def test_the_topic_development_set_is_labelled_for_topics_only() -> None:
    evaluation = load_evaluation_set(EVALUATION_DIR / "topics_dev.yaml")
    assert len(evaluation.snippets) >= 40
    assert all(s.topics is not None and s.actors is None for s in evaluation.snippets)
    assert sum(1 for s in evaluation.snippets if s.title) >= 5  # long articles with titles


def test_the_benchmark_default_is_every_yaml_file_of_the_directory(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml", "notes.txt"):
        (tmp_path / name).write_text("snippets: []\n", encoding="utf-8")
    assert [path.name for path in evaluation_files(tmp_path)] == ["a.yaml", "b.yaml"]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_the_evaluation_set_is_large_and_labels_known_actors(tagger: Tagger, path: Path) -> None:
    evaluation = load_evaluation_set(path)
    snippets = evaluation.snippets
    assert len(snippets) >= 60
    assert len({s.id for s in snippets}) == len(snippets)
    assert all(s.actors is not None for s in snippets)
    labelled = {actor for s in snippets for actor in s.actors or ()}
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
    main([str(path) for path in FILES])
    out = capsys.readouterr().out
    for path in FILES:
        assert f"== {path.name}:" in out
    assert "label set design" in out
    assert "micro precision" in out


# ------------------------------------------------------------------ topic scores

TOPIC_FIXTURE = """\
snippets:
  - id: clashes-and-talks
    text: اندلعت اشتباكات عنيفة وقصف متبادل في ضواحي المدينة، ثم اشتباكات جديدة فجراً.
    topics: [armed-clashes, mediation]
  - id: nothing
    text: افتتح معرض للكتاب في المدينة القديمة.
    topics: []
  - id: actors-only
    text: وقعت اشتباكات عنيفة وقصف في المدينة.
    actors: []
"""


def test_topics_are_scored_per_topic_and_only_on_snippets_labelled_for_topics(
    tagger: Tagger, tmp_path: Path
) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(TOPIC_FIXTURE, encoding="utf-8")
    evaluation = load_evaluation_set(path)
    assert [s.topics for s in evaluation.snippets] == [
        frozenset({"armed-clashes", "mediation"}),
        frozenset(),
        None,
    ]
    scores = evaluate_topics(tagger, evaluation.snippets)
    # armed-clashes found where expected; mediation missed; the third snippet's clashes are
    # not counted (it carries no topics key).
    assert scores.true_positives == {"armed-clashes": 1}
    assert scores.false_negatives == {"mediation": 1}
    assert scores.false_positives.total() == 0
    assert (scores.precision, scores.recall) == (1.0, 0.5)
    rows = {row[0]: row for row in scores.per_actor()}
    assert rows["mediation"][1:] == (1.0, 0.0, 0.0, 1)
    # The actor scores skip the snippets without an actors key.
    assert evaluate(tagger, evaluation.snippets).true_positives.total() == 0


def test_the_benchmark_prints_topic_scores_beside_actor_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(TOPIC_FIXTURE, encoding="utf-8")
    main([str(path)])
    out = capsys.readouterr().out
    assert "-- topics: 2 snippets labelled, 2 expected topic tags --" in out
    assert "missed: mediation in clashes-and-talks" in out
    [row] = [line for line in out.splitlines() if line.startswith("topics.yaml")]
    assert row.split()[1:] == ["1.000", "1.000", "1.000", "1.000", "0.500", "0.667"]


def test_a_snippet_with_neither_actors_nor_topics_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("snippets:\n  - {id: x, text: y}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml.*'x' has neither"):
        load_evaluation_set(path)


def test_topics_that_are_not_a_list_of_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("snippets:\n  - {id: x, text: y, topics: mediation}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml.*'topics' must be a list"):
        load_evaluation_set(path)
