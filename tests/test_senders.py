"""The senders against real servers: SMTP with STARTTLS and a keyring password, Slack and a JSON webhook played
by a loopback HTTP server; every outcome the outbox relies on."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import select

from comms_world import build_world
from launchdesk.comms.outbox import send_message
from launchdesk.comms.senders import (
    Envelope,
    HeaderInjection,
    Outcome,
    SenderUnavailable,
    SlackSender,
    SmtpSender,
    WebhookSender,
    check_header,
)
from launchdesk.comms.templating import Rendered
from launchdesk.connections import add_connection
from launchdesk.models import Channel, Connection, ConnectionKind, Delivery, DeliveryState, JournalEntry
from launchdesk.secrets import delete_secret
from loopback_http import LoopbackHttp, raw_answer
from smtp_sink import SmtpSink

RENDERED = Rendered(subject="Grüße from Smart inbox, a subject long enough to need folding in the header",
                    plain="Hi Jo,\n\n" + "A long line of text. " * 30 + "\n", html="<p>Hi Jo</p>\n",
                    slack="Hi *Jo*\n")


def envelope(to: str = "jo@acme.example", key: str = "<k1@ourco.example>") -> Envelope:
    return Envelope(to, RENDERED, key, "acct-1", "Acme", {"message": "Launch", "rollout": "Smart inbox"})


def smtp_connection(url: str, **options) -> Connection:
    return Connection(id=1, name="mail", kind=ConnectionKind.SMTP, url=url,
                      options={"from": "Launch Team <launch@ourco.example>", **options})


# --- SMTP ------------------------------------------------------------------------------------------------------


def test_the_wire_format_reads_back_with_the_standard_parser():
    sender = SmtpSender(smtp_connection("smtp://127.0.0.1:1", unsubscribe_mailto="unsub@ourco.example"))
    data = sender.message_bytes(envelope())
    assert all(len(line) <= 998 for line in data.split(b"\r\n")) and b"\n" not in data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == RENDERED.subject and parsed["From"] == "Launch Team <launch@ourco.example>"
    assert parsed["Message-ID"] == "<k1@ourco.example>" and parsed["To"] == "jo@acme.example"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == RENDERED.plain
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == RENDERED.html
    assert parsed["List-Unsubscribe"] == "<mailto:unsub@ourco.example>"
    assert parsed["List-Unsubscribe-Post"] is None  # one-click needs an https target


def test_line_breaks_in_headers_are_refused():
    with pytest.raises(HeaderInjection):
        check_header("Subject", "Hi\r\nBcc: victim@example.com")
    sender = SmtpSender(smtp_connection("smtp://127.0.0.1:1"))
    attempt = sender.send(envelope(to="jo@acme.example\r\nRCPT TO:<victim@example.com>"))
    assert attempt.outcome is Outcome.FAILED and "line break" in attempt.detail


def test_a_password_is_never_sent_unencrypted_to_another_host():
    with pytest.raises(SenderUnavailable, match="unencrypted"):
        SmtpSender(smtp_connection("smtp://mail.ourco.example:25", username="launch"))
    with pytest.raises(SenderUnavailable, match="--from"):
        SmtpSender(Connection(id=1, name="mail", kind=ConnectionKind.SMTP, url="smtp://127.0.0.1:25", options={}))


def test_one_connection_is_reused_and_the_rate_limit_holds():
    with SmtpSink() as sink:
        sender = SmtpSender(smtp_connection(sink.url, rate_per_second=20))
        started = time.monotonic()
        for n in range(5):
            assert sender.ready()
            assert sender.send(envelope(f"p{n}@acme.example", f"<k{n}@ourco.example>")).outcome is Outcome.SENT
        elapsed = time.monotonic() - started
        sender.close()
    assert elapsed >= 4 / 20  # five sends at 20 a second: four intervals
    assert sink.total == 5


def test_an_idle_connection_closed_by_the_server_is_reopened_without_losing_the_message():
    with SmtpSink() as sink:
        sender = SmtpSender(smtp_connection(sink.url))
        assert sender.ready() and sender.send(envelope("a@acme.example")).outcome is Outcome.SENT
        sender._smtp.sock.close()  # the server's idle timeout, as the client sees it
        assert sender.send(envelope("b@acme.example")).outcome is Outcome.SENT
        sender.close()
    assert sink.per_recipient == {"a@acme.example": 1, "b@acme.example": 1}


def test_an_unreachable_server_is_not_sent_and_says_why():
    sender = SmtpSender(smtp_connection("smtp://127.0.0.1:1"))
    with pytest.raises(SenderUnavailable, match="connection refused"):
        sender.ready()


@pytest.fixture
def certificate(tmp_path) -> Iterator[tuple[ssl.SSLContext, str]]:
    """A throwaway certificate for 127.0.0.1: the server's context and the file a client trusts it by."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield context, str(cert)


