"""What the PDF plan shows, read from the workspace into plain data: no Qt here, and nothing secret or personal.

The reader takes one rollout and gives a :class:`PlanExport`: the cover facts, readiness answers, cohorts with
their rules in words and account counts, the phases for the chart, gates with their latest values, the
decision log, checklists by phase and role, and the comms plan. Connection URLs lose their user info, query and
fragment; recipients (contacts, e-mail addresses, delivery rows) are never read, only counted.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from launchdesk.access.evaluate import iter_account_chunks
from launchdesk.access.sync import current_phase, rollout_snapshot
from launchdesk.export import PAGE_SIZES, SECTIONS
from launchdesk.metrics.evaluate import gate_results
from launchdesk.models import (
    Account,
    Cohort,
    Decision,
    DecisionKind,
    Delivery,
    DeliveryState,
    Gate,
    GateOutcome,
    MessageState,
    Phase,
    PhaseKind,
    PhaseStatus,
    Role,
    Rollout,
    RolloutStatus,
)
from launchdesk.planning.business_hours import BusinessHours, BusinessHoursError, team_business_hours
from launchdesk.planning.checklists import ROLE_LABELS, describe_offset, load_items
from launchdesk.planning.cohort_rules import describe_rule, matches
from launchdesk.planning.gates import format_duration, format_value
from launchdesk.planning.readiness import READINESS_QUESTIONS
from launchdesk.planning.schedule import due_at
from launchdesk.planning.labels import PHASE_STATUS_LABELS

SECTION_TITLES = {
    "cover": "Cover",
    "readiness": "Readiness",
    "cohorts": "Cohorts",
    "timeline": "Timeline",
    "gates": "Gates",
    "decisions": "Decision log",
    "checklists": "Checklists",
    "comms": "Comms plan",
}
EXAMPLE_ACCOUNTS = 5  # account names shown per cohort, so support and CS can picture who is in it

STATUS_LABELS = PHASE_STATUS_LABELS
ROLLOUT_STATUS_LABELS = {
    RolloutStatus.PLANNING: "Planning",
    RolloutStatus.ACTIVE: "Active",
    RolloutStatus.PAUSED: "Paused",
    RolloutStatus.COMPLETE: "Complete",
    RolloutStatus.ROLLED_BACK: "Rolled back",
}
DECISION_LABELS = {
    DecisionKind.GO: "Go",
    DecisionKind.NO_GO: "No-go",
    DecisionKind.PAUSE: "Pause",
    DecisionKind.ROLLBACK: "Rollback",
}
MESSAGE_STATE_LABELS = {
    MessageState.DRAFT: "Draft",
    MessageState.IN_REVIEW: "In review",
    MessageState.APPROVED: "Approved",
    MessageState.SENDING: "Sending",
    MessageState.SENT: "Sent",
    MessageState.PARTLY_FAILED: "Sent, some failed",
}


class ExportError(ValueError):
    """Options or a rollout that cannot be exported; the message says what to change."""


@dataclass(frozen=True)
class ExportOptions:
    """What goes into the PDF: which sections, message bodies or not, and the paper size."""

    sections: tuple[str, ...] = SECTIONS
    message_bodies: bool = False
    page_size: str = "A4"

    def __post_init__(self) -> None:
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown:
            raise ExportError(f"Unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}.")
        if not self.sections:
            raise ExportError("Choose at least one section to export.")
        if self.page_size not in PAGE_SIZES:
            raise ExportError(f"The page size must be {' or '.join(PAGE_SIZES)}, not {self.page_size!r}.")
        # Plan order whatever order they were given in, so the document always reads the same way.
        object.__setattr__(self, "sections", tuple(s for s in SECTIONS if s in self.sections))


@dataclass(frozen=True)
class KeyDate:
    label: str
    at: dt.datetime


@dataclass(frozen=True)
class CohortInfo:
    name: str
    description: str
    rule: str  # in words
    target_percentage: float
    accounts_matched: int
    examples: tuple[str, ...]
    comms_style: str


@dataclass(frozen=True)
class ChartMessage:
    name: str
    at: dt.datetime


@dataclass(frozen=True)
class ChartPhase:
    """One row of the timeline chart."""

    name: str
    kind: PhaseKind
    status: PhaseStatus
    cohort: str | None
    target_percentage: float | None
    start: dt.datetime
    end: dt.datetime
    actual_start: dt.datetime | None
    actual_end: dt.datetime | None
    start_warning: str | None  # outside business hours
    messages: tuple[ChartMessage, ...] = ()

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class GateInfo:
    name: str
    source: str  # "Prometheus: Prod metrics" or "entered by hand"
    query: str
    rule: str  # "< 0.1 %", "< 2 × baseline (24)"
    window: str
    min_samples: int
    failure_limit: int
    value: str
    observed_at: dt.datetime | None
    outcome: GateOutcome
    reason: str


@dataclass(frozen=True)
class SnapshotLine:
    gate: str
    value: str
    rule: str
    outcome: str
    at: dt.datetime | None


@dataclass(frozen=True)
class DecisionInfo:
    phase: str
    kind: str
    decided_by: str
    decided_at: dt.datetime
    reason: str
    overridden: bool
    snapshot: tuple[SnapshotLine, ...]


@dataclass(frozen=True)
class ChecklistLine:
    title: str
    notes: str
    when: str  # "48 h before"
    due: dt.datetime
    done_by: str | None
    done_at: dt.datetime | None


@dataclass(frozen=True)
class RoleChecklist:
    role: str
    items: tuple[ChecklistLine, ...]


@dataclass(frozen=True)
class PhaseChecklist:
    phase: str
    start: dt.datetime
    roles: tuple[RoleChecklist, ...]


@dataclass(frozen=True)
class MessageInfo:
    phase: str
    cohort: str
    name: str
    channel: str
    audience: str
    send_at: dt.datetime
    state: str
    approved_by: str | None
    approved_at: dt.datetime | None
    deliveries: str  # "312 sent, 3 failed", or "" before sending
    subject: str
    body: str  # "" unless the options ask for message bodies


@dataclass(frozen=True)
class FlagInfo:
    key: str
    environment: str
    connection: str  # "via Unleash (production) at http://host:4242"
    last_sync: dt.datetime | None
    enabled: bool | None
    percentage: float | None
    accounts_with_access: int | None
    drift: str | None


@dataclass
class PlanExport:
    """Everything one rollout's PDF shows, as plain values."""

    rollout_name: str
    feature_name: str
    description: str
    owner: str
    status: str
    current_phase: str | None
    generated_at: dt.datetime
    hours: BusinessHours
    flag: FlagInfo | None
    key_dates: list[KeyDate] = field(default_factory=list)
    readiness: list[tuple[str, str]] = field(default_factory=list)  # question, answer ("" when open)
    kill_switch_tested_on: dt.date | None = None
    cohorts: list[CohortInfo] = field(default_factory=list)
    phases: list[ChartPhase] = field(default_factory=list)
    gates: list[GateInfo] = field(default_factory=list)
    decisions: list[DecisionInfo] = field(default_factory=list)
    checklists: list[PhaseChecklist] = field(default_factory=list)
    messages: list[MessageInfo] = field(default_factory=list)

    @property
    def zone_name(self) -> str:
        return self.hours.timezone

    @property
    def messages_by_phase(self) -> list[tuple[str, list[MessageInfo]]]:
        """The comms plan in plan order, one group per phase."""
        groups: dict[str, list[MessageInfo]] = {}
        for message in self.messages:
            groups.setdefault(message.phase, []).append(message)
        return list(groups.items())


