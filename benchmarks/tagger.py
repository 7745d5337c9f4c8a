"""Tagger throughput: ``python -m benchmarks.tagger [--seconds N]``.

Prints the machine and whether the tagger core runs compiled, then for the packaged knowledge
base and for one extended with 10,000 synthetic actors: load time and memory, and articles/s and
MB/s on one core, on articles of 3-5 KB built from the fixture seeds, for ``Tagger.tag`` alone
and for the service's whole ``enrich`` path (RawArticle in, validated EnrichedArticle model
out); last, how much slower the large knowledge base is.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from schemas import RawArticle, article_id, content_hash
from services.enrichment.core import COMPILED, KnowledgeBase, Tagger, clean_text, enrich
from services.enrichment.core.knowledge_base import build_knowledge_base

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PACKAGED = Path(__file__).resolve().parents[1] / "services" / "enrichment" / "knowledge_base.yaml"
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


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
    """The knowledge base with its automaton, the seconds that took, and the peak memory (MB)
    of building it, measured on a second build (tracing allocations slows a build down)."""
    started = time.perf_counter()
    kb = build_knowledge_base(document)
    _ = kb.matcher  # the automaton is part of loading
    seconds = time.perf_counter() - started
    tracemalloc.start()
    _ = build_knowledge_base(document).matcher
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


def measure(label: str, work: Callable[[int], None], sizes: list[int], seconds: float) -> float:
    """Runs ``work(i)`` over every article index until ``seconds`` passed; articles/s."""
    for index in range(min(20, len(sizes))):
        work(index)  # warm caches
    done = size = 0
    started = time.perf_counter()
    next_report = started + 1.0
    while (now := time.perf_counter()) - started < seconds:
        for index, article_size in enumerate(sizes):
            work(index)
            size += article_size
        done += len(sizes)
        if now >= next_report:
            print(f"  {label}: {done} articles ...", file=sys.stderr, flush=True)
            next_report = now + 1.0
    elapsed = time.perf_counter() - started
    rate = done / elapsed
    print(
        f"{label}: {rate:,.0f} articles/s, {size / elapsed / 1e6:.1f} MB/s "
        f"(mean {size / done / 1000:.1f} KB/article, {done} articles in {elapsed:.1f} s)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="Time per measurement.")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        "tagger core: "
        + ("compiled (mypyc)" if COMPILED else "Python sources (RAQIB_PURE_PYTHON=1 or no build)")
    )
    texts = articles()
    raws = raw_articles(texts)
    sizes = [len(text.encode()) for text in texts]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rates: dict[str, tuple[float, float]] = {}
    for label, document in (
        ("packaged KB", yaml.safe_load(PACKAGED.read_bytes())),
        ("KB + 10,000 synthetic actors", synthetic_document(10_000)),
    ):
        kb, load_seconds, peak_mb = load(document)
        print(
            f"{label}: {len(kb.actors)} actors, {kb.alias_count} aliases, "
            f"{kb.matcher.key_count} automaton keys; load {load_seconds * 1000:.0f} ms, "
            f"peak memory while loading {peak_mb:.1f} MB"
        )
        tagger = Tagger(kb)

        def tag(index: int, tagger: Tagger = tagger) -> None:
            tagger.tag("", texts[index])

        def enrich_one(index: int, tagger: Tagger = tagger) -> None:
            enrich(raws[index], tagger, now=now)

        rates[label] = (
            measure(f"{label}, tag()", tag, sizes, args.seconds),
            measure(f"{label}, enrich()", enrich_one, sizes, args.seconds),
        )
    (tag_small, enrich_small), (tag_large, enrich_large) = rates.values()
    print(
        f"10,000 synthetic actors vs packaged: tag() {_change(tag_large, tag_small)}, "
        f"enrich() {_change(enrich_large, enrich_small)}"
    )


def _change(rate: float, baseline: float) -> str:
    return f"{(rate - baseline) / baseline * 100:+.0f}%"


if __name__ == "__main__":
    main()