def test_starttls_and_a_password_from_the_keyring(tmp_path, certificate, secret_service):
    context, ca_file = certificate
    password = f"pw-{time.time_ns()}"  # made up for this run
    with SmtpSink(starttls=context, users={"launch": password}) as sink:
        world = build_world(tmp_path, accounts=12, percentage=100, smtp_url=sink.url, approve=False)
        with world.workspace.transaction() as s:
            connection = add_connection(s, "relay", "smtp", url=sink.url, secret=password, options={
                "from": "launch@ourco.example", "security": "starttls", "username": "launch", "ca_file": ca_file})
            connection_id = connection.id
            world.message(s).sender_connection = connection
        from launchdesk.comms import approval

        with world.workspace.transaction() as s:
            approval.submit_for_review(s, world.message(s), by="Sam")
            approval.approve(s, world.message(s), by="Pat")
        report = send_message(world.workspace, world.message_id)
        assert report.sent == 12 and sink.total == 12
        # The password lives in the keyring only: not in the workspace file, not in the journal.
        with world.workspace.session() as s:
            assert password not in json.dumps([e.details for e in s.scalars(select(JournalEntry))])
            assert password not in json.dumps(s.get(Connection, connection_id).options)
        world.workspace.close()
        assert password.encode() not in world.path.read_bytes()

        with world.workspace.transaction() as s:
            wrong = s.get(Connection, connection_id)
            s.expunge(wrong)
        from launchdesk.connections import secret_key
        from launchdesk.secrets import set_secret

        set_secret(secret_key(wrong), "not-the-password")
        with pytest.raises(SenderUnavailable) as refused:
            SmtpSender(wrong).ready()
        assert "refused the user name or password" in str(refused.value) and "not-the-password" not in str(refused.value)
        delete_secret(secret_key(wrong))


def test_an_untrusted_certificate_stops_before_anything_is_sent(certificate):
    context, _ = certificate
    with SmtpSink(starttls=context) as sink:
        with pytest.raises(SenderUnavailable, match="certificate"):
            SmtpSender(smtp_connection(sink.url, security="starttls")).ready()
        assert sink.total == 0


# --- Slack and webhooks ------------------------------------------------------------------------------------------

HOOK = "/services/T000/B000/secretpart"


@pytest.fixture
def slack(tmp_path, secret_service) -> Iterator[tuple[LoopbackHttp, Connection]]:
    """A loopback server that answers like Slack, and a Slack connection whose keyring secret is its URL."""
    server = LoopbackHttp()
    world = build_world(tmp_path, accounts=1)
    with world.workspace.transaction() as s:
        connection = add_connection(s, "team-slack", "slack", url="", secret=server.url + HOOK)
        s.expunge(connection)
    yield server, connection
    from launchdesk.connections import secret_key

    delete_secret(secret_key(connection))
    server.stop()
    world.workspace.close()


def ok() -> object:
    return raw_answer(200, b"ok", {"Content-Type": "text/html"})


def test_slack_posts_the_slack_text_at_most_once_a_second(slack):
    server, connection = slack
    server.route(HOOK, ok())
    sender = SlackSender(connection)
    started = time.monotonic()
    for n in range(3):
        assert sender.ready()
        attempt = sender.send(envelope(f"acct-{n}", f"key-{n}"))
        assert attempt.outcome is Outcome.SENT and attempt.detail == "ok"
    elapsed = time.monotonic() - started
    sender.close()
    assert elapsed >= 2.0  # three posts, one a second
    assert [json.loads(r.body) for r in server.requests] == [{"text": "Hi *Jo*\n"}] * 3
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["key-0", "key-1", "key-2"]


def test_slack_rate_limit_429_is_waited_out_as_asked(slack):
    server, connection = slack
    server.route(HOOK, raw_answer(429, b"rate_limited", {"Retry-After": "1"}), ok())
    sender = SlackSender(connection)
    started = time.monotonic()
    assert sender.ready() and sender.send(envelope()).outcome is Outcome.SENT
    assert time.monotonic() - started >= 1.0 and server.count(HOOK) == 2


