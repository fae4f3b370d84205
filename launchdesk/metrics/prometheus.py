"""Prometheus as a metric source: instant and range queries over its HTTP API, and a gate's measurement from them.

A ``prometheus`` connection has the server's base URL (``https://prometheus.example:9090``, or the prefix a proxy
puts before ``/api/v1``). How it signs in is ``options["auth"]``: ``"none"``, ``"bearer"`` (the keyring holds the
token) or ``"basic"`` (``options["username"]``; the keyring holds the password). Without that option the keyring
decides: a secret there is sent as a bearer token (as a basic-auth password when ``options["username"]`` is set),
and no secret, or no keyring at all, means no sign-in.
Prometheus sends sample values as strings; "NaN", "+Inf" and "-Inf" become the float values they name.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

from launchdesk.flags.http import AuthError, BadResponse, ConnectionCheck, PlatformError, PlatformHttp
from launchdesk.metrics.series import Point, QueryError, Series, from_epoch, single_series
from launchdesk.planning.gates import Measurement

if TYPE_CHECKING:
    from launchdesk.models import Connection

PLATFORM = "Prometheus"
RANGE_STEPS = 60  # points per window in a range query: enough to count samples, far below Prometheus' cap
AUTH_KINDS = ("none", "bearer", "basic")


class PrometheusClient:
    """Queries one Prometheus server; one HTTP session, closed with :meth:`close` or ``with``."""

    def __init__(
        self,
        base_url: str,
        *,
        bearer_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        **http_options: Any,
    ) -> None:
        headers: dict[str, str] = {}
        secrets: list[str] = []
        if bearer_token:
            headers["Authorization"] = f"Bearer {bearer_token}"
            secrets.append(bearer_token)
        elif username is not None and password:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
            secrets += [password, pair]
        self.http = PlatformHttp(base_url, platform=PLATFORM, headers=headers, secrets=secrets, **http_options)

    @classmethod
    def for_connection(cls, connection: Connection, *, secret: str | None = None,
                       **http_options: Any) -> PrometheusClient:
        """A client for a ``prometheus`` connection, its token or password read from the keyring as needed
        (``secret``: one typed but not saved yet, used instead of the keyring's)."""
        from launchdesk import secrets
        from launchdesk.connections import secret_key

        options = connection.options or {}
        auth = options.get("auth")
        if auth is not None and auth not in AUTH_KINDS:
            raise AuthError(f"The connection '{connection.name}' has an unknown sign-in kind '{auth}' "
                            f"(use one of {', '.join(AUTH_KINDS)}).")
        if auth == "none":
            return cls(connection.url, **http_options)
        if auth is None:
            if not secret:
                try:
                    secret = secrets.get_secret(secret_key(connection))
                except secrets.SecretsUnavailable:
                    secret = None  # a server without sign-in needs no keyring
            auth = "none" if not secret else "basic" if "username" in options else "bearer"
        elif not secret:
            secret = secrets.get_secret(secret_key(connection))
            if not secret:
                what = "token" if auth == "bearer" else "password"
                raise AuthError(f"The keyring holds no {what} for the connection '{connection.name}'. "
                                "Add the connection again with it.")
        if auth == "none":
            return cls(connection.url, **http_options)
        if auth == "bearer":
            return cls(connection.url, bearer_token=secret, **http_options)
        return cls(connection.url, username=str(options.get("username", "")), password=secret, **http_options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, at: dt.datetime | None = None) -> list[Series]:
        """``/api/v1/query``: the query's value at ``at`` (default: the server's now), one point per series."""
        params = {"query": promql}
        if at is not None:
            params["time"] = _timestamp(at)
        return _series(self._get("/api/v1/query", params, promql))

    def query_range(self, promql: str, start: dt.datetime, end: dt.datetime, step_s: float) -> list[Series]:
        """``/api/v1/query_range``: the query evaluated every ``step_s`` seconds from ``start`` to ``end``."""
        params = {"query": promql, "start": _timestamp(start), "end": _timestamp(end), "step": f"{step_s:g}"}
        return _series(self._get("/api/v1/query_range", params, promql))

    def measure(
        self, query: str, *, window_s: int, now: dt.datetime, baseline_offset_s: int | None = None
    ) -> Measurement:
        """A gate's measurement: the value now, the usable points in the window before now, and the baseline
        (the same query ``baseline_offset_s`` earlier) when asked for.

        Raises a :class:`~launchdesk.flags.http.PlatformError` when Prometheus cannot be asked or refuses the query.
        """
        current = single_series(self.query(query, at=now), PLATFORM, query)
        step = max(1.0, window_s / RANGE_STEPS)
        history = single_series(
            self.query_range(query, now - dt.timedelta(seconds=window_s), now, step), PLATFORM, query
        )
        baseline = None
        if baseline_offset_s:
            earlier = single_series(self.query(query, at=now - dt.timedelta(seconds=baseline_offset_s)),
                                    PLATFORM, query)
            baseline = earlier.points[-1].value if earlier and earlier.points else None
        newest = current.points[-1] if current and current.points else None
        return Measurement(
            value=newest.value if newest else None,
            observed_at=newest.at if newest else None,
            sample_count=len(history.usable()) if history else 0,
            baseline=baseline,
        )

    def _get(self, path: str, params: dict[str, str], promql: str) -> Any:
        try:
            body = self.http.get_json(path, params)
        except BadResponse as err:
            # 400 bad_data and 422 execution errors: the query itself is wrong, and Prometheus says how.
            if err.status in (400, 422) and err.server_message:
                raise QueryError(f"Prometheus could not run the query: {err.server_message}", status=err.status,
                                 server_message=err.server_message) from None
            raise
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            message = body.get("error") if isinstance(body, dict) else None
            if isinstance(message, str) and message:
                raise QueryError(f"Prometheus could not run the query: {message[:300]}", server_message=message[:300])
            raise BadResponse(f"Prometheus at {self.http.where} answered {path} with something that is not "
                              "a query result.")
        return body["data"]


def check_connection(connection: Connection, *, secret: str | None = None, **http_options: Any) -> ConnectionCheck:
    """Reach the server, sign in as the connection says and run the cheapest query there is (``vector(1)``):
    success, or exactly what failed (refused, unknown host, TLS, 401/403, timeout, not a Prometheus API)."""
    from launchdesk.secrets import SecretsUnavailable

    http_options.setdefault("retries", 0)  # a test says what happens now; it does not wait out a restart
    try:
        with PrometheusClient.for_connection(connection, secret=secret, **http_options) as client:
            series = client.query("vector(1)")
    except PlatformError as err:
        return ConnectionCheck(False, str(err), err)
    except SecretsUnavailable as err:
        return ConnectionCheck(False, str(err))
    if len(series) != 1 or not series[0].points or series[0].points[-1].value != 1:
        return ConnectionCheck(False, f"Prometheus at {client.http.where} answered vector(1) with something "
                                      "other than 1. Is the URL the Prometheus API's address?")
    signed = " (signed in)" if "Authorization" in client.http._client.headers else ""
    return ConnectionCheck(True, f"Connected to Prometheus at {client.http.where}{signed}; a test query ran.")


def parse_value(text: Any) -> float:
    """A sample value as Prometheus sends it ("0.25", "NaN", "+Inf", "-Inf") as a float."""
    if not isinstance(text, str):
        raise ValueError(f"a sample value must be a string, not {type(text).__name__}")
    return float(text)


def _series(data: dict[str, Any]) -> list[Series]:
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar":
            return [Series({}, [_point(result)])]
        if kind == "vector":
            return [Series(dict(item.get("metric") or {}), [_point(item["value"])]) for item in result]
        if kind == "matrix":
            return [Series(dict(item.get("metric") or {}), [_point(p) for p in item["values"]]) for item in result]
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise BadResponse(f"Prometheus sent a {kind} result this version cannot read ({err}).") from None
    if kind == "string":
        raise QueryError("The Prometheus query gives a string, not a number.")
    raise BadResponse(f"Prometheus sent an unknown result type '{kind}'.")



def _point(pair: Any) -> Point:
    at, value = pair
    return Point(from_epoch(float(at)), parse_value(value))


def _timestamp(at: dt.datetime) -> str:
    return f"{at.timestamp():.3f}"
