"""What the tagger finds, as small plain classes.

The core builds these (tens per article) and converts them to the event models of ``schemas``
once, at the boundary (``enrich``, ``raqib tag``): building a pydantic model per mention cost
more than the whole matching. Plain classes with their own ``__init__`` rather than
dataclasses: compiled, their constructor is native code, while a dataclass keeps the
interpreted ``__init__`` that ``dataclasses`` generates (four times slower, per mention).
Equal when their fields are equal, like the dataclasses they replace.
"""

from __future__ import annotations

from typing import Any

from schemas import EntityType

__all__ = ["FoundEntity", "FoundMention", "FoundTopic", "TagResult"]


class _Found:
    """Equality and ``repr`` from ``to_dict``, the form every result leaves the core in."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Found)
            and type(other) is type(self)
            and self.to_dict() == other.to_dict()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


class FoundMention(_Found):
    """One occurrence; the fields of ``schemas.Mention``."""

    def __init__(self, start: int, end: int, text: str, alias: str, rule: str, field: str) -> None:
        self.start = start
        self.end = end
        self.text = text
        self.alias = alias
        self.rule = rule
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "alias": self.alias,
            "rule": self.rule,
            "field": self.field,
        }


class FoundEntity(_Found):
    """One actor with its mentions; the fields of ``schemas.Entity``."""

    def __init__(self, id: str, name: str, type: EntityType, mentions: list[FoundMention]) -> None:
        self.id = id
        self.name = name
        self.type = type
        self.mentions = mentions

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            # The value (a StrEnum's str()): ``.value`` goes through enum's Python-level
            # descriptor, which cost more than the rest of this method.
            "type": str(self.type),
            "mentions": [mention.to_dict() for mention in self.mentions],
        }


class FoundTopic(_Found):
    """A topic and the normalised terms that decided it; the fields of ``schemas.Topic``."""

    def __init__(self, id: str, evidence: list[str]) -> None:
        self.id = id
        self.evidence = evidence

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "evidence": list(self.evidence)}


class TagResult(_Found):
    """Everything ``Tagger.tag`` found in one article."""

    def __init__(
        self, entities: list[FoundEntity], topics: list[FoundTopic], normalized_title: str
    ) -> None:
        self.entities = entities
        self.topics = topics
        self.normalized_title = normalized_title

    def to_dict(self) -> dict[str, Any]:
        return {
            "entities": [entity.to_dict() for entity in self.entities],
            "topics": [topic.to_dict() for topic in self.topics],
            "normalized_title": self.normalized_title,
        }
