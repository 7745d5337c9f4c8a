"""What the tagger finds, as plain slotted dataclasses.

The core builds these (cheap to create, tens per article) and converts them to the event
models of ``schemas`` once, at the boundary (``enrich``, ``raqib tag``): building a pydantic
model per mention cost more than the whole matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import EntityType

__all__ = ["FoundEntity", "FoundMention", "FoundTopic", "TagResult"]


@dataclass(slots=True)
class FoundMention:
    """One occurrence; the fields of ``schemas.Mention``."""

    start: int
    end: int
    text: str
    alias: str
    rule: str
    field: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "alias": self.alias,
            "rule": self.rule,
            "field": self.field,
        }


@dataclass(slots=True)
class FoundEntity:
    """One actor with its mentions; the fields of ``schemas.Entity``."""

    id: str
    name: str
    type: EntityType
    mentions: list[FoundMention]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type.value,
            "mentions": [mention.to_dict() for mention in self.mentions],
        }


@dataclass(slots=True)
class FoundTopic:
    """A topic and the normalised terms that decided it; the fields of ``schemas.Topic``."""

    id: str
    evidence: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class TagResult:
    entities: list[FoundEntity]
    topics: list[FoundTopic]
    normalized_title: str
