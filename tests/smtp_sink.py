"""Test helper: a real SMTP server (aiosmtpd) on 127.0.0.1 that keeps and counts every message it accepts.

In a test: ``with SmtpSink() as sink: ...; sink.wait_for(100); sink.count_for("a@x.example")``.
As a program (for benchmarks, so the server has its own process): ``python tests/smtp_sink.py`` prints its
port, then answers each line ``count`` on standard input with the number of messages received so far, and
stops when standard input closes.
"""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """An SMTP server on loopback. ``starttls``: a server TLS context offered through STARTTLS (and then
    required); ``implicit_tls``: a context for TLS from the first byte (smtps); ``users``: logins it accepts
    (AUTH is then required). ``keep=False`` counts without keeping the message bodies (for big runs).
    ``refuse``: recipients answered 550 at RCPT. ``delay``: seconds each message takes to accept (after the
    data arrived, before it is counted and answered), so a sender is most often caught mid-transmission."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        keep: bool = True,
        refuse: set[str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.received: list[Received] = []
        self.per_recipient: collections.Counter[str] = collections.Counter()
        self.total = 0
        self.keep = keep
        self._changed = threading.Condition()
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                                  options: list[str]) -> str:
                if address.lower() in (refuse or set()):
                    return "550 No such user here"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if delay:
                    await asyncio.sleep(delay)
                with sink._changed:
                    if sink.keep:
                        sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                    sink.per_recipient.update(r.lower() for r in envelope.rcpt_tos)
                    sink.total += 1
                    sink._changed.notify_all()
                return "250 Message accepted for delivery"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = (isinstance(auth_data, LoginPassword) and users is not None
                  and users.get(auth_data.login.decode()) == auth_data.password.decode())
            return AuthResult(success=ok, handled=False)

        options: dict[str, Any] = {}
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        if users is not None:
            options.update(authenticator=authenticate, auth_required=True, auth_require_tls=starttls is not None)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ssl_context=implicit_tls,
                                     server_hostname="127.0.0.1", **options)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count_for(self, address: str) -> int:
        with self._changed:
            return self.per_recipient[address.lower()]

    def wait_for(self, total: int, timeout: float = 60.0) -> bool:
        """Block until at least ``total`` messages arrived (True), or ``timeout`` seconds passed (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.total >= total, timeout)


def main() -> None:
    with SmtpSink(keep=False) as sink:
        print(sink.port, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(sink.total, flush=True)


if __name__ == "__main__":
    main()
