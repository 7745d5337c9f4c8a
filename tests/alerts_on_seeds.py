"""The alerts the demo raises, built the way the pipeline builds them (the seeds replayed,
enriched by the real tagger, evaluated against ``deploy/rules.yaml``), and their screenshots
rendered by a real headless browser.

Refresh the screenshots kept in ``docs/alerts/``::

    python -m tests.alerts_on_seeds docs/alerts

(needs Debian's ``chromium``; ``bash deploy/local.sh test`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from schemas import Alert, AlertRule, EnrichedArticle
from services.alerting.core import (
    DigestMessage,
    Links,
    Rule,
    build_alert,
    digest_key,
    evaluate_rules,
    load_rules,
    render_digest_html,
    render_html,
)
from services.enrichment.core import enrich
from services.enrichment.core.knowledge_base import load_knowledge_base
from services.enrichment.core.tagger import Tagger
from services.replay.fixtures import fixture_paths, load_fixture

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
RULES = REPO / "deploy" / "rules.yaml"
FETCHED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
RAISED = datetime(2026, 1, 5, 8, 0, 5, tzinfo=UTC)
KIBANA = Links(kibana_url="http://127.0.0.1:5601")
# The screenshots' width and height, CSS pixels: an alert, and the (longer) digest.
WINDOW = (1000, 1000)
DIGEST_WINDOW = (1000, 1300)


@cache
def seed_articles() -> dict[str, EnrichedArticle]:
    """Each seed (by its number, ``000``...) as enrichment publishes it."""
    tagger = Tagger(load_knowledge_base())
    return {
        path.name[:3]: enrich(load_fixture(path, fetched_at=FETCHED), tagger, now=FETCHED)
        for path in fixture_paths(SEEDS)
    }


@cache
def seed_alerts() -> list[tuple[str, Alert, EnrichedArticle]]:
    """``(seed number, alert, article)`` for every alert the demo's rules raise."""
    rule_set = load_rules(RULES, env={})
    channels = list(rule_set.channel_kinds.items())
    found = []
    for seed, article in seed_articles().items():
        for match in evaluate_rules(rule_set.rules, article):
            alert = build_alert(match, article, channels, now=RAISED)
            found.append((seed, alert, article))
    return found


DIGEST_RULE = Rule.model_validate(
    {
        "id": "watched",
        "name": "Watched actors",
        "match": {"actors": {"any": ["special-deterrence-force", "fathi-bashagha"]}},
        "channels": ["analysts-email"],
        "digest": {"window": "1h"},
    }
)


def seed_digest() -> DigestMessage:
    """The digest a rule watching both demo actors sends for the seeds: one message for the
    window, an article naming both listed under each."""
    items = []
    for article in seed_articles().values():
        for match in evaluate_rules([DIGEST_RULE], article):
            items.append(
                (build_alert(match, article, [("analysts-email", "email")], now=RAISED), article)
            )
    start = RAISED.replace(minute=0, second=0)
    return DigestMessage(
        id=digest_key(DIGEST_RULE.id, RAISED, timedelta(hours=1)),
        rule=AlertRule(id=DIGEST_RULE.id, name=DIGEST_RULE.name),
        start=start,
        end=start + timedelta(hours=1),
        items=items,
    )


def pages() -> dict[str, str]:
    """Screenshot name → HTML: each seed alert's email, and the digest."""
    found = {
        f"alert-{seed}-{alert.rule.id}": render_html(alert, article, KIBANA)
        for seed, alert, article in seed_alerts()
    }
    found["digest"] = render_digest_html(seed_digest(), KIBANA)
    return found


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: str, target: Path, *, window: tuple[int, int] = WINDOW) -> None:
    """``html`` as the browser draws it, written to ``target`` (PNG)."""
    command = browser()
    if command is None:
        raise RuntimeError("chromium is not installed (bash deploy/local.sh test installs it)")
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "page.html"
        page.write_text(html, encoding="utf-8")
        done = subprocess.run(
            [
                command,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={scratch}/profile",
                f"--screenshot={target}",
                f"--window-size={window[0]},{window[1]}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0 or not target.exists():
        raise RuntimeError(f"chromium failed on {target.name}: {done.stderr[-2000:]}")


def window_of(name: str) -> tuple[int, int]:
    return DIGEST_WINDOW if name == "digest" else WINDOW


def write_screenshots(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, html in pages().items():
        target = directory / f"{name}.png"
        screenshot(html, target, window=window_of(name))
        written.append(target)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "alerts"
    for path in write_screenshots(out):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
