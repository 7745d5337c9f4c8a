"""``raqib kibana import`` against a real HTTP server standing in for Kibana's import API."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.message import Message
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from services.cli import app
from services.devstack.receivers import ReceivedRequest, Responder, WebhookReceiver
from services.devstack.servers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SAVED_OBJECTS = REPO / "deploy" / "kibana" / "raqib.ndjson"


def answering(status: int, answer: Any) -> Responder:
    """Kibana's import API, answering every request with ``status`` and ``answer`` as JSON."""
    body = json.dumps(answer).encode()
    return lambda _seen, _request: (status, body)


def import_into(kibana: WebhookReceiver) -> Result:
    """``raqib kibana import`` against ``kibana``'s base URL; Kibana is asked once."""
    result = CliRunner().invoke(app, ["kibana", "import", f"http://127.0.0.1:{kibana.port}"])
    assert len(kibana.requests) == 1
    return result


def uploaded_file(request: ReceivedRequest) -> Message:
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    form = message_from_bytes(head + request.body, policy=HTTP)
    assert form.is_multipart()
    parts = form.get_payload()
    assert isinstance(parts, list) and len(parts) == 1
    part = parts[0]
    assert isinstance(part, Message)
    return part


def test_import_posts_every_object_as_one_multipart_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = SAVED_OBJECTS.read_text(encoding="utf-8").splitlines()
    monkeypatch.setenv("RAQIB_KIBANA_USERNAME", "elastic")
    monkeypatch.setenv("RAQIB_KIBANA_PASSWORD", "s3cret")
    monkeypatch.setenv("RAQIB_KIBANA_SPACE", "ops")
    answer = {"success": True, "successCount": len(expected)}
    with WebhookReceiver(responder=answering(200, answer)) as kibana:
        result = import_into(kibana)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"imported": len(expected), "objects": len(expected)}

    (request,) = kibana.requests
    assert request.path == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert request.headers["kbn-xsrf"] == "true"
    assert request.headers["Authorization"] == "Basic ZWxhc3RpYzpzM2NyZXQ="
    part = uploaded_file(request)
    assert part.get_param("name", header="content-disposition") == "file"
    assert str(part.get_filename()).endswith(".ndjson")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    sent = [json.loads(line) for line in payload.decode().splitlines()]
    assert sent == [json.loads(line) for line in expected]


def test_per_object_errors_fail_the_command() -> None:
    answer = {
        "success": False,
        "successCount": 8,
        "errors": [
            {
                "id": "raqib-co-mentions",
                "type": "lens",
                "title": "Co-mentions of actors",
                "error": {"type": "unknown", "message": "bad state"},
            }
        ],
    }
    with WebhookReceiver(responder=answering(200, answer)) as kibana:
        result = import_into(kibana)
    assert result.exit_code == 1
    assert "raqib-co-mentions" in result.stderr and "bad state" in result.stderr


def test_an_error_status_fails_the_command() -> None:
    answer = {"statusCode": 401, "message": "Unauthorized"}
    with WebhookReceiver(responder=answering(401, answer)) as kibana:
        result = import_into(kibana)
    assert result.exit_code == 1
    assert "401" in result.stderr and "Unauthorized" in result.stderr


def test_unreachable_kibana_and_a_broken_file(tmp_path: Path) -> None:
    down = CliRunner().invoke(app, ["kibana", "import", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 1
    assert "cannot reach Kibana" in down.stderr
    (tmp_path / "broken.ndjson").write_text('{"type": "lens"}\n', encoding="utf-8")
    broken = CliRunner().invoke(
        app, ["kibana", "import", "http://127.0.0.1:1", "--directory", str(tmp_path)]
    )
    assert broken.exit_code == 1
    assert "broken.ndjson:1" in broken.stderr


def test_data_views_read_the_configured_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_ES_ARTICLES_ALIAS", "ops-articles")
    monkeypatch.setenv("RAQIB_ES_ALERTS_ALIAS", "ops-alerts")
    expected = SAVED_OBJECTS.read_text(encoding="utf-8").splitlines()
    answer = {"success": True, "successCount": len(expected)}
    with WebhookReceiver(responder=answering(200, answer)) as kibana:
        result = import_into(kibana)
    assert result.exit_code == 0, result.output
    payload = uploaded_file(kibana.requests[0]).get_payload(decode=True)
    assert isinstance(payload, bytes)
    sent = [json.loads(line) for line in payload.decode().splitlines()]
    titles = {o["id"]: o["attributes"]["title"] for o in sent if o["type"] == "index-pattern"}
    assert titles == {"raqib-articles": "ops-articles*", "raqib-alerts": "ops-alerts*"}
    # Everything else goes as it is in the file.
    assert [o for o in sent if o["type"] != "index-pattern"] == [
        o for o in map(json.loads, expected) if o["type"] != "index-pattern"
    ]
