"""Every Kafka client of ours connects with the same TLS and SASL settings."""

from __future__ import annotations

import ssl

import pytest
from pydantic import SecretStr

from services.common.errors import ConfigError
from services.common.kafka import client_options
from services.common.settings import KafkaSettings


def test_plaintext_has_no_security_options() -> None:
    assert client_options(KafkaSettings(bootstrap_servers="k:9092")) == {
        "bootstrap_servers": "k:9092"
    }


def test_sasl_over_tls() -> None:
    options = client_options(
        KafkaSettings(
            security_protocol="SASL_SSL",
            sasl_mechanism="scram-sha-512",
            sasl_username="raqib",
            sasl_password=SecretStr("s3cret"),
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("raqib", "s3cret")
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_tls_without_sasl() -> None:
    options = client_options(KafkaSettings(security_protocol="SSL"))
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in options


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (KafkaSettings(security_protocol="TLS"), "unknown protocol 'TLS'"),
        (KafkaSettings(security_protocol="SASL_SSL"), "needs RAQIB_KAFKA_SASL_MECHANISM"),
        (KafkaSettings(sasl_mechanism="GSSAPI"), "'GSSAPI' is not one of"),
    ],
)
def test_unusable_security_settings_are_refused_by_name(
    settings: KafkaSettings, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        client_options(settings)
