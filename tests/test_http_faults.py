"""Provider faults against a loopback server: each gives its own error type and a message without the token."""

from __future__ import annotations

import email.utils
import secrets
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from launchdesk.flags.http import (
    AuthError,
    BadResponse,
    ConnectionFailed,
    NotFound,
    PlatformError,
    PlatformHttp,
    RateLimited,
    ServerError,
    Timeout,
    TlsError,
    parse_retry_after,
)
from loopback_http import LoopbackHttp, json_answer, raw_answer
from servers import free_port

TOKEN = secrets.token_hex(16)


@pytest.fixture
def api() -> Iterator[LoopbackHttp]:
    server = LoopbackHttp()
    yield server
    server.stop()


def platform(url: str, **options: object) -> PlatformHttp:
    defaults: dict[str, object] = {"retries": 2, "backoff": 0.01, "timeout": 5.0}
    return PlatformHttp(
        url, platform="Unleash", headers={"Authorization": TOKEN}, secrets=[TOKEN], **{**defaults, **options}
    )


def assert_clean(err: PlatformError) -> None:
    """The message is for a person: present, and never carrying the token."""
    assert str(err).strip()
    assert TOKEN not in str(err) and TOKEN not in repr(err) and TOKEN not in err.server_message


def test_the_token_is_sent_and_json_comes_back(api: LoopbackHttp) -> None:
    api.route("/api/thing", json_answer(200, {"ok": True}))
    with platform(api.url) as http:
        assert http.get_json("/api/thing") == {"ok": True}
    assert api.requests[0].headers["Authorization"] == TOKEN


def test_refused_connection() -> None:
    port = free_port()  # nothing listens there
    with platform(f"http://127.0.0.1:{port}", retries=1) as http, pytest.raises(ConnectionFailed) as caught:
        http.get_json("/api/thing")
    assert "refused" in str(caught.value)
    assert_clean(caught.value)


