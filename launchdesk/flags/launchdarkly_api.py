"""LaunchDarkly REST API client: check a connection, fetch a flag's configuration in one environment, normalized."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from launchdesk.flags.http import BadResponse, ConnectionCheck, NotFound, PlatformError, PlatformHttp

# The REST API's response shapes are versioned; this pins the one the normalization below was written for.
API_VERSION = "20240415"
WEIGHT_SCALE = 100_000  # rollout weights are thousandths of a percent
# How many levels of prerequisites (prerequisites of prerequisites ...) a sync follows; deeper ones are listed
# as not synced, and an answer that needs one is unpredictable.
MAX_PREREQUISITE_DEPTH = 10


class LaunchDarklyClient:
    """Reads flags through LaunchDarkly's REST API with an access token (`Authorization: <token>`)."""

    def __init__(self, token: str, base_url: str = "https://app.launchdarkly.com", **http_options: Any) -> None:
        self.http = PlatformHttp(
            base_url,
            platform="LaunchDarkly",
            headers={"Authorization": token, "LD-API-Version": API_VERSION},
            secrets=[token],
            **http_options,
        )
        # Segments read by this client, by (project, environment, key): a flag and its prerequisites often
        # name the same segments, and one sync reads each once.
        self._segments: dict[tuple[str, str, str], dict[str, Any]] = {}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LaunchDarklyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def test_connection(self, project: str, environment: str) -> ConnectionCheck:
        """Reach LaunchDarkly, prove the token and find the project's environment; say what went wrong if not."""
        try:
            self.http.get_json(f"/api/v2/projects/{_part(project)}/environments/{_part(environment)}")
        except NotFound as err:
            return ConnectionCheck(
                False, f"LaunchDarkly has no environment {environment!r} in project {project!r}.", err
            )
        except PlatformError as err:
            return ConnectionCheck(False, str(err), err)
        return ConnectionCheck(
            True, f"Connected to LaunchDarkly at {self.http.where}; project {project!r}, environment {environment!r}."
        )

    def get_flag(self, project: str, flag: str, environment: str) -> dict[str, Any]:
        """The flag's configuration in one environment, with the segments its rules name: see `flag_config`."""
        return self._config(project, self._flag_rep(project, flag, environment), environment)

    def get_prerequisites(
        self, project: str, config: dict[str, Any], environment: str, *, max_depth: int = MAX_PREREQUISITE_DEPTH
    ) -> dict[str, Any]:
        """The flags `config` names as prerequisites, theirs in turn and so on, for evaluating it as SDKs do.

        One level at a time, the flags of a level fetched concurrently (each with this client's timeouts and
        retries), every flag once, so prerequisites that go round in a circle end. Returns
        `prerequisiteFlags`: their configurations (see `flag_config`) in the order found;
        `missingPrerequisites`: keys LaunchDarkly has no flag for in the environment, or only an archived one,
        which SDKs never receive (so such a prerequisite is never met); `unsyncedPrerequisites`: keys deeper
        than `max_depth` levels, not fetched. Any other failure raises, as for the flag itself.
        """
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        seen = {config["key"]}
        level = _new_prerequisites(config, seen)
        for _ in range(max_depth):
            if not level:
                break
            fetched = self._fetch_all(lambda key: self._prerequisite(project, key, environment), level)
            level = []
            for key, prerequisite in fetched.items():
                if prerequisite is None:
                    missing.append(key)
                else:
                    found.append(prerequisite)
                    level += _new_prerequisites(prerequisite, seen)
        return {"prerequisiteFlags": found, "missingPrerequisites": missing, "unsyncedPrerequisites": level}

    def _prerequisite(self, project: str, key: str, environment: str) -> dict[str, Any] | None:
        """A prerequisite flag's configuration; None when SDKs would not have it (no such flag, or archived)."""
        try:
            rep = self._flag_rep(project, key, environment)
            archived = rep.get("archived") or _environment(rep, environment).get("archived")
        except NotFound:
            return None
        return None if archived else self._config(project, rep, environment)

    def _fetch_all(self, fetch: Callable[[str], Any], keys: list[str]) -> dict[str, Any]:
        """fetch(key) for each key, side by side; the first failure raises once all have finished."""
        if len(keys) <= 1:
            return {key: fetch(key) for key in keys}
        with ThreadPoolExecutor(max_workers=min(self.http.max_concurrency, len(keys))) as pool:
            futures = [pool.submit(fetch, key) for key in keys]
            return {key: future.result() for key, future in zip(keys, futures)}

    def _flag_rep(self, project: str, flag: str, environment: str) -> dict[str, Any]:
        try:
            rep = self.http.get_json(f"/api/v2/flags/{_part(project)}/{_part(flag)}", params={"env": environment})
        except NotFound as err:
            hint = f" LaunchDarkly says: {err.server_message}" if err.server_message else ""
            raise NotFound(f"LaunchDarkly has no flag {flag!r} in project {project!r}.{hint}", status=404) from None
        if not isinstance(rep, dict) or not isinstance(rep.get("environments"), dict):
            raise BadResponse(f"LaunchDarkly sent flag {flag!r} in a shape this version of LaunchDesk does not know.")
        return rep

    def _config(self, project: str, rep: dict[str, Any], environment: str) -> dict[str, Any]:
        keys = sorted(
            {
                key
                for rule in _environment(rep, environment).get("rules") or []
                for clause in rule.get("clauses") or []
                if clause.get("op") == "segmentMatch"
                for key in clause.get("values") or []
            }
        )
        return flag_config(rep, environment, self.get_segments(project, environment, keys))

    def get_segments(self, project: str, environment: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The segments with these keys as {key: segment in the SDK's shape}; those this client has not read yet
        are fetched concurrently."""
        base = f"/api/v2/segments/{_part(project)}/{_part(environment)}/"
        new = [k for k in keys if (project, environment, k) not in self._segments]
        answers = self.http.get_many([base + _part(k) for k in new])
        for key, answer in zip(new, answers):
            self._segments[project, environment, key] = _segment(answer)
        return {key: self._segments[project, environment, key] for key in keys}


def flag_config(rep: dict[str, Any], environment: str, segments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Turn a REST flag representation into the flag as LaunchDarkly's server SDKs receive it, for one environment.

    `variations` becomes the list of values (names travel in `variationNames`), rule ids lose their leading
    underscore, weighted variations say `untracked`, user targets get their place in `contextTargets`;
    disabled rules are left out, as SDKs never see them. The segments named by `segmentMatch` clauses travel along under `segments`.
    """
    env = _environment(rep, environment)
    return {
        "key": rep["key"],
        "name": rep.get("name", rep["key"]),
        "kind": rep.get("kind", ""),
        "environment": environment,
        "version": env.get("version", rep.get("_version")),
        "on": bool(env.get("on")),
        "salt": env.get("salt", ""),
        "variations": [v.get("value") for v in rep.get("variations") or []],
        "variationNames": [v.get("name") or "" for v in rep.get("variations") or []],
        "offVariation": env.get("offVariation"),
        "targets": [_target(t) for t in env.get("targets") or []],
        "contextTargets": _context_targets(env),
        "rules": [_rule(r) for r in env.get("rules") or [] if not r.get("disabled")],
        "fallthrough": _variation_or_rollout(env.get("fallthrough") or {}),
        "prerequisites": [{"key": p["key"], "variation": p["variation"]} for p in env.get("prerequisites") or []],
        "trackEvents": bool(env.get("trackEvents")),
        "trackEventsFallthrough": bool(env.get("trackEventsFallthrough")),
        "segments": segments,
    }


def rollout_percentage(config: dict[str, Any]) -> float | None:
    """The share of contexts served `true`, for plan-drift checks; None for a flag that is not boolean.

    Off serves the off variation to everyone. On, the largest share among the default rule (fallthrough) and
    the rules that roll out by percentage; a rule that serves one variation to matching contexts targets a
    list of people, not a share of everyone, so it does not count.
    """
    values = config["variations"]
    if len(values) != 2 or not all(isinstance(v, bool) for v in values) or values[0] == values[1]:
        return None
    if not config["on"]:
        off = config["offVariation"]
        return 100.0 if off is not None and values[off] is True else 0.0
    serves = [config["fallthrough"], *(r for r in config["rules"] if "rollout" in r)]
    shares = [s for s in (_true_share(serve, values) for serve in serves) if s is not None]
    return max(shares) if shares else None


def _true_share(serve: dict[str, Any], values: list[Any]) -> float | None:
    if "variation" in serve:
        return 100.0 if values[serve["variation"]] is True else 0.0
    if "rollout" in serve:
        weight = sum(w["weight"] for w in serve["rollout"]["variations"] if values[w["variation"]] is True)
        return weight * 100 / WEIGHT_SCALE
    return None


def _environment(rep: dict[str, Any], environment: str) -> dict[str, Any]:
    env = rep["environments"].get(environment)
    if not isinstance(env, dict):
        raise NotFound(f"Flag {rep.get('key')!r} has no environment {environment!r} in LaunchDarkly.", status=404)
    return env


def _target(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "contextKind": target.get("contextKind", "user"),
        "values": list(target.get("values") or []),
        "variation": target["variation"],
    }


def _context_targets(env: dict[str, Any]) -> list[dict[str, Any]]:
    """Context targets as SDKs need them: once any exist, user targets count only through a placeholder here.

    SDKs read `targets` (users) alone when `contextTargets` is empty; otherwise they walk `contextTargets`, where
    a user-kind entry with no values stands for the user targets of its variation. The REST examples leave the
    placeholders out, so any missing one is added, user targets first.
    """
    targets = [_target(t) for t in env.get("contextTargets") or []]
    if not targets:
        return []
    placed = {t["variation"] for t in targets if t["contextKind"] == "user"}
    placeholders = [
        {"contextKind": "user", "values": [], "variation": t["variation"]}
        for t in env.get("targets") or []
        if t["variation"] not in placed
    ]
    return placeholders + targets


def _clause(clause: dict[str, Any]) -> dict[str, Any]:
    return {
        "contextKind": clause.get("contextKind", "user"),
        "attribute": clause["attribute"],
        "op": clause["op"],
        "values": list(clause.get("values") or []),
        "negate": bool(clause.get("negate", False)),
    }


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rule.get("_id") or rule.get("id") or "",
        "description": rule.get("description") or "",
        "clauses": [_clause(c) for c in rule.get("clauses") or []],
        **_variation_or_rollout(rule),
        "trackEvents": bool(rule.get("trackEvents")),
    }


def _variation_or_rollout(serve: dict[str, Any]) -> dict[str, Any]:
    if serve.get("variation") is not None:
        return {"variation": serve["variation"]}
    rollout = serve.get("rollout")
    if not isinstance(rollout, dict):
        return {}
    normalized: dict[str, Any] = {
        "variations": [
            {"variation": w["variation"], "weight": w["weight"], "untracked": bool(w.get("_untracked", False))}
            for w in rollout.get("variations") or []
        ],
        "contextKind": rollout.get("contextKind", "user"),
    }
    for key in ("bucketBy", "seed"):
        if rollout.get(key) is not None:
            normalized[key] = rollout[key]
    return {"rollout": normalized}


def _segment(rep: Any) -> dict[str, Any]:
    if not isinstance(rep, dict) or "key" not in rep:
        raise BadResponse("LaunchDarkly sent a segment in a shape this version of LaunchDesk does not know.")
    return {
        "key": rep["key"],
        "name": rep.get("name", rep["key"]),
        "version": rep.get("version"),
        "salt": rep.get("salt", ""),
        # A Big Segment's members live outside the segment; it cannot be evaluated from this snapshot.
        "unbounded": bool(rep.get("unbounded", False)),
        "included": list(rep.get("included") or []),
        "excluded": list(rep.get("excluded") or []),
        "includedContexts": [_target_set(c) for c in rep.get("includedContexts") or []],
        "excludedContexts": [_target_set(c) for c in rep.get("excludedContexts") or []],
        "rules": [
            {
                "id": r.get("_id") or r.get("id") or "",
                "clauses": [_clause(c) for c in r.get("clauses") or []],
                **{k: r[k] for k in ("weight", "bucketBy", "rolloutContextKind") if r.get(k) is not None},
            }
            for r in rep.get("rules") or []
        ],
    }


def _new_prerequisites(config: dict[str, Any], seen: set[str]) -> list[str]:
    """The keys of `config`'s prerequisites not in `seen`, in order; they are added to it."""
    keys = []
    for prerequisite in config.get("prerequisites") or []:
        if prerequisite["key"] not in seen:
            seen.add(prerequisite["key"])
            keys.append(prerequisite["key"])
    return keys


def _target_set(entry: dict[str, Any]) -> dict[str, Any]:
    return {"contextKind": entry.get("contextKind", "user"), "values": list(entry.get("values") or [])}


def _part(name: str) -> str:
    return quote(name, safe="")
