"""The demo workspace: three rollouts at different stages, 5,000 accounts and their history, for a first look.

Everything is derived from the seed and ``now``, so the same call writes the same workspace. E-mail addresses
use the reserved ``.example`` top-level domain (RFC 2606), so a demo send can never reach a real person.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.models import (
    Account,
    Connection,
    ConnectionKind,
    Contact,
    Decision,
    DecisionKind,
    Delivery,
    DeliveryState,
    FlagSnapshot,
    Gate,
    GateOutcome,
    JournalEntry,
    Message,
    MessageState,
    MetricSample,
    Phase,
    PhaseKind,
    PhaseStatus,
    Role,
    Rollout,
    RolloutStatus,
    Setting,
    SyncRun,
    SyncStatus,
    TeamMember,
    utcnow,
)
from launchdesk.planning.checklists import due_at
from launchdesk.planning.cohort_rules import matches
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import WorkspaceError, create_workspace

TEAM_TIMEZONE = "Europe/Berlin"
BUSINESS_HOURS = {"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4]}
# Phases start at 08:00 UTC: 09:00 or 10:00 in Berlin, inside business hours all year.
PHASE_START_UTC = dt.time(8, 0, tzinfo=dt.timezone.utc)
TEAM_DOMAIN = "launchdesk-demo.example"

TEAM = [
    ("Mia Hoffmann", Role.PMM),
    ("Daniel Okafor", Role.ENGINEERING),
    ("Priya Raman", Role.ENGINEERING),
    ("Lucas Moreau", Role.SUPPORT),
    ("Sofia Lindqvist", Role.CS),
    ("Tom Becker", Role.SALES),
    ("Aiko Tanaka", Role.MARKETING),
]

NAME_FIRST = (
    "Northwind Bluefin Cobalt Granite Harbor Juniper Kestrel Lumen Maple Nimbus Orchid Pioneer Quarry Redwood "
    "Summit Tidal Umber Vertex Willow Yonder Zephyr Alder Beacon Cascade Driftwood Ember Fjord Glacier Helix "
    "Ironbark Jasper Keystone Lark Meridian Nova Oakridge Polar Quill Riverbend Sable Tamarack Upland Vantage "
    "Wren Aspen Birch Cedar Delta Evergreen Falcon Highland Indigo Larkspur Marlin Nautilus Onyx Pinnacle "
    "Sterling Trident Copperleaf"
).split()
NAME_SECOND = (
    "Analytics Logistics Health Robotics Foods Energy Labs Software Systems Media Capital Outfitters Dental "
    "Architects Freight Studios Brewing Biotech Insurance Learning Payments Security Travel Retail Manufacturing "
    "Consulting Clinics Marine Farms Networks"
).split()
NAME_SUFFIX = ["", "", "", " Inc.", " GmbH", " Ltd", " LLC", " AG", " BV", " Group", " & Co.", " SAS"]
INTERNAL_TEAMS = "Product Engineering Support Sales Marketing Success Finance Design Data Operations".split()
FIRST_NAMES = (
    "Ada Ben Chloe David Elena Farid Grace Hiro Ines Jonas Kemi Liam Maya Nils Olga Pablo Quinn Rosa Sven Tara "
    "Umar Vera Wei Ximena Yusuf Zoe Amara Bruno Carla Dmitri Emma Felix Hana Ivan Julia Kai Lena Marco Nadia Omar"
).split()
LAST_NAMES = (
    "Andersen Baptiste Chen Dubois Eriksen Fischer Garcia Haddad Ito Jansen Kowalski Larsen Martin Novak "
    "Okoro Petrov Quinn Rossi Schmidt Tanaka Ueda Varga Weber Xu Yilmaz Zimmermann Silva Moreau Nguyen Patel"
).split()
INTEGRATIONS = ["slack", "salesforce", "hubspot", "jira", "zendesk", "github", "google_workspace", "microsoft_teams"]

SEGMENTS = (("internal", 0.004), ("design_partner", 0.012), ("smb", 0.55), ("mid_market", 0.30),
            ("enterprise", 0.134))
PLANS = {
    "internal": (("enterprise", 1.0),),
    "design_partner": (("business", 0.5), ("enterprise", 0.5)),
    "smb": (("starter", 0.5), ("pro", 0.4), ("business", 0.1)),
    "mid_market": (("pro", 0.35), ("business", 0.55), ("enterprise", 0.1)),
    "enterprise": (("business", 0.2), ("enterprise", 0.8)),
}
SEATS = {"internal": (5, 200), "design_partner": (20, 2000), "smb": (2, 49), "mid_market": (50, 999),
         "enterprise": (1000, 20000)}
ENGAGEMENT = (("low", 0.30), ("medium", 0.40), ("high", 0.22), ("power", 0.08))
REGIONS = (("eu", 0.35), ("na", 0.40), ("apac", 0.18), ("latam", 0.07))


def write_demo(
    path: str | Path, *, accounts: int = 5000, seed: int = 7, now: dt.datetime | None = None
) -> Path:
    """Create a new workspace at ``path`` holding the demo; an existing file is never overwritten."""
    path = Path(path)
    if path.exists():
        raise WorkspaceError(f"{path} already exists; the demo is only written to a new file.")
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    workspace = create_workspace(path)
    try:
        with workspace.transaction() as session:
            _Demo(session, random.Random(seed), now).build(accounts)
        _summarise_snapshots(workspace, now)
    except BaseException:
        workspace.close()
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    workspace.close()
    return path


@dataclass
class _Customer:
    """What the demo needs to know of an account after the bulk insert: id, attributes, contact e-mails."""

    id: int
    key: str
    attributes: dict[str, str]
    emails: list[str] = field(default_factory=list)


class _Demo:
    def __init__(self, session: Session, rng: random.Random, now: dt.datetime) -> None:
        self.session = session
        self.rng = rng
        self.now = now
        self.today = now.astimezone(dt.timezone.utc).date()
        self.customers: list[_Customer] = []
        self.by_role: dict[Role, list[str]] = {}
        self.template = load_template()
        self.unleash = Connection(name="Unleash (production)", kind=ConnectionKind.UNLEASH,
                                  url="http://127.0.0.1:4242", project="default", environment="production",
                                  options={"secret_id": f"demo-{rng.getrandbits(64):016x}"})

    def build(self, account_count: int) -> None:
        self.session.add_all([Setting(key="team.timezone", value=TEAM_TIMEZONE),
                              Setting(key="team.business_hours", value=BUSINESS_HOURS)])
        for name, role in TEAM:
            email = f"{name.lower().replace(' ', '.')}@{TEAM_DOMAIN}"
            self.session.add(TeamMember(name=name, email=email, role=role))
            self.by_role.setdefault(role, []).append(name)
        self.session.add(self.unleash)
        self._accounts(account_count)
        self._planning_rollout()
        self._mid_rollout()
        self._complete_rollout()
        self._flag_snapshots()

    # --- what the last flag sync saw ------------------------------------------------------------------------------

    def _flag_snapshots(self) -> None:
        """Snapshots as a sync of the demo's (imaginary) Unleash would have stored them, so the support lookup
        and access counts have something to show before anyone connects a real flag platform."""
        fetched = self.now - dt.timedelta(minutes=40)
        run = SyncRun(kind="flags", started_at=fetched, finished_at=fetched + dt.timedelta(seconds=2),
                      status=SyncStatus.OK)
        self.session.add(run)
        self.session.flush()
        internal = {"contextName": "segment", "operator": "IN", "values": ["internal", "design_partner"]}
        plans = {
            "smart-scheduling": (False, [_strategy("flexibleRollout", 0, "smart-scheduling")], 0.0),
            "workflow-automations": (True, [
                {"name": "default", "parameters": {}, "constraints": [internal], "segments": [], "variants": []},
                _strategy("flexibleRollout", 25, "workflow-automations"),
            ], 25.0),
            "billing-insights": (True, [_strategy("flexibleRollout", 100, "billing-insights")], 100.0),
        }
        for flag, (enabled, strategies, percentage) in plans.items():
            definition = {"name": flag, "project": "default", "type": "release", "environment": "production",
                          "enabled": enabled, "stale": False, "impressionData": False, "strategies": strategies,
                          "variants": [], "dependencies": [], "segments": {}}
            self.session.add(FlagSnapshot(connection=self.unleash, sync_run_id=run.id, flag_key=flag,
                                          environment="production", fetched_at=fetched, enabled=enabled,
                                          definition=definition, rollout_percentage=percentage))

    # --- accounts -----------------------------------------------------------------------------------------------

    def _accounts(self, count: int) -> None:
        rng = self.rng
        seen_names: set[str] = set()
        seen_emails: set[str] = set()
        account_rows: list[dict[str, Any]] = []
        contact_rows: list[dict[str, Any]] = []
        imported_at = self.now - dt.timedelta(days=90)
        for i in range(1, count + 1):
            segment = _pick(rng, SEGMENTS)
            if segment == "internal":
                base = f"Internal: {rng.choice(INTERNAL_TEAMS)} team"
            else:
                base = f"{rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)}{rng.choice(NAME_SUFFIX)}"
            name, n = base, 1
            while name in seen_names:  # a second "Northwind Analytics" becomes "Northwind Analytics 2"
                n += 1
                name = f"{base} {n}"
            seen_names.add(name)
            low, high = SEATS[segment]
            attributes = {
                "segment": segment,
                "engagement": "power" if segment == "internal" else _pick(rng, ENGAGEMENT),
                "plan": _pick(rng, PLANS[segment]),
                "seats": str(rng.randint(low, high)),
                "region": _pick(rng, REGIONS),
                "integrations": ",".join(sorted(rng.sample(INTEGRATIONS, rng.choice((0, 1, 1, 2, 2, 3, 4))))),
                "customer_since": (self.today - dt.timedelta(days=rng.randint(30, 2500))).isoformat(),
            }
            if segment in ("mid_market", "enterprise", "design_partner"):
                attributes["csm"] = "Sofia Lindqvist"
            key = f"ACC-{100000 + i}"
            account_rows.append({"id": i, "account_key": key, "name": name, "name_folded": name.casefold(),
                                 "attributes": attributes, "imported_at": imported_at})
            customer = _Customer(i, key, attributes)
            domain = "internal.launchdesk-demo.example" if segment == "internal" else \
                re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".example"
            for position in range(_pick(rng, ((1, 0.5), (2, 0.35), (3, 0.15)))):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                email, n = f"{first}.{last}@{domain}".lower(), 1
                while email in seen_emails:  # the internal workspaces share one domain
                    n += 1
                    email = f"{first}.{last}{n}@{domain}".lower()
                seen_emails.add(email)
                customer.emails.append(email)
                contact_rows.append({"account_id": i, "position": position, "email": email,
                                     "first_name": first, "last_name": last})
            self.customers.append(customer)
        _bulk_insert(self.session, Account, account_rows)
        _bulk_insert(self.session, Contact, contact_rows)

    # --- the three rollouts -------------------------------------------------------------------------------------

    def _new_rollout(self, name: str, feature: str, flag_key: str, launch: dt.datetime) -> Rollout:
        pmm = self.by_role[Role.PMM][0]
        rollout = create_rollout_from_template(self.session, self.template, name=name, feature_name=feature,
                                               launch_start=launch, owner=pmm)
        created = launch - dt.timedelta(days=35)
        rollout.created_at = created
        rollout.flag_connection = self.unleash
        rollout.flag_key = flag_key
        rollout.flag_environment = self.unleash.environment
        rollout.readiness_can_flag = f"Yes: everything new sits behind the '{flag_key}' flag."
        rollout.readiness_blast_radius = "Only the new screens; existing data and APIs are unchanged."
        for entry in self.session.scalars(select(JournalEntry).where(JournalEntry.rollout_id == rollout.id)):
            entry.at, entry.actor = created, pmm
        return rollout

    def _planning_rollout(self) -> None:
        launch = _at_phase_start(self.today + dt.timedelta(days=21), forward=True)
        rollout = self._new_rollout("Smart Scheduling", "Smart scheduling", "smart-scheduling", launch)
        rollout.status = RolloutStatus.PLANNING
        for phase in rollout.phases:
            if phase.kind == PhaseKind.PREPARATION and phase.planned_start <= self.now:
                self._run_phase(rollout, phase, complete=phase.planned_end <= self.now)
        messages = [m for p in _rollout_phases(rollout) for m in p.messages]
        self._approve(rollout, messages[0], self.now - dt.timedelta(days=1))
        messages[1].state = MessageState.IN_REVIEW
        self._journal(rollout, "message.review", f"'{messages[1].name}' sent for review.",
                      self.now - dt.timedelta(hours=5), Role.MARKETING)

    def _mid_rollout(self) -> None:
        # Phase 3 started yesterday (or on the last weekday), phases 1 and 2 are complete.
        phase3_day = self.today - dt.timedelta(days=1)
        while phase3_day.weekday() >= 5:
            phase3_day -= dt.timedelta(days=1)
        launch = _at_phase_start(phase3_day - dt.timedelta(days=14), forward=False)
        rollout = self._new_rollout("Workflow Automations", "Workflow automations", "workflow-automations", launch)
        self._ready(rollout, launch)
        rollout.status = RolloutStatus.ACTIVE
        phases = _rollout_phases(rollout)
        samples = self._metric_history(rollout, launch - dt.timedelta(days=3), self.now, hourly=True,
                                       incident=phases[1].planned_start - dt.timedelta(hours=8))
        for phase in rollout.phases:
            if phase.kind == PhaseKind.PREPARATION:
                self._run_phase(rollout, phase, complete=True)
        already: set[int] = set()
        engineering = self.by_role[Role.ENGINEERING][0]
        # Phase 2 was held for a day: the error rate and P99 failed at the first go/no-go.
        self._decide(rollout, phases[1], DecisionKind.NO_GO, phases[1].planned_start - dt.timedelta(hours=3),
                     samples, "Error rate and P99 are above their gates since last night's deploy; hold phase 2.")
        delays = {1: dt.timedelta(days=1)}
        for index, phase in enumerate(phases[:3]):
            start = phase.planned_start + delays.get(index, dt.timedelta(0))
            self._decide(rollout, phase, DecisionKind.GO, start - dt.timedelta(hours=1), samples,
                         "Gates checked in the go/no-go call." if index else
                         "Internal users and design partners first; activation cannot be measured yet.")
            self._run_phase(rollout, phase, complete=index < 2, actual_start=start + dt.timedelta(minutes=12))
            message = phase.messages[0]
            self._approve(rollout, message, start - dt.timedelta(days=2))
            self._send(rollout, message, due_at(start, message.send_offset_minutes, ZoneInfo(TEAM_TIMEZONE)), already,
                       failures=3 if index == 1 else 0)
        for item in phases[3].checklist[:2]:  # some people prepare early
            self._tick(item, self.now - dt.timedelta(hours=2))
        self._approve(rollout, phases[3].messages[0], self.now - dt.timedelta(hours=20))
        phases[4].messages[0].state = MessageState.IN_REVIEW
        self._journal(rollout, "flags.sync",
                      f"Flag sync: '{rollout.flag_key}' is at {phases[2].target_percentage:g}% in production, "
                      "as planned.", self.now - dt.timedelta(minutes=40), None, actor=engineering)

    def _complete_rollout(self) -> None:
        launch = _at_phase_start(self.today - dt.timedelta(days=70), forward=True)
        rollout = self._new_rollout("Billing Insights", "Billing insights", "billing-insights", launch)
        self._ready(rollout, launch)
        phases = _rollout_phases(rollout)
        samples = self._metric_history(rollout, launch - dt.timedelta(days=1), phases[-1].planned_end,
                                       hourly=False, incident=None)
        for phase in rollout.phases:
            if phase.kind == PhaseKind.PREPARATION:
                self._run_phase(rollout, phase, complete=True)
        already: set[int] = set()
        for index, phase in enumerate(phases):
            self._decide(rollout, phase, DecisionKind.GO, phase.planned_start - dt.timedelta(hours=2), samples,
                         "All gates pass." if index else "Activation cannot be measured before anyone has access.")
            self._run_phase(rollout, phase, complete=True, actual_start=phase.planned_start)
            message = phase.messages[0]
            self._approve(rollout, message, phase.planned_start - dt.timedelta(days=3))
            self._send(rollout, message,
                       due_at(phase.planned_start, message.send_offset_minutes, ZoneInfo(TEAM_TIMEZONE)), already)
        rollout.status = RolloutStatus.COMPLETE
        self._journal(rollout, "rollout.completed", f"'{rollout.name}' reached everyone; the rollout is complete.",
                      phases[-1].planned_end, Role.PMM)

    # --- building blocks ----------------------------------------------------------------------------------------

    def _ready(self, rollout: Rollout, launch: dt.datetime) -> None:
        rollout.readiness_monitoring = "Error rate and P99 dashboards per endpoint; alerts page the on-call engineer."
        rollout.readiness_rollback_plan = "Turn the flag off (kill switch); no data migration to undo."
        rollout.kill_switch_tested_on = (launch - dt.timedelta(days=6)).date()

    def _run_phase(self, rollout: Rollout, phase: Phase, *, complete: bool,
                   actual_start: dt.datetime | None = None) -> None:
        """Mark a phase as started (and maybe finished) and tick the checklist items that were due by then."""
        start = actual_start or phase.planned_start
        phase.actual_start = start
        phase.status = PhaseStatus.LIVE
        if complete:
            phase.actual_end = phase.planned_end
            phase.status = PhaseStatus.COMPLETE
        horizon = phase.planned_end if complete else self.now
        zone = ZoneInfo(TEAM_TIMEZONE)
        for item in phase.checklist:
            due = due_at(phase.planned_start, item.offset_minutes, zone)
            if due <= horizon and (complete or self.rng.random() < 0.8):
                self._tick(item, min(due + dt.timedelta(minutes=self.rng.randint(-240, 90)), self.now))
        if phase.kind == PhaseKind.ROLLOUT:
            self._journal(rollout, "phase.started", f"{phase.name} started: the flag is at "
                          f"{phase.target_percentage:g}%.", start, Role.ENGINEERING)
            if complete:
                self._journal(rollout, "phase.completed", f"{phase.name} completed.", phase.planned_end, Role.PMM)

    def _tick(self, item: Any, at: dt.datetime) -> None:
        item.done_at = at
        item.done_by = self.by_role[item.role][0]

    def _approve(self, rollout: Rollout, message: Message, at: dt.datetime) -> None:
        # The same journal entry as a real approval, with the content fingerprint the send guard checks.
        from launchdesk.comms.approval import APPROVED_KIND, approval_details

        message.state = MessageState.APPROVED
        message.approved_by = self.by_role[Role.PMM][0]
        message.approved_at = at
        self.session.flush()
        self._journal(rollout, APPROVED_KIND, f"'{message.name}' for {message.phase.name} approved.", at, Role.PMM,
                      details=approval_details(message))

    def _send(self, rollout: Rollout, message: Message, at: dt.datetime, already: set[int], *,
              failures: int = 0) -> None:
        """Deliveries to the cohort's accounts that have access and were not written to before."""
        cohort = message.cohort
        assert cohort is not None and message.id is not None
        percentage = cohort.target_percentage
        audience = [
            c for c in self.customers
            if c.id not in already and matches(cohort.rule, c.attributes)
            # A cohort without conditions is a share of every account: a stable bucket per account picks it.
            and (cohort.rule.get("conditions") or zlib.crc32(c.key.encode()) % 100 < percentage)
        ]
        rows = []
        for customer in audience:
            already.add(customer.id)
            for email in customer.emails:
                n = len(rows)
                rows.append({"message_id": message.id, "account_id": customer.id, "recipient": email,
                             "state": DeliveryState.SENT, "attempts": 1, "last_error": "", "queued_at": at,
                             "sent_at": at + dt.timedelta(seconds=n // 20),
                             "provider_message_id": f"<{message.id}.{n}@mail.{TEAM_DOMAIN}>"})
        for row in self.rng.sample(rows, min(failures, len(rows))):
            row.update(state=DeliveryState.FAILED, sent_at=None, provider_message_id=None, attempts=3,
                       last_error=f"550 5.1.1 <{row['recipient']}>: Recipient address rejected: User unknown")
        _bulk_insert(self.session, Delivery, rows)
        message.state = MessageState.PARTLY_FAILED if failures and rows else MessageState.SENT
        failed = min(failures, len(rows))
        self._journal(rollout, "message.sent",
                      f"'{message.name}' sent to {len(rows) - failed} recipients at {len(audience)} accounts"
                      + (f"; {failed} failed." if failed else "."),
                      at + dt.timedelta(minutes=10), Role.MARKETING,
                      details={"message_id": message.id, "sent": len(rows) - failed, "failed": failed})

    def _decide(self, rollout: Rollout, phase: Phase, kind: DecisionKind, at: dt.datetime,
                samples: dict[int, list[dict[str, Any]]], reason: str) -> None:
        snapshot = []
        for gate in rollout.gates:
            seen = [s for s in samples[gate.id] if s["sampled_at"] <= at]
            latest = seen[-1] if seen else {"value": None, "outcome": GateOutcome.INCONCLUSIVE, "sampled_at": at}
            snapshot.append({
                "gate": gate.name,
                "value": latest["value"],
                "threshold": gate.threshold,
                "comparison": gate.comparison,
                "outcome": latest["outcome"].value,
                "at": latest["sampled_at"].isoformat(),
            })
        overridden = kind == DecisionKind.GO and any(s["outcome"] != GateOutcome.PASS.value for s in snapshot)
        decider = self.by_role[Role.PMM][0]
        phase.decisions.append(Decision(kind=kind, decided_by=decider, decided_at=at, reason=reason,
                                        gate_snapshot=snapshot, overridden=overridden))
        if kind == DecisionKind.GO:
            phase.status = PhaseStatus.APPROVED
        failing = [s["gate"] for s in snapshot if s["outcome"] != GateOutcome.PASS.value]
        self._journal(rollout, f"decision.{kind.value}",
                      f"{kind.value.replace('_', '-').capitalize()} for {phase.name}"
                      + (f" (not passing: {', '.join(failing)})" if failing else " (all gates pass)")
                      + f": {reason}", at, Role.PMM, details={"phase": phase.name, "overridden": overridden})

    def _metric_history(self, rollout: Rollout, start: dt.datetime, end: dt.datetime, *, hourly: bool,
                        incident: dt.datetime | None) -> dict[int, list[dict[str, Any]]]:
        """Gate values over time: mostly passing, failing around an incident, inconclusive when data is thin."""
        rng = self.rng
        launch = _rollout_phases(rollout)[0].planned_start
        support = self.by_role[Role.SUPPORT][0]
        samples: dict[int, list[MetricSample]] = {}
        for gate in rollout.gates:
            series: list[dict[str, Any]] = []
            step = dt.timedelta(hours=1) if hourly and gate.metric in ("error_rate", "latency_p99") \
                else dt.timedelta(days=1)
            at = start.replace(minute=0, second=0, microsecond=0)
            while at <= end:
                in_incident = incident is not None and incident <= at < incident + dt.timedelta(hours=7)
                value, baseline, count, detail, entered_by = None, None, 12, "", None
                if gate.metric == "error_rate":
                    value = round(rng.uniform(0.12, 0.17) if in_incident else max(0.01, rng.gauss(0.05, 0.012)), 3)
                    count = 1 if rng.random() < 0.02 else 12  # a scrape gap: too few samples to judge
                elif gate.metric == "latency_p99":
                    value = round(rng.uniform(215, 260) if in_incident else rng.gauss(150, 15), 1)
                    count = 1 if rng.random() < 0.02 else 12
                elif gate.metric == "support_tickets":
                    baseline = float(rng.randint(18, 30))
                    value = float(round(baseline * rng.uniform(0.8, 1.5)))
                    count, entered_by = 1, support
                    if at + step > self.now:  # today's count is not in yet
                        value, entered_by, detail = None, None, "No ticket count entered for today yet."
                elif gate.metric == "activation":
                    days_live = (at - launch).total_seconds() / 86400
                    if days_live < 5:
                        detail = "Fewer than 5 days of usage since the first accounts got access."
                    else:
                        value = round(min(45.0, 26.5 + (days_live - 5) * 0.6 + rng.uniform(-1.0, 1.0)), 1)
                    count = 1
                outcome = _outcome(gate, value, baseline, count)
                if outcome == GateOutcome.INCONCLUSIVE and not detail:
                    detail = f"{count} sample(s) in the window; the gate needs {gate.min_samples}."
                series.append({"gate_id": gate.id, "sampled_at": at, "value": value, "baseline": baseline,
                               "sample_count": count, "outcome": outcome, "detail": detail,
                               "entered_by": entered_by})
                at += step
            samples[gate.id] = series
            _bulk_insert(self.session, MetricSample, series)
        return samples

    def _journal(self, rollout: Rollout | None, kind: str, summary: str, at: dt.datetime, role: Role | None,
                 *, actor: str | None = None, details: dict[str, Any] | None = None) -> None:
        entry = journal.record(self.session, kind, summary, rollout=rollout,
                               actor=actor or (self.by_role[role][0] if role else "LaunchDesk"), details=details)
        entry.at = min(at, self.now)


def _strategy(name: str, rollout: int, group: str) -> dict[str, Any]:
    return {"name": name, "parameters": {"rollout": str(rollout), "stickiness": "default", "groupId": group},
            "constraints": [], "segments": [], "variants": []}


def _summarise_snapshots(workspace: Any, now: dt.datetime) -> None:
    """Fill in the access counts of the demo snapshots by evaluating every account, as a sync does."""
    from launchdesk.access.evaluate import SnapshotEvaluator, compare_snapshots

    with workspace.transaction() as session:
        for snapshot in session.scalars(select(FlagSnapshot)):
            diff = compare_snapshots(session, SnapshotEvaluator(snapshot), None, now=now)
            snapshot.access_summary = {
                "enabled": diff.counts.enabled, "disabled": diff.counts.disabled,
                "unpredictable": diff.counts.unpredictable, "gained": len(diff.gained), "lost": 0,
                "previous_snapshot": None,
            }


def _outcome(gate: Gate, value: float | None, baseline: float | None, count: int) -> GateOutcome:
    """Pass, fail or inconclusive, as the gate panel judges it: too little data is never a pass."""
    if value is None or count < gate.min_samples:
        return GateOutcome.INCONCLUSIVE
    limit = gate.threshold
    if gate.baseline_kind != "none":
        if not baseline:
            return GateOutcome.INCONCLUSIVE
        limit = gate.threshold * baseline
    passed = {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[gate.comparison]
    return GateOutcome.PASS if passed else GateOutcome.FAIL


def _bulk_insert(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """One executemany on the table: several times faster than ORM objects, so 5,000 accounts take a blink.

    Every row must carry the same keys.
    """
    if rows:
        session.execute(insert(model.__table__), rows)


def _rollout_phases(rollout: Rollout) -> list[Phase]:
    return [p for p in rollout.phases if p.kind == PhaseKind.ROLLOUT]


def _at_phase_start(day: dt.date, *, forward: bool) -> dt.datetime:
    """The day at the demo's phase start time, moved off a weekend so phases begin on working days."""
    while day.weekday() >= 5:
        day += dt.timedelta(days=1 if forward else -1)
    return dt.datetime.combine(day, PHASE_START_UTC)


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, float]]) -> Any:
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]
