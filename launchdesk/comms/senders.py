"""Senders: e-mail over SMTP, Slack incoming webhooks and generic JSON webhooks, one delivery at a time.

Every attempt ends in one of four outcomes, the facts the outbox needs to send exactly once:

- SENT: the server took it;
- FAILED: the server refused it, so it certainly did not arrive;
- NOT_SENT: nothing left our side (no connection, cancelled while waiting); it may be tried again later;
- UNCERTAIN: the connection broke while the message was being handed over: it may or may not have arrived,
  and only a person may decide to send it again.

Senders are used from one worker thread; waits (the rate limit, a 429's Retry-After) end early when the
send is cancelled. Secrets come from the keyring through ``connections.read_secret`` and never appear in a
message: a Slack or webhook URL is itself the secret.
"""

from __future__ import annotations

import email.utils
import re
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.header import Header
from typing import Any
from urllib.parse import quote, urlsplit

from launchdesk.comms.templating import Rendered
from launchdesk.connections import ConnectionProblem, read_secret
from launchdesk.models import Connection, ConnectionKind
from launchdesk.models.enums import StrEnum
from launchdesk.secrets import SecretsUnavailable

Cancelled = Callable[[], bool]
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MAX_RETRY_AFTER = 300.0  # seconds; a longer wait stops the send (the rows stay pending) instead of hanging
SLACK_MAX_RATE = 1.0  # Slack allows about one message per second per incoming webhook
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]")
_LEADING_DOT = re.compile(rb"(?m)^\.")  # SMTP's dot-stuffing: a line starting with "." gets another one
_ADDRESS = re.compile(r"[^\s<>(),;:\\\"\[\]@]+@[^\s<>(),;:\\\"\[\]@]+")


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    NOT_SENT = "not_sent"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Attempt:
    """How one delivery went. ``stop``: the rest of the send cannot go either (the server refuses us)."""

    outcome: Outcome
    detail: str = ""
    stop: bool = False


class SenderUnavailable(Exception):
    """The sender cannot be used now (no connection, refused sign-in...); the message never holds a secret."""


class HeaderInjection(ValueError):
    """A header value with a line break, which would let text from a template or an import add headers."""


@dataclass(frozen=True)
class Envelope:
    """One delivery handed to a sender."""

    recipient: str  # an e-mail address; the account id for Slack and webhooks
    rendered: Rendered
    delivery_key: str  # the e-mail's Message-ID, a post's idempotency key: made once, stored before sending
    account_id: str
    account_name: str
    about: Mapping[str, Any]  # message, rollout, phase and cohort names, for webhook receivers


class Sender:
    """What the outbox calls: ``ready()`` before claiming a row, ``send()`` for it, ``close()`` at the end."""

    def __init__(self, connection: Connection, cancelled: Cancelled | None, rate_per_second: float | None) -> None:
        self._cancelled = cancelled or (lambda: False)
        self._interval = 1.0 / rate_per_second if rate_per_second and rate_per_second > 0 else 0.0
        self._last_start = float("-inf")

    @property
    def paced(self) -> bool:
        """True when a rate limit may make ``ready`` wait."""
        return self._interval > 0

    def ready(self) -> bool:
        """Wait for the rate limit and make sure a connection is open; False if cancelled meanwhile.

        Raises SenderUnavailable when the server cannot be reached: nothing was sent then.
        """
        if not self._pause(self._last_start + self._interval - time.monotonic()):
            return False
        self._last_start = time.monotonic()
        self._connect()
        return True

    def send(self, envelope: Envelope) -> Attempt:
        """Hand the message over and wait for the server's answer."""
        return self.begin(envelope) or self.end()

    def begin(self, envelope: Envelope) -> Attempt | None:
        """Hand the message over. None while the server's final answer is still to come (``end`` reads it),
        which lets the outbox prepare the next message meanwhile; otherwise how the delivery ended."""
        raise NotImplementedError

    def end(self) -> Attempt:
        """The server's final answer to the message ``begin`` left in flight."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _connect(self) -> None:
        pass

    def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` in short slices, so a cancel is felt at once; False if cancelled."""
        deadline = time.monotonic() + seconds
        while not self._cancelled():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.1))
        return False


