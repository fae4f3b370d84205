"""Gate evaluation, pure: a measured value, its baseline and the gate's recent history give pass, fail or inconclusive.

The rules, in the order they are applied (the first that applies decides):

1. The source could not be asked (a query error, no keyring, a refused connection): **inconclusive**.
2. No value, or NaN (Prometheus' 0/0 when there is no traffic): **inconclusive**.
3. Fewer usable samples in the gate's window than ``min_samples``: **inconclusive**.
4. The value is older than the gate's window (``window_s``): it is **stale**, so **inconclusive**.
5. A baseline gate without a usable baseline (none, NaN, or 0, of which every multiple says nothing):
   **inconclusive**.
6. Otherwise the value is compared with the limit: ``threshold``, or ``threshold × baseline`` for a gate with a
   baseline (``fixed``: ``baseline_value``; ``window``: the same query ``baseline_offset_s`` earlier).
   ±Inf compares like any number (a P99 in the +Inf bucket fails ``< 200``).
   A value that meets the comparison **passes**. A value that misses it is a *failed evaluation*.

**Failure limit** (after Argo Rollouts' ``failureLimit``, counted in a row): a gate **fails** once
``failure_limit`` evaluations in a row have failed, this one included. Fewer failed evaluations in a row than that
give **inconclusive** with a reason such as "0.42 % is not < 0.1 % (1 of 3 failed evaluations in a row before the
gate fails)": the gate is failing but has not failed yet, and since inconclusive never counts as a pass, it
still holds a go. A passing evaluation ends the row; evaluations without a judgeable value (rules 1-5) neither
end nor extend it, so a gap in the data cannot hide a failing trend.

Inconclusive never counts as a pass: :func:`go_blockers` lists every gate that is not passing.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from launchdesk.models import GateOutcome

if TYPE_CHECKING:
    from launchdesk.models import Gate

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
BASELINE_KINDS = ("none", "fixed", "window")


class GateRule(Protocol):
    """What evaluation reads from a gate; :class:`launchdesk.models.Gate` is one."""

    id: Any
    name: str
    comparison: str
    threshold: float
    unit: str
    baseline_kind: str
    baseline_value: float | None
    window_s: int
    min_samples: int
    failure_limit: int


class StoredSample(Protocol):
    """What the failure limit reads from the gate's earlier evaluations; :class:`MetricSample` is one."""

    value: float | None
    baseline: float | None
    sample_count: int


