"""Re-tagging speed against new articles: ``python -m benchmarks.retag [--articles N]``.

Starts the local system (Kafka, OpenSearch, the receivers and the services as processes, as
``raqib dev`` does), sends one warm-up article through it, then, in the same run:

1. new articles: publishes N synthetic articles (the seeds, varied) to ``articles.raw`` and
   times the enrichment stage until its group has committed all of them (its rate on new
   articles), and the pipeline until all N are indexed;
2. re-tagging: runs ``raqib retag --alerts none`` over the archive those N articles made and
   times the command from its start until it exits, which is when the index shows every
   document re-tagged (read, published, enriched again, indexed again); and, on the way, until
   the enrichment stage has committed every re-tagged article.

The goal (issue 16): re-tagging runs at least at half the rate of the enrichment stage on new
articles. Prints the machine, a results table and, last, one JSON line with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.pipeline import (
    SEEDS,
    OffsetProbe,
    indexed_count,
    load_templates,
    on_local_stack,
    publish,
    synthetic_articles,
    this_machine,
)
from services.devstack.stack import LocalStack, pipeline_idle
from services.indexer.engines import SearchEngine

GOAL = 0.5  # re-tagging rate / enrichment rate on new articles
POLL_S = 0.25


def ratio(retag_rate: float, enrichment_rate: float) -> float | None:
    """Re-tagging's rate as a share of enrichment's on new articles (None without one)."""
    return round(retag_rate / enrichment_rate, 3) if enrichment_rate > 0 else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _rate(count: int, seconds: float | None) -> float | None:
    return None if not seconds else round(count / seconds, 1)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _warm_up(stack: LocalStack, engine: SearchEngine, templates: list[Any]) -> None:
    (warm,) = synthetic_articles(templates, 1, first_serial=0)
    await publish(stack.kafka.bootstrap_servers, [warm])
    deadline = time.monotonic() + 120
    while not await pipeline_idle(stack, engine, [warm.id]):
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up article did not get through in 120 s")
        await asyncio.sleep(POLL_S)


async def new_articles(stack: LocalStack, count: int, timeout: float) -> dict[str, Any]:
    """Enrichment's and the pipeline's time for ``count`` new articles."""
    templates = load_templates(SEEDS)
    engine = stack.engine()
    probe = OffsetProbe(stack.kafka.bootstrap_servers)
    try:
        await _warm_up(stack, engine, templates)
        await probe.start()
        before = (await probe.committed_and_ends())["enrichment"][0]
        articles = synthetic_articles(templates, count)
        began = time.monotonic()
        await publish(stack.kafka.bootstrap_servers, articles)
        enriched_s = indexed_s = None
        while time.monotonic() - began < timeout:
            stack.check_services()
            now = time.monotonic() - began
            if enriched_s is None:
                committed, _end = (await probe.committed_and_ends())["enrichment"]
                if committed - before >= count:
                    enriched_s = now
                    _progress(f"new articles: enriched {count} in {now:.1f} s")
            if indexed_s is None and await indexed_count(engine) >= count + 1:
                indexed_s = now
                _progress(f"new articles: indexed {count} in {now:.1f} s")
            if enriched_s is not None and indexed_s is not None:
                break
            await asyncio.sleep(POLL_S)
    finally:
        await probe.stop()
        await engine.close()
    return {"enriched_s": enriched_s, "indexed_s": indexed_s}


async def retag(stack: LocalStack, count: int, timeout: float) -> dict[str, Any]:
    """``raqib retag --alerts none`` over the whole archive, timed from start to exit; and
    when the enrichment stage had committed every re-tagged article."""
    probe = OffsetProbe(stack.kafka.bootstrap_servers)
    await probe.start()
    try:
        before = (await probe.committed_and_ends())["enrichment"][0]
        began = time.monotonic()
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "services.cli", "retag", "--alerts", "none", "--page-size", "1000"),
            env=stack.service_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        output = asyncio.ensure_future(command.communicate())
        enriched_s = None
        while not output.done():
            if time.monotonic() - began > timeout:
                command.kill()
                raise RuntimeError(f"raqib retag did not finish in {timeout:g} s")
            if enriched_s is None:
                committed = (await probe.committed_and_ends())["enrichment"][0]
                if committed - before >= count:
                    enriched_s = time.monotonic() - began
            await asyncio.sleep(POLL_S)
        stdout, stderr = await output
        elapsed = time.monotonic() - began
    finally:
        await probe.stop()
    if command.returncode != 0:
        raise RuntimeError(f"raqib retag failed ({command.returncode}): {stderr[-2000:]!r}")
    summary: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    _progress(f"retag: {summary['retagged']} documents re-tagged in {elapsed:.1f} s")
    return {"elapsed_s": round(elapsed, 2), "enriched_s": enriched_s, "summary": summary}


def measure(stack: LocalStack, count: int, timeout: float) -> dict[str, Any]:
    fresh = asyncio.run(new_articles(stack, count, timeout))
    if fresh["enriched_s"] is None or fresh["indexed_s"] is None:
        return {"articles": count, "complete": False, "new": fresh}
    again = asyncio.run(retag(stack, count + 1, timeout))  # the warm-up article too
    retagged = int(again["summary"]["retagged"])
    enrichment_rate = count / fresh["enriched_s"]
    pipeline_rate = count / fresh["indexed_s"]
    retag_rate = retagged / again["elapsed_s"]
    return {
        "articles": count,
        "complete": retagged == count + 1,  # the warm-up article is archived too
        "machine": this_machine(),
        "new_enriched_s": round(fresh["enriched_s"], 2),
        "new_indexed_s": round(fresh["indexed_s"], 2),
        "retag_s": again["elapsed_s"],
        "retag_published_s": again["summary"]["published_s"],
        "retag_enriched_s": _rounded(again["enriched_s"]),
        "retag_enrichment_rate_per_s": _rate(count + 1, again["enriched_s"]),
        "enrichment_rate_per_s": round(enrichment_rate, 1),
        "new_pipeline_rate_per_s": round(pipeline_rate, 1),
        "retag_rate_per_s": round(retag_rate, 1),
        "retag_vs_enrichment": ratio(retag_rate, enrichment_rate),
        "retag_vs_new_pipeline": ratio(retag_rate, pipeline_rate),
        "goal": GOAL,
    }


def render_table(result: dict[str, Any]) -> str:
    rows = [
        ("new articles: enrichment", result["new_enriched_s"], result["enrichment_rate_per_s"]),
        ("new articles: indexed", result["new_indexed_s"], result["new_pipeline_rate_per_s"]),
        ("re-tag (read, enrich, index)", result["retag_s"], result["retag_rate_per_s"]),
    ]
    if result["retag_enriched_s"] is not None:
        rows.insert(
            2,
            (
                "re-tag: through enrichment",
                result["retag_enriched_s"],
                result["retag_enrichment_rate_per_s"],
            ),
        )
    lines = [f"{'':30} {'seconds':>9} {'articles/s':>11}"]
    lines += [f"{name:30} {seconds:>9.2f} {rate:>11.1f}" for name, seconds, rate in rows]
    lines.append(
        f"re-tag / enrichment rate: {result['retag_vs_enrichment']} (goal >= {GOAL}); "
        f"re-tag / new pipeline: {result['retag_vs_new_pipeline']}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=50_000, help="Articles to archive.")
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds per phase.")
    parser.add_argument("--keep", action="store_true", help="Keep the service logs.")
    args = parser.parse_args(argv)
    if args.articles < 1:
        parser.error("--articles must be at least 1")
    result = on_local_stack(
        "raqib-bench-retag-",
        args.keep,
        lambda stack: measure(stack, args.articles, args.timeout),
    )
    if result is None:
        return 130
    if result["complete"]:
        print(render_table(result))
    print(json.dumps(result, ensure_ascii=False), flush=True)
    ok = result["complete"] and (result["retag_vs_enrichment"] or 0) >= GOAL
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
