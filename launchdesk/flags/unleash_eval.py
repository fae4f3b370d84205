"""Exact local evaluation of Unleash flags for many accounts, with the reason behind every answer.

Feed it the features (and segments) a sync fetched; it compiles each flag once into plain predicates and
answers the way the Unleash SDKs' engine (Yggdrasil) does, quirks included: a constraint value the engine's
grammar cannot read switches the whole flag off, NUM_EQ "1.2.3" compares versions, IN ignores
caseInsensitive, a known context field falls back to a property of the same name, and so on.

Two paths share the compiled predicates:
- `evaluate_columns()` answers a million accounts given as columns (one list per context field): each
  constraint runs once per distinct value, the MurmurHash bucket is computed only for accounts that pass.
- `explain()` answers one account with the sentence a support person reads.
An answer is None ("unpredictable") where the SDK decides at random or by something LaunchDesk cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import repeat
from operator import and_
from typing import Any

import mmh3

from launchdesk.flags.evaluation import Evaluation, kleene_and, kleene_or
from launchdesk.flags.unleash_values import (
    CompileError,
    RegexInvalid,
    RegexUnsupported,
    compile_rust_regex,
    grammar_string,
    parse_chrono_datetime,
    parse_network,
    parse_rust_float,
    parse_rust_ip,
    parse_rust_semver,
    typed_value,
)

# Context fields the SDK passes at the top level; any other name is a custom property. A top-level field
# that is absent is looked up among the properties, as the engine does.
KNOWN_FIELDS = ("userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime")
RANDOM = "random"  # the stickiness "field" that stands for the SDK's random number
_VARIANT_SEED = 86028157  # the engine's seed for variant hashing
_ORDINAL_SYMBOLS = {
    "NUM_EQ": "==", "NUM_GT": ">", "NUM_GTE": ">=", "NUM_LT": "<", "NUM_LTE": "<=",
    "DATE_AFTER": ">", "DATE_BEFORE": "<",
    "SEMVER_EQ": "==", "SEMVER_GT": ">", "SEMVER_GTE": ">=", "SEMVER_LT": "<", "SEMVER_LTE": "<=",
}  # fmt: skip
_STRING_OPERATORS = {"STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH"}

Tri = bool | None  # True, False, or None for "cannot be known"


def _as_text(value: Any) -> str:
    # The Python SDK turns every context value into text this way before the engine sees it.
    return value.isoformat() if isinstance(value, datetime) else str(value)


def flatten_context(
    context: Mapping[str, Any] | None,
    static_context: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
) -> dict[str, str]:
    """One flat name -> text mapping, resolved the way the SDK and its engine resolve a context.

    Unknown top-level keys are properties (explicit `properties` win); a known field at the top level wins
    over a property of the same name; None means absent; currentTime defaults to `now`.
    """
    merged: dict[str, Any] = dict(static_context or {})
    merged.update(context or {})
    properties = {k: v for k, v in merged.items() if k not in KNOWN_FIELDS and k != "properties"}
    properties.update(merged.get("properties") or {})
    flat = {k: _as_text(v) for k, v in properties.items() if v is not None}
    for name in KNOWN_FIELDS:
        if merged.get(name) is not None:
            flat[name] = _as_text(merged[name])
    if merged.get("currentTime") is None:
        flat["currentTime"] = _as_text(now if now is not None else datetime.now(timezone.utc))
    return flat


# --- constraints ---------------------------------------------------------------------------------------


@dataclass
class Constraint:
    """One compiled constraint: `test(value)` answers for a context value (None when absent)."""

    field: str
    text: str
    test: Callable[[str | None], Tri]
    note: str = ""  # why the constraint is constant or unknowable, for the reason text

    def why_not(self, value: str | None) -> str:
        shown = f"{self.field} = {value}" if value is not None else f"{self.field} is missing"
        return f"constraint {self.text} did not match ({shown}){self.note}"


def _constant(result: Tri) -> Callable[[str | None], Tri]:
    return lambda _value: result


def _compile_constraint(raw: Mapping[str, Any]) -> Constraint:
    field_name = raw.get("contextName") or ""
    if field_name not in KNOWN_FIELDS:
        grammar_string(field_name, quotes_escaped=False)
    op = raw.get("operator") or ""
    inverted = bool(raw.get("inverted"))
    ignore_case = bool(raw.get("caseInsensitive"))
    values = [str(v) for v in (raw.get("values") or [])]
    single = raw.get("value")
    shown_values = "[" + ", ".join(values) + "]"
    shown = shown_values if op in ("IN", "NOT_IN", "IN_CIDR") or op in _STRING_OPERATORS else str(single)
    text = ("NOT " if inverted else "") + f"{field_name} {op} {shown}"

    def inv(test: Callable[[str | None], bool]) -> Callable[[str | None], bool]:
        return (lambda v: not test(v)) if inverted else test

    if op in ("IN", "NOT_IN"):
        allowed = frozenset(grammar_string(v, quotes_escaped=True) for v in values)
        if not allowed:
            # The engine's empty list ignores the context entirely.
            return Constraint(field_name, text, _constant((op == "NOT_IN") != inverted))
        if op == "IN":
            return Constraint(field_name, text, inv(lambda v: v is not None and v in allowed))
        return Constraint(field_name, text, inv(lambda v: v is None or v not in allowed))

    if op in _STRING_OPERATORS:
        if ignore_case:
            text += " (ignoring case)"
        if not values:
            raise CompileError(f"{op} on {field_name} has no values")
        needles = tuple(grammar_string(v, quotes_escaped=True) for v in values)
        if ignore_case:
            needles = tuple(n.lower() for n in needles)
        check: Callable[[str], bool]
        if op == "STR_CONTAINS":
            check = lambda v: any(n in v for n in needles)  # noqa: E731
        elif op == "STR_STARTS_WITH":
            check = lambda v: v.startswith(needles)  # noqa: E731
        else:
            check = lambda v: v.endswith(needles)  # noqa: E731
        if ignore_case:
            return Constraint(field_name, text, inv(lambda v: v is not None and check(v.lower())))
        return Constraint(field_name, text, inv(lambda v: v is not None and check(v)))

    if op in _ORDINAL_SYMBOLS:
        if single is None:
            raise CompileError(f"{op} on {field_name} has no value")
        single = str(single)
        if op.startswith("SEMVER") and single.startswith("v"):
            return Constraint(field_name, text, _constant(False), " — a version starting with 'v' never matches")
        kind, target = typed_value(single)
        return Constraint(field_name, text, inv(_ordinal_test(kind, target, _ORDINAL_SYMBOLS[op])))

    if op == "REGEX":
        if ignore_case:
            text += " (ignoring case)"
        try:
            pattern = compile_rust_regex("" if single is None else str(single), case_insensitive=ignore_case)
        except RegexInvalid as exc:
            return Constraint(field_name, text, _constant(inverted), f" — the pattern is not a valid regex ({exc})")
        except RegexUnsupported as exc:
            return Constraint(field_name, text, _constant(None), f" — LaunchDesk cannot evaluate {exc} exactly")
        search = pattern.search
        return Constraint(field_name, text, inv(lambda v: v is not None and search(v) is not None))

    if op == "IN_CIDR":
        if not values:
            raise CompileError(f"IN_CIDR on {field_name} has no values")
        networks = [n for n in map(parse_network, values) if n is not None]

        def in_networks(v: str | None) -> bool:
            address = None if v is None else parse_rust_ip(v)
            return address is not None and any(n.contains(address) for n in networks)

        return Constraint(field_name, text, inv(in_networks))

    raise CompileError(f"unknown operator {op!r} on {field_name}")


_F64_EPSILON = 2.220446049250313e-16  # NUM_EQ is |a - b| < f64::EPSILON in the engine
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _ordinal_test(kind: str, target: Any, symbol: str) -> Callable[[str | None], bool]:
    parse: Callable[[str], Any] = {
        "number": parse_rust_float,
        "date": parse_chrono_datetime,
        "semver": lambda v: None if (version := parse_rust_semver(v)) is None else version.key(),
    }[kind]
    if kind == "semver":
        target = target.key()
    compare = _COMPARE[symbol]
    if kind == "number" and symbol == "==":
        compare = lambda a, b: abs(a - b) < _F64_EPSILON  # noqa: E731

    def test(value: str | None) -> bool:
        parsed = None if value is None else parse(value)
        return parsed is not None and compare(parsed, target)

    return test


# --- strategies ----------------------------------------------------------------------------------------


class _Columns:
    """Account data as columns: name -> one value per account (None = absent)."""

    def __init__(self, columns: Mapping[str, Sequence[str | None]], count: int, now_text: str) -> None:
        self.columns = columns
        self.count = count
        self.now_text = now_text
        self._cache: dict[tuple[str, ...], Sequence[str | None] | None] = {}

    def get(self, name: str) -> Sequence[str | None] | None:
        """The column, or None when every account lacks the field."""
        column = self.columns.get(name)
        if column is None and name == "currentTime":
            return _Repeat(self.now_text, self.count)
        return column

    def coalesce(self, names: tuple[str, ...]) -> Sequence[str | None] | None:
        if names not in self._cache:
            present = [c for c in (self.get(n) for n in names) if c is not None]
            if not present:
                self._cache[names] = None
            elif len(present) == 1:
                self._cache[names] = present[0]
            else:
                merged = list(present[0])
                for column in present[1:]:
                    merged = [a if a is not None else b for a, b in zip(merged, column)]
                self._cache[names] = merged
        return self._cache[names]


class _Repeat(Sequence):
    """A column holding one value for every account (the evaluation time, usually)."""

    def __init__(self, value: str, count: int) -> None:
        self.value, self.count = value, count

    def __getitem__(self, index):  # type: ignore[override]
        return self.value

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter((self.value,) * self.count)


def _first_value(flat: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = flat.get(name)
        if value is not None:
            return value
    return None


@dataclass
class _Gate:
    """What a strategy checks besides its constraints: a rollout, a user list, an IP list ..."""

    label: str
    unknown_code: str = field(default="unpredictable_random", kw_only=True)

    def decide(self, flat: Mapping[str, str]) -> tuple[Tri, str]:
        raise NotImplementedError

    def bulk(self, mask: Iterable[Tri], cols: _Columns, tri: bool) -> list[Tri]:
        """The strategy's answer per account, given whether its constraints passed (`mask`).

        `tri` says the mask may hold None (a constraint that cannot be evaluated); otherwise it is bools
        and `m and answer` is the three-valued AND, which keeps the common case at C speed.
        """
        raise NotImplementedError

    @staticmethod
    def combine(mask: Iterable[Tri], values: Iterable[Any], answer: Callable[[Any], Tri], tri: bool) -> list[Tri]:
        if tri:
            return [kleene_and(m, answer(v)) for m, v in zip(mask, values)]
        return [m and answer(v) for m, v in zip(mask, values)]


@dataclass
class _Constant(_Gate):
    result: Tri = True
    why: str = ""

    def decide(self, flat):
        return self.result, self.why or self.label

    def bulk(self, mask, cols, tri):
        if self.result is True:
            return list(mask)
        if self.result is False:
            return [False] * cols.count
        return [False if m is False else None for m in mask]


@dataclass
class _UserIds(_Gate):
    user_ids: frozenset[str] = frozenset()

    def decide(self, flat):
        user = _first_value(flat, ("userId",))
        if user is not None and user in self.user_ids:
            return True, f"{self.label}: userId {user} is listed"
        return False, f"{self.label}: userId {user if user is not None else '(missing)'} is not listed"

    def bulk(self, mask, cols, tri):
        column = cols.get("userId")
        if column is None:
            return [False] * cols.count
        return self.combine(mask, column, self.user_ids.__contains__, tri)


@dataclass
class _Rollout(_Gate):
    percent: int = 0
    stickiness: tuple[str, ...] = ()  # fields tried in order; may end with RANDOM
    group_id: str = ""

    def bucket(self, value: str) -> int:
        return mmh3.hash(f"{self.group_id}:{value}", 0, signed=False) % 100 + 1

    def decide(self, flat):
        fields = tuple(f for f in self.stickiness if f != RANDOM)
        value = _first_value(flat, fields)
        if value is None:
            if RANDOM not in self.stickiness:
                return False, f"{self.label}: {' / '.join(fields)} is missing, so no bucket"
            if self.percent <= 0 or self.percent >= 100:
                outcome = self.percent >= 100
                return outcome, f"{self.label}: random stickiness, but {self.percent}% decides for everyone"
            why = "random stickiness" if fields == () else f"no {' or '.join(fields)}, so the SDK picks at random"
            return None, f"{self.label}: {why}"
        bucket = self.bucket(value)
        if bucket <= self.percent:
            return True, f"{self.label}, bucket {bucket} ≤ {self.percent}"
        return False, f"{self.label}, bucket {bucket} > {self.percent}"

    def bulk(self, mask, cols, tri):
        fields = tuple(f for f in self.stickiness if f != RANDOM)
        column = cols.coalesce(fields)
        percent = self.percent
        # The answer for an account without a stickiness value: random (unknown unless 0% or 100%) or no.
        missing: Tri = False
        if RANDOM in self.stickiness:
            missing = None if 0 < percent < 100 else percent >= 100
        if column is None:
            return _Constant(self.label, missing).bulk(mask, cols, tri)
        if percent <= 0 or percent >= 100:
            hit = percent >= 100
            return self.combine(mask, column, lambda v: hit if v is not None else missing, tri)
        if tri:
            return self.combine(mask, column, lambda v: self.bucket(v) <= percent if v is not None else missing, tri)
        # The hot loop: bucket = hash % 100 + 1 <= percent  <=>  hash % 100 < percent, hashed only if needed.
        prefix, murmur = self.group_id + ":", mmh3.hash
        return [
            m and (murmur(prefix + v, 0, False) % 100 < percent if v is not None else missing)
            for m, v in zip(mask, column)
        ]


@dataclass
class _RandomPercent(_Gate):
    percent: int = 0

    def decide(self, flat):
        if self.percent <= 0:
            return False, f"{self.label}: 0% never enables"
        if self.percent >= 100:
            return True, f"{self.label}: 100% enables everyone"
        return None, f"{self.label}: random for every check"

    def bulk(self, mask, cols, tri):
        return _Constant(self.label, self.decide({})[0]).bulk(mask, cols, tri)


@dataclass
class _Networks(_Gate):
    networks: tuple = ()

    def decide(self, flat):
        raw = _first_value(flat, ("remoteAddress",))
        address = None if raw is None else parse_rust_ip(raw)
        if address is not None and any(n.contains(address) for n in self.networks):
            return True, f"{self.label}: remoteAddress {raw} is listed"
        return False, f"{self.label}: remoteAddress {raw if raw is not None else '(missing)'} is not listed"

    def bulk(self, mask, cols, tri):
        column = cols.get("remoteAddress")
        if column is None:
            return [False] * cols.count
        verdicts = {v: v is not None and self.decide({"remoteAddress": v})[0] for v in set(column)}
        return self.combine(mask, column, verdicts.__getitem__, tri)


@dataclass
class Strategy:
    """One compiled strategy: constraints (its own and its segments') AND its gate."""

    index: int
    name: str
    constraints: list[Constraint]
    gate: _Gate
    variants: list[dict] | None = None
    variant_stickiness: str = "default"
    variant_group: str = ""

    def fields(self) -> set[str]:
        names = {c.field for c in self.constraints}
        if isinstance(self.gate, _Rollout):
            names.update(f for f in self.gate.stickiness if f != RANDOM)
        elif isinstance(self.gate, _UserIds):
            names.add("userId")
        elif isinstance(self.gate, _Networks):
            names.add("remoteAddress")
        return names

    def decide(self, flat: Mapping[str, str]) -> tuple[Tri, str, str]:
        """(outcome, code, reason) for one account."""
        unknown: list[str] = []
        for constraint in self.constraints:
            value = flat.get(constraint.field)
            outcome = constraint.test(value)
            if outcome is False:
                return False, "constraint_failed", constraint.why_not(value)
            if outcome is None:
                unknown.append(f"constraint {constraint.text}{constraint.note}")
        outcome, why = self.gate.decide(flat)
        if outcome is False:
            return False, "rollout_excluded" if isinstance(self.gate, _Rollout) else "strategy_not_matched", why
        if unknown:
            return None, "unsupported_constraint", "; ".join(unknown)
        if outcome is None:
            return None, self.gate.unknown_code, why
        matched = [c.text for c in self.constraints]
        return True, "strategy_matched", why + (f" ({', '.join(matched)} matched)" if matched else "")

    def is_enabled(self, flat: Mapping[str, str]) -> Tri:
        known: Tri = True
        for constraint in self.constraints:
            outcome = constraint.test(flat.get(constraint.field))
            if outcome is False:
                return False
            if outcome is None:
                known = None
        return kleene_and(self.gate.decide(flat)[0], known)

    def bulk(self, cols: _Columns) -> list[Tri]:
        """The strategy's answer for every account. Each constraint runs once per distinct value."""
        masks: list[Iterable[Tri]] = []
        tri = False
        for constraint in self.constraints:
            column = cols.get(constraint.field)
            if column is None or isinstance(column, _Repeat):
                outcome = constraint.test(None if column is None else column.value)
                if outcome is False:
                    return [False] * cols.count
                if outcome is None:
                    masks.append(repeat(None, cols.count))
                    tri = True
                continue
            verdicts = {v: constraint.test(v) for v in set(column)}
            tri = tri or None in verdicts.values()
            masks.append(map(verdicts.__getitem__, column))
        if not masks:
            mask: Iterable[Tri] = repeat(True, cols.count)
        else:
            mask = masks[0]
            for other in masks[1:]:
                mask = map(kleene_and if tri else and_, mask, other)
        return self.gate.bulk(mask, cols, tri)


def _parse_usize(text: Any) -> int | None:
    # Rust's usize::from_str: optional "+", ASCII digits only.
    text = "" if text is None else str(text)
    digits = text[1:] if text.startswith("+") else text
    return int(digits) if digits.isascii() and digits.isdigit() else None


def _percent(value: int | None, what: str) -> int | None:
    if value is not None and value > 100:
        raise CompileError(f"{what} {value}% is more than 100%")
    return value


def _stickiness_chain(param: str | None) -> tuple[str, ...]:
    if param is None or param == "default":
        return ("userId", "sessionId", RANDOM)
    if param == RANDOM:
        return (RANDOM,)
    if param not in KNOWN_FIELDS:
        grammar_string(param, quotes_escaped=False)
    return (param,)


def _compile_gate(name: str, params: Mapping[str, str], flag_name: str) -> _Gate:
    if name == "default":
        return _Constant("default strategy", True, "default strategy (everyone)")
    if name == "userWithId":
        if params.get("userIds") is None:
            return _Constant(name, False, "userWithId without user ids")
        ids = [grammar_string(part.strip(), quotes_escaped=False) for part in str(params["userIds"]).split(",")]
        return _UserIds(name, frozenset(ids))
    if name == "flexibleRollout":
        percent = _percent(_parse_usize(params.get("rollout")), "rollout")
        if percent is None:
            return _Constant(name, False, "flexibleRollout without a valid rollout percentage")
        chain = _stickiness_chain(params.get("stickiness"))
        group = params.get("groupId")
        group_id = flag_name if group is None else grammar_string(str(group), quotes_escaped=False)
        sticky = params.get("stickiness") or "default"
        return _Rollout(f"flexibleRollout {percent}% on {sticky}", percent, chain, group_id)
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        percent = _parse_usize(params.get("percentage"))
        group = params.get("groupId")
        if percent is None or group is None:
            return _Constant(name, False, f"{name} without a valid percentage and groupId")
        _percent(percent, "percentage")
        sticky = "userId" if name == "gradualRolloutUserId" else "sessionId"
        group_id = grammar_string(str(group), quotes_escaped=False)
        return _Rollout(f"{name} {percent}%", percent, (sticky,), group_id)
    if name == "gradualRolloutRandom":
        percent = _parse_usize(params.get("percentage"))
        if percent is None:
            return _Constant(name, False, "gradualRolloutRandom without a valid percentage")
        return _RandomPercent(f"gradualRolloutRandom {percent}%", percent)
    if name == "remoteAddress":
        if params.get("IPs") is None:
            return _Constant(name, False, "remoteAddress without IPs")
        parts = [grammar_string(p.strip(), quotes_escaped=False) for p in str(params["IPs"]).split(",")]
        return _Networks(name, tuple(n for n in map(parse_network, parts) if n is not None))
    if name == "applicationHostname":
        why = "applicationHostname depends on the host name of the server running the SDK"
        return _Constant(name, None, why, unknown_code="unpredictable_hostname")
    why = f"custom strategy {name!r} runs in the application's own code"
    return _Constant(name, None, why, unknown_code="unpredictable_custom_strategy")


# --- features ------------------------------------------------------------------------------------------


@dataclass
class Feature:
    """One compiled feature flag."""

    name: str
    enabled: bool
    strategies: list[Strategy]
    dependencies: list[dict] = field(default_factory=list)
    variants: list[dict] = field(default_factory=list)
    compile_error: str | None = None
    disabled_strategies: int = 0

    def fields(self) -> set[str]:
        names: set[str] = set()
        for strategy in self.strategies:
            names |= strategy.fields()
        return names

    def variant_fields(self) -> set[str]:
        """Fields that choose a variant: stickiness and override context names."""
        names = {"userId", "sessionId"}
        variant_lists = [self.variants] + [s.variants or [] for s in self.strategies]
        names |= {s.variant_stickiness for s in self.strategies if s.variants}
        for variants in variant_lists:
            for variant in variants:
                names.add(str(variant.get("stickiness") or "default"))
                names |= {str(o.get("contextName")) for o in variant.get("overrides") or []}
        return names - {"default"}


def compile_feature(raw: Mapping[str, Any], segments: Mapping[int, Any], *, evaluated_as: str | None = None) -> Feature:
    """Compile a client-API (or admin-API, with "disabled" strategies) feature into predicates.

    `evaluated_as` names the flag whose evaluation asks: the engine evaluates a parent flag for a
    dependency with the child's name as the default rollout group, and so must we.
    """
    name = str(raw.get("name"))
    group_default = evaluated_as or name
    active = [s for s in (raw.get("strategies") or []) if not s.get("disabled")]
    # The server sends strategies sorted by sortOrder; the order decides which strategy's variants apply.
    active.sort(key=lambda s: s.get("sortOrder") if isinstance(s.get("sortOrder"), int) else 0)
    feature = Feature(
        name=name,
        enabled=bool(raw.get("enabled")),
        strategies=[],
        dependencies=list(raw.get("dependencies") or []),
        variants=list(raw.get("variants") or []),
        disabled_strategies=len(raw.get("strategies") or []) - len(active),
    )
    try:
        for index, raw_strategy in enumerate(active, start=1):
            feature.strategies.append(_compile_strategy(index, raw_strategy, segments, name, group_default))
    except CompileError as exc:
        feature.strategies = []
        feature.compile_error = str(exc)
    return feature


def _compile_strategy(
    index: int, raw: Mapping[str, Any], segments: Mapping[int, Any], flag_name: str, group_default: str
) -> Strategy:
    name = str(raw.get("name"))
    params = {k: v for k, v in (raw.get("parameters") or {}).items() if v is not None}
    gate = _compile_gate(name, params, group_default)
    raw_constraints = list(raw.get("constraints") or [])
    for segment_id in raw.get("segments") or []:
        if segment_id not in segments:
            # The engine switches the whole flag off, not just this strategy.
            raise CompileError(f"strategy {index} uses segment {segment_id}, which does not exist")
        raw_constraints.extend(segments[segment_id].get("constraints") or [])
    constraints = [_compile_constraint(c) for c in raw_constraints]
    variants = raw.get("variants")
    return Strategy(
        index=index,
        name=name,
        constraints=constraints,
        gate=gate,
        variants=None if variants is None else list(variants),
        variant_stickiness=str(params.get("stickiness") or "default"),
        variant_group=str(params.get("groupId")) if params.get("groupId") is not None else flag_name,
    )


class UnleashSnapshot:
    """The flags (and segments) of one environment as a sync saw them, ready to evaluate."""

    def __init__(
        self,
        features: Iterable[Mapping[str, Any]],
        segments: Iterable[Mapping[str, Any]] = (),
        *,
        environment: str | None = None,
        static_context: Mapping[str, Any] | None = None,
    ) -> None:
        """`static_context` is what the application's SDK adds to every context (appName, environment)."""
        self._segments = {s["id"]: s for s in segments}
        self._raw = {str(f.get("name")): f for f in features}
        self.features = {name: compile_feature(raw, self._segments) for name, raw in self._raw.items()}
        self._parents: dict[tuple[str, str], Feature] = {}
        self.environment = environment
        self.static_context = dict(static_context or {})

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], **kwargs: Any) -> UnleashSnapshot:
        """From a client-API response body: {"features": [...], "segments": [...]}."""
        return cls(payload.get("features") or [], payload.get("segments") or [], **kwargs)

    def flat(self, context: Mapping[str, Any] | None, now: datetime | str | None = None) -> dict[str, str]:
        return flatten_context(context, self.static_context, now)

    # -- one account ----------------------------------------------------------------------------------

    def is_enabled(self, flag: str, context: Mapping[str, Any] | None = None, *, now=None) -> Tri:
        """True, False, or None when the SDK's answer cannot be known in advance."""
        return self._decide(self.features.get(flag), self.flat(context, now), explain=False).enabled

    def explain(self, flag: str, context: Mapping[str, Any] | None = None, *, now=None) -> Evaluation:
        """The answer for one account with the reason in words."""
        return self._decide(self.features.get(flag), self.flat(context, now), explain=True)

    def _decide(self, feature: Feature | None, flat: Mapping[str, str], explain: bool) -> Evaluation:
        if feature is None:
            return Evaluation(False, "unknown_flag", "not enabled: the flag is not in this snapshot")
        where = f" in {self.environment}" if self.environment else ""
        if not feature.enabled:
            return Evaluation(False, "flag_off", f"not enabled: flag is off{where}")
        if feature.compile_error:
            return Evaluation(
                False,
                "invalid_definition",
                f"not enabled: Unleash SDKs cannot compile this flag ({feature.compile_error}), so it is off for everyone",
            )
        deps, deps_why = self._dependencies(feature, flat)
        if deps is False:
            return Evaluation(False, "dependency_not_met", f"not enabled: {deps_why}")
        outcome, code, why = self._strategies(feature, flat, explain)
        if outcome is False:
            return Evaluation(False, code, f"not enabled: {why}")
        if deps is None:
            return Evaluation(None, "unpredictable_dependency", f"unpredictable: {deps_why}")
        if outcome is None:
            return Evaluation(None, code, f"unpredictable: {why}")
        return Evaluation(True, code, f"enabled: {why}")

    def _strategies(self, feature: Feature, flat: Mapping[str, str], explain: bool) -> tuple[Tri, str, str]:
        if not feature.strategies:
            if feature.disabled_strategies:
                why = "every strategy is disabled, and Unleash serves a flag without active strategies to everyone"
            else:
                why = "the flag has no strategies, so it is on for everyone"
            return True, "no_strategies", why
        if not explain:
            outcome: Tri = False
            for strategy in feature.strategies:
                outcome = kleene_or(outcome, strategy.is_enabled(flat))
                if outcome:
                    break
            return outcome, "", ""
        failures: list[tuple[str, str]] = []
        unknown: list[tuple[str, str]] = []
        for strategy in feature.strategies:
            outcome, code, why = strategy.decide(flat)
            if len(feature.strategies) > 1:
                why = f"strategy {strategy.index} ({strategy.name}): {why}"
            if outcome:
                return True, code, why
            (unknown if outcome is None else failures).append((code, why))
        if unknown:
            return None, unknown[0][0], "; ".join(why for _, why in unknown)
        code = failures[0][0] if len(failures) == 1 else "no_strategy_matched"
        return False, code, "; ".join(why for _, why in failures)

    def _dependencies(self, feature: Feature, flat: Mapping[str, str]) -> tuple[Tri, str]:
        result: Tri = True
        reasons: list[str] = []
        for dependency in feature.dependencies:
            parent_name = str(dependency.get("feature"))
            parent = self.features.get(parent_name)
            if parent is None:
                return False, f"it depends on flag {parent_name}, which does not exist"
            if parent.dependencies:
                return False, f"it depends on flag {parent_name}, which itself depends on other flags"
            expected = dependency.get("enabled")
            expected = True if expected is None else bool(expected)
            parent_enabled: Tri = False
            if parent.enabled and not parent.compile_error:
                parent_enabled = self._strategies(self._parent_view(parent_name, feature.name), flat, False)[0]
            variants_ok: Tri = True
            wanted = dependency.get("variants")
            if wanted is not None and wanted:
                names = _variant_outcomes(self._parent_view(parent_name, feature.name), flat)
                if names is _UNKNOWN:
                    variants_ok = None
                elif names is not None:
                    inside = {n in wanted for n in names}
                    variants_ok = inside.pop() if len(inside) == 1 else None
            if variants_ok is False:
                return False, f"flag {parent_name} does not serve one of the variants {', '.join(wanted)}"
            matches: Tri = None if parent_enabled is None else parent_enabled == expected
            state = "on" if expected else "off"
            if matches is False:
                return False, f"it needs flag {parent_name} to be {state}, and it is not"
            if kleene_and(variants_ok, matches) is None:
                reasons.append(f"whether flag {parent_name} is {state} cannot be known in advance")
                result = None
        return result, "; ".join(reasons)

    def _parent_view(self, parent: str, child: str) -> Feature:
        if (parent, child) not in self._parents:
            self._parents[parent, child] = compile_feature(self._raw[parent], self._segments, evaluated_as=child)
        return self._parents[parent, child]

    # -- many accounts --------------------------------------------------------------------------------

    def fields(self, flag: str) -> set[str]:
        """The context fields the flag (and its parents) read: the columns `evaluate_columns` needs."""
        feature = self.features.get(flag)
        if feature is None:
            return set()
        names = feature.fields()
        for dependency in feature.dependencies:
            parent = self.features.get(str(dependency.get("feature")))
            if parent is not None:
                names |= parent.fields() | parent.variant_fields()
        return names

    def evaluate_columns(
        self,
        flag: str,
        columns: Mapping[str, Sequence[str | None]],
        count: int,
        *,
        now: datetime | str | None = None,
    ) -> list[Tri]:
        """Answers for `count` accounts given as columns: field name -> one text value (or None) each.

        A field without a column is absent for every account; currentTime defaults to `now`.
        Equivalent to `is_enabled` per account, much faster: constraints run once per distinct value.
        """
        now_text = _as_text(now if now is not None else datetime.now(timezone.utc))
        times = columns.get("currentTime")
        if isinstance(times, str):
            columns = {**columns, "currentTime": _Repeat(times, count)}
        elif times is not None and None in times:
            # The SDK stamps a context without currentTime with the time of the check.
            columns = {**columns, "currentTime": [now_text if t is None else t for t in times]}
        cols = _Columns(columns, count, now_text)
        feature = self.features.get(flag)
        if feature is None or not feature.enabled or feature.compile_error:
            return [False] * count
        results = self._bulk_strategies(feature, cols)
        if feature.dependencies:
            rows = [self._row(cols, i) for i in range(count)]
            results = [
                kleene_and(self._dependencies(feature, row)[0], outcome) if outcome is not False else False
                for row, outcome in zip(rows, results)
            ]
        return results

    def _bulk_strategies(self, feature: Feature, cols: _Columns) -> list[Tri]:
        if not feature.strategies:
            return [True] * cols.count
        results = feature.strategies[0].bulk(cols)
        for strategy in feature.strategies[1:]:
            results = list(map(kleene_or, results, strategy.bulk(cols)))
        return results

    def _row(self, cols: _Columns, index: int) -> dict[str, str]:
        row = {name: column[index] for name, column in cols.columns.items() if column[index] is not None}
        row.setdefault("currentTime", cols.now_text)
        return row

    def evaluate_many(self, flag: str, contexts: Iterable[Mapping[str, Any]], *, now=None) -> list[Tri]:
        """Answers for many SDK-style contexts (dicts with userId, properties ...)."""
        now_text = _as_text(now if now is not None else datetime.now(timezone.utc))
        flats = [self.flat(c, now_text) for c in contexts]
        names = self.fields(flag) | {"currentTime"}
        columns = {name: [f.get(name) for f in flats] for name in names}
        return self.evaluate_columns(flag, columns, len(flats), now=now_text)