def read_plan(
    session: Session,
    rollout: Rollout,
    options: ExportOptions,
    *,
    now: dt.datetime,
    cancelled: Callable[[], bool] = lambda: False,
) -> PlanExport:
    """Read what ``options`` ask for about ``rollout``; sections left out are not read at all."""
    try:
        hours = team_business_hours(session)
    except BusinessHoursError:
        hours = BusinessHours.parse()  # the timeline flags the broken setting; the PDF still needs a clock
    phase_now = current_phase(rollout)
    plan = PlanExport(
        rollout_name=rollout.name,
        feature_name=rollout.feature_name,
        description=rollout.description,
        owner=rollout.owner,
        status=ROLLOUT_STATUS_LABELS[rollout.status],
        current_phase=f"{phase_now.name} ({STATUS_LABELS[phase_now.status].lower()})" if phase_now else None,
        generated_at=now,
        hours=hours,
        flag=_flag(session, rollout),
    )
    wanted = set(options.sections)
    phases = list(rollout.phases)
    plan.key_dates = _key_dates(phases, phase_now)
    plan.phases = [_chart_phase(p, hours) for p in phases]  # the cover's overview and the timeline
    if "readiness" in wanted:
        plan.readiness = [(label, (getattr(rollout, name) or "").strip()) for name, label in READINESS_QUESTIONS]
        plan.kill_switch_tested_on = rollout.kill_switch_tested_on
    if "cohorts" in wanted:
        plan.cohorts = _cohorts(session, list(rollout.cohorts), cancelled)
    if "gates" in wanted:
        plan.gates = _gates(session, rollout, now)
    if "decisions" in wanted:
        plan.decisions = _decisions(session, rollout)
    if "checklists" in wanted:
        plan.checklists = _checklists(session, rollout, hours)
    if "comms" in wanted:
        plan.messages = _messages(session, phases, options.message_bodies, hours.zone)
    return plan


