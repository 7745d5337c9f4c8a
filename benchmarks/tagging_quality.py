"""Actor-tagging quality on the evaluation sets: ``python -m benchmarks.tagging_quality``.

Tags every snippet of every ``tests/unit/enrichment/evaluation/*.yaml`` file (or the files
given) with the packaged (or ``--knowledge-base``) knowledge base and prints, per file, micro
precision, recall and F1 over actor ids, the same per actor, then every error with the snippet
that caused it.

A file may declare the labels it uses with a top-level ``label_set``:

- ``all`` (the default): every knowledge-base actor is a label, so any extra tag is an error;
- ``design``: only the actor ids docs/design.md lists are labels; tags of other actors (the UN
  mission, Wagner, ...) are neither right nor wrong and are ignored.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.enrichment.core import Tagger, load_knowledge_base
from services.enrichment.core.knowledge_base import DESIGN_ACTOR_IDS

EVALUATION_DIR = (
    Path(__file__).resolve().parents[1] / "tests" / "unit" / "enrichment" / "evaluation"
)
HELDOUT = EVALUATION_DIR / "heldout.yaml"

LABEL_SETS: dict[str, frozenset[str] | None] = {"all": None, "design": DESIGN_ACTOR_IDS}


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str
    text: str
    actors: frozenset[str]


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    name: str
    snippets: list[Snippet]
    label_set: str = "all"

    @property
    def labels(self) -> frozenset[str] | None:
        """The actor ids that count, None for every actor."""
        return LABEL_SETS[self.label_set]


@dataclass(frozen=True, slots=True)
class Error:
    snippet: str
    actor: str
    kind: str  # "false positive" or "missed"


@dataclass(slots=True)
class Scores:
    true_positives: Counter[str] = field(default_factory=Counter)
    false_positives: Counter[str] = field(default_factory=Counter)
    false_negatives: Counter[str] = field(default_factory=Counter)
    errors: list[Error] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives.total(), self.false_positives.total())

    @property
    def recall(self) -> float:
        return _ratio(self.true_positives.total(), self.false_negatives.total())

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)

    def per_actor(self) -> list[tuple[str, float, float, float, int]]:
        """(actor, precision, recall, F1, expected count), sorted by actor id."""
        rows = []
        actors = set(self.true_positives) | set(self.false_positives) | set(self.false_negatives)
        for actor in sorted(actors):
            tp = self.true_positives[actor]
            precision = _ratio(tp, self.false_positives[actor])
            recall = _ratio(tp, self.false_negatives[actor])
            rows.append(
                (actor, precision, recall, _f1(precision, recall), tp + self.false_negatives[actor])
            )
        return rows

    def report(self) -> str:
        lines = [
            f"micro precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"F1 {self.f1:.3f} "
            f"({self.true_positives.total()} correct, {self.false_positives.total()} false "
            f"positives, {self.false_negatives.total()} missed)"
        ]
        lines += [f"  {e.kind}: {e.actor} in {e.snippet}" for e in self.errors]
        return "\n".join(lines)


def _ratio(correct: int, wrong: int) -> float:
    return correct / (correct + wrong) if correct + wrong else 1.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluation_files(directory: Path = EVALUATION_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_evaluation_set(path: Path) -> EvaluationSet:
    """One evaluation file; a ``ValueError`` names the file when it is malformed."""
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("snippets"), list):
        raise ValueError(f"{path}: expected a mapping with a 'snippets' list")
    label_set = str(document.get("label_set", "all"))
    if label_set not in LABEL_SETS:
        raise ValueError(f"{path}: label_set {label_set!r} is not one of {sorted(LABEL_SETS)}")
    snippets = [
        Snippet(id=str(item["id"]), text=str(item["text"]), actors=frozenset(item["actors"]))
        for item in document["snippets"]
    ]
    return EvaluationSet(name=path.name, snippets=snippets, label_set=label_set)


def load_snippets(path: Path = HELDOUT) -> list[Snippet]:
    return load_evaluation_set(path).snippets


def evaluate(
    tagger: Tagger, snippets: list[Snippet], labels: frozenset[str] | None = None
) -> Scores:
    """Scores over actor ids; with ``labels``, tags of other actors are ignored."""
    scores = Scores()
    for snippet in snippets:
        found = {entity.id for entity in tagger.tag("", snippet.text).entities}
        if labels is not None:
            found &= labels
        for actor in found & snippet.actors:
            scores.true_positives[actor] += 1
        for actor in sorted(found - snippet.actors):
            scores.false_positives[actor] += 1
            scores.errors.append(Error(snippet.id, actor, "false positive"))
        for actor in sorted(snippet.actors - found):
            scores.false_negatives[actor] += 1
            scores.errors.append(Error(snippet.id, actor, "missed"))
    return scores


def evaluate_set(tagger: Tagger, evaluation: EvaluationSet) -> Scores:
    return evaluate(tagger, evaluation.snippets, evaluation.labels)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--knowledge-base", type=Path, default=None, help="A KB YAML file.")
    parser.add_argument(
        "files", type=Path, nargs="*", help="Evaluation YAML files (default: every set)."
    )
    parser.add_argument(
        "--label-set",
        choices=sorted(LABEL_SETS),
        default=None,
        help="Score every file against this label set, whatever the file declares.",
    )
    args = parser.parse_args(argv)
    tagger = Tagger(load_knowledge_base(args.knowledge_base))
    summary: list[tuple[str, Scores]] = []
    for path in args.files or evaluation_files():
        evaluation = load_evaluation_set(path)
        labels = LABEL_SETS[args.label_set] if args.label_set else evaluation.labels
        label_set = args.label_set or evaluation.label_set
        scores = evaluate(tagger, evaluation.snippets, labels)
        summary.append((evaluation.name, scores))
        expected = sum(len(s.actors) for s in evaluation.snippets)
        print(
            f"== {evaluation.name}: {len(evaluation.snippets)} snippets, {expected} expected "
            f"actor tags, label set {label_set} =="
        )
        print(f"{'actor':32} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
        for actor, precision, recall, f1, count in scores.per_actor():
            print(f"{actor:32} {precision:6.2f} {recall:6.2f} {f1:6.2f} {count:4}")
        print(scores.report())
        print()
    print(f"{'file':32} {'P':>6} {'R':>6} {'F1':>6}")
    for name, scores in summary:
        print(f"{name:32} {scores.precision:6.3f} {scores.recall:6.3f} {scores.f1:6.3f}")


if __name__ == "__main__":
    main()
