"""Actor-tagging quality on the held-out set: ``python -m benchmarks.tagging_quality``.

Tags every snippet of ``tests/unit/enrichment/evaluation/heldout.yaml`` with the packaged (or
``--knowledge-base``) knowledge base and prints micro precision, recall and F1 over actor ids,
then the same per actor, then every error with the snippet that caused it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.enrichment.core import Tagger, load_knowledge_base

HELDOUT = (
    Path(__file__).resolve().parents[1] / "tests" / "unit" / "enrichment" / "evaluation"
) / "heldout.yaml"


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str
    text: str
    actors: frozenset[str]


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
            f"F1 {_f1(self.precision, self.recall):.3f} "
            f"({self.true_positives.total()} correct, {self.false_positives.total()} false "
            f"positives, {self.false_negatives.total()} missed)"
        ]
        lines += [f"  {e.kind}: {e.actor} in {e.snippet}" for e in self.errors]
        return "\n".join(lines)


def _ratio(correct: int, wrong: int) -> float:
    return correct / (correct + wrong) if correct + wrong else 1.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def load_snippets(path: Path = HELDOUT) -> list[Snippet]:
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Snippet(id=str(item["id"]), text=str(item["text"]), actors=frozenset(item["actors"]))
        for item in document["snippets"]
    ]


def evaluate(tagger: Tagger, snippets: list[Snippet]) -> Scores:
    scores = Scores()
    for snippet in snippets:
        found = {entity.id for entity in tagger.tag("", snippet.text).entities}
        for actor in found & snippet.actors:
            scores.true_positives[actor] += 1
        for actor in sorted(found - snippet.actors):
            scores.false_positives[actor] += 1
            scores.errors.append(Error(snippet.id, actor, "false positive"))
        for actor in sorted(snippet.actors - found):
            scores.false_negatives[actor] += 1
            scores.errors.append(Error(snippet.id, actor, "missed"))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--knowledge-base", type=Path, default=None, help="A KB YAML file.")
    parser.add_argument("--snippets", type=Path, default=HELDOUT, help="An evaluation YAML file.")
    args = parser.parse_args()
    snippets = load_snippets(args.snippets)
    scores = evaluate(Tagger(load_knowledge_base(args.knowledge_base)), snippets)
    print(f"{len(snippets)} snippets, {sum(len(s.actors) for s in snippets)} expected actor tags")
    print(f"{'actor':32} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
    for actor, precision, recall, f1, expected in scores.per_actor():
        print(f"{actor:32} {precision:6.2f} {recall:6.2f} {f1:6.2f} {expected:4}")
    print(scores.report())


if __name__ == "__main__":
    main()
