"""The indices behind the read aliases and the mappings of their documents.

Index design
------------
- Two composable index templates, one per alias: ``raqib-articles`` (enriched articles) and
  ``raqib-alerts`` (alerts). Each matches ``<alias>-*`` and names the alias in its ``aliases``,
  so every monthly index (``raqib-articles-2026.11``) joins the read alias when it is created.
  Readers (Kibana, ``raqib search``) use the alias; the indexer writes to the monthly index.
- A document goes to the month of its own date, never of the time it was indexed: an article's
  ``published_at`` (else ``fetched_at``), an alert's ``created_at``. That article date is also
  stored as ``time``, never empty: the articles' time field for Kibana and ``raqib search``
  (an undated article is still found by a time filter). ``retag`` records the last
  ``raqib retag`` run that re-tagged the article. A replay next year, or an
  alert's later delivery update, therefore lands in the same index under the same ``_id`` and
  overwrites instead of duplicating. (Data streams cannot do that: they route by ingest time
  and only append, so an update by id would need the backing index found first.)
- ``dynamic: strict``: a field the template does not know is a rejected document (and a
  dead letter naming it), never a silently guessed mapping that a dashboard then trusts.
  The indexer creates a month's index itself, with the mappings in the request, so even a
  deleted template cannot produce an index with guessed mappings.
- ``title`` and ``text`` use the built-in ``arabic`` analyzer (normalisation, stop words,
  light stemming; custom analyzers built on ``arabic_normalization`` are not accepted by every
  Elasticsearch-compatible server we run); ``title.exact`` keeps the title verbatim for exact
  match and terms aggregations.
- ``normalized_title`` is the output of our own normaliser (the one the tagger and alert rules
  use), so it is analysed only by ``standard`` to search it as-is.
- Dashboards aggregate flat keyword lists: ``actors`` (ids), ``actor_names``, ``actor_types``,
  ``topics`` (ids). Kibana visualisations cannot aggregate ``nested`` fields, so ``entities``
  and ``topic_evidence`` are plain ``object`` arrays: they explain a tag (every mention with its
  span, alias and rule) and stay searchable, while counting is done on the flat lists.
- ``html`` is dropped, not stored: it is large, the extracted ``text`` is what is searched,
  and the original page stays in ``articles.raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from services.common.discover import ARTICLE_TIME_FIELD

KEYWORD: dict[str, Any] = {"type": "keyword"}
DATE: dict[str, Any] = {"type": "date"}
INTEGER: dict[str, Any] = {"type": "integer"}
ARABIC_TEXT_WITH_EXACT: dict[str, Any] = {
    "type": "text",
    "analyzer": "arabic",
    "fields": {"exact": {"type": "keyword", "ignore_above": 1024}},
}

ARTICLE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "short"},
        "id": KEYWORD,
        "url": KEYWORD,
        "source": KEYWORD,
        "feed": KEYWORD,
        "language": KEYWORD,
        "content_hash": KEYWORD,
        "truncated": {"type": "boolean"},
        "title": ARABIC_TEXT_WITH_EXACT,
        "text": {"type": "text", "analyzer": "arabic"},
        "normalized_title": {"type": "text", "analyzer": "standard"},
        "published_at": DATE,
        "fetched_at": DATE,
        ARTICLE_TIME_FIELD: DATE,
        "enriched_at": DATE,
        "knowledge_base_version": KEYWORD,
        "tagger_version": KEYWORD,
        "actors": KEYWORD,
        "actor_names": KEYWORD,
        "actor_types": KEYWORD,
        "topics": KEYWORD,
        "entities": {
            "type": "object",
            "properties": {
                "id": KEYWORD,
                "name": KEYWORD,
                "type": KEYWORD,
                "mention_count": INTEGER,
                "mentions": {
                    "type": "object",
                    "properties": {
                        "start": INTEGER,
                        "end": INTEGER,
                        "text": KEYWORD,
                        "alias": KEYWORD,
                        "rule": KEYWORD,
                        "field": KEYWORD,
                    },
                },
            },
        },
        "topic_evidence": {
            "type": "object",
            "properties": {"id": KEYWORD, "evidence": KEYWORD},
        },
        "retag": {
            "type": "object",
            "properties": {
                "id": KEYWORD,
                "requested_at": DATE,
                "alerts": KEYWORD,
                "placed_at": DATE,
            },
        },
    },
}

# The Alert event as published on ``alerts``, field for field (``entities`` and ``topics`` are
# already flat id lists there); ``deliveries`` is an object array for the same reason as above.
ALERT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "short"},
        "id": KEYWORD,
        "rule": {
            "type": "object",
            "properties": {"id": KEYWORD, "name": KEYWORD, "kind": KEYWORD},
        },
        "kind": KEYWORD,
        "entities": KEYWORD,
        "topics": KEYWORD,
        "keywords": KEYWORD,
        "window": {
            "type": "object",
            "properties": {
                "start": DATE,
                "end": DATE,
                "count": INTEGER,
                "baseline_start": DATE,
                "baseline_end": DATE,
                "baseline_count": INTEGER,
                "article_ids": KEYWORD,
            },
        },
        "article": {
            "type": "object",
            "properties": {
                "id": KEYWORD,
                "title": ARABIC_TEXT_WITH_EXACT,
                "url": KEYWORD,
                "source": KEYWORD,
                "published_at": DATE,
                "snippet": {"type": "text", "analyzer": "arabic"},
            },
        },
        "created_at": DATE,
        "deliveries": {
            "type": "object",
            "properties": {
                "channel": KEYWORD,
                "kind": KEYWORD,
                "status": KEYWORD,
                "attempts": INTEGER,
                "last_error": {"type": "text", "analyzer": "standard"},
                "delivered_at": DATE,
                "digest_id": KEYWORD,
                "attempt_log": {
                    "type": "object",
                    "properties": {
                        "number": INTEGER,
                        "at": DATE,
                        "error": {"type": "text", "analyzer": "standard"},
                        "status_code": INTEGER,
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class IndexLayout:
    """The monthly indices behind one read alias, and their mappings."""

    alias: str
    mappings: Mapping[str, Any]
    description: str

    @property
    def pattern(self) -> str:
        return f"{self.alias}-*"

    def template(self) -> dict[str, Any]:
        """Body of the composable index template for the indices behind the alias."""
        return {
            "index_patterns": [self.pattern],
            "priority": 200,
            "template": {"aliases": {self.alias: {}}, "mappings": self.mappings},
            "_meta": {"description": self.description, "managed_by": "raqib-indexer"},
        }

    def index_for(self, when: datetime) -> str:
        """The monthly index of a document dated ``when`` (its UTC month)."""
        return f"{self.alias}-{when.astimezone(UTC):%Y.%m}"

    def owns(self, index: str) -> bool:
        return index.startswith(f"{self.alias}-")


def article_layout(alias: str) -> IndexLayout:
    return IndexLayout(alias, ARTICLE_MAPPINGS, "Raqib enriched articles, one index a month")


def alert_layout(alias: str) -> IndexLayout:
    return IndexLayout(alias, ALERT_MAPPINGS, "Raqib alerts (latest state), one index a month")


# --- fields: what the mappings define against what the event contracts carry ---------------


def mapped_fields(mappings: Mapping[str, Any]) -> set[str]:
    """Dotted paths of every field a mapping defines, objects and multi-fields included."""

    def walk(properties: Mapping[str, Any], prefix: str) -> set[str]:
        names: set[str] = set()
        for name, spec in properties.items():
            path = prefix + name
            names.add(path)
            names |= walk(spec.get("properties", {}), f"{path}.")
            names |= {f"{path}.{sub}" for sub in spec.get("fields", {})}
        return names

    return walk(mappings.get("properties", {}), "")


def event_model_fields(model: type[BaseModel]) -> set[str]:
    """Dotted paths of every leaf field of ``model``'s JSON Schema (``$ref``s followed)."""
    schema = model.model_json_schema()
    definitions: Mapping[str, Any] = schema.get("$defs", {})

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = definitions[str(node["$ref"]).rsplit("/", 1)[-1]]
        return node

    def walk(node: Mapping[str, Any], prefix: str) -> set[str]:
        node = resolve(node)
        if node.get("type") == "array" and "items" in node:
            return walk(node["items"], prefix)
        for union in ("anyOf", "oneOf", "allOf"):
            if union in node:
                branches = [walk(b, prefix) for b in node[union] if b.get("type") != "null"]
                return set().union(*branches) if branches else {prefix}
        if "properties" in node:
            return set().union(
                *(walk(sub, f"{prefix}{name}.") for name, sub in node["properties"].items())
            )
        return {prefix.rstrip(".")}

    return walk(schema, "")
