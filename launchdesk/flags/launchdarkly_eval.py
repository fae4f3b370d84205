"""Exact local evaluation of LaunchDarkly flags for accounts, with the reason behind every answer.

Takes flags as the SDK's data model has them (`on`, `targets`, `rules`, `fallthrough`, `variations` as
plain values ...) or as the REST API v2 returns them (variations as objects, one `environments` entry).
Follows the server-side SDK's evaluator step by step: off -> prerequisites -> individual targets -> rules
-> fallthrough, rollouts bucketed by SHA-1 of "flagKey.salt.value" (or "seed.value"), experiments bucketed by
key. "Enabled" means the served variation's value is true (boolean flags) or truthy, unless the caller names
the variations that count as enabled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from launchdesk.flags.evaluation import Evaluation

_LONG_SCALE = float(0xFFFFFFFFFFFFFFF)
_EPOCH = datetime.fromtimestamp(0, timezone.utc)


class _Malformed(Exception):
    """The SDK would return an error (and the application's fallback value)."""


class _Unknowable(Exception):
    """The answer depends on data LaunchDesk does not have (a big segment's membership, an unsynced flag)."""

    def __init__(self, message: str, code: str = "unpredictable_big_segment") -> None:
        super().__init__(message)
        self.code = code


# --- contexts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Individual:
    kind: str
    key: str
    attributes: Mapping[str, Any]

    def get(self, name: str) -> Any:
        if name == "key":
            return self.key
        if name == "kind":
            return self.kind
        if name == "anonymous":
            return bool(self.attributes.get("anonymous", False))
        return self.attributes.get(name)


def _individuals(context: Mapping[str, Any]) -> dict[str, _Individual]:
    """A context dict (one kind or "multi") as kind -> individual context; _Malformed if the SDK rejects it."""
    if not isinstance(context, Mapping) or not isinstance(context.get("kind"), str):
        raise _Malformed('the context has no "kind"')
    if context["kind"] != "multi":
        return {context["kind"]: _individual(context["kind"], context)}
    parts = {k: v for k, v in context.items() if k != "kind"}
    if not parts or not all(isinstance(v, Mapping) for v in parts.values()):
        raise _Malformed("a multi-kind context needs one object per kind")
    return {kind: _individual(kind, props) for kind, props in parts.items()}


def _individual(kind: str, props: Mapping[str, Any]) -> _Individual:
    if kind in ("", "kind", "multi") or re.search("[^-a-zA-Z0-9._]", kind):
        raise _Malformed(f"{kind!r} is not a valid context kind")
    key = props.get("key")
    if not isinstance(key, str) or key == "":
        raise _Malformed("a context needs a non-empty string key")
    if props.get("name") is not None and not isinstance(props["name"], str):
        raise _Malformed("a context name must be a string")
    if "anonymous" in props and not isinstance(props["anonymous"], bool):
        raise _Malformed("anonymous must be true or false")
    return _Individual(kind, key, {a: b for a, b in props.items() if a not in ("kind", "key", "_meta")})


def _attribute_path(reference: str | None, context_kind: str | None) -> list[str] | None:
    """Attribute reference -> path components, as the SDK parses them (a "/a/b" path only with a kind)."""
    if reference is None or reference == "":
        raise _Malformed("empty attribute reference")
    if not context_kind or reference[0] != "/":
        return [reference]
    components = reference[1:].split("/")
    if reference == "/" or any(c == "" for c in components):
        raise _Malformed(f"invalid attribute reference {reference!r}")
    if any(re.search("(~[^01]|~$)", c) for c in components):
        raise _Malformed(f"invalid escape in attribute reference {reference!r}")
    return [c.replace("~1", "/").replace("~0", "~") for c in components]


def _attribute(individual: _Individual, path: list[str]) -> Any:
    value = individual.get(path[0])
    for component in path[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(component)
    return value


# --- clause operators (the SDK's, value for value) -----------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_time(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(re.sub("Z$", "+00:00", value, flags=re.IGNORECASE))
            return (parsed - _EPOCH).total_seconds() * 1000.0
        except (ValueError, TypeError):
            return None
    return None


def _parse_semver(value: Any):
    from semver import VersionInfo  # the SDK's own version parser, so the answers cannot drift apart

    if not isinstance(value, str):
        return None
    for candidate in (value, _pad_version(value), _pad_version(_pad_version(value))):
        try:
            return VersionInfo.parse(candidate)
        except (ValueError, TypeError):
            continue
    return None


def _pad_version(text: str) -> str:
    m = re.search("^([0-9.]*)(.*)", text)
    return text + ".0" if m is None else m.group(1) + ".0" + m.group(2)


def _preprocess(op: str, values: Sequence[Any]) -> list[Any] | None:
    if op == "matches":
        compiled = []
        for v in values:
            try:
                compiled.append(re.compile(v) if isinstance(v, str) else None)
            except re.error:
                compiled.append(None)
        return compiled
    if op in ("before", "after"):
        return [_parse_time(v) for v in values]
    if op in ("semVerEqual", "semVerLessThan", "semVerGreaterThan"):
        return [_parse_semver(v) for v in values]
    return None


def _op_matches(op: str, actual: Any, expected: Any, prepared: Any) -> bool:
    if op == "in":
        return isinstance(actual, bool) == isinstance(expected, bool) and actual == expected
    if op in ("startsWith", "endsWith", "contains"):
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        return actual.startswith(expected) if op == "startsWith" else actual.endswith(expected) if op == "endsWith" else expected in actual
    if op == "matches":
        return prepared is not None and isinstance(actual, str) and prepared.search(actual) is not None
    if op in ("lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"):
        if not (_is_number(actual) and _is_number(expected)):
            return False
        a, b = float(actual), float(expected)
        return {"lessThan": a < b, "lessThanOrEqual": a <= b, "greaterThan": a > b, "greaterThanOrEqual": a >= b}[op]
    if op in ("before", "after"):
        moment = _parse_time(actual)
        if prepared is None or moment is None:
            return False
        return moment < prepared if op == "before" else moment > prepared
    if op in ("semVerEqual", "semVerLessThan", "semVerGreaterThan"):
        version = _parse_semver(actual)
        if prepared is None or version is None:
            return False
        order = version.compare(prepared)
        return order == 0 if op == "semVerEqual" else order < 0 if op == "semVerLessThan" else order > 0
    return False  # unknown operators never match (negate still applies)


# --- flags ---------------------------------------------------------------------------------------------


def normalize_flag(flag: Mapping[str, Any], environment: str | None = None) -> dict[str, Any]:
    """The SDK data model of a flag, from either that model or a REST API v2 flag with `environments`."""
    if "environments" not in flag:
        return dict(flag)
    environments = flag["environments"]
    if environment is None:
        if len(environments) != 1:
            raise ValueError("this REST flag has several environments: say which one")
        environment = next(iter(environments))
    config = environments[environment]
    variations = [v.get("value") if isinstance(v, Mapping) else v for v in flag.get("variations") or []]
    return {
        "key": flag.get("key"),
        "on": config.get("on", False),
        "salt": config.get("salt") or config.get("_salt") or "",
        "variations": variations,
        "offVariation": config.get("offVariation"),
        "fallthrough": config.get("fallthrough") or {},
        "targets": config.get("targets") or [],
        "contextTargets": config.get("contextTargets") or [],
        "rules": config.get("rules") or [],
        "prerequisites": config.get("prerequisites") or [],
    }


@dataclass
class _Outcome:
    variation: int | None
    code: str
    why: str
    prerequisite: str | None = None  # the prerequisite that failed, for prerequisite_failed


class LaunchDarklySnapshot:
    """The flags (and segments) of one LaunchDarkly environment as a sync saw them, ready to evaluate."""

    def __init__(
        self,
        flags: Iterable[Mapping[str, Any]],
        segments: Iterable[Mapping[str, Any]] = (),
        *,
        environment: str | None = None,
        fallback_value: Any = False,
        unsynced: Iterable[str] = (),
    ) -> None:
        """`fallback_value` is what the application passes as the SDK's default (served on errors).

        `unsynced` names flags that may exist but are not in `flags` (prerequisites deeper than a sync follows,
        or a snapshot from before prerequisites were synced): an answer that needs one is unpredictable, where a
        flag absent from LaunchDarkly fails as a prerequisite.
        """
        self.flags = {f["key"]: f for f in (normalize_flag(flag, environment) for flag in flags)}
        self.unsynced = set(unsynced) - set(self.flags)
        self.segments = {s["key"]: s for s in segments}
        self.environment = environment
        self.fallback_value = fallback_value
        self._prepared: dict[int, list[Any] | None] = {}
        self._segment_stack: list[str] = []

    def explain(
        self, flag_key: str, context: Mapping[str, Any], *, enabled_variations: set[int] | None = None
    ) -> Evaluation:
        """The answer for one account: the served variation, whether that means enabled, and why."""
        flag = self.flags.get(flag_key)
        if flag is None:
            return self._answer(None, None, "unknown_flag", "the flag is not in this snapshot", enabled_variations)
        try:
            individuals = _individuals(context)
        except _Malformed as exc:
            return self._answer(flag, None, "invalid_context", f"the SDK rejects the context ({exc})", enabled_variations)
        try:
            outcome = self._evaluate(flag, individuals, [flag_key])
        except _Unknowable as exc:
            return Evaluation(None, exc.code, f"unpredictable: {exc}")
        except _Malformed as exc:
            return self._answer(flag, None, "malformed_flag", f"the SDK reports an error ({exc})", enabled_variations)
        answer = self._answer(flag, outcome.variation, outcome.code, outcome.why, enabled_variations)
        if outcome.prerequisite is not None and answer.code == "prerequisite_failed":
            answer = replace(answer, prerequisite_key=outcome.prerequisite)
        return answer

    def is_enabled(self, flag_key: str, context: Mapping[str, Any], **kwargs: Any) -> bool | None:
        return self.explain(flag_key, context, **kwargs).enabled

    def evaluate_many(self, flag_key: str, contexts: Iterable[Mapping[str, Any]], **kwargs: Any) -> list[bool | None]:
        return [self.explain(flag_key, c, **kwargs).enabled for c in contexts]

    def _answer(self, flag, variation, code, why, enabled_variations) -> Evaluation:
        variations = (flag or {}).get("variations") or []
        if variation is None or not 0 <= variation < len(variations):
            if variation is not None:
                code, why = "malformed_flag", f"{why}, but variation {variation} does not exist"
            value = self.fallback_value
            enabled = bool(value)
            served = f"the application's fallback value ({value!r}) is served"
            return Evaluation(enabled, code, f"{'enabled' if enabled else 'not enabled'}: {why}; {served}", None, value)
        value = variations[variation]
        if enabled_variations is not None:
            enabled = variation in enabled_variations
        elif all(isinstance(v, bool) for v in variations):
            enabled = value is True
        else:
            enabled = bool(value)
        served = f"serves {'its off ' if code == 'prerequisite_failed' else ''}variation {variation} ({value!r})"
        return Evaluation(enabled, code, f"{'enabled' if enabled else 'not enabled'}: {why}, {served}", variation, value)

    def _evaluate(self, flag: Mapping[str, Any], individuals: dict[str, _Individual], stack: list[str]) -> _Outcome:
        if not flag.get("on"):
            return _Outcome(flag.get("offVariation"), "flag_off", f"flag is off{self._where()}")
        failed = self._prerequisites(flag, individuals, stack)
        if failed is not None:
            return failed
        target = self._targets(flag, individuals)
        if target is not None:
            return target
        for index, rule in enumerate(flag.get("rules") or []):
            if all(self._clause(clause, individuals) for clause in rule.get("clauses") or []):
                clauses = " and ".join(_describe_clause(c) for c in rule.get("clauses") or []) or "no clauses"
                return self._serve(flag, rule, individuals, "rule_match", f"rule {index + 1} matched ({clauses})")
        return self._serve(flag, flag.get("fallthrough") or {}, individuals, "fallthrough", "no target or rule matched")

    def _prerequisites(
        self, flag: Mapping[str, Any], individuals: dict[str, _Individual], stack: list[str]
    ) -> _Outcome | None:
        """The first prerequisite that is not met, as the flag's answer (its off variation); None if all are.

        As the SDK: in order, each prerequisite flag is evaluated for the same context; it is met when that flag
        is on and serves the required variation index. A flag that is missing (deleted, archived) is not met; a
        chain that comes back to a flag on it is an error.
        """
        for prerequisite in flag.get("prerequisites") or []:
            key = prerequisite.get("key")
            required = prerequisite.get("variation")
            if key in stack:
                raise _Malformed(f"prerequisites go round in a circle: {' -> '.join([*stack, key])}")
            parent = self.flags.get(key)
            if parent is None:
                if key in self.unsynced:
                    raise _Unknowable(
                        f"prerequisite {key} was not synced with the flag, so whether it is met is not known",
                        "unpredictable_prerequisite",
                    )
                failure = "LaunchDarkly has no such flag: deleted or archived"
            else:
                result = self._evaluate(parent, individuals, stack + [key])
                variations = parent.get("variations") or []
                # A variation that does not exist is an error for the SDK: no variation at all.
                served = result.variation
                if served is not None and not 0 <= served < len(variations):
                    served = None
                if served == required and parent.get("on"):
                    continue
                because = (f"its own prerequisite {result.prerequisite} failed"
                           if result.code == "prerequisite_failed" else result.why)
                wanted = f"variation {required}{_value_of(variations, required)} is required"
                if not parent.get("on"):
                    failure = f"it is off{self._where()}"
                    if served == required:
                        failure += ", and a prerequisite that is off is never met, whatever it serves"
                elif served is None:
                    failure = f"it serves no variation where {wanted}, because {because}"
                else:
                    failure = (f"it serves variation {served}{_value_of(variations, served)} where {wanted}, "
                               f"because {because}")
            why = f"prerequisite {key} failed ({failure})"
            return _Outcome(flag.get("offVariation"), "prerequisite_failed", why, key)
        return None

    def _where(self) -> str:
        return f" in {self.environment}" if self.environment else ""

    def _targets(self, flag: Mapping[str, Any], individuals: dict[str, _Individual]) -> _Outcome | None:
        user_targets = flag.get("targets") or []
        context_targets = flag.get("contextTargets") or []
        user = individuals.get("user")

        def hit(variation: int, kind: str, key: str) -> _Outcome:
            return _Outcome(variation, "target_match", f"{kind} {key} is individually targeted")

        if not context_targets:
            if user is not None:
                for target in user_targets:
                    if user.key in (target.get("values") or []):
                        return hit(target.get("variation"), "user", user.key)
            return None
        for target in context_targets:
            kind = target.get("contextKind") or "user"
            individual = individuals.get(kind)
            if individual is None:
                continue
            variation = target.get("variation")
            if kind == "user":
                # For users, contextTargets only orders the old-style `targets` lists.
                for user_target in user_targets:
                    if user_target.get("variation") == variation:
                        if individual.key in (user_target.get("values") or []):
                            return hit(variation, kind, individual.key)
                        break
                continue
            if individual.key in (target.get("values") or []):
                return hit(variation, kind, individual.key)
        return None

    def _serve(self, flag, rule_or_fallthrough, individuals, code: str, why: str) -> _Outcome:
        if rule_or_fallthrough.get("variation") is not None:
            return _Outcome(rule_or_fallthrough["variation"], code, why)
        rollout = rule_or_fallthrough.get("rollout")
        if not rollout or not rollout.get("variations"):
            # The SDK answers with an error here instead of failing: as a prerequisite, such a flag is not met.
            why = "the SDK reports an error (a rule or the fallthrough has neither a variation nor a rollout)"
            return _Outcome(None, "malformed_flag", why)
        experiment = rollout.get("kind") == "experiment"
        bucket = self._bucket(flag, rollout, individuals, experiment)
        total = 0.0
        chosen = rollout["variations"][-1]["variation"]
        for weighted in rollout["variations"]:
            total += weighted["weight"] / 100000.0
            if bucket < total:
                chosen = weighted["variation"]
                break
        shown = "no bucket (context kind missing)" if bucket < 0 else f"bucket {bucket * 100:.3f}%"
        label = "experiment" if experiment else "rollout"
        return _Outcome(chosen, code, f"{why}, {label} {shown} -> variation {chosen}")

    def _bucket(self, flag, rollout, individuals, experiment: bool) -> float:
        kind = rollout.get("contextKind") or "user"
        individual = individuals.get(kind)
        if individual is None:
            return -1.0
        bucket_by = None if experiment else rollout.get("bucketBy") or None
        if bucket_by is None:
            value: Any = individual.key
        else:
            value = _attribute(individual, _attribute_path(bucket_by, rollout.get("contextKind")))
        if value is None or isinstance(value, bool) or not isinstance(value, (str, int)):
            return 0.0
        prefix = str(rollout["seed"]) if rollout.get("seed") is not None else f"{flag.get('key')}.{flag.get('salt', '')}"
        digest = hashlib.sha1(f"{prefix}.{value}".encode()).hexdigest()[:15]
        return int(digest, 16) / _LONG_SCALE

    def _clause(self, clause: Mapping[str, Any], individuals: dict[str, _Individual]) -> bool:
        op = clause.get("op")
        negate = bool(clause.get("negate"))
        values = clause.get("values") or []
        if op == "segmentMatch":
            matched = any(self._segment(self.segments.get(key), individuals) for key in values)
            return matched != negate
        attribute = clause.get("attribute")
        if attribute is None:
            return False
        try:
            path: list[str] | None = _attribute_path(attribute, clause.get("contextKind"))
        except _Malformed:
            path = None  # the SDK only fails once it reads the attribute, after checking the kind
        prepared = self._prepared_values(clause, op, values)
        if path == ["kind"]:
            matched = any(_any_value(op, individual.kind, values, prepared) for individual in individuals.values())
            return matched != negate
        individual = individuals.get(clause.get("contextKind") or "user")
        if individual is None:
            return False
        if path is None:
            raise _Malformed(f"invalid attribute reference {attribute!r}")
        actual = _attribute(individual, path)
        if actual is None:
            return False
        if isinstance(actual, (list, tuple)):
            matched = any(_any_value(op, item, values, prepared) for item in actual)
        else:
            matched = _any_value(op, actual, values, prepared)
        return matched != negate

    def _prepared_values(self, clause, op, values) -> list[Any] | None:
        if id(clause) not in self._prepared:
            self._prepared[id(clause)] = _preprocess(op, values)
        return self._prepared[id(clause)]

    def _segment(self, segment: Mapping[str, Any] | None, individuals: dict[str, _Individual]) -> bool:
        if segment is None:
            return False
        key = segment.get("key")
        if key in self._segment_stack:
            raise _Malformed(f"segment {key} refers to itself")
        self._segment_stack.append(key)
        try:
            return self._segment_matches(segment, individuals)
        finally:
            self._segment_stack.pop()

    def _segment_matches(self, segment: Mapping[str, Any], individuals: dict[str, _Individual]) -> bool:
        if segment.get("unbounded"):
            raise _Unknowable(f"segment {segment.get('key')} is a big segment; its members are not synced")
        user = individuals.get("user")
        if user is not None and user.key in (segment.get("included") or []):
            return True
        for target in segment.get("includedContexts") or []:
            individual = individuals.get(target.get("contextKind") or "user")
            if individual is not None and individual.key in (target.get("values") or []):
                return True
        if user is not None and user.key in (segment.get("excluded") or []):
            return False
        for target in segment.get("excludedContexts") or []:
            individual = individuals.get(target.get("contextKind") or "user")
            if individual is not None and individual.key in (target.get("values") or []):
                return False
        for rule in segment.get("rules") or []:
            if not all(self._clause(clause, individuals) for clause in rule.get("clauses") or []):
                continue
            if rule.get("weight") is None:
                return True
            rollout = {"contextKind": rule.get("rolloutContextKind"), "bucketBy": rule.get("bucketBy")}
            pseudo_flag = {"key": segment.get("key"), "salt": segment.get("salt", "")}
            if self._bucket(pseudo_flag, rollout, individuals, False) < rule["weight"] / 100000.0:
                return True
        return False


def _any_value(op: str, actual: Any, values: Sequence[Any], prepared: list[Any] | None) -> bool:
    return any(_op_matches(op, actual, v, None if prepared is None else prepared[i]) for i, v in enumerate(values))


def _value_of(variations: Sequence[Any], index: Any) -> str:
    """" (value)" for an existing variation index, "" otherwise."""
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(variations):
        return f" ({variations[index]!r})"
    return ""


def _describe_clause(clause: Mapping[str, Any]) -> str:
    values = ", ".join(str(v) for v in clause.get("values") or [])
    negate = "not " if clause.get("negate") else ""
    return f"{clause.get('attribute')} {negate}{clause.get('op')} [{values}]"
