"""Test helper: a scripted HTTP server on 127.0.0.1 that plays a platform API, faults included."""

from __future__ import annotations

import json
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class SeenRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return raw_answer(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})


def raw_answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up or refuse our certificate are the faults under test, not server errors.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class LoopbackHttp:
    """Answers each path with its scripted answers in turn (the last one repeats); 404 for unknown paths.

    Every request is recorded in `requests`. `release` is set when the server stops, so an answer that
    stalls (to provoke a timeout) waits on it instead of sleeping.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Answer]] = {}
        self.requests: list[SeenRequest] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                loopback._serve(self)

            do_POST = do_PATCH = do_GET

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            # The handshake happens in the request thread, so a client that gives up cannot stall the server.
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def route(self, path: str, *answers: Answer) -> None:
        self.routes[path] = list(answers)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(SeenRequest(handler.command, parts.path, parts.query, dict(handler.headers), body))
            answers = self.routes.get(parts.path)
            if answers is None:
                answer = json_answer(404, {"message": "no such path"})
            else:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
        try:
            answer(handler)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on purpose (size cap, timeout)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
