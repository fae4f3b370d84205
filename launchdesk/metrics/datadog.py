"""Datadog as a metric source: the v1 timeseries query (``GET /api/v1/query``) and a gate's measurement from it.

A ``datadog`` connection names its site in ``options["site"]`` (``datadoghq.com``, ``datadoghq.eu``,
``us5.datadoghq.com``...; the API lives at ``https://api.<site>``); a non-empty ``url`` (such as
``https://api.datadoghq.eu``) overrides that. The keyring holds both keys for the connection as one secret: the
API key and the application key separated by a space (one line, as ``launchdesk-cli connection add`` reads it).

The documented answer is ``{"status": "ok", "res_type": "time_series", "series": [{"metric", "scope",
"tag_set", "pointlist": [[<ms since epoch>, <value or null>], ...], ...}], "from_date", "to_date", "query"}``;
errors come as ``{"errors": ["Forbidden"]}`` with 4xx, or ``status: "error"`` with ``error``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from launchdesk.flags.http import AuthError, BadResponse, ConnectionCheck, NotFound, PlatformError, PlatformHttp
from launchdesk.metrics.series import Point, QueryError, Series, from_epoch, single_series
from launchdesk.planning.gates import Measurement

if TYPE_CHECKING:
    from launchdesk.models import Connection

PLATFORM = "Datadog"
DEFAULT_SITE = "datadoghq.com"


def api_url(site: str) -> str:
    """The API address of a Datadog site: ``datadoghq.eu`` -> ``https://api.datadoghq.eu``."""
    site = site.strip().removeprefix("https://").removeprefix("app.").rstrip("/")
    return f"https://api.{site or DEFAULT_SITE}"


def split_keys(secret: str) -> tuple[str, str]:
    """The API key and the application key from the connection's keyring secret ("API_KEY APPLICATION_KEY")."""
    parts = secret.split()
    if len(parts) != 2:
        raise AuthError("The keyring entry of a Datadog connection must hold the API key and the application key, "
                        f"separated by a space (found {len(parts)} part(s)).")
    return parts[0], parts[1]


