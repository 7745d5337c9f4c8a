"""The local stand-ins and the tools the dev run and the benchmarks use to watch them."""

from __future__ import annotations

import asyncio
import http.client
import socket

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.kafka import ensure_topics
from services.common.settings import KafkaSettings
from services.devstack.receivers import SmtpCatcher, WebhookReceiver
from services.devstack.topics import end_offsets, group_lag, read_topic

pytestmark = pytest.mark.integration


async def test_end_offsets_and_lag_count_every_record_of_a_batch(
    kafka_settings: KafkaSettings,
) -> None:
    bootstrap, topic, group = (
        kafka_settings.bootstrap_servers,
        kafka_settings.topic("t"),
        kafka_settings.group("readers"),
    )
    await ensure_topics(kafka_settings, [topic])
    # Sent without waiting in between, so the producer packs them into multi-record batches
    # (the case where a broker can under-report a partition's end offset).
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sent = [await producer.send(topic, b"x%d" % i, partition=0) for i in range(50)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert (await end_offsets(bootstrap, topic))[0] == 50
    assert await group_lag(bootstrap, group, topic) == 50

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 30:
            batch = await consumer.getmany(timeout_ms=1000, max_records=30 - seen)
            seen += sum(len(records) for records in batch.values())
        await consumer.commit()
    finally:
        await consumer.stop()
    assert await group_lag(bootstrap, group, topic) == 20
    assert len(await read_topic(bootstrap, topic, min_count=50)) == 50


def test_smtp_catcher_moves_to_another_port_when_its_pick_was_taken() -> None:
    catcher = SmtpCatcher()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", catcher.port))  # someone took it between pick and bind
        squatter.listen()
        taken = catcher.port
        with catcher:
            assert catcher.port != taken


def test_a_receiver_that_never_started_stops_at_once() -> None:
    WebhookReceiver().stop()  # used to wait forever for a serve loop that never ran


def test_the_receiver_keeps_a_connection_alive_and_closes_it_when_stopped() -> None:
    with WebhookReceiver() as receiver:
        connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        for body in (b"{}", b"not json"):
            connection.request("POST", "/hooks/raqib", body=body)
            response = connection.getresponse()
            assert (response.status, response.version, response.read()) == (200, 11, b"")
        # Both over the one connection: the client would have reconnected after a close.
        assert connection.sock is not None
        receiver.stop()
        # A stopped receiver takes nothing more, not even over a kept-alive connection.
        with pytest.raises((http.client.HTTPException, OSError)):
            connection.request("POST", "/hooks/raqib", body=b"{}")
            connection.getresponse()
        connection.close()
    assert [r.body for r in receiver.requests] == [b"{}", b"not json"]


def test_a_request_cut_off_before_its_whole_body_is_not_received() -> None:
    with WebhookReceiver() as receiver:
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as cut:
            cut.sendall(b"POST /hooks/raqib HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        connection.request("POST", "/hooks/raqib", body=b"{}")
        assert connection.getresponse().status == 200
        connection.close()
    assert [r.body for r in receiver.requests] == [b"{}"]
