"""Where alerts land on a laptop or in tests: an SMTP catcher and an HTTP webhook receiver.

Both run in a background thread on 127.0.0.1, so synchronous and asynchronous code alike can
start them and read what they received.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from services.devstack.servers import free_port


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpCatcher:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""

    def __init__(self, port: int | None = None) -> None:
        self._fixed_port = port
        self.port = port or free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self._collector.messages)

    def start(self) -> SmtpCatcher:
        # aiosmtpd binds only now, so another server may have taken the free port meanwhile.
        for _ in range(5):
            try:
                self._controller.start()
                return self
            except (OSError, RuntimeError):
                if self._fixed_port:
                    raise
                self.port = free_port()
                self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)
        raise OSError("the SMTP catcher found no free port on 127.0.0.1")

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpCatcher:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


# Decides the answer to each request from the requests received so far (itself included): a
# status, or a status and a body.
Responder = Callable[[list[ReceivedRequest], ReceivedRequest], int | tuple[int, bytes]]


def always(status: int) -> Responder:
    return lambda _seen, _request: status


@dataclass
class WebhookReceiver:
    """A real HTTP server that records every POST and answers what ``responder`` says."""

    responder: Responder = field(default_factory=lambda: always(200))
    port: int = 0  # 0: any free port, known once bound
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = ReceivedRequest(
                    self.path, dict(self.headers.items()), self.rfile.read(length), 0
                )
                with receiver._lock:
                    answer = receiver.responder([*receiver.requests, request], request)
                    status, body = answer if isinstance(answer, tuple) else (answer, b"")
                    request.status = status
                    receiver.requests.append(request)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the receiver's own access log would drown the service logs

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/raqib"

    @property
    def accepted(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; returns the last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