@pytest.mark.parametrize("status, said, outcome, stop, meaning", [
    (400, b"invalid_payload", Outcome.FAILED, False, "could not read the message"),
    (404, b"channel_not_found", Outcome.NOT_SENT, True, "channel no longer exists"),
    (410, b"channel_is_archived", Outcome.NOT_SENT, True, "channel is archived"),
    (403, b"action_prohibited", Outcome.NOT_SENT, True, "restricted posting"),
    (500, b"rollup_error", Outcome.FAILED, False, "Slack answered 500: rollup_error"),
])
def test_slack_errors_are_named(slack, status, said, outcome, stop, meaning):
    server, connection = slack
    server.route(HOOK, raw_answer(status, said))
    attempt = SlackSender(connection).send(envelope())
    assert (attempt.outcome, attempt.stop) == (outcome, stop)
    assert meaning in attempt.detail and "secretpart" not in attempt.detail


def test_a_post_that_may_have_arrived_is_uncertain_and_one_that_never_left_is_not_sent(slack):
    server, connection = slack

    def hang_up(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.wfile.flush()
        handler.connection.shutdown(2)

    server.route(HOOK, hang_up)
    attempt = SlackSender(connection).send(envelope())
    assert attempt.outcome is Outcome.UNCERTAIN and "may have arrived" in attempt.detail
    assert server.count(HOOK) == 1  # never retried by itself
    server.stop()
    gone = SlackSender(connection).send(envelope())
    assert gone.outcome is Outcome.NOT_SENT and gone.stop and "secretpart" not in gone.detail


def test_a_slack_message_goes_to_every_account_with_access_and_the_url_stays_secret(tmp_path, secret_service):
    server = LoopbackHttp()
    server.route(HOOK, ok())
    world = build_world(tmp_path, accounts=3, percentage=100, channel=Channel.SLACK,
                        names={0: "<!channel> Corp"})
    with world.workspace.transaction() as s:
        connection = add_connection(s, "team-slack", "slack", url="http://127.0.0.1", secret=server.url + HOOK)
        world.message(s).sender_connection = connection
    report = send_message(world.workspace, world.message_id)
    assert report.sent == 3 and server.count(HOOK) == 3
    texts = [json.loads(r.body)["text"] for r in server.requests]
    assert any("&lt;!channel&gt; Corp" in t for t in texts) and not any("<!channel>" in t for t in texts)
    with world.workspace.session() as s:
        recipients = sorted(s.scalars(select(Delivery.recipient).where(Delivery.state == DeliveryState.SENT)))
    assert recipients == ["acct-00000", "acct-00001", "acct-00002"]
    world.workspace.close()
    assert b"secretpart" not in world.path.read_bytes()
    from launchdesk.connections import secret_key

    delete_secret(secret_key(connection))
    server.stop()


def test_a_webhook_gets_the_account_the_text_and_an_idempotency_key(tmp_path, secret_service):
    server = LoopbackHttp()
    server.route("/notices", raw_answer(202, b""))
    world = build_world(tmp_path, accounts=1)
    with world.workspace.transaction() as s:
        connection = add_connection(s, "in-app", "webhook", secret=server.url + "/notices")
        s.expunge(connection)
    sender = WebhookSender(connection)
    assert sender.ready() and sender.send(envelope("acct-1", "key-7")).outcome is Outcome.SENT
    (request,) = server.requests
    body = json.loads(request.body)
    assert body["account"] == {"id": "acct-1", "name": "Acme"} and body["delivery"] == "key-7"
    assert body["text"] == RENDERED.plain and body["rollout"] == "Smart inbox"
    assert request.headers["Idempotency-Key"] == "key-7"
    from launchdesk.connections import secret_key

    delete_secret(secret_key(connection))
    server.stop()
    world.workspace.close()


def test_connection_add_keeps_a_slack_url_in_the_keyring_and_only_its_host_in_the_workspace(
        tmp_path, secret_service, monkeypatch, capsys):
    import io

    from launchdesk import cli
    from launchdesk.connections import get_connection, read_secret, secret_key

    world = build_world(tmp_path, accounts=1)
    world.workspace.close()
    url = "https://hooks.slack.example/services/T1/B2/topsecretpart"
    monkeypatch.setattr("sys.stdin", io.StringIO(url + "\n"))
    assert cli.main(["connection", "add", str(world.path), "team-slack", "--kind", "slack"]) == 0
    from launchdesk.workspace import open_workspace

    with open_workspace(world.path) as ws, ws.session() as s:
        connection = get_connection(s, "team-slack")
        assert connection.url == "https://hooks.slack.example" and read_secret(connection) == url
        s.expunge(connection)
    assert b"topsecretpart" not in world.path.read_bytes()
    delete_secret(secret_key(connection))