class DatadogClient:
    """Queries one Datadog site with an API key and an application key; closed with :meth:`close` or ``with``."""

    def __init__(self, base_url: str, *, api_key: str, application_key: str, **http_options: Any) -> None:
        headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": application_key}
        self.http = PlatformHttp(base_url, platform=PLATFORM, headers=headers, secrets=[api_key, application_key],
                                 **http_options)

    @classmethod
    def for_connection(cls, connection: Connection, *, secret: str | None = None,
                       **http_options: Any) -> DatadogClient:
        """A client for a ``datadog`` connection, its keys read from the keyring (``secret``: keys typed but not
        saved yet, "API_KEY APPLICATION_KEY", used instead)."""
        from launchdesk import secrets
        from launchdesk.connections import secret_key

        secret = secret or secrets.get_secret(secret_key(connection))
        if not secret:
            raise AuthError(f"The keyring holds no Datadog keys for the connection '{connection.name}'. "
                            "Add the connection again with them.")
        api_key, application_key = split_keys(secret)
        base = connection.url or api_url(str((connection.options or {}).get("site", DEFAULT_SITE)))
        return cls(base, api_key=api_key, application_key=application_key, **http_options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DatadogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def validate(self) -> ConnectionCheck:
        """Both keys: ``GET /api/v1/validate`` for the API key alone (403 when Datadog refuses it), then
        ``GET /api/v2/validate_keys`` for the pair (401 or 403 when the application key is refused), so the
        message names the key that is wrong."""
        try:
            body = self.http.get_json("/api/v1/validate")
        except PlatformError as err:
            return ConnectionCheck(False, str(err), err)
        if not isinstance(body, dict) or body.get("valid") is not True:
            return ConnectionCheck(False, f"Datadog at {self.http.where} did not confirm the API key "
                                          "(no \"valid\": true in its answer). Is the site right?")
        try:
            both = self.http.get_json("/api/v2/validate_keys")
        except NotFound:
            return ConnectionCheck(True, f"Connected to Datadog at {self.http.where}; the API key is valid. This "
                                         "site cannot check the application key (no /api/v2/validate_keys): the "
                                         "first gate query will.")
        except AuthError as err:
            said = f" Datadog says: {err.server_message}" if err.server_message else ""
            return ConnectionCheck(False, f"Datadog at {self.http.where} takes the API key but refused the "
                                          f"application key ({err.status}). Check the application key and its "
                                          f"scopes.{said}", err)
        except PlatformError as err:
            return ConnectionCheck(False, str(err), err)
        if not isinstance(both, dict) or both.get("status") != "ok":
            return ConnectionCheck(False, f"Datadog at {self.http.where} did not confirm the application key "
                                          "(no \"status\": \"ok\" in its answer).")
        return ConnectionCheck(True, f"Connected to Datadog at {self.http.where}; the API key and the application "
                                     "key are valid.")

    def query(self, query: str, start: dt.datetime, end: dt.datetime) -> list[Series]:
        """The query's series between ``start`` and ``end`` (Datadog picks the rollup interval)."""
        params = {"from": str(int(start.timestamp())), "to": str(int(end.timestamp())), "query": query}
        try:
            body = self.http.get_json("/api/v1/query", params)
        except BadResponse as err:
            if err.status == 400 and err.server_message:  # a query Datadog cannot parse
                raise QueryError(f"Datadog could not run the query: {err.server_message}", status=400,
                                 server_message=err.server_message) from None
            raise
        return parse_series(body)

    def measure(
        self, query: str, *, window_s: int, now: dt.datetime, baseline_offset_s: int | None = None
    ) -> Measurement:
        """A gate's measurement: the newest point in the window before ``now`` (its time is the value's time),
        how many points the window holds, and the baseline: the newest point of the same window
        ``baseline_offset_s`` earlier, when asked for.
        """
        window = dt.timedelta(seconds=window_s)
        series = single_series(self.query(query, now - window, now), PLATFORM, query)
        points = series.usable() if series else []
        baseline = None
        if baseline_offset_s:
            then = now - dt.timedelta(seconds=baseline_offset_s)
            earlier = single_series(self.query(query, then - window, then), PLATFORM, query)
            earlier_points = earlier.usable() if earlier else []
            baseline = earlier_points[-1].value if earlier_points else None
        newest = points[-1] if points else None
        return Measurement(
            value=newest.value if newest else None,
            observed_at=newest.at if newest else None,
            sample_count=len(points),
            baseline=baseline,
        )


def check_connection(connection: Connection, *, secret: str | None = None, **http_options: Any) -> ConnectionCheck:
    """Validate the connection's API key and application key with Datadog: success, or exactly what failed."""
    from launchdesk.secrets import SecretsUnavailable

    http_options.setdefault("retries", 0)
    try:
        with DatadogClient.for_connection(connection, secret=secret, **http_options) as client:
            return client.validate()
    except PlatformError as err:
        return ConnectionCheck(False, str(err), err)
    except SecretsUnavailable as err:
        return ConnectionCheck(False, str(err))


def parse_series(body: Any) -> list[Series]:
    """The series of a documented ``/api/v1/query`` answer; null points are left out (Datadog's "no data")."""
    if not isinstance(body, dict):
        raise BadResponse("Datadog answered the query with something that is not a query result.")
    if body.get("status") == "error":
        message = str(body.get("error") or "no reason given")[:300]
        raise QueryError(f"Datadog could not run the query: {message}", server_message=message)
    raw = body.get("series")
    if not isinstance(raw, list):
        raise BadResponse("Datadog's query result has no series list.")
    try:
        return [_series(item) for item in raw]
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise BadResponse(f"Datadog sent a series this version cannot read ({err}).") from None


def _series(item: dict[str, Any]) -> Series:
    points = []
    for at_ms, value in item.get("pointlist") or []:
        if value is None:
            continue
        value = float(value)
        if not math.isnan(value):
            points.append(Point(from_epoch(float(at_ms) / 1000), value))
    points.sort(key=lambda p: p.at)
    tags = [t for t in item.get("tag_set") or [] if isinstance(t, str)]
    labels = dict(t.split(":", 1) if ":" in t else (t, "") for t in tags) or {"scope": str(item.get("scope", ""))}
    return Series(labels, points)
