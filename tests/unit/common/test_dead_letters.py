from aiokafka import ConsumerRecord

from services.common.kafka import dead_letter_headers
from services.common.settings import KafkaSettings


def _record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="articles.enriched",
        partition=1,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"x",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=1,
        headers=(),
    )


def test_dead_letter_headers_name_the_source_record() -> None:
    headers = dead_letter_headers("indexer", _record(42), "ValidationError", "e" * 5000)
    assert headers["x-raqib-stage"] == "indexer"
    assert headers["x-raqib-source-topic"] == "articles.enriched"
    assert headers["x-raqib-source-partition"] == "1"
    assert headers["x-raqib-source-offset"] == "42"
    assert headers["x-raqib-error-type"] == "ValidationError"
    assert len(headers["x-raqib-error"]) == 4000  # bounded: headers are not for megabytes
    assert headers["x-raqib-failed-at"].endswith("+00:00")


def test_each_stage_has_its_own_dead_letter_topic() -> None:
    settings = KafkaSettings()
    assert settings.dead_letter_topic("enrichment") == "enrichment.dlq"
    assert settings.dead_letter_topic("indexer") != settings.dead_letter_topic("alerting")


def test_a_prefix_names_every_topic_and_group_of_one_raqib() -> None:
    settings = KafkaSettings(prefix="staging.")
    assert settings.topic("articles.raw") == "staging.articles.raw"
    assert settings.dead_letter_topic("indexer") == "staging.indexer.dlq"
    assert settings.group("raqib-indexer") == "staging.raqib-indexer"
