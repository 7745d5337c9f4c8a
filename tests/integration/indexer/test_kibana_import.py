"""``raqib kibana import`` against a real HTTP server standing in for Kibana's import API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.devstack.servers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SAVED_OBJECTS = REPO / "deploy" / "kibana" / "raqib.ndjson"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeKibana:
    """Records each request and answers with the next (status, JSON body) of ``answers``."""

    answers: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        kibana = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                kibana.requests.append(
                    Recorded("POST", self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                status, answer = kibana.answers.pop(0)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    server = FakeKibana()
    yield server
    server.close()


def uploaded_file(request: Recorded) -> Message:
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    form = message_from_bytes(head + request.body, policy=HTTP)
    assert form.is_multipart()
    parts = form.get_payload()
    assert isinstance(parts, list) and len(parts) == 1
    part = parts[0]
    assert isinstance(part, Message)
    return part


def test_import_posts_every_object_as_one_multipart_file(
    kibana: FakeKibana, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = SAVED_OBJECTS.read_text(encoding="utf-8").splitlines()
    kibana.answers.append((200, {"success": True, "successCount": len(expected)}))
    monkeypatch.setenv("RAQIB_KIBANA_USERNAME", "elastic")
    monkeypatch.setenv("RAQIB_KIBANA_PASSWORD", "s3cret")
    monkeypatch.setenv("RAQIB_KIBANA_SPACE", "ops")
    result = CliRunner().invoke(app, ["kibana", "import", kibana.url])
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


def test_per_object_errors_fail_the_command(kibana: FakeKibana) -> None:
    kibana.answers.append(
        (
            200,
            {
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
            },
        )
    )
    result = CliRunner().invoke(app, ["kibana", "import", kibana.url])
    assert result.exit_code == 1
    assert "raqib-co-mentions" in result.stderr and "bad state" in result.stderr


def test_an_error_status_fails_the_command(kibana: FakeKibana) -> None:
    kibana.answers.append((401, {"statusCode": 401, "message": "Unauthorized"}))
    result = CliRunner().invoke(app, ["kibana", "import", kibana.url])
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
