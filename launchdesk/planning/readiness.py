"""Readiness: the four planning questions and the kill switch test, and what a plan shows while they are open.

Works on anything with the rollout's readiness fields (an ORM Rollout or a Core row), so the timeline and the
go/no-go panel can call it on what they already read. The notice belongs on the first rollout phase: that is
the expansion readiness must come before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from launchdesk.models import PhaseKind

READINESS_QUESTIONS = (
    ("readiness_can_flag", "Can it be flagged?"),
    ("readiness_blast_radius", "Blast radius"),
    ("readiness_monitoring", "Monitoring and success criteria"),
    ("readiness_rollback_plan", "Rollback plan"),
)
KILL_SWITCH_GAP = "kill switch not tested"


def readiness_gaps(rollout: Any) -> list[str]:
    """What is still open, in the form's order: unanswered questions by name, then an untested kill switch."""
    gaps = [label for field, label in READINESS_QUESTIONS if not str(getattr(rollout, field) or "").strip()]
    if getattr(rollout, "kill_switch_tested_on") is None:
        gaps.append(KILL_SWITCH_GAP)
    return gaps


def readiness_notice(rollout: Any) -> str | None:
    """"Readiness incomplete: Rollback plan, kill switch not tested", or None when everything is answered."""
    gaps = readiness_gaps(rollout)
    return f"Readiness incomplete: {', '.join(gaps)}" if gaps else None


def notice_phase_id(phases: Iterable[Any]) -> int | None:
    """The phase that carries the readiness notice: the first rollout phase in plan order (id, kind, position)."""
    rollout_phases = [p for p in phases if PhaseKind(p.kind) == PhaseKind.ROLLOUT]
    return min(rollout_phases, key=lambda p: (p.position, p.id)).id if rollout_phases else None