def test_a_server_that_never_answers_times_out(api: LoopbackHttp) -> None:
    def stall(handler: BaseHTTPRequestHandler) -> None:
        api.release.wait(30)

    api.route("/api/slow", stall)
    started = time.monotonic()
    with platform(api.url, timeout=0.3) as http, pytest.raises(Timeout) as caught:
        http.get_json("/api/slow")
    assert time.monotonic() - started < 5, "a timeout is not retried"
    assert api.count("/api/slow") == 1
    assert_clean(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_an_auth_error(api: LoopbackHttp, status: int) -> None:
    # A server that echoes the token back must not get it into our message.
    api.route("/api/thing", json_answer(status, {"message": f"token {TOKEN} is not valid"}))
    with platform(api.url) as http, pytest.raises(AuthError) as caught:
        http.get_json("/api/thing")
    assert caught.value.status == status and f"({status})" in str(caught.value)
    assert "***" in str(caught.value)
    assert api.count("/api/thing") == 1, "auth errors are not retried"
    assert_clean(caught.value)


def test_not_found(api: LoopbackHttp) -> None:
    with platform(api.url) as http, pytest.raises(NotFound) as caught:
        http.get_json("/api/missing")
    assert caught.value.server_message == "no such path"
    assert_clean(caught.value)


def test_429_with_retry_after_is_waited_out_then_retried(api: LoopbackHttp) -> None:
    api.route("/api/thing", json_answer(429, {}, {"Retry-After": "1"}), json_answer(200, {"ok": 1}))
    started = time.monotonic()
    with platform(api.url) as http:
        assert http.get_json("/api/thing") == {"ok": 1}
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not honoured"
    assert api.count("/api/thing") == 2


def test_429_asking_for_a_long_wait_is_reported_not_waited(api: LoopbackHttp) -> None:
    api.route("/api/thing", json_answer(429, {}, {"Retry-After": "3600"}))
    with platform(api.url, max_retry_after=30) as http, pytest.raises(RateLimited) as caught:
        http.get_json("/api/thing")
    assert caught.value.retry_after == 3600
    assert "3600 s" in str(caught.value)
    assert api.count("/api/thing") == 1
    assert_clean(caught.value)


def test_429_forever_gives_up_with_rate_limited(api: LoopbackHttp) -> None:
    api.route("/api/thing", json_answer(429, {}))
    with platform(api.url, retries=2) as http, pytest.raises(RateLimited) as caught:
        http.get_json("/api/thing")
    assert api.count("/api/thing") == 3
    assert_clean(caught.value)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("7") == 7.0
    in_two_minutes = email.utils.formatdate(now + 120, usegmt=True)
    assert 118 <= parse_retry_after(in_two_minutes, now=now) <= 120
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_500_then_200_is_retried(api: LoopbackHttp) -> None:
    api.route("/api/thing", json_answer(500, {"message": "boom"}), json_answer(200, {"ok": 2}))
    with platform(api.url) as http:
        assert http.get_json("/api/thing") == {"ok": 2}
    assert api.count("/api/thing") == 2


def test_500_forever_gives_up_with_server_error(api: LoopbackHttp) -> None:
    api.route("/api/thing", json_answer(500, {"message": "database is down"}))
    with platform(api.url, retries=3) as http, pytest.raises(ServerError) as caught:
        http.get_json("/api/thing")
    assert api.count("/api/thing") == 4
    assert "(500)" in str(caught.value) and "database is down" in str(caught.value)
    assert_clean(caught.value)


def test_malformed_json_is_a_bad_response(api: LoopbackHttp) -> None:
    api.route("/api/thing", raw_answer(200, b"<html>Sign in</html>", {"Content-Type": "text/html"}))
    with platform(api.url) as http, pytest.raises(BadResponse) as caught:
        http.get_json("/api/thing")
    assert "not JSON" in str(caught.value)
    assert_clean(caught.value)


def test_a_huge_declared_body_is_refused_unread(api: LoopbackHttp) -> None:
    api.route("/api/thing", raw_answer(200, b"[" + b"0," * 600_000 + b"0]"))
    with platform(api.url, max_body_bytes=1_000_000) as http, pytest.raises(BadResponse) as caught:
        http.get_json("/api/thing")
    assert "larger than" in str(caught.value)
    assert_clean(caught.value)


def test_a_huge_streamed_body_is_cut_off_at_the_cap(api: LoopbackHttp) -> None:
    sent = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        # No Content-Length: the body only ends when the connection closes, as a runaway server's would.
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = b"0," * 32_768
        for _ in range(2_000):  # up to 128 MB, far past the cap
            if api.release.is_set():
                return
            handler.wfile.write(chunk)
            sent.append(len(chunk))

    api.route("/api/thing", endless)
    with platform(api.url, max_body_bytes=1_000_000) as http, pytest.raises(BadResponse) as caught:
        http.get_json("/api/thing")
    assert "larger than" in str(caught.value)
    assert sum(sent) < 100_000_000, "the client kept reading past the cap"
    assert_clean(caught.value)


def test_get_many_fetches_concurrently(api: LoopbackHttp) -> None:
    # Every answer waits until all four requests have arrived: only concurrent requests can pass.
    barrier = threading.Barrier(4, timeout=10)

    def together(n: int):
        def answer(handler: BaseHTTPRequestHandler) -> None:
            barrier.wait()
            json_answer(200, {"n": n})(handler)

        return answer

    for n in range(4):
        api.route(f"/api/segment/{n}", together(n))
    with platform(api.url) as http:
        assert http.get_many([f"/api/segment/{n}" for n in range(4)]) == [{"n": n} for n in range(4)]


@pytest.fixture
def untrusted_tls_server(tmp_path) -> Iterator[str]:
    """An HTTPS server on loopback whose self-signed certificate no client trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = LoopbackHttp(tls=context)
    yield server.url
    server.stop()


def test_an_untrusted_certificate_is_a_tls_error(untrusted_tls_server: str) -> None:
    with platform(untrusted_tls_server) as http, pytest.raises(TlsError) as caught:
        http.get_json("/api/thing")
    assert "certificate" in str(caught.value)
    assert_clean(caught.value)