@dataclass(frozen=True)
class Measurement:
    """What a metric source (or a person typing a number) said about a gate's query at one moment.

    ``observed_at`` is when the value was true (the newest point's time, or when a person entered it);
    ``sample_count`` is how many usable points the gate's window held; ``error`` is a sentence for the user
    when the source could not be asked at all.
    """

    value: float | None
    observed_at: dt.datetime | None = None
    sample_count: int = 0
    baseline: float | None = None
    error: str = ""


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict at one moment, with everything a panel, the CLI or a decision snapshot shows."""

    gate_id: int | None
    name: str
    outcome: GateOutcome
    reason: str  # why, in words: "0.42 % is not < 0.1 %", "stale: the last value is 3 h old", ...
    value: float | None
    baseline: float | None
    limit: float | None  # what the value is compared with: threshold, or threshold × baseline
    comparison: str
    threshold: float
    unit: str
    baseline_kind: str  # none, fixed or window
    sample_count: int
    observed_at: dt.datetime | None
    failing_streak: int  # failed evaluations in a row up to this one (0 after a pass)

    @property
    def passed(self) -> bool:
        return self.outcome == GateOutcome.PASS

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        """How old the value is at ``now``; None without a value time."""
        return None if self.observed_at is None else now - self.observed_at

    def display_value(self) -> str:
        """The value as people read it ("0.42 %", "312 ms", "+Inf ms"); "—" without one."""
        return format_value(self.value, self.unit)

    def display_threshold(self) -> str:
        """The rule as people read it: "< 0.1 %", "< 2 × baseline (24)"."""
        if self.baseline_kind != "none":
            base = "?" if self.baseline is None else format_value(self.baseline, self.unit)
            return f"{self.comparison} {_number(self.threshold)} × baseline ({base})"
        return f"{self.comparison} {format_value(self.threshold, self.unit)}"

    def as_dict(self, now: dt.datetime) -> dict[str, Any]:
        """A JSON-ready form (non-finite numbers become None; ``display`` keeps "+Inf ms")."""
        age = self.age(now)
        return {
            "gate_id": self.gate_id,
            "name": self.name,
            "value": _json_number(self.value),
            "display": self.display_value(),
            "unit": self.unit,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "baseline": _json_number(self.baseline),
            "limit": _json_number(self.limit),
            "outcome": self.outcome.value,
            "reason": self.reason,
            "sample_count": self.sample_count,
            "failing_streak": self.failing_streak,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "age_s": None if age is None else round(age.total_seconds()),
        }

    def snapshot(self) -> dict[str, Any]:
        """The frozen entry a :class:`~launchdesk.models.Decision` keeps in ``gate_snapshot``."""
        return {
            "gate": self.name,
            "value": _json_number(self.value),
            "display": self.display_value(),
            "threshold": self.threshold,
            "comparison": self.comparison,
            "unit": self.unit,
            "baseline": _json_number(self.baseline),
            "limit": _json_number(self.limit),
            "outcome": self.outcome.value,
            "reason": self.reason,
            "at": self.observed_at.isoformat() if self.observed_at else None,
        }


def judge(gate: GateRule, measurement: Measurement, *, now: dt.datetime, failing_before: int = 0) -> GateResult:
    """The gate's outcome for one measurement, by the rules in this module's docstring.

    ``failing_before`` is how many evaluations in a row had failed before this one (see :func:`failing_streak`).
    """
    baseline = gate.baseline_value if gate.baseline_kind == "fixed" else measurement.baseline
    if gate.baseline_kind == "none":
        baseline = None
    limit = limit_for(gate, baseline)
    value = measurement.value

    def result(outcome: GateOutcome, reason: str, streak: int = failing_before) -> GateResult:
        return GateResult(
            gate_id=gate.id, name=gate.name, outcome=outcome, reason=reason, value=value, baseline=baseline,
            limit=limit, comparison=gate.comparison, threshold=gate.threshold, unit=gate.unit,
            baseline_kind=gate.baseline_kind, sample_count=measurement.sample_count,
            observed_at=measurement.observed_at, failing_streak=streak,
        )

    unjudgeable = _unjudgeable(gate, measurement, baseline, now)
    if unjudgeable:
        return result(GateOutcome.INCONCLUSIVE, unjudgeable)
    assert value is not None and limit is not None
    said = f"{format_value(value, gate.unit)} {{}} {gate.comparison} {_limit_text(gate, limit, baseline)}"
    if COMPARISONS[gate.comparison](value, limit):
        return result(GateOutcome.PASS, said.format("is"), 0)
    streak = failing_before + 1
    if streak >= gate.failure_limit:
        row = f" ({streak} failed evaluations in a row)" if gate.failure_limit > 1 else ""
        return result(GateOutcome.FAIL, said.format("is not") + row, streak)
    before_fail = f" ({streak} of {gate.failure_limit} failed evaluations in a row before the gate fails)"
    return result(
        GateOutcome.INCONCLUSIVE,
        said.format("is not") + before_fail,
        streak,
    )


def limit_for(gate: GateRule, baseline: float | None) -> float | None:
    """What a value is compared with: the threshold, or threshold × baseline; None when the baseline is missing."""
    if gate.baseline_kind == "none":
        return gate.threshold
    if baseline is None or not math.isfinite(baseline):
        return None
    return gate.threshold * baseline


def failed_evaluation(gate: GateRule, sample: StoredSample) -> bool | None:
    """Whether a stored evaluation missed the comparison under the gate's current rule; None if it had no say.

    A stored sample has no say when rules 2, 3 or 5 applied to it (no value, too few samples, no baseline).
    """
    baseline = gate.baseline_value if gate.baseline_kind == "fixed" else sample.baseline
    limit = limit_for(gate, baseline)
    value = sample.value
    if value is None or math.isnan(value) or sample.sample_count < gate.min_samples or limit is None:
        return None
    if gate.baseline_kind != "none" and baseline == 0:
        return None
    return not COMPARISONS[gate.comparison](value, limit)


def failing_streak(gate: GateRule, history: Sequence[StoredSample]) -> int:
    """Failed evaluations in a row at the end of ``history`` (oldest first), skipping those without a say."""
    streak = 0
    for sample in reversed(history):
        failed = failed_evaluation(gate, sample)
        if failed is None:
            continue
        if not failed:
            break
        streak += 1
    return streak


def go_blockers(results: Iterable[GateResult]) -> list[GateResult]:
    """The gates that keep a go from being a plain go: every one that does not pass (fail or inconclusive)."""
    return [r for r in results if r.outcome != GateOutcome.PASS]


def check_gate_rule(gate: GateRule) -> None:
    """Raise ValueError with a sentence when a gate's settings cannot be evaluated."""
    if gate.comparison not in COMPARISONS:
        raise ValueError(f"Gate '{gate.name}': the comparison must be one of {', '.join(COMPARISONS)}, "
                         f"not '{gate.comparison}'.")
    if gate.baseline_kind not in BASELINE_KINDS:
        raise ValueError(f"Gate '{gate.name}': the baseline must be one of {', '.join(BASELINE_KINDS)}, "
                         f"not '{gate.baseline_kind}'.")
    if gate.window_s <= 0 or gate.min_samples < 1 or gate.failure_limit < 1:
        raise ValueError(f"Gate '{gate.name}': the window, minimum samples and failure limit must be positive.")