def open_sender(connection: Connection, *, cancelled: Cancelled | None = None) -> Sender:
    """The sender for a connection (SMTP, Slack or webhook)."""
    if connection.kind is ConnectionKind.SMTP:
        return SmtpSender(connection, cancelled)
    if connection.kind is ConnectionKind.SLACK:
        return SlackSender(connection, cancelled)
    if connection.kind is ConnectionKind.WEBHOOK:
        return WebhookSender(connection, cancelled)
    raise SenderUnavailable(f"Connection {connection.name!r} is a {connection.kind} connection, not a sender.")


def delivery_keys(connection: Connection) -> Callable[[], str]:
    """A maker of delivery keys, each made once and stored before the first attempt: an e-mail's Message-ID in
    the sender's domain, a post's Idempotency-Key. A resend after an uncertain attempt reuses the row's key,
    so the receiving side can tell it is the same message."""
    if connection.kind is ConnectionKind.SMTP:
        domain = email.utils.parseaddr(str((connection.options or {}).get("from") or ""))[1].rpartition("@")[2]
        return lambda: f"<{uuid.uuid4().hex}@{domain or 'launchdesk.invalid'}>"
    return lambda: uuid.uuid4().hex


def check_header(name: str, value: str) -> str:
    """The value, or HeaderInjection when it holds a line break."""
    if _LINE_BREAK.search(value):
        raise HeaderInjection(f"The {name} header would contain a line break; it was not sent.")
    return value


# --- e-mail ------------------------------------------------------------------------------------------------------


