"""A real HTTP server on 127.0.0.1 that serves feeds the way news sites do (or fail to)."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from services.devstack.servers import free_port


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    redirect_to: str | None = None
    delay_s: float = 0.0
    send_length: bool = True  # False: the body ends when the connection closes (HTTP/1.0)


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    requests: list[SeenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = server.routes.get(self.path)
                if route and route.delay_s:
                    time.sleep(route.delay_s)
                status = self._status(route)
                # Recorded before answering, so a client that got its answer sees it recorded.
                with server._lock:
                    server.requests.append(SeenRequest(self.path, dict(self.headers), status))
                self._answer(route, status)

            def _status(self, route: Route | None) -> int:
                if route is None:
                    return 404
                if route.redirect_to:
                    return 302
                if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                ):
                    return 304
                return route.status

            def _answer(self, route: Route | None, status: int) -> None:
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", route.redirect_to or "/")
                    self.send_header("Content-Length", "0")
                if status in (302, 304):
                    self.end_headers()
                    return
                self.send_header("Content-Type", route.content_type)
                if route.send_length:
                    self.send_header("Content-Length", str(len(route.body)))
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                self.end_headers()
                # The client may stop reading, e.g. when the body is over its limit.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def seen(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
