"""Where alerts land on a laptop or in tests: an SMTP catcher and an HTTP webhook receiver.

Both run in a background thread on 127.0.0.1, so synchronous and asynchronous code alike can
start them and read what they received.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import sys
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
    def __init__(self, drop_after: int | None = None, drop_at: str = "mail") -> None:
        # Kept as received and parsed when read: parsing costs more than the SMTP exchange
        # (about 1.3 ms a message), so parsing at receipt made the catcher the bottleneck.
        self.raw: list[bytes] = []
        self._parsed: list[EmailMessage] = []
        self.sessions = 0  # connections that carried mail
        self.drops = 0
        self.drop_after = drop_after
        self.drop_at = drop_at
        self._lock = threading.Lock()

    def _dropping(self, server: Any, session: Any, at: str) -> bool:
        """Hang up (no reply) when the session's next message, after ``drop_after``, is
        at ``at``: a server that restarts or times the client out mid-session."""
        if self.drop_after is None or at != self.drop_at:
            return False
        if getattr(session, "raqib_messages", 0) < self.drop_after:
            return False
        self.drops += 1
        server.transport.abort()
        return True

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not hasattr(session, "raqib_messages"):
            session.raqib_messages = 0
            with self._lock:
                self.sessions += 1
        if self._dropping(server, session, "mail"):
            return "421 closing"  # never read: the connection is gone
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    def parsed(self) -> list[EmailMessage]:
        # A method, not a property: aiosmtpd reads every attribute of its handler at each
        # connection (looking for auth methods), which would parse them all each time.
        with self._lock:
            for content in self.raw[len(self._parsed) :]:
                parsed = email.message_from_bytes(content, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                self._parsed.append(parsed)
            return list(self._parsed)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.raw.append(envelope.content)  # kept even when the answer never goes out
        if self._dropping(server, session, "data"):
            return "421 closing"
        session.raqib_messages = getattr(session, "raqib_messages", 0) + 1
        return "250 Message accepted for delivery"


class SmtpCatcher:
    """A real SMTP server (aiosmtpd) that keeps every message it receives.

    ``drop_after=N`` makes it hang up on each session after N messages: when the next one
    begins (``drop_at="mail"``: the server has nothing), or once it has the next one's
    content, before answering (``drop_at="data"``: it keeps the message, the client cannot
    know)."""

    def __init__(
        self, port: int | None = None, *, drop_after: int | None = None, drop_at: str = "mail"
    ) -> None:
        self._fixed_port = port
        self.port = port or free_port()
        self._collector = _Collector(drop_after, drop_at)
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self._collector.parsed()

    @property
    def count(self) -> int:
        """Messages received so far (without parsing them)."""
        return len(self._collector.raw)

    @property
    def sessions(self) -> int:
        """Connections that carried mail (a pooled client reuses one for many messages)."""
        return self._collector.sessions

    @property
    def drops(self) -> int:
        return self._collector.drops

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
# status, or a status and a body, or those and more headers.
Answer = int | tuple[int, bytes] | tuple[int, bytes, dict[str, str]]
Responder = Callable[[list[ReceivedRequest], ReceivedRequest], Answer]


def _answer(answer: Answer) -> tuple[int, bytes, dict[str, str]]:
    if isinstance(answer, int):
        return answer, b"", {}
    if len(answer) == 2:
        return answer[0], answer[1], {}
    return answer


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
            # Keep-alive, as real webhook servers do: a client reuses its connections (over
            # HTTP/1.0 each request cost a connection here and a thread). ``stop`` closes
            # the open ones, so a stopped receiver takes nothing more.
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def handle_one_request(self) -> None:
                if receiver._stopped:
                    self.close_connection = True
                    return
                super().handle_one_request()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-request (killed, say): no request was made.
                    self.close_connection = True
                    return
                request = ReceivedRequest(self.path, dict(self.headers.items()), body, 0)
                with receiver._lock:
                    answer = receiver.responder([*receiver.requests, request], request)
                    status, body, headers = _answer(answer)
                    request.status = status
                    receiver.requests.append(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the receiver's own access log would drown the service logs

        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopped = False
        self._server = _QuietHTTPServer(("127.0.0.1", self.port), Handler)
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
        self._stopped = True
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # kept alive by a client: closed like the server
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that resets a kept-alive connection (a stopped service) is not an error worth
    a traceback in the logs."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; returns the last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