class SmtpSender(Sender):
    """E-mail over one reused SMTP connection: plain, STARTTLS or TLS, signed in with the keyring's password.

    Connection options: ``from`` (required), ``security`` (``none``, ``starttls`` or ``tls``; ``smtps://``
    URLs mean ``tls``), ``username`` (the password is the connection's secret), ``rate_per_second``,
    ``ca_file`` (a private CA), ``unsubscribe_url`` (``{email}`` is replaced by the recipient) and
    ``unsubscribe_mailto``, which add List-Unsubscribe headers.
    """

    def __init__(self, connection: Connection, cancelled: Cancelled | None = None, *,
                 password: str | None = None) -> None:
        options = connection.options or {}
        super().__init__(connection, cancelled, _rate(options))
        self._password = password  # one typed but not saved yet (a connection test); else the keyring's
        url = urlsplit(connection.url if "://" in connection.url else f"smtp://{connection.url}")
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise SenderUnavailable(f"Connection {connection.name!r} needs an smtp://HOST:PORT URL.")
        self.security = str(options.get("security") or ("tls" if url.scheme == "smtps" else "none"))
        if self.security not in ("none", "starttls", "tls"):
            raise SenderUnavailable(f"Connection {connection.name!r}: unknown security {self.security!r}.")
        self.host = url.hostname
        self.port = url.port or (465 if self.security == "tls" else 587 if self.security == "starttls" else 25)
        self.where = f"{self.host}:{self.port}"
        name, address = email.utils.parseaddr(str(options.get("from") or ""))
        if not _ADDRESS.fullmatch(address):
            raise SenderUnavailable(f"Connection {connection.name!r} has no valid sender address (the From field, "
                                    "or --from ADDR on the command line).")
        self.sender = address
        self.from_header = check_header("From", _address_header(name, address))
        self.username = str(options.get("username") or "")
        if self.username and self.security == "none" and self.host not in LOOPBACK_HOSTS:
            raise SenderUnavailable(f"Connection {connection.name!r} would send its password unencrypted to "
                                    f"{self.where}; use STARTTLS or TLS (--starttls or --tls).")
        self.ca_file = options.get("ca_file") or None
        self.unsubscribe_url = str(options.get("unsubscribe_url") or "")
        self.unsubscribe_mailto = str(options.get("unsubscribe_mailto") or "")
        self.timeout = float(options.get("timeout") or 30)
        self._connection = connection
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> None:
        if self._smtp is not None:
            return
        context = ssl.create_default_context(cafile=self.ca_file) if self.security != "none" else None
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    smtp.starttls(context=context)
            try:
                smtp.ehlo_or_helo_if_needed()  # again after STARTTLS, which forgets the server's first answer
                if self.username:
                    if not smtp.has_extn("auth"):
                        after = " (many servers offer it only after STARTTLS)" if self.security == "none" else ""
                        raise SenderUnavailable(f"The SMTP server at {self.where} offers no sign-in (AUTH) on "
                                                f"this connection{after}; remove the user name or change security.")
                    smtp.login(self.username, self._password or read_secret(self._connection))
            except BaseException:
                smtp.close()
                raise
        except (ConnectionProblem, SecretsUnavailable) as err:
            raise SenderUnavailable(str(err)) from None
        except smtplib.SMTPAuthenticationError as err:
            raise SenderUnavailable(f"The SMTP server at {self.where} refused the user name or password "
                                    f"({err.smtp_code}).") from None
        except smtplib.SMTPNotSupportedError:
            raise SenderUnavailable(f"The SMTP server at {self.where} does not offer STARTTLS.") from None
        except ssl.SSLError as err:
            raise SenderUnavailable(f"The secure connection to the SMTP server at {self.where} failed "
                                    f"({err.reason or type(err).__name__}): check the certificate.") from None
        except (OSError, smtplib.SMTPException) as err:
            raise SenderUnavailable(f"Could not reach the SMTP server at {self.where} ({_why(err)}).") from None
        self._smtp = smtp

    def check(self) -> str:
        """Connect, EHLO, STARTTLS or TLS as configured, sign in when a user name is set, then QUIT: nothing is
        sent. A sentence saying what worked; SenderUnavailable saying exactly what did not."""
        self._connect()
        self.close()
        how = {"tls": "TLS", "starttls": "STARTTLS", "none": "no encryption"}[self.security]
        signed = f", signed in as {self.username}" if self.username else ""
        return f"Connected to the SMTP server at {self.where} ({how}{signed}); nothing was sent."

    def begin(self, envelope: Envelope) -> Attempt | None:
        try:
            data = self.message_bytes(envelope)
        except HeaderInjection as err:
            return Attempt(Outcome.FAILED, str(err))
        if not _ADDRESS.fullmatch(envelope.recipient) or not envelope.recipient.isascii():
            return Attempt(Outcome.FAILED, f"{envelope.recipient!r} is not an e-mail address this sender can use.")
        for retry in (False, True):
            try:
                if self._smtp is None:
                    self._connect()
                assert self._smtp is not None
                # docmd, not mail()/rcpt(): those re-parse each address, which costs more than the exchange;
                # both addresses were checked against _ADDRESS above.
                code, reply = self._smtp.docmd("MAIL", f"FROM:<{self.sender}>")
                break
            except (smtplib.SMTPServerDisconnected, OSError):
                # An idle connection the server closed: nothing was handed over yet, so reconnect once.
                self._drop()
                if retry:
                    return Attempt(Outcome.NOT_SENT, f"The SMTP server at {self.where} closed the connection.",
                                   stop=True)
            except SenderUnavailable as err:
                return Attempt(Outcome.NOT_SENT, str(err), stop=True)
        if code != 250:
            self._reset()
            return Attempt(Outcome.NOT_SENT, f"The SMTP server refused the sender {self.sender}: "
                                             f"{code} {_text(reply)}", stop=True)
        try:
            code, reply = self._smtp.docmd("RCPT", f"TO:<{envelope.recipient}>")
            if code not in (250, 251):
                self._reset()
                later = " (temporary: it may be accepted later)" if 400 <= code < 500 else ""
                return Attempt(Outcome.FAILED, f"The server refused the recipient: {code} {_text(reply)}{later}")
            code, reply = self._smtp.docmd("DATA")
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()
            return Attempt(Outcome.NOT_SENT, "The connection broke before the message was handed over.")
        if code != 354:
            self._reset()
            return Attempt(Outcome.FAILED, f"The server refused the message: {code} {_text(reply)}")
        try:
            self._smtp.send(_LEADING_DOT.sub(b"..", data) + b".\r\n")
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()
            return Attempt(Outcome.UNCERTAIN, "The connection broke while the message was being handed over; "
                                              "it may have arrived.")
        return None

    def end(self) -> Attempt:
        try:
            assert self._smtp is not None
            code, reply = self._smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()
            return Attempt(Outcome.UNCERTAIN, "The connection broke before the server confirmed the message; "
                                              "it may have arrived.")
        if code != 250:
            self._reset()
            return Attempt(Outcome.FAILED, f"The server refused the message: {code} {_text(reply)}")
        return Attempt(Outcome.SENT, f"{code} {_text(reply)}")

    def message_bytes(self, envelope: Envelope) -> bytes:
        """The e-mail as it goes on the wire: headers, then the plain and HTML parts as quoted-printable.

        Written by hand rather than with ``email.message``, which costs more per message than the SMTP
        exchange itself; ``tests/test_senders.py`` reads the result back with the standard parser.
        """
        rendered = envelope.rendered
        subject = check_header("Subject", rendered.subject)
        to = check_header("To", envelope.recipient)
        message_id = check_header("Message-ID", envelope.delivery_key)
        lines = [
            f"From: {self.from_header}",
            f"To: {to}",
            f"Subject: {_header_text(subject)}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Message-ID: {message_id}",
            "MIME-Version: 1.0",
        ]
        targets = []
        if self.unsubscribe_url:
            targets.append(self.unsubscribe_url.replace("{email}", quote(envelope.recipient, safe="@")))
        if self.unsubscribe_mailto:
            targets.append(f"mailto:{self.unsubscribe_mailto}")
        if targets:
            lines.append(check_header("List-Unsubscribe", "List-Unsubscribe: " + ", ".join(f"<{t}>" for t in targets)))
            if targets[0].startswith("https://"):  # RFC 8058 one-click needs an HTTPS target
                lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        boundary = f"=_ld{uuid.uuid4().hex}"  # "=_" never occurs in quoted-printable text
        lines += [f'Content-Type: multipart/alternative; boundary="{boundary}"', "", "This is a MIME message."]
        for subtype, text in (("plain", rendered.plain), ("html", rendered.html)):
            if not text:  # a test of a Slack message carries its text only
                continue
            lines += [f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                      "Content-Transfer-Encoding: quoted-printable", "", _quoted_printable(text)]
        lines += [f"--{boundary}--", ""]
        return "\r\n".join(lines).encode("ascii")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    def _reset(self) -> None:
        try:
            assert self._smtp is not None
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None


