"""The batch handler's decisions, with a scripted publisher in place of the broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from schemas import EnrichedArticle, RawArticle, article_id, content_hash
from services.common.errors import TransientError
from services.enrichment.batch import BatchEnricher
from services.enrichment.core import Tagger

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def record(offset: int, value: bytes) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord("articles.raw", 0, offset, 0, 0, b"k", value, None, 0, len(value), [])


def raw(n: int, text: str) -> bytes:
    article = RawArticle(
        id=article_id(f"https://news.example/{n}"),
        source="Example",
        title=f"خبر {n}",
        text=text,
        fetched_at=NOW,
        content_hash=content_hash(text),
    )
    return article.model_dump_json().encode()


class Publisher:
    """Queues and acknowledges every publish, except where the value holds a scripted marker:
    ``refused`` errors are raised when queueing, ``unacknowledged`` ones by the
    acknowledgement."""

    def __init__(
        self,
        refused: dict[str, Exception] | None = None,
        unacknowledged: dict[str, Exception] | None = None,
    ) -> None:
        self.refused = refused or {}
        self.unacknowledged = unacknowledged or {}
        self.published: list[tuple[bytes, bytes]] = []

    async def __call__(self, value: bytes, key: bytes) -> asyncio.Future[None]:
        for marker, error in self.refused.items():
            if marker.encode() in value:
                raise error
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for marker, error in self.unacknowledged.items():
            if marker.encode() in value:
                ack.set_exception(error)
                return ack
        self.published.append((key, value))
        ack.set_result(None)
        return ack


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, str, str]] = []

    async def __call__(self, rec: ConsumerRecord[Any, Any], error_type: str, error: str) -> None:
        self.sent.append((rec.offset, rec.value, error_type, error))


class CrashingTagger:
    """A Tagger with a bug; it wraps one because a compiled Tagger cannot be subclassed."""

    def __init__(self, tagger: Tagger) -> None:
        self.tagger = tagger
        self.knowledge_base = tagger.knowledge_base

    def tag(self, title: str, text: str) -> Any:
        if "CRASH" in text:
            raise RuntimeError("tagger bug")
        return self.tagger.tag(title, text)


async def test_good_records_are_published_and_bad_ones_dead_lettered_in_order(
    tagger: Tagger,
) -> None:
    records = [
        record(10, raw(1, "قال فتحي باشاغا إن الحكومة ستواصل عملها.")),
        record(11, b"\x00\xffnot json"),
        record(12, raw(2, "CRASH في طرابلس")),
        record(13, b'{"id": "xyz"}'),
        record(14, raw(3, "اعتقل عناصر الردع مشتبهين في طرابلس.")),
    ]
    publish, dead = Publisher(), DeadLetters()
    crashing = cast(Tagger, CrashingTagger(tagger))
    await BatchEnricher(crashing, publish, dead, now=lambda: NOW)(records)

    outputs = [EnrichedArticle.model_validate_json(value) for _, value in publish.published]
    assert [key for key, _ in publish.published] == [o.id.encode() for o in outputs]
    assert [o.id for o in outputs] == [article_id(f"https://news.example/{n}") for n in (1, 3)]
    assert "fathi-bashagha" in {e.id for e in outputs[0].entities}
    assert all(o.enriched_at == NOW for o in outputs)
    # The original bytes, in the order they came, each with its error.
    assert [(offset, value, kind) for offset, value, kind, _ in dead.sent] == [
        (11, records[1].value, "ValidationError"),
        (12, records[2].value, "PermanentError"),
        (13, records[3].value, "ValidationError"),
    ]
    assert "tagger bug" in dead.sent[1][3]


async def test_an_output_too_large_for_the_broker_is_dead_lettered(tagger: Tagger) -> None:
    records = [record(0, raw(1, "طرابلس TOO-LARGE")), record(1, raw(2, "باشاغا في طرابلس"))]
    publish = Publisher(refused={"TOO-LARGE": MessageSizeTooLargeError("2 MB is over the limit")})
    dead = DeadLetters()
    await BatchEnricher(tagger, publish, dead, now=lambda: NOW)(records)
    assert len(publish.published) == 1
    assert [(offset, kind) for offset, _, kind, _ in dead.sent] == [(0, "MessageSizeTooLargeError")]


async def test_a_publish_the_broker_did_not_acknowledge_fails_the_whole_batch(
    tagger: Tagger,
) -> None:
    records = [
        record(0, raw(1, "باشاغا في طرابلس")),
        record(1, b"not json"),
        record(2, raw(2, "طرابلس UNACKED")),
    ]
    publish = Publisher(unacknowledged={"UNACKED": KafkaTimeoutError()})
    dead = DeadLetters()
    with pytest.raises(TransientError, match="1 of 2 enriched articles not published"):
        await BatchEnricher(tagger, publish, dead, now=lambda: NOW)(records)
    # Raised before any dead letter: the retried batch will dead-letter "not json" once.
    assert dead.sent == []


async def test_a_publish_the_producer_refuses_fails_the_whole_batch(tagger: Tagger) -> None:
    records = [record(0, raw(1, "باشاغا في طرابلس")), record(1, raw(2, "طرابلس REFUSED"))]
    publish = Publisher(refused={"REFUSED": KafkaTimeoutError()})
    dead = DeadLetters()
    with pytest.raises(TransientError, match="1 of 2 enriched articles not published"):
        await BatchEnricher(tagger, publish, dead, now=lambda: NOW)(records)
    assert dead.sent == []