def format_value(value: float | None, unit: str = "") -> str:
    """A gate value as people read it: "0.42 %", "312 ms", "+Inf ms", "45" (a count against a baseline)."""
    if value is None:
        return "—"
    text = _number(value)
    if not unit or _is_baseline_unit(unit):
        return text
    return f"{text} {unit}"


def format_duration(seconds: float) -> str:
    """A window or an age in its largest whole unit: "30 s", "5 min", "24 h", "7 d" (rounded down)."""
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _unjudgeable(gate: GateRule, m: Measurement, baseline: float | None, now: dt.datetime) -> str:
    """The reason rules 1-5 give for inconclusive, or "" when the value can be compared."""
    window = format_duration(gate.window_s)
    if m.error:
        return m.error
    if m.value is None:
        return f"No data in the last {window}."
    if math.isnan(m.value):
        return "The query gave NaN (no traffic to divide by?)."
    if m.sample_count < gate.min_samples:
        return f"{m.sample_count} sample(s) in the last {window}; the gate needs at least {gate.min_samples}."
    if m.observed_at is not None and (now - m.observed_at).total_seconds() > gate.window_s:
        return (f"Stale: the last value is {format_duration((now - m.observed_at).total_seconds())} old, "
                f"older than the gate's {window} window.")
    if gate.baseline_kind != "none":
        if baseline is None or not math.isfinite(baseline):
            return "No baseline to compare with" + (
                " (no data in the earlier window)." if gate.baseline_kind == "window" else ".")
        if baseline == 0:
            return "The baseline is 0, so a multiple of it says nothing."
    return ""


def _limit_text(gate: GateRule, limit: float, baseline: float | None) -> str:
    if gate.baseline_kind == "none":
        return format_value(limit, gate.unit)
    return (f"{format_value(limit, gate.unit)} ({_number(gate.threshold)} × baseline "
            f"{format_value(baseline or 0, gate.unit)})")


def _is_baseline_unit(unit: str) -> bool:
    return unit.lstrip().startswith(("×", "x "))


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    # Four significant digits for rates and latencies; whole numbers for counts in the thousands.
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
