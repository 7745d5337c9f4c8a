"""The enrichment service's pure core: normalise, clean, tag actors and topics, date.

No I/O here except reading the knowledge base file; the Kafka wiring lives in ``app.py``.
Text goes through the shared Arabic text layer (``services.common.arabic``). The hot modules
are compiled with mypyc together with that layer's normaliser, when a C compiler is present
(see ``services.common.arabic.compiled_build``); ``COMPILED`` says whether the compiled build
is the one running. This file is never compiled.
"""

# Before anything imports the compiled modules: fall back to their sources if the build is stale.
from services.common.arabic.compiled_build import check_build, is_compiled

check_build()

# ruff: noqa: E402
from services.enrichment.core.cleaning import clean_text
from services.enrichment.core.dates import extract_published_date
from services.enrichment.core.enrich import enrich
from services.enrichment.core.errors import InvalidText
from services.enrichment.core.knowledge_base import KnowledgeBase, load_knowledge_base
from services.enrichment.core.results import FoundEntity, FoundMention, FoundTopic, TagResult
from services.enrichment.core.tagger import TAGGER_VERSION, Tagger

COMPILED: bool = is_compiled(Tagger.__module__)

__all__ = [
    "COMPILED",
    "TAGGER_VERSION",
    "FoundEntity",
    "FoundMention",
    "FoundTopic",
    "InvalidText",
    "KnowledgeBase",
    "TagResult",
    "Tagger",
    "clean_text",
    "enrich",
    "extract_published_date",
    "load_knowledge_base",
]
