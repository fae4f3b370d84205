"""The one way LaunchDesk calls HTTP APIs (flag platforms, metric sources): timeouts, retries, readable errors."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

# httpx logs every request line, full URL included, at INFO. A Slack or webhook URL is itself a secret, so those
# lines stay out of the log; failures are reported by PlatformHttp in its own words, secrets removed.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_BODY_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = {429, 500, 502, 503, 504}


class PlatformError(Exception):
    """A call to a flag platform failed; str() is a message for the user and never holds a token."""

    # Set by `post_once`: False when the request certainly never reached the server (no connection was made).
    request_sent = True

    def __init__(self, message: str, *, status: int | None = None, server_message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message  # what the platform said, secrets removed; "" if nothing


class ConnectionFailed(PlatformError):
    """The host could not be found or refused the connection."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        # A refused or dropped connection may be a restart in progress; an unknown host will stay unknown.
        self.transient = transient


class TlsError(PlatformError):
    """The TLS handshake failed, most often an untrusted or expired certificate."""


class AuthError(PlatformError):
    """The platform refused the token (401) or the token lacks the permission (403)."""


class NotFound(PlatformError):
    """The project, flag, environment or segment does not exist (404)."""


class RateLimited(PlatformError):
    """The platform kept answering 429, or asked for a longer wait than we are willing to make."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class ServerError(PlatformError):
    """The platform kept answering 5xx."""


class Timeout(PlatformError):
    """The platform did not answer in time."""


class BadResponse(PlatformError):
    """The answer was not what the API documents: not JSON, too large, or an unexpected status or shape."""


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of testing a connection: ok, and a sentence for the user (the error when it failed)."""

    ok: bool
    message: str
    error: PlatformError | None = None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, given as seconds or as an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a zone-less one is read the same way
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class PlatformHttp:
    """A reusable HTTP session to one platform API; thread-safe, so `get_many` can fetch concurrently.

    `secrets` are the strings (tokens) that must never appear in an error message; they are redacted from any
    server text we quote. Connection errors, 429 and 5xx are retried with exponential backoff (all our calls are
    reads or idempotent toggles); a Retry-After longer than `max_retry_after` is not waited out but reported.
    """

    def __init__(
        self,
        base_url: str,
        *,
        platform: str,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_concurrency: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.platform = platform
        self.where = urlsplit(self.base_url).netloc or self.base_url
        self._secrets = [s for s in secrets if s]
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Accept": "application/json", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            verify=True,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PlatformHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request_json("GET", path, params=params)

    def get_many(self, paths: list[str]) -> list[Any]:
        """GET several paths at once (in threads sharing one connection pool); results in the order given.

        The first failure is raised once every request has finished.
        """
        if len(paths) <= 1:
            return [self.get_json(p) for p in paths]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(paths))) as pool:
            futures = [pool.submit(self.get_json, p) for p in paths]
            return [f.result() for f in futures]

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        """Send one request (retrying what is worth retrying) and return its JSON body, None for an empty body."""
        attempt = 0
        while True:
            try:
                status, headers, body = self._send(method, path, params, json_body)
            except ConnectionFailed as err:
                if not err.transient or attempt >= self.retries:
                    raise
                self._wait(attempt, None)
                attempt += 1
                continue
            if status in RETRY_STATUSES and attempt < self.retries:
                retry_after = parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
                if status == 429 and retry_after is not None and retry_after > self.max_retry_after:
                    raise self._status_error(status, headers, body)
                self._wait(attempt, retry_after)
                attempt += 1
                continue
            if status >= 300:
                raise self._status_error(status, headers, body)
            return self._parse_json(body, path)

    def post_once(
        self, path: str, json_body: Any, headers: Mapping[str, str] | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One POST, never retried, and its raw answer (status, headers, body) whatever the status.

        For deliveries (a Slack post, a webhook call): repeating one that may have arrived could deliver it
        twice, so the caller decides. A failure raises as any call does, with ``request_sent`` telling whether
        the request may have reached the server.
        """
        try:
            return self._send("POST", path, None, json_body, headers)
        except PlatformError as err:
            err.request_sent = not isinstance(err.__cause__, httpx.ConnectError | httpx.ConnectTimeout
                                              | httpx.PoolTimeout)
            raise

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            time.sleep(min(retry_after, self.max_retry_after))
        else:
            time.sleep(min(self.backoff * 2**attempt, self.max_backoff))

    def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, json_body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, httpx.Headers, bytes]:
        """One HTTP exchange, the body read in chunks so an endless or huge answer stops at the cap."""
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream(method, path, params=params, json=json_body, headers=headers) as response:
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_body_bytes:
                    raise self._too_large()
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise self._too_large()
                    # A server trickling bytes never trips the per-read timeout; this bounds the whole answer.
                    if time.monotonic() > deadline:
                        raise Timeout(f"{self.platform} at {self.where} took longer than {self.timeout:g} s to answer.")
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)
        except httpx.TimeoutException as err:
            raise Timeout(f"{self.platform} at {self.where} did not answer within {self.timeout:g} s.") from err
        except httpx.TransportError as err:
            raise self._transport_error(err) from err

    def _too_large(self) -> BadResponse:
        mb = self.max_body_bytes / (1024 * 1024)
        return BadResponse(f"{self.platform} at {self.where} sent an answer larger than {mb:g} MB; it was not read.")

    def _transport_error(self, err: httpx.TransportError) -> PlatformError:
        causes = _cause_chain(err)
        if any(isinstance(c, ssl.SSLError) for c in causes) or "CERTIFICATE_VERIFY_FAILED" in str(err):
            return TlsError(
                f"The secure connection to {self.platform} at {self.where} failed: its certificate is not "
                "trusted or the TLS handshake broke. Check the URL and the server's certificate."
            )
        if any(isinstance(c, socket.gaierror) for c in causes) or "Name or service not known" in str(err):
            return ConnectionFailed(
                f"Could not find the host {self.where}. Check the {self.platform} URL.", transient=False
            )
        if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in str(err).lower():
            return ConnectionFailed(f"{self.platform} at {self.where} refused the connection. Is the server running?")
        return ConnectionFailed(f"The connection to {self.platform} at {self.where} failed ({type(err).__name__}).")

    def _status_error(self, status: int, headers: httpx.Headers, body: bytes) -> PlatformError:
        message = self._server_message(body)
        said = f" {self.platform} says: {message}" if message else ""
        who = f"{self.platform} at {self.where}"
        if status == 401:
            return AuthError(f"{who} refused the token (401). Check the API token.{said}", status=status,
                             server_message=message)
        if status == 403:
            return AuthError(f"{who} refused access (403): the token lacks the permission.{said}", status=status,
                             server_message=message)
        if status == 404:
            return NotFound(f"{who} found nothing there (404).{said}", status=status, server_message=message)
        if status == 429:
            retry_after = parse_retry_after(headers.get("retry-after"))
            later = f" It asks to wait {retry_after:.0f} s." if retry_after is not None else ""
            return RateLimited(f"{who} is rate limiting us (429).{later}", retry_after=retry_after)
        if status >= 500:
            return ServerError(f"{who} had an internal error ({status}) on every try.{said}", status=status,
                               server_message=message)
        return BadResponse(f"{who} answered with an unexpected status {status}.{said}", status=status,
                           server_message=message)

    def _server_message(self, body: bytes) -> str:
        """What a JSON error body says, shortened and with any secret removed; '' if nothing.

        Flag platforms put it in ``message``, Prometheus in ``error``, Datadog in an ``errors`` list.
        """
        try:
            data = json.loads(body)
        except ValueError:
            return ""
        if not isinstance(data, dict):
            return ""
        message = data.get("message") or data.get("error")
        errors = data.get("errors")
        if not isinstance(message, str) and isinstance(errors, list):
            message = "; ".join(e for e in errors if isinstance(e, str))
        if not isinstance(message, str) or not message:
            return ""
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message[:300]

    def _parse_json(self, body: bytes, path: str) -> Any:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise BadResponse(
                f"{self.platform} at {self.where} answered {path.split('?')[0]} with something that is not JSON. "
                "Is the URL the API's address?"
            ) from None


def _cause_chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
