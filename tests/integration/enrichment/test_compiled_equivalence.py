"""The compiled tagger core gives exactly the output of its Python sources.

This process runs the compiled build (when one is installed); a second Python process runs the
sources (``RAQIB_PURE_PYTHON=1``). Both tag the seeds, every evaluation snippet and variants of
them (upper case, scattered diacritics and tatweel, doubled spaces and title case), and enrich
them as the service does; the two JSON dumps must be identical.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import yaml

import services.enrichment.core as core
from benchmarks.tagging_quality import READ_BY_TESTS
from schemas import RawArticle, article_id, content_hash
from services.enrichment.core import Tagger, enrich, load_knowledge_base
from tests.conftest import REPO

pytestmark = pytest.mark.integration

EVALUATION = REPO / "tests" / "unit" / "enrichment" / "evaluation"
SEEDS = REPO / "seeds"


def texts() -> list[str]:
    originals = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    for name in READ_BY_TESTS:  # by name: an unseen set in the directory stays unread
        path = EVALUATION / name
        originals += [snippet["text"] for snippet in yaml.safe_load(path.read_text())["snippets"]]
    rng = random.Random(3)
    variants = []
    for text in originals:
        variants.append(text.upper())
        variants.append(
            "".join(
                letter
                + ("\u064e" if "\u0600" <= letter <= "\u06ff" and rng.random() < 0.2 else "")
                + ("\u0640" if rng.random() < 0.03 else "")
                for letter in text
            )
        )
        variants.append(text.replace(" ", "  \n ").title())
    return originals + variants


def dump() -> str:
    """Every tag() and enrich() output over the texts, as JSON, and which build made it."""
    tagger = Tagger(load_knowledge_base())
    fetched = datetime(2026, 11, 1, tzinfo=UTC)
    outputs: list[object] = []
    for n, text in enumerate(texts()):
        outputs.append(tagger.tag("", text).to_dict())
        outputs.append(tagger.tag(text[:90], text[::-1][:200] + text).to_dict())
        article = RawArticle(
            id=article_id(f"https://equivalence.example/{n}"),
            source="Equivalence",
            title=text[:80],
            text=text,
            fetched_at=fetched,
            content_hash=content_hash(text),
        )
        outputs.append(enrich(article, tagger, now=fetched).model_dump(mode="json"))
    return json.dumps({"compiled": core.COMPILED, "outputs": outputs}, ensure_ascii=False)


def test_compiled_and_python_sources_tag_identically() -> None:
    if not core.COMPILED:
        pytest.skip(
            "no current compiled build of the tagger core is installed (no C compiler at "
            "install time, RAQIB_PURE_PYTHON=1, or sources edited since): nothing to compare"
        )
    pure = subprocess.run(
        [sys.executable, "-c", f"from {__name__} import dump; print(dump())"],
        cwd=REPO,
        env={**os.environ, "RAQIB_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=240,
    )
    python_sources = json.loads(pure.stdout)
    compiled = json.loads(dump())
    assert (compiled["compiled"], python_sources["compiled"]) == (True, False)
    assert len(compiled["outputs"]) > 3_000
    assert sum(len(output["entities"]) for output in compiled["outputs"]) > 5_000
    assert compiled["outputs"] == python_sources["outputs"]
