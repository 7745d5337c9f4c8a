import logging

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from services.alerting.settings import AlertingSettings, SmtpSettings
from services.common.logs import JsonFormatter
from services.common.settings import ElasticsearchSettings, KafkaSettings
from services.fetcher.settings import FetcherSettings


def test_settings_read_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("RAQIB_ES_URL", "https://search.internal:9200")
    assert KafkaSettings().bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert ElasticsearchSettings().url == "https://search.internal:9200"


def test_secrets_never_reach_a_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_KAFKA_SASL_PASSWORD", "kafka-s3cret")
    monkeypatch.setenv("RAQIB_ES_PASSWORD", "es-s3cret")
    monkeypatch.setenv("RAQIB_SMTP_PASSWORD", "smtp-s3cret")
    record = logging.makeLogRecord(
        {
            "msg": "settings",
            "kafka": KafkaSettings(),
            "es": ElasticsearchSettings(),
            "alerting": AlertingSettings(),
        }
    )
    line = JsonFormatter("test").format(record)
    assert "s3cret" not in line
    assert "**********" in line


def test_the_consumer_fetch_wait_is_one_kafka_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KafkaSettings().fetch_max_wait_s == 0.05
    monkeypatch.setenv("RAQIB_KAFKA_FETCH_MAX_WAIT_S", "0.5")
    assert KafkaSettings().fetch_max_wait_s == 0.5
    assert AlertingSettings().kafka.fetch_max_wait_s == 0.5
    monkeypatch.setenv("RAQIB_KAFKA_FETCH_MAX_WAIT_S", "-1")
    with pytest.raises(ValidationError, match="fetch_max_wait_s"):
        KafkaSettings()


def test_an_old_name_is_read_in_seconds_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_KAFKA_FETCH_MAX_WAIT_MS", "500")
    monkeypatch.setenv("RAQIB_ALERTING_RESUME_FAILED_WITHIN_H", "2")
    with pytest.warns(FutureWarning, match="RAQIB_KAFKA_FETCH_MAX_WAIT_MS is deprecated"):
        assert KafkaSettings().fetch_max_wait_s == 0.5
    with pytest.warns(FutureWarning, match="set RAQIB_ALERTING_RESUME_FAILED_WITHIN_S"):
        assert AlertingSettings().resume_failed_within_s == 7200
    # The new name wins when both are set; a bad old value is refused like a bad new one.
    monkeypatch.setenv("RAQIB_KAFKA_FETCH_MAX_WAIT_S", "0.1")
    with pytest.warns(FutureWarning):
        assert KafkaSettings().fetch_max_wait_s == 0.1
    monkeypatch.delenv("RAQIB_KAFKA_FETCH_MAX_WAIT_S")
    monkeypatch.setenv("RAQIB_KAFKA_FETCH_MAX_WAIT_MS", "soon")
    with pytest.raises(ValidationError), pytest.warns(FutureWarning):
        KafkaSettings()


def test_an_old_name_given_in_code_is_read_too() -> None:
    with pytest.warns(FutureWarning, match="RAQIB_SMTP_TIMEOUT"):
        assert SmtpSettings(timeout=5).timeout_s == 5


def test_the_smtp_sender_comes_only_from_its_own_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENDER", "someone-else@example.org")
    assert SmtpSettings().sender == "Raqib <alerts@raqib.local>"
    monkeypatch.setenv("RAQIB_SMTP_FROM", "Desk <desk@example.org>")
    assert SmtpSettings().sender == "Desk <desk@example.org>"
    assert SmtpSettings(sender="Other <o@example.org>").sender == "Other <o@example.org>"


def test_articles_are_kept_at_least_as_long_as_failed_deliveries_are_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAQIB_ALERTING_RESUME_FAILED_WITHIN_S", "86400")
    monkeypatch.setenv("RAQIB_ALERTING_KEEP_ARTICLES_S", "3600")
    with pytest.raises(ValidationError, match=r"KEEP_ARTICLES_S \(3600\) is shorter than"):
        AlertingSettings()
    monkeypatch.setenv("RAQIB_ALERTING_KEEP_ARTICLES_S", "86400")
    assert AlertingSettings().keep_articles_s == 86400


@pytest.mark.parametrize(
    ("settings", "variable", "value"),
    [
        (AlertingSettings, "RAQIB_ALERTING_KEEP_ARTICLES_S", "0"),
        (AlertingSettings, "RAQIB_ALERTING_KEEP_ARTICLES_S", "-1"),
        (AlertingSettings, "RAQIB_ALERTING_KEEP_ARTICLES_S", "a week"),
        (FetcherSettings, "RAQIB_FETCHER_FEEDS_RELOAD_S", "-1"),
        (FetcherSettings, "RAQIB_FETCHER_FEEDS_RELOAD_S", "often"),
    ],
)
def test_a_bad_retention_or_reload_period_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    field = variable.lower().removeprefix("raqib_alerting_").removeprefix("raqib_fetcher_")
    with pytest.raises(ValidationError, match=field):
        settings()


def test_a_reload_period_of_zero_means_at_start_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_FETCHER_FEEDS_RELOAD_S", "0")
    assert FetcherSettings().feeds_reload_s == 0
