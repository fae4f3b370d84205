"""Unleash Admin API client: check a connection, fetch a flag with its segments, and normalize it for the evaluator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from launchdesk.flags.http import BadResponse, ConnectionCheck, NotFound, PlatformError, PlatformHttp

# Strategies whose share of the audience is a percentage parameter, and the parameter's name.
PERCENTAGE_PARAMETERS = {
    "flexibleRollout": "rollout",
    "gradualRolloutRandom": "percentage",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
}


class UnleashAdminClient:
    """Reads flags through Unleash's Admin API with an admin or personal access token (`Authorization: <token>`)."""

    def __init__(self, base_url: str, token: str, **http_options: Any) -> None:
        base_url = base_url.rstrip("/")
        # People often paste the SDK URL, which ends in /api; the Admin API lives under the same root.
        if base_url.endswith("/api"):
            base_url = base_url[: -len("/api")]
        self.http = PlatformHttp(
            base_url, platform="Unleash", headers={"Authorization": token}, secrets=[token], **http_options
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> UnleashAdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def test_connection(self, project: str) -> ConnectionCheck:
        """Reach the server, prove the token and find the project; report exactly what went wrong if not."""
        try:
            self.http.get_json(f"/api/admin/projects/{_part(project)}/overview")
        except NotFound as err:
            return ConnectionCheck(False, f"Unleash at {self.http.where} has no project {project!r}.", err)
        except PlatformError as err:
            return ConnectionCheck(False, str(err), err)
        return ConnectionCheck(True, f"Connected to Unleash at {self.http.where}; project {project!r} found.")

    def get_feature(self, project: str, flag: str) -> dict[str, Any]:
        """The flag as the Admin API has it: every environment with its enabled state and strategies."""
        try:
            feature = self.http.get_json(f"/api/admin/projects/{_part(project)}/features/{_part(flag)}")
        except NotFound as err:
            hint = f" Unleash says: {err.server_message}" if err.server_message else ""
            raise NotFound(f"Unleash has no flag {flag!r} in project {project!r}.{hint}", status=404) from None
        if not isinstance(feature, dict) or not isinstance(feature.get("environments"), list):
            raise _bad_shape(self.http, f"flag {flag!r}")
        return feature

    def get_segments(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """The segments with these ids, fetched concurrently, as {id: {"id", "name", "constraints"}}."""
        unique = sorted(set(ids))
        answers = self.http.get_many([f"/api/admin/segments/{int(i)}" for i in unique])
        segments = {}
        for segment_id, segment in zip(unique, answers):
            if not isinstance(segment, dict):
                raise _bad_shape(self.http, f"segment {segment_id}")
            segments[segment_id] = {
                "id": segment_id,
                "name": segment.get("name", ""),
                "constraints": [_constraint(c) for c in segment.get("constraints") or []],
            }
        return segments

    def fetch_definition(self, project: str, flag: str, environment: str) -> dict[str, Any]:
        """The flag's definition in one environment, segments resolved: see `definition_for_environment`."""
        feature = self.get_feature(project, flag)
        env = _environment(feature, environment)
        segment_ids = [i for s in env.get("strategies") or [] if not s.get("disabled") for i in s.get("segments") or []]
        return definition_for_environment(feature, environment, self.get_segments(segment_ids))


def definition_for_environment(
    feature: dict[str, Any], environment: str, segments: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """Turn an Admin API feature into the shape of Unleash's client API feature for one environment.

    Like the client API, disabled strategies are left out (SDKs never see them) and strategies come in their
    sort order; constraints carry every field with its default. Unlike the client API, the segments a
    strategy names travel along, keyed by the segment id as a string (a snapshot is stored as JSON, whose
    object keys are strings, so the definition reads back exactly as it was written).
    """
    env = _environment(feature, environment)
    strategies = sorted(
        (s for s in env.get("strategies") or [] if not s.get("disabled")),
        key=lambda s: s.get("sortOrder") or 0,
    )
    used = {i for s in strategies for i in s.get("segments") or []}
    return {
        "name": feature["name"],
        "project": feature.get("project", ""),
        "type": feature.get("type", ""),
        "environment": environment,
        "enabled": bool(env.get("enabled")),
        "stale": bool(feature.get("stale")),
        "impressionData": bool(feature.get("impressionData")),
        "strategies": [_strategy(s) for s in strategies],
        "variants": list(env.get("variants") or []),
        "dependencies": [
            {"feature": d["feature"], "enabled": d.get("enabled", True), "variants": list(d.get("variants") or [])}
            for d in feature.get("dependencies") or []
        ],
        "segments": {str(i): segments[i] for i in sorted(used) if i in segments},
    }


def rollout_percentage(definition: dict[str, Any]) -> float | None:
    """The share of the audience the flag is rolled out to, for plan-drift checks; None if no strategy says.

    Off is 0; on with no strategy is 100. Otherwise the largest percentage among the rollout strategies and
    the unconstrained standard strategies (100). A standard strategy with constraints or segments targets a
    list of people (internal users, design partners), not a share of everyone, so it does not count; a flag
    made only of those has no percentage.
    """
    if not definition["enabled"]:
        return 0.0
    strategies = definition["strategies"]
    if not strategies:
        return 100.0
    found: list[float] = []
    for strategy in strategies:
        if strategy["name"] == "default" and not strategy["constraints"] and not strategy["segments"]:
            found.append(100.0)
        elif strategy["name"] in PERCENTAGE_PARAMETERS:
            try:
                found.append(float(strategy["parameters"].get(PERCENTAGE_PARAMETERS[strategy["name"]], 0)))
            except (TypeError, ValueError):
                continue
    return max(found) if found else None


def _environment(feature: dict[str, Any], environment: str) -> dict[str, Any]:
    for env in feature["environments"]:
        if env.get("name") == environment:
            return env
    known = ", ".join(repr(e.get("name")) for e in feature["environments"]) or "none"
    raise NotFound(f"Flag {feature.get('name')!r} has no environment {environment!r} (it has {known}).", status=404)


def _strategy(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": strategy.get("id"),
        "name": strategy["name"],
        "title": strategy.get("title") or "",
        "parameters": dict(strategy.get("parameters") or {}),
        "constraints": [_constraint(c) for c in strategy.get("constraints") or []],
        "segments": [int(i) for i in strategy.get("segments") or []],
        "variants": list(strategy.get("variants") or []),
        "disabled": False,
    }


def _constraint(constraint: dict[str, Any]) -> dict[str, Any]:
    normalized = {
        "contextName": constraint["contextName"],
        "operator": constraint["operator"],
        "values": list(constraint.get("values") or []),
        "inverted": bool(constraint.get("inverted", False)),
        "caseInsensitive": bool(constraint.get("caseInsensitive", False)),
    }
    # Single-value operators (NUM_*, DATE_*, SEMVER_*) carry `value` instead of `values`.
    if constraint.get("value") is not None:
        normalized["value"] = constraint["value"]
    return normalized


def _part(name: str) -> str:
    return quote(name, safe="")


def _bad_shape(http: PlatformHttp, what: str) -> PlatformError:
    return BadResponse(f"Unleash at {http.where} sent {what} in a shape this version of LaunchDesk does not know.")