def _address_header(name: str, address: str) -> str:
    return email.utils.formataddr((name, address), charset="utf-8") if name else address


def _header_text(value: str) -> str:
    """A header value that is ASCII and short stays as it is; anything else is RFC 2047-encoded and folded."""
    if value.isascii() and len(value) <= 70:
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _quoted_printable(text: str) -> str:
    import binascii

    crlf = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return binascii.b2a_qp(crlf.encode("utf-8"), istext=True).decode("ascii")


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply).replace("\n", " ")[:300]


def _why(err: BaseException) -> str:
    import socket

    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return "host not found"
    if isinstance(err, TimeoutError):
        return "no answer in time"
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return "it closed the connection; is the port's security (none, STARTTLS, TLS) right?"
    return getattr(err, "strerror", None) or type(err).__name__


def _rate(options: Mapping[str, Any]) -> float | None:
    try:
        rate = float(options.get("rate_per_second") or 0)
    except (TypeError, ValueError):
        return None
    return rate if rate > 0 else None


# --- Slack and webhooks ------------------------------------------------------------------------------------------

SLACK_ERRORS = {
    "invalid_payload": "Slack could not read the message",
    "no_text": "the message has no text",
    "channel_not_found": "the webhook's channel no longer exists",
    "channel_is_archived": "the webhook's channel is archived",
    "action_prohibited": "a Slack admin restricted posting to that channel",
    "no_service": "the webhook was disabled or removed",
    "no_active_hooks": "the webhook was disabled",
    "invalid_token": "the webhook URL is no longer valid",
}