# --- variants (only needed to decide variant dependencies) ----------------------------------------------

_UNKNOWN = object()


def _variant_outcomes(feature: Feature, flat: Mapping[str, str]) -> Any:
    """The variant names the feature may serve this context: a set, None (no variant) or _UNKNOWN."""
    for strategy in feature.strategies:
        if strategy.variants is None:
            continue
        matched = strategy.is_enabled(flat)
        if matched is None:
            return _UNKNOWN
        if matched:
            if strategy.variants:
                variants = [{**v, "stickiness": strategy.variant_stickiness} for v in strategy.variants]
                return _resolve_variant(variants, strategy.variant_group, flat)
            break
    return _resolve_variant(feature.variants, feature.name, flat)


def _resolve_variant(variants: list[dict], group_id: str, flat: Mapping[str, str]) -> Any:
    if not variants:
        return None
    for variant in variants:
        for override in variant.get("overrides") or []:
            value = flat.get(str(override.get("contextName")))
            if value is not None and value in (override.get("values") or []):
                return {variant.get("name")}
    weights = [int(v.get("weight") or 0) for v in variants]
    total = sum(weights)
    if total <= 0:
        return _UNKNOWN
    stickiness = variants[0].get("stickiness")
    if stickiness in (None, "default"):
        seed = _first_value(flat, ("userId", "sessionId"))
    else:
        seed = flat.get(stickiness)
    targets = (
        range(total)
        if seed is None
        else [mmh3.hash(f"{group_id}:{seed}", _VARIANT_SEED, signed=False) % total + 1]
    )
    names = set()
    for target in targets:
        cumulative = 0
        for variant, weight in zip(variants, weights):
            cumulative += weight
            if cumulative >= target:
                names.add(variant.get("name"))
                break
    return names
