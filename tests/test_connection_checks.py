"""'Test connection' for every kind, against real servers where there are some: Prometheus (the real binary),
SMTP (aiosmtpd on loopback, STARTTLS and a keyring password), Datadog and Slack (loopback servers answering
with their documented JSON and strings). Each says success or exactly what failed, and never the secret."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from launchdesk.comms.senders import check_webhook_url, send_test_post, webhook_url_problem
from launchdesk.connections import check_connection, secret_key
from launchdesk.models import Connection, ConnectionKind
from launchdesk.secrets import delete_secret, set_secret
from loopback_http import LoopbackHttp, json_answer, raw_answer
from servers import free_port
from smtp_sink import SmtpSink

K = ConnectionKind


def connection(kind: ConnectionKind, url: str, **options) -> Connection:
    return Connection(id=7, name=f"{kind} test", kind=kind, url=url, project="", environment="",
                      options={"secret_id": uuid.uuid4().hex, **options})


@pytest.fixture
def keyring_entries(secret_service) -> Iterator[list[Connection]]:
    made: list[Connection] = []
    yield made
    for c in made:
        delete_secret(secret_key(c))


# --- Prometheus ----------------------------------------------------------------------------------------------


def test_prometheus_runs_a_test_query_on_the_real_server(prometheus_server) -> None:
    check = check_connection(connection(K.PROMETHEUS, prometheus_server.base_url, auth="none"))
    assert check.ok, check.message
    assert check.message.startswith("Connected to Prometheus at 127.0.0.1:")


def test_prometheus_refused_and_unknown_host_and_a_refused_token_are_told_apart(keyring_entries) -> None:
    port = free_port()
    refused = check_connection(connection(K.PROMETHEUS, f"http://127.0.0.1:{port}", auth="none"))
    assert not refused.ok and refused.message == (f"Prometheus at 127.0.0.1:{port} refused the connection. "
                                                  "Is the server running?")
    unknown = check_connection(connection(K.PROMETHEUS, "http://no-such-host.invalid:9090", auth="none"))
    assert not unknown.ok and "Could not find the host no-such-host.invalid:9090" in unknown.message

    server = LoopbackHttp()
    try:
        server.route("/api/v1/query", json_answer(401, {"status": "error", "error": "unauthorized"}))
        token = f"prom-{uuid.uuid4().hex}"
        saved = connection(K.PROMETHEUS, server.url, auth="bearer")
        keyring_entries.append(saved)
        set_secret(secret_key(saved), token)
        check = check_connection(saved)
        assert not check.ok and "refused the token (401)" in check.message and token not in check.message
        assert server.requests[-1].headers["Authorization"] == f"Bearer {token}"
        # A token typed in the form (not saved yet) is used instead of the keyring's.
        typed = f"typed-{uuid.uuid4().hex}"
        check_connection(saved, token=typed)
        assert server.requests[-1].headers["Authorization"] == f"Bearer {typed}"
    finally:
        server.stop()


def test_prometheus_that_does_not_answer_in_time_is_a_timeout() -> None:
    from launchdesk.metrics.prometheus import check_connection as check_prometheus

    server = LoopbackHttp()
    server.route("/api/v1/query", lambda handler: server.release.wait(10))
    try:
        check = check_prometheus(connection(K.PROMETHEUS, server.url, auth="none"), timeout=0.5)
    finally:
        server.stop()
    assert not check.ok and "did not answer within 0.5 s" in check.message


# --- Datadog --------------------------------------------------------------------------------------------------


def test_datadog_validates_both_keys_and_names_the_one_refused(keyring_entries) -> None:
    server = LoopbackHttp()
    api_key, app_key = uuid.uuid4().hex, uuid.uuid4().hex
    saved = connection(K.DATADOG, server.url, site="datadoghq.eu")
    keyring_entries.append(saved)
    set_secret(secret_key(saved), f"{api_key} {app_key}")
    try:
        server.route("/api/v1/validate", json_answer(200, {"valid": True}))
        server.route("/api/v2/validate_keys", json_answer(200, {"status": "ok"}))
        ok = check_connection(saved)
        assert ok.ok and "the API key and the application key are valid" in ok.message
        pair = server.requests[-1]
        assert pair.path == "/api/v2/validate_keys"
        assert pair.headers["DD-API-KEY"] == api_key and pair.headers["DD-APPLICATION-KEY"] == app_key

        # A wrong application key: Datadog takes the API key alone, then refuses the pair.
        server.route("/api/v2/validate_keys", json_answer(403, {"errors": ["Forbidden"]}))
        wrong_app = check_connection(saved)
        assert not wrong_app.ok and "takes the API key but refused the application key (403)" in wrong_app.message
        assert "Forbidden" in wrong_app.message

        # A site without the pair check: the API key is confirmed and the message says what was not checked.
        server.route("/api/v2/validate_keys", json_answer(404, {"errors": ["Not found"]}))
        unchecked = check_connection(saved)
        assert unchecked.ok and "cannot check the application key" in unchecked.message

        # A wrong API key: the pair is not asked about.
        server.route("/api/v1/validate", json_answer(403, {"errors": ["Forbidden"]}))
        before = server.count("/api/v2/validate_keys")
        refused = check_connection(saved)
        assert not refused.ok and "refused access (403)" in refused.message and "Forbidden" in refused.message
        assert server.count("/api/v2/validate_keys") == before
        for check in (ok, wrong_app, unchecked, refused):
            assert api_key not in check.message and app_key not in check.message
    finally:
        server.stop()


def test_datadog_keys_typed_in_the_form_are_tried_without_the_keyring() -> None:
    server = LoopbackHttp()
    server.route("/api/v1/validate", json_answer(200, {"valid": True}))
    server.route("/api/v2/validate_keys", json_answer(200, {"status": "ok"}))
    try:
        check = check_connection(connection(K.DATADOG, server.url), token="typed-api typed-app")
    finally:
        server.stop()
    assert check.ok and server.requests[-1].headers["DD-API-KEY"] == "typed-api"
    assert server.requests[-1].headers["DD-APPLICATION-KEY"] == "typed-app"


# --- SMTP -----------------------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path) -> tuple[ssl.SSLContext, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, str(cert)


def test_smtp_signs_in_over_starttls_and_quits_without_sending(certificate, keyring_entries) -> None:
    context, ca_file = certificate
    password = f"pw-{time.time_ns()}"
    with SmtpSink(starttls=context, users={"launch": password}) as sink:
        saved = connection(K.SMTP, sink.url, security="starttls", username="launch", ca_file=ca_file,
                           **{"from": "launch@ourco.example"})
        keyring_entries.append(saved)
        set_secret(secret_key(saved), password)
        ok = check_connection(saved)
        assert ok.ok, ok.message
        assert ok.message == (f"Connected to the SMTP server at 127.0.0.1:{sink.port} (STARTTLS, signed in as "
                              "launch); nothing was sent.")
        wrong = check_connection(saved, token="not-the-password")
        assert not wrong.ok and "refused the user name or password (535)" in wrong.message
        assert "not-the-password" not in wrong.message and password not in wrong.message
        # The certificate is not trusted without the private CA.
        untrusted = check_connection(connection(K.SMTP, sink.url, security="starttls",
                                                **{"from": "launch@ourco.example"}))
        assert not untrusted.ok and "check the certificate" in untrusted.message
        assert sink.total == 0


def test_smtp_refused_unknown_host_and_a_server_without_sign_in_are_told_apart() -> None:
    port = free_port()
    refused = check_connection(connection(K.SMTP, f"smtp://127.0.0.1:{port}", **{"from": "a@b.example"}))
    assert refused.message == f"Could not reach the SMTP server at 127.0.0.1:{port} (connection refused)."
    unknown = check_connection(connection(K.SMTP, "smtp://no-such-host.invalid:25", **{"from": "a@b.example"}))
    assert unknown.message == "Could not reach the SMTP server at no-such-host.invalid:25 (host not found)."
    with SmtpSink() as sink:
        no_auth = check_connection(connection(K.SMTP, sink.url, username="launch", **{"from": "a@b.example"}),
                                   token="pw")
        assert not no_auth.ok and "offers no sign-in (AUTH)" in no_auth.message
        plain = check_connection(connection(K.SMTP, sink.url, **{"from": "a@b.example"}))
        assert plain.ok and "(no encryption)" in plain.message and sink.total == 0


# --- Slack and webhooks ----------------------------------------------------------------------------------------

HOOK = "/services/T000/B000/" + uuid.uuid4().hex


def test_a_slack_url_is_checked_for_its_form_only_and_nothing_is_posted(keyring_entries) -> None:
    server = LoopbackHttp()
    try:
        saved = connection(K.SLACK, server.url)
        keyring_entries.append(saved)
        set_secret(secret_key(saved), server.url + HOOK)
        check = check_connection(saved)
        assert check.ok and "calling it would post a message" in check.message and HOOK not in check.message
        assert server.requests == []
    finally:
        server.stop()
    assert check_webhook_url("https://hooks.slack.com/services/T1/B2/xyz", K.SLACK)[0]
    assert webhook_url_problem("http://hooks.slack.com/services/T1/B2/xyz", K.SLACK) == (
        "The Slack webhook URL must use https: the URL is a secret and would travel unencrypted.")
    assert webhook_url_problem("hooks.slack.com/services/x", K.SLACK) == (
        "The Slack webhook URL must start with https:// and name a host.")
    assert webhook_url_problem("https://hooks.slack.com/other", K.SLACK) is not None
    assert webhook_url_problem("https://hooks.example.com/a b", K.WEBHOOK) is not None


def test_send_a_test_message_posts_once_and_names_slacks_refusal() -> None:
    server = LoopbackHttp()
    try:
        server.route(HOOK, raw_answer(200, b"ok", {"Content-Type": "text/html"}))
        sent = send_test_post(connection(K.SLACK, server.url), url=server.url + HOOK)
        assert sent.outcome == "sent" and server.count(HOOK) == 1
        assert b"Test message from LaunchDesk" in server.requests[-1].body

        server.route(HOOK, raw_answer(404, b"no_service"))
        gone = send_test_post(connection(K.SLACK, server.url), url=server.url + HOOK)
        assert gone.outcome == "not_sent" and "the webhook was disabled or removed" in gone.detail
        assert HOOK not in gone.detail
    finally:
        server.stop()


def test_a_slack_post_rate_limited_is_retried_after_the_wait_slack_asks() -> None:
    server = LoopbackHttp()
    try:
        server.route(HOOK, raw_answer(429, b"rate_limited", {"Retry-After": "1"}),
                     raw_answer(200, b"ok"))
        started = time.monotonic()
        sent = send_test_post(connection(K.SLACK, server.url), url=server.url + HOOK)
        assert sent.outcome == "sent" and time.monotonic() - started >= 1.0 and server.count(HOOK) == 2
    finally:
        server.stop()


def test_the_cli_adds_and_tests_metric_sources_with_their_options(tmp_path, prometheus_server, capsys) -> None:
    from launchdesk.cli import main as cli
    from launchdesk.workspace import create_workspace, open_workspace

    path = tmp_path / "cli.launchdesk"
    create_workspace(path).close()
    assert cli(["connection", "add", str(path), "prom", "--kind", "prometheus", "--url", prometheus_server.base_url,
                "--auth", "none", "--no-secret"]) == 0
    assert cli(["connection", "add", str(path), "dd", "--kind", "datadog", "--site", "datadoghq.eu",
                "--no-secret"]) == 0
    capsys.readouterr()
    assert cli(["connection", "test", str(path), "prom"]) == 0
    assert capsys.readouterr().out.startswith("Connected to Prometheus at 127.0.0.1:")
    assert cli(["connection", "test", str(path), "dd"]) == 1  # no keys in the keyring: said, not raised
    assert "holds no Datadog keys" in capsys.readouterr().out
    with open_workspace(path) as ws, ws.session() as s:
        options = {c.name: {k: v for k, v in c.options.items() if k != "secret_id"}
                   for c in s.query(Connection)}
    assert options == {"prom": {"auth": "none"}, "dd": {"site": "datadoghq.eu"}}
