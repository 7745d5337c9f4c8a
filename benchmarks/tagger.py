"""Tagger throughput: ``python -m benchmarks.tagger [--seconds N]``.

Prints the machine and whether the tagger core runs compiled, then for the packaged knowledge
base and for one extended with 10,000 synthetic actors: load time and memory, mentions per
article (and how many of them a context rule decided), and articles/s and
MB/s on one core, on articles of 3-5 KB built from the fixture seeds, for ``Tagger.tag`` alone
and for the service's whole ``enrich`` path (RawArticle in, validated EnrichedArticle model
out); last, how much slower the large knowledge base is.

The four measurements run in alternating rounds of half a second and each reports its median
round, so a machine that speeds up or slows down during the run (a shared VM does) colours
all four alike and the comparison between the knowledge bases stays fair.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from benchmarks.pipeline import this_machine
from schemas import RawArticle, article_id, content_hash
from services.enrichment.core import COMPILED, KnowledgeBase, Tagger, clean_text, enrich
from services.enrichment.core.knowledge_base import build_knowledge_base
from services.enrichment.core.matcher import matcher_for
from services.enrichment.core.tagger import UNAMBIGUOUS

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PACKAGED = Path(__file__).resolve().parents[1] / "services" / "enrichment" / "knowledge_base.yaml"
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def articles() -> list[str]:
    texts = [clean_text(p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*.txt"))]
    if not texts:
        sys.exit(f"no seed articles in {SEEDS}")
    rng = random.Random(7)
    out = []
    for _ in range(200):
        text = rng.choice(texts)
        while len(text.encode()) < 3000:
            text += "\n" + rng.choice(texts)
        out.append(text.encode()[: rng.randint(3000, 5000)].decode(errors="ignore"))
    return out


def synthetic_document(count: int) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PACKAGED.read_bytes())
    rng = random.Random(11)
    for index in range(count):
        first = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 6)))
        last = "".join(rng.choice(LETTERS) for _ in range(rng.randint(4, 7)))
        document["actors"][f"synthetic-{index}"] = {
            "type": "person",
            "name": f"Synthetic {index} ({first} {last})",
            "aliases": [f"{first} {last}", f"Synthetic Person {index}"],
        }
    return document


def load(document: dict[str, Any]) -> tuple[KnowledgeBase, float, float]:
    """The knowledge base with its matcher, the seconds that took, and the peak memory (MB)
    of building it, measured on a second build (tracing allocations slows a build down)."""
    started = time.perf_counter()
    kb = build_knowledge_base(document)
    _ = matcher_for(kb)  # building the matcher is part of loading
    seconds = time.perf_counter() - started
    tracemalloc.start()
    _ = matcher_for(build_knowledge_base(document))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return kb, seconds, peak / 1e6


def raw_articles(texts: list[str]) -> list[RawArticle]:
    fetched = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        RawArticle(
            id=article_id(f"https://bench.example/{n}"),
            source="Benchmark",
            title=text[:80],
            text=text,
            fetched_at=fetched,
            content_hash=content_hash(text),
        )
        for n, text in enumerate(texts)
    ]


ROUND_SECONDS = 0.5


class Measurement:
    """Rounds of ``work(i)`` over every article index; articles/s per round."""

    def __init__(self, label: str, work: Callable[[int], None], sizes: list[int]) -> None:
        self.label = label
        self.work = work
        self.sizes = sizes
        self.rates: list[float] = []
        self.bytes_per_article = sum(sizes) / len(sizes)
        for index in range(min(20, len(sizes))):
            work(index)  # warm caches

    def round(self) -> None:
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < ROUND_SECONDS:
            for index in range(len(self.sizes)):
                self.work(index)
            done += len(self.sizes)
        self.rates.append(done / (time.perf_counter() - started))

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def report(self) -> None:
        print(
            f"{self.label}: {self.rate:,.0f} articles/s, "
            f"{self.rate * self.bytes_per_article / 1e6:.1f} MB/s (median of "
            f"{len(self.rates)} rounds, range {min(self.rates):,.0f}-{max(self.rates):,.0f}; "
            f"mean {self.bytes_per_article / 1000:.1f} KB/article)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="Time per measurement (in rounds of 0.5 s)."
    )
    args = parser.parse_args()
    machine = this_machine()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}")
    print(
        "tagger core: "
        + ("compiled (mypyc)" if COMPILED else "Python sources (RAQIB_PURE_PYTHON=1 or no build)")
    )
    texts = articles()
    raws = raw_articles(texts)
    sizes = [len(text.encode()) for text in texts]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    measurements: list[Measurement] = []
    for label, document in (
        ("packaged KB", yaml.safe_load(PACKAGED.read_bytes())),
        ("KB + 10,000 synthetic actors", synthetic_document(10_000)),
    ):
        kb, load_seconds, peak_mb = load(document)
        print(
            f"{label}: {len(kb.actors)} actors, {kb.alias_count} aliases, "
            f"{matcher_for(kb).key_count} keys, "
            f"{matcher_for(kb).spelling_count} first-word spellings; "
            f"load {load_seconds * 1000:.0f} ms, peak memory while loading {peak_mb:.1f} MB"
        )
        tagger = Tagger(kb)
        mentions = [m for text in texts for e in tagger.tag("", text).entities for m in e.mentions]
        ruled = sum(1 for m in mentions if m.rule != UNAMBIGUOUS)
        print(
            f"{label}: {len(mentions) / len(texts):.1f} mentions per article, "
            f"{ruled / len(texts):.1f} of them decided by a context rule"
        )

        def tag(index: int, tagger: Tagger = tagger) -> None:
            tagger.tag("", texts[index])

        def enrich_one(index: int, tagger: Tagger = tagger) -> None:
            enrich(raws[index], tagger, now=now)

        measurements += [
            Measurement(f"{label}, tag()", tag, sizes),
            Measurement(f"{label}, enrich()", enrich_one, sizes),
        ]
    rounds = max(1, math.ceil(args.seconds / ROUND_SECONDS))
    for number in range(1, rounds + 1):
        for measurement in measurements:
            measurement.round()
        print(f"  round {number}/{rounds} done", file=sys.stderr, flush=True)
    for measurement in measurements:
        measurement.report()
    tag_small, enrich_small, tag_large, enrich_large = (m.rate for m in measurements)
    print(
        f"10,000 synthetic actors vs packaged: tag() {_change(tag_large, tag_small)}, "
        f"enrich() {_change(enrich_large, enrich_small)}"
    )


def _change(rate: float, baseline: float) -> str:
    return f"{(rate - baseline) / baseline * 100:+.0f}%"


if __name__ == "__main__":
    main()