class _PostSender(Sender):
    """Posts JSON to the URL kept as the connection's secret, through the one HTTP helper."""

    platform = "webhook"
    max_rate: float | None = None

    def __init__(self, connection: Connection, cancelled: Cancelled | None = None, *, url: str | None = None) -> None:
        options = connection.options or {}
        rate = _rate(options) or self.max_rate
        super().__init__(connection, cancelled, min(rate, self.max_rate) if rate and self.max_rate else rate)
        try:
            url = url or read_secret(connection)  # ``url``: one typed but not saved yet
        except (ConnectionProblem, SecretsUnavailable) as err:
            raise SenderUnavailable(f"{err} The {self.platform} URL is the connection's secret.") from None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SenderUnavailable(f"The {self.platform} URL of connection {connection.name!r} is not an "
                                    "http(s) URL; add the connection again with the right URL.")
        from launchdesk.flags.http import PlatformHttp

        # The path is the secret part of a webhook URL; the client only knows the host, so errors cannot leak it.
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._http = PlatformHttp(f"{parts.scheme}://{parts.netloc}", platform=self.platform, secrets=[url, parts.path],
                                  timeout=float(options.get("timeout") or 15))

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        raise NotImplementedError

    def begin(self, envelope: Envelope) -> Attempt:
        from launchdesk.flags.http import PlatformError, parse_retry_after

        while True:
            try:
                status, headers, body = self._http.post_once(self._path, self.payload(envelope),
                                                             {"Idempotency-Key": envelope.delivery_key})
            except PlatformError as err:
                if not err.request_sent:
                    return Attempt(Outcome.NOT_SENT, str(err), stop=True)
                return Attempt(Outcome.UNCERTAIN, f"{err} The post may have arrived.")
            said = body[:300].decode("utf-8", "replace").strip()
            if 200 <= status < 300:
                return Attempt(Outcome.SENT, said or str(status))
            if status == 429:
                wait = parse_retry_after(headers.get("retry-after"))
                wait = 1.0 if wait is None else wait
                if wait > MAX_RETRY_AFTER:
                    return Attempt(Outcome.NOT_SENT, f"{self.platform} asks to wait {wait:.0f} s before the next "
                                                     "post; send again later.", stop=True)
                if not self._pause(wait):
                    return Attempt(Outcome.NOT_SENT, "Cancelled while waiting for the rate limit.")
                continue
            return self.refused(status, said)

    def refused(self, status: int, said: str) -> Attempt:
        detail = f"{self.platform} answered {status}" + (f": {said}" if said else "")
        if status in (401, 403, 404, 410):  # the URL itself no longer works: nothing else will go either
            return Attempt(Outcome.NOT_SENT, detail, stop=True)
        return Attempt(Outcome.FAILED, detail)

    def close(self) -> None:
        self._http.close()


class SlackSender(_PostSender):
    """A Slack incoming webhook: at most one message a second, 429 Retry-After honoured, Slack's errors named."""

    platform = "Slack"
    max_rate = SLACK_MAX_RATE

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        return {"text": envelope.rendered.slack}

    def refused(self, status: int, said: str) -> Attempt:
        attempt = super().refused(status, said)
        meaning = SLACK_ERRORS.get(said)
        if meaning:
            return Attempt(attempt.outcome, f"{meaning} ({status} {said})", attempt.stop)
        return attempt


