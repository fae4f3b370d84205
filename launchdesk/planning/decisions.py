"""Go / no-go decisions and the phase status they drive: who decided what, why, on which gate values.

Phase status follows one table (:data:`TRANSITIONS`); anything else is refused with a sentence saying why::

    planned ──await go──▶ awaiting_go ──go──▶ approved ──platform confirms──▶ live ──complete──▶ complete
    planned ──go──▶ approved                 approved ──no-go──▶ awaiting_go
    live ──pause──▶ paused ──go──▶ approved   live, paused ──rollback──▶ rolled_back
    rolled_back ──await go──▶ awaiting_go, ──go──▶ approved (a retry after the fix)

A phase becomes live only through :func:`confirm_live`, which the flag sync calls with what the platform
reports, never because someone says so. A go while any gate is failing or inconclusive needs a written override
reason and is kept as ``overridden``; every decision keeps a frozen snapshot of every gate at that moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session, object_session

from launchdesk import journal
from launchdesk.models import Decision, DecisionKind, Phase, PhaseKind, PhaseStatus, Rollout, utcnow
from launchdesk.models.enums import StrEnum
from launchdesk.planning.gates import GateResult, go_blockers

PERCENTAGE_TOLERANCE = 0.01  # platforms report 5 or 5.0 or 4.999... for a planned 5 %


class DecisionRefused(ValueError):
    """A decision or status change the rules do not allow; the message says why and what to do instead."""


class OverrideRequired(DecisionRefused):
    """A go while gates are not passing, without a written override reason."""

    def __init__(self, message: str, blockers: Sequence[GateResult]) -> None:
        super().__init__(message)
        self.blockers = list(blockers)


class TransitionRefused(DecisionRefused):
    """A phase status move the table does not allow from the phase's current status."""


class PhaseEvent(StrEnum):
    AWAIT_GO = "await_go"  # the phase is up for its go/no-go
    GO = "go"
    NO_GO = "no_go"
    PAUSE = "pause"
    ROLLBACK = "rollback"
    CONFIRM_LIVE = "confirm_live"  # the synced flag shows the phase's planned percentage
    COMPLETE = "complete"


S, E = PhaseStatus, PhaseEvent
TRANSITIONS: dict[PhaseStatus, dict[PhaseEvent, PhaseStatus]] = {
    S.PLANNED: {E.AWAIT_GO: S.AWAITING_GO, E.GO: S.APPROVED, E.NO_GO: S.AWAITING_GO},
    S.AWAITING_GO: {E.GO: S.APPROVED, E.NO_GO: S.AWAITING_GO},
    S.APPROVED: {E.CONFIRM_LIVE: S.LIVE, E.NO_GO: S.AWAITING_GO},
    S.LIVE: {E.PAUSE: S.PAUSED, E.ROLLBACK: S.ROLLED_BACK, E.COMPLETE: S.COMPLETE},
    S.PAUSED: {E.GO: S.APPROVED, E.NO_GO: S.PAUSED, E.ROLLBACK: S.ROLLED_BACK},
    S.ROLLED_BACK: {E.AWAIT_GO: S.AWAITING_GO, E.GO: S.APPROVED, E.NO_GO: S.ROLLED_BACK},
    S.COMPLETE: {},
}
del S, E

DECISION_EVENTS = {
    DecisionKind.GO: PhaseEvent.GO,
    DecisionKind.NO_GO: PhaseEvent.NO_GO,
    DecisionKind.PAUSE: PhaseEvent.PAUSE,
    DecisionKind.ROLLBACK: PhaseEvent.ROLLBACK,
}


def allowed_events(status: PhaseStatus) -> list[PhaseEvent]:
    """What can happen to a phase in ``status``, in the table's order."""
    return list(TRANSITIONS[status])


def next_status(status: PhaseStatus, event: PhaseEvent, *, phase_name: str = "The phase") -> PhaseStatus:
    """The status after ``event``; TransitionRefused, with a sentence saying why and what to do, if not allowed."""
    target = TRANSITIONS[status].get(event)
    if target is None:
        raise TransitionRefused(_refusal(phase_name, status, event))
    return target


