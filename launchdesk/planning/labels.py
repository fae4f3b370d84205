"""How roles and phase statuses are named and coloured everywhere: the window, the timeline and the PDF."""

from __future__ import annotations

from launchdesk.models import PhaseStatus, Role

ROLE_LABELS: dict[Role, str] = {
    Role.PMM: "PMM",
    Role.ENGINEERING: "Engineering",
    Role.SUPPORT: "Support",
    Role.CS: "Customer success",
    Role.SALES: "Sales",
    Role.MARKETING: "Marketing",
}

PHASE_STATUS_LABELS: dict[PhaseStatus, str] = {
    PhaseStatus.PLANNED: "Planned",
    PhaseStatus.AWAITING_GO: "Awaiting go",
    PhaseStatus.APPROVED: "Approved",
    PhaseStatus.LIVE: "Live",
    PhaseStatus.PAUSED: "Paused",
    PhaseStatus.ROLLED_BACK: "Rolled back",
    PhaseStatus.COMPLETE: "Complete",
}

# Bar colours of the timeline, on screen and in the printed plan alike.
PHASE_STATUS_COLORS: dict[PhaseStatus, str] = {
    PhaseStatus.PLANNED: "#4f6fa8",
    PhaseStatus.AWAITING_GO: "#b57a00",
    PhaseStatus.APPROVED: "#17807e",
    PhaseStatus.LIVE: "#1b7f3b",
    PhaseStatus.PAUSED: "#c25e00",
    PhaseStatus.ROLLED_BACK: "#b3261e",
    PhaseStatus.COMPLETE: "#6b6b6b",
}