def public_url(url: str) -> str:
    """A connection URL without user info, query or fragment: where it points, never how it signs in."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    if not parts.scheme or not host:
        return ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


# --- the parts -----------------------------------------------------------------------------------------------


def _flag(session: Session, rollout: Rollout) -> FlagInfo | None:
    if not rollout.flag_key:
        return None
    connection = rollout.flag_connection
    where = ""
    if connection is not None:
        url = public_url(connection.url)
        kind = connection.kind.value
        name = connection.name if kind in connection.name.lower() else f"{connection.name} ({kind.capitalize()})"
        where = f"via {name}" + (f" at {url}" if url else "")
    snapshot = rollout_snapshot(session, rollout)
    summary = snapshot.access_summary if snapshot is not None else {}
    return FlagInfo(
        key=rollout.flag_key,
        environment=rollout.flag_environment or (connection.environment if connection else ""),
        connection=where,
        last_sync=snapshot.fetched_at if snapshot else None,
        enabled=snapshot.enabled if snapshot else None,
        percentage=snapshot.rollout_percentage if snapshot else None,
        accounts_with_access=summary.get("enabled"),
        drift=snapshot.drift if snapshot else None,
    )


def _key_dates(phases: Sequence[Phase], phase_now: Phase | None) -> list[KeyDate]:
    if not phases:
        return []
    preparation = [p for p in phases if p.kind == PhaseKind.PREPARATION]
    expansions = [p for p in phases if p.kind == PhaseKind.ROLLOUT]
    dates: list[KeyDate] = []
    if preparation:
        dates.append(KeyDate("Preparation starts", min(p.planned_start for p in preparation)))
    if expansions:
        dates.append(KeyDate(f"Launch: {expansions[0].name}", expansions[0].planned_start))
        if phase_now is not None and phase_now not in (expansions[0], expansions[-1]):
            dates.append(KeyDate(f"Current: {phase_now.name}", phase_now.planned_start))
        if len(expansions) > 1:
            dates.append(KeyDate(f"Last expansion: {expansions[-1].name}", expansions[-1].planned_start))
    dates.append(KeyDate("Plan ends", max(p.planned_end for p in phases)))
    return dates


def _cohorts(session: Session, cohorts: list[Cohort], cancelled: Callable[[], bool]) -> list[CohortInfo]:
    """Each cohort with the accounts its rule matches, counted in one pass over the accounts."""
    counts = Counter[int]()
    examples: dict[int, list[int]] = {c.id: [] for c in cohorts}
    for chunk in iter_account_chunks(session):
        if cancelled():
            break
        for account in chunk:
            for cohort in cohorts:
                if matches(cohort.rule, account.attributes):
                    counts[cohort.id] += 1
                    if len(examples[cohort.id]) < EXAMPLE_ACCOUNTS:
                        examples[cohort.id].append(account.id)
    wanted = {i for ids in examples.values() for i in ids}
    names = {row.id: row.name for row in session.execute(select(Account.id, Account.name).where(Account.id.in_(wanted)))}
    return [
        CohortInfo(
            name=c.name, description=c.description, rule=describe_rule(c.rule), target_percentage=c.target_percentage,
            accounts_matched=counts[c.id], examples=tuple(names[i] for i in examples[c.id] if names.get(i)),
            comms_style=c.comms_style,
        )
        for c in cohorts
    ]


def _chart_phase(phase: Phase, hours: BusinessHours) -> ChartPhase:
    messages = tuple(
        ChartMessage(m.name, due_at(phase.planned_start, m.send_offset_minutes, hours.zone))
        for m in sorted(phase.messages, key=lambda m: (m.send_offset_minutes, m.id))
    )
    return ChartPhase(
        name=phase.name, kind=phase.kind, status=phase.status, cohort=phase.cohort.name if phase.cohort else None,
        target_percentage=phase.target_percentage, start=phase.planned_start, end=phase.planned_end,
        actual_start=phase.actual_start, actual_end=phase.actual_end,
        start_warning=hours.warning(phase.planned_start) if phase.kind == PhaseKind.ROLLOUT else None,
        messages=messages,
    )


def _gates(session: Session, rollout: Rollout, now: dt.datetime) -> list[GateInfo]:
    gates: dict[int, Gate] = {g.id: g for g in rollout.gates}
    infos = []
    for result in gate_results(session, rollout, now=now):
        gate = gates[result.gate_id]  # type: ignore[index]
        source = gate.source_connection
        infos.append(GateInfo(
            name=gate.name,
            source=f"{source.kind.value.capitalize()}: {source.name}" if source else "Values entered by hand",
            query=gate.query.strip(),
            rule=result.display_threshold(),
            window=format_duration(gate.window_s),
            min_samples=gate.min_samples,
            failure_limit=gate.failure_limit,
            value=result.display_value(),
            observed_at=result.observed_at,
            outcome=result.outcome,
            reason=result.reason,
        ))
    return infos


def _decisions(session: Session, rollout: Rollout) -> list[DecisionInfo]:
    decisions = session.scalars(
        select(Decision).join(Phase).where(Phase.rollout_id == rollout.id).order_by(Decision.decided_at, Decision.id)
    )
    units = {g.name: g.unit for g in rollout.gates}
    return [
        DecisionInfo(
            phase=d.phase.name, kind=DECISION_LABELS[d.kind], decided_by=d.decided_by, decided_at=d.decided_at,
            reason=d.reason, overridden=d.overridden,
            snapshot=tuple(_snapshot_line(s, units) for s in d.gate_snapshot),
        )
        for d in decisions
    ]


def _snapshot_line(entry: dict[str, Any], units: dict[str, str]) -> SnapshotLine:
    """A frozen gate value as a decision kept it; older snapshots lack ``display`` and ``unit``, so the gate's
    unit of today stands in when the gate still exists."""
    unit = entry.get("unit", units.get(str(entry.get("gate")), ""))
    value = entry.get("display") or format_value(entry.get("value"), unit)
    threshold = entry.get("threshold")
    rule = f"{entry.get('comparison', '')} {format_value(threshold, unit) if threshold is not None else '?'}"
    if unit.lstrip().startswith(("×", "x ")):
        rule = f"{entry.get('comparison', '')} {threshold:g} × baseline" if threshold is not None else rule
    at = entry.get("at")
    return SnapshotLine(
        gate=str(entry.get("gate", "?")), value=value, rule=rule.strip(), outcome=str(entry.get("outcome", "")),
        at=dt.datetime.fromisoformat(at) if at else None,
    )


def _checklists(session: Session, rollout: Rollout, hours: BusinessHours) -> list[PhaseChecklist]:
    items = load_items(session, hours.zone, rollout_id=rollout.id)
    by_phase: dict[int, list[Any]] = {}
    for item in items:
        by_phase.setdefault(item.phase_id, []).append(item)
    result = []
    for phase in rollout.phases:
        phase_items = by_phase.get(phase.id, [])
        if not phase_items:
            continue
        roles = []
        for role in Role:
            lines = sorted((i for i in phase_items if i.role == role), key=lambda i: (i.due, i.position, i.id))
            if lines:
                roles.append(RoleChecklist(ROLE_LABELS[role], tuple(
                    ChecklistLine(i.title, i.notes, describe_offset(i.offset_minutes), i.due, i.done_by, i.done_at)
                    for i in lines
                )))
        result.append(PhaseChecklist(phase.name, phase.planned_start, tuple(roles)))
    return result


def _messages(session: Session, phases: Sequence[Phase], bodies: bool, zone: ZoneInfo) -> list[MessageInfo]:
    ids = [m.id for p in phases for m in p.messages]
    counts: dict[int, Counter[str]] = {}
    if ids:
        for message_id, state, n in session.execute(
            select(Delivery.message_id, Delivery.state, func.count()).where(Delivery.message_id.in_(ids))
            .group_by(Delivery.message_id, Delivery.state)
        ):
            counts.setdefault(message_id, Counter())[DeliveryState(state).value] += n
    infos = []
    for phase in phases:
        for message in sorted(phase.messages, key=lambda m: (m.send_offset_minutes, m.id)):
            cohort = message.cohort or phase.cohort
            audience = "All customers" if message.audience == "all_customers" else "Cohort, accounts with access"
            infos.append(MessageInfo(
                phase=phase.name,
                cohort="All customers" if message.audience == "all_customers" else (cohort.name if cohort else "—"),
                name=message.name,
                channel={"email": "E-mail", "slack": "Slack", "webhook": "Webhook"}[message.channel.value],
                audience=audience,
                send_at=due_at(phase.planned_start, message.send_offset_minutes, zone),
                state=MESSAGE_STATE_LABELS[message.state],
                approved_by=message.approved_by,
                approved_at=message.approved_at,
                deliveries=_delivery_text(counts.get(message.id)),
                subject=message.subject,
                body=message.body if bodies else "",
            ))
    return infos


def _delivery_text(counts: Counter[str] | None) -> str:
    if not counts:
        return ""
    order = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNCERTAIN, DeliveryState.PENDING,
             DeliveryState.SENDING)
    return ", ".join(f"{counts[s.value]:,} {s.value}" for s in order if counts[s.value])