def parse_decision_kind(text: str | DecisionKind) -> DecisionKind:
    """``go``, ``no-go`` (or ``no_go``), ``pause`` or ``rollback`` as a DecisionKind."""
    if isinstance(text, DecisionKind):
        return text
    try:
        return DecisionKind(text.strip().lower().replace("-", "_"))
    except ValueError:
        raise DecisionRefused(f"'{text}' is not a decision; use go, no-go, pause or rollback.") from None


def next_phase(rollout: Rollout) -> Phase | None:
    """The rollout phase up for a go/no-go: the first one (in plan order) that is neither live nor complete."""
    for phase in rollout.phases:
        if phase.kind == PhaseKind.ROLLOUT and phase.status not in (PhaseStatus.LIVE, PhaseStatus.COMPLETE):
            return phase
    return None


def record_decision(
    session: Session,
    phase: Phase,
    kind: DecisionKind | str,
    *,
    decided_by: str,
    role: str,
    why: str,
    results: Sequence[GateResult],
    override_reason: str | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """Record a go / no-go / pause / rollback for ``phase`` and move its status; journal it with its snapshot.

    ``results`` are the gate results the decision was taken on (from ``metrics.evaluate``: fresh, or the stored
    ones a panel shows); every one is frozen into ``Decision.gate_snapshot``. A go while any of them is not
    passing needs ``override_reason`` (OverrideRequired otherwise) and is recorded with ``overridden=True``.
    Only a go can be overridden. ``decided_by`` keeps "name (role)". Raises DecisionRefused (or a subclass)
    and changes nothing when the rules do not allow the decision.
    """
    kind = parse_decision_kind(kind)
    name, role, why = decided_by.strip(), role.strip(), why.strip()
    override = (override_reason or "").strip()
    if phase.kind != PhaseKind.ROLLOUT:
        raise DecisionRefused(f"'{phase.name}' is a preparation step; only rollout phases take a go/no-go.")
    if not name or not role:
        raise DecisionRefused("A decision needs the name and the role of the person who takes it.")
    if not why:
        raise DecisionRefused("A decision needs a reason: say why.")
    if override and kind != DecisionKind.GO:
        raise DecisionRefused(f"Only a go can override gates; a {_kind_text(kind)} needs no override.")
    not_passing = go_blockers(results)
    blockers = not_passing if kind == DecisionKind.GO else []
    if blockers and not override:
        listed = "; ".join(f"{r.name}: {r.outcome.value} ({r.reason})" for r in blockers)
        raise OverrideRequired(
            f"A go for '{phase.name}' while {len(blockers)} gate(s) do not pass needs a written override reason. "
            f"Not passing: {listed}", blockers)
    before = phase.status
    after = next_status(before, DECISION_EVENTS[kind], phase_name=f"'{phase.name}'")
    now = now or utcnow()
    reason = why if not blockers else f"{why}\nOverride: {override}"
    decision = Decision(kind=kind, decided_by=f"{name} ({role})", decided_at=now, reason=reason,
                        gate_snapshot=[r.snapshot() for r in results], overridden=bool(blockers))
    phase.decisions.append(decision)
    phase.status = after
    session.flush()
    summary = f"{_kind_text(kind).capitalize()} for {phase.name} by {name} ({role})"
    if blockers:
        summary += f", OVERRIDING {len(blockers)} gate(s) not passing ({', '.join(r.name for r in blockers)}): " \
                   f"{override.rstrip('.')}. Why: {why}"
    elif not_passing:
        summary += f" (not passing: {', '.join(r.name for r in not_passing)}): {why}"
    else:
        summary += (" (all gates pass)" if results else "") + f": {why}"
    journal.record(session, f"decision.{kind.value}", summary, rollout=phase.rollout_id, actor=name, details={
        "decision_id": decision.id, "phase": phase.name, "phase_id": phase.id, "kind": kind.value,
        "by": name, "role": role, "why": why, "overridden": bool(blockers),
        "override_reason": override if blockers else None,
        "status_from": before.value, "status_to": after.value, "snapshot": decision.gate_snapshot,
    })
    return decision


def live_mismatch(phase: Phase, platform_percentage: float | None, enabled: bool) -> str | None:
    """Why the platform's flag state does not confirm the phase's planned percentage; None when it does."""
    if phase.target_percentage is None:
        return f"'{phase.name}' has no planned percentage."
    if not enabled:
        return "The flag is off on the platform."
    if platform_percentage is None:
        return "The platform reports no rollout percentage."
    if abs(platform_percentage - phase.target_percentage) > PERCENTAGE_TOLERANCE:
        return (f"The flag is at {platform_percentage:g}% on the platform; '{phase.name}' plans "
                f"{phase.target_percentage:g}%.")
    return None


def confirm_live(phase: Phase, platform_percentage: float | None, enabled: bool,
                 *, now: dt.datetime | None = None) -> bool:
    """For the flag sync: an approved phase goes live when the synced flag is on at its planned percentage.

    Returns True when this call moved the phase from approved to live (setting ``actual_start`` and journaling
    it when the phase belongs to a session); False otherwise: the phase is not approved (a live phase stays
    live, a planned one needs its go first), or the platform does not confirm it (see :func:`live_mismatch`).
    """
    if phase.status != PhaseStatus.APPROVED or live_mismatch(phase, platform_percentage, enabled) is not None:
        return False
    now = now or utcnow()
    phase.status = next_status(phase.status, PhaseEvent.CONFIRM_LIVE, phase_name=f"'{phase.name}'")
    phase.actual_start = phase.actual_start or now
    session = object_session(phase)
    if session is not None:
        journal.record(session, "phase.live",
                       f"{phase.name} is live: the flag platform confirms {platform_percentage:g}%.",
                       rollout=phase.rollout_id, actor="LaunchDesk",
                       details={"phase": phase.name, "percentage": platform_percentage})
    return True


def open_for_go(session: Session, phase: Phase) -> None:
    """Put a planned (or rolled back) phase up for its go/no-go: it becomes awaiting_go."""
    _move(session, phase, PhaseEvent.AWAIT_GO, f"{phase.name} is up for its go/no-go.")


def complete_phase(session: Session, phase: Phase, *, now: dt.datetime | None = None) -> None:
    """Close a live phase: it becomes complete, with ``actual_end``."""
    _move(session, phase, PhaseEvent.COMPLETE, f"{phase.name} completed.")
    phase.actual_end = phase.actual_end or now or utcnow()


def _move(session: Session, phase: Phase, event: PhaseEvent, summary: str) -> None:
    before = phase.status
    phase.status = next_status(before, event, phase_name=f"'{phase.name}'")
    journal.record(session, f"phase.{phase.status.value}", summary, rollout=phase.rollout_id,
                   details={"phase": phase.name, "status_from": before.value, "status_to": phase.status.value})


def _kind_text(kind: DecisionKind) -> str:
    return kind.value.replace("_", "-")


def _refusal(name: str, status: PhaseStatus, event: PhaseEvent) -> str:
    state = status.value.replace("_", " ")
    if status == PhaseStatus.COMPLETE:
        return f"{name} is complete; nothing more can happen to it."
    if event == PhaseEvent.CONFIRM_LIVE:
        return (f"{name} is {state}: it goes live only after a go is recorded and the flag platform confirms "
                "its percentage.")
    if event in (PhaseEvent.PAUSE, PhaseEvent.ROLLBACK):
        hint = " Record a no-go to withdraw the approval." if status == PhaseStatus.APPROVED else ""
        what = "paused" if event == PhaseEvent.PAUSE else "rolled back"
        allowed = "a live phase" if event == PhaseEvent.PAUSE else "a live or paused phase"
        return f"{name} is {state}: only {allowed} can be {what}.{hint}"
    if event == PhaseEvent.GO and status == PhaseStatus.APPROVED:
        return f"{name} already has a go; it goes live when the flag platform confirms its percentage."
    if event == PhaseEvent.GO and status == PhaseStatus.LIVE:
        return f"{name} is already live."
    if event == PhaseEvent.COMPLETE:
        return f"{name} is {state}: only a live phase can be completed."
    possible = ", ".join(e.value.replace("_", "-") for e in TRANSITIONS[status]) or "nothing"
    return f"{name} is {state}; {event.value.replace('_', '-')} is not possible from there (possible: {possible})."