class WebhookSender(_PostSender):
    """A generic JSON webhook (for example an in-app notice service), one post per account."""

    platform = "webhook"

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        rendered = envelope.rendered
        return {
            "delivery": envelope.delivery_key,
            "account": {"id": envelope.account_id, "name": envelope.account_name},
            "subject": rendered.subject,
            "text": rendered.plain,
            "slack_text": rendered.slack,
            **envelope.about,
        }


# --- checking a sender without sending ------------------------------------------------------------------------


def check_smtp(connection: Connection, *, password: str | None = None, timeout: float = 15.0) -> str:
    """Test an SMTP connection without sending anything (see :meth:`SmtpSender.check`)."""
    options = dict(connection.options or {})
    options.setdefault("timeout", timeout)
    probe = Connection(id=connection.id, name=connection.name, kind=connection.kind, url=connection.url,
                       options=options)
    return SmtpSender(probe, password=password).check()


def webhook_url_problem(url: str, kind: ConnectionKind | str) -> str | None:
    """What is wrong with a Slack or webhook URL's form (None when nothing is); the URL never appears in it."""
    platform = "Slack webhook" if ConnectionKind(kind) is ConnectionKind.SLACK else "webhook"
    url = url.strip()
    if not url:
        return f"Paste the {platform} URL."
    if _LINE_BREAK.search(url) or any(c.isspace() for c in url):
        return f"The {platform} URL contains spaces or line breaks."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"The {platform} URL must start with https:// and name a host."
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return f"The {platform} URL must use https: the URL is a secret and would travel unencrypted."
    if ConnectionKind(kind) is ConnectionKind.SLACK and parts.hostname == "hooks.slack.com" \
            and not parts.path.startswith("/services/"):
        return "A Slack incoming-webhook URL looks like https://hooks.slack.com/services/T…/B…/…"
    return None


def check_webhook_url(url: str, kind: ConnectionKind | str) -> tuple[bool, str]:
    """Check a Slack or webhook URL's form and scheme only, without calling it: a real test would post a
    message to the channel (``send_test_post`` does that, when asked)."""
    problem = webhook_url_problem(url, kind)
    if problem:
        return False, problem
    parts = urlsplit(url.strip())
    slack = ConnectionKind(kind) is ConnectionKind.SLACK
    note = ""
    if slack and parts.hostname != "hooks.slack.com":
        note = f" It does not point at hooks.slack.com but at {parts.hostname}."
    what = "Slack" if slack else "the webhook"
    return True, (f"The URL is well formed ({parts.scheme}, host {parts.hostname}).{note} It was not called: "
                  f"calling it would post a message to {what}. Use “Send a test message” to post one.")


def send_test_post(connection: Connection, *, url: str | None = None,
                   cancelled: Cancelled | None = None) -> Attempt:
    """Post one short test message through a Slack or webhook connection (the typed URL or the keyring's)."""
    sender_class = SlackSender if connection.kind is ConnectionKind.SLACK else WebhookSender
    if connection.kind not in (ConnectionKind.SLACK, ConnectionKind.WEBHOOK):
        raise SenderUnavailable(f"Connection {connection.name!r} is not a Slack or webhook connection.")
    text = f"Test message from LaunchDesk: the connection “{connection.name}” can post here."
    envelope = Envelope("test", Rendered(subject="LaunchDesk test message", plain=text, slack=text),
                        uuid.uuid4().hex, "", "", {"test": True})
    sender = sender_class(connection, cancelled, url=url)
    try:
        if not sender.ready():
            return Attempt(Outcome.NOT_SENT, "Cancelled.")
        return sender.send(envelope)
    finally:
        sender.close()


def smtp_problem(connection: Connection) -> str | None:
    """What keeps an SMTP connection's settings from working (URL, sender address, a password that would go
    unencrypted...), in the sender's own words; None when nothing does. Nothing is contacted."""
    try:
        SmtpSender(connection)
    except SenderUnavailable as err:
        return str(err)
    return None
