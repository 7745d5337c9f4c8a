"""Tagger throughput: ``python -m benchmarks.tagger [--seconds N]``.

Prints the machine, knowledge-base load time and memory, and articles/s and MB/s on articles
of 3-5 KB built from the fixture seeds, for the packaged knowledge base and for one extended
with 10,000 synthetic actors.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from services.enrichment.core import KnowledgeBase, Tagger, clean_text
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
    tracemalloc.start()
    started = time.perf_counter()
    kb = build_knowledge_base(document)
    _ = kb.matcher  # the automaton is part of loading
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return kb, seconds, peak / 1e6


def run(label: str, kb: KnowledgeBase, texts: list[str], seconds: float) -> None:
    tagger = Tagger(kb)
    for text in texts[:20]:
        tagger.tag("", text)  # warm caches
    done = size = 0
    started = time.perf_counter()
    next_report = started + 1.0
    while (now := time.perf_counter()) - started < seconds:
        for text in texts:
            tagger.tag("", text)
            size += len(text.encode())
        done += len(texts)
        if now >= next_report:
            print(f"  {label}: {done} articles ...", file=sys.stderr, flush=True)
            next_report = now + 1.0
    elapsed = time.perf_counter() - started
    print(
        f"{label}: {done / elapsed:,.0f} articles/s, {size / elapsed / 1e6:.1f} MB/s "
        f"(mean {size / done / 1000:.1f} KB/article, {done} articles in {elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="Time per measurement.")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    texts = articles()
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
        run(label, kb, texts, args.seconds)


if __name__ == "__main__":
    main()
