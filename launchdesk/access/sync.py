"""Sync flag state from the flag platforms: snapshots, sync runs, access diffs and plan drift, journaled.

Offline or on an error the last good snapshot stays in use; the run records what failed, and nothing that
was synced before is lost. Network work happens here, so callers in the window run it in a worker.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.access.evaluate import SnapshotEvaluator, compare_snapshots
from launchdesk.connections import ConnectionProblem, flag_client
from launchdesk.models import (
    Connection,
    ConnectionKind,
    FlagSnapshot,
    Phase,
    PhaseKind,
    PhaseStatus,
    Rollout,
    SyncRun,
    SyncStatus,
    utcnow,
)
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)
FlagLink = tuple[int, str, str]  # connection id, flag key, environment


@dataclass
class FlagResult:
    link: FlagLink
    rollouts: list[str]
    snapshot_id: int | None = None
    error: str | None = None
    enabled: bool | None = None
    percentage: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    drift: list[str] = field(default_factory=list)


@dataclass
class SyncReport:
    run_id: int
    status: SyncStatus
    flags: list[FlagResult]

    @property
    def errors(self) -> list[str]:
        return [f.error for f in self.flags if f.error]


def latest_snapshot(session: Session, connection_id: int, flag: str, environment: str) -> FlagSnapshot | None:
    return session.scalars(
        select(FlagSnapshot)
        .where(FlagSnapshot.connection_id == connection_id, FlagSnapshot.flag_key == flag,
               FlagSnapshot.environment == environment)
        .order_by(FlagSnapshot.fetched_at.desc(), FlagSnapshot.id.desc())
        .limit(1)
    ).first()


def rollout_snapshot(session: Session, rollout: Rollout) -> FlagSnapshot | None:
    """The last good snapshot of the rollout's flag, or None before the first successful sync."""
    link = flag_link(rollout)
    return latest_snapshot(session, *link) if link else None


def flag_link(rollout: Rollout) -> FlagLink | None:
    if rollout.flag_connection_id is None or not rollout.flag_key:
        return None
    environment = rollout.flag_environment or (rollout.flag_connection.environment if rollout.flag_connection else "")
    return rollout.flag_connection_id, rollout.flag_key, environment


def current_phase(rollout: Rollout) -> Phase | None:
    """The live rollout phase, else the next one not yet complete, else the last."""
    phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
    for p in phases:
        if p.status is PhaseStatus.LIVE:
            return p
    for p in phases:
        if p.status not in (PhaseStatus.COMPLETE, PhaseStatus.ROLLED_BACK):
            return p
    return phases[-1] if phases else None


def blocked_by(kind: ConnectionKind, definition: dict[str, Any]) -> str | None:
    """Why nobody gets the flag although it is on: a parent flag it needs (Unleash) or a prerequisite
    (LaunchDarkly) that is off or missing, in words; None when no such flag holds it back.

    Such a flag is off for everyone whatever its own switch and percentage say, so the plan is measured against
    that (plan drift, a phase going live). A parent that must be *off*, or a required variation, depends on
    each account and is left to the evaluator."""
    if kind is ConnectionKind.UNLEASH:
        parents = {p.get("name"): p for p in definition.get("parents") or []}
        for dependency in definition.get("dependencies") or []:
            if dependency.get("enabled", True) is False:
                continue
            parent = parents.get(dependency["feature"])
            if parent is None or not parent.get("enabled"):
                return f"its parent flag {dependency['feature']!r} is off"
        return None
    found = {f.get("key"): f for f in definition.get("prerequisiteFlags") or []}
    missing = set(definition.get("missingPrerequisites") or [])
    for prerequisite in definition.get("prerequisites") or []:
        key = prerequisite.get("key")
        if key in missing:
            return f"its prerequisite {key!r} does not exist (deleted or archived)"
        if key in found and not found[key].get("on"):
            return f"its prerequisite {key!r} is off"
    return None


def plan_drift(rollout: Rollout, enabled: bool, percentage: float | None, blocked: str | None = None) -> str | None:
    """How the platform differs from what the plan says for now, in words; None when they agree.

    ``blocked`` (see ``blocked_by``) says why an enabled flag reaches nobody: it counts as off."""
    phase = current_phase(rollout)
    live = phase is not None and phase.status is PhaseStatus.LIVE
    env = rollout.flag_environment or ""
    if not live:
        started = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT and p.status is PhaseStatus.COMPLETE]
        if enabled and not blocked and percentage and not started and rollout.status.value == "planning":
            return f"the flag is on ({_pct(percentage)}) in {env} while no phase of the plan is live"
        return None
    assert phase is not None
    if enabled and blocked:
        return (f"the flag is on in {env} but {blocked}, so no account has it, while the plan has {phase.name} "
                f"live at {_pct(phase.target_percentage)}")
    if not enabled:
        return f"the flag is off in {env} while the plan has {phase.name} live at {_pct(phase.target_percentage)}"
    if percentage is not None and phase.target_percentage is not None and abs(percentage - phase.target_percentage) > 1e-9:
        return f"{_pct(percentage)} live while the plan says {_pct(phase.target_percentage)} ({phase.name})"
    return None


def _pct(value: float | None) -> str:
    if value is None:
        return "an unknown share"
    return f"{value:g}%"


def _fetch(connection: Connection, flag: str, environment: str) -> tuple[dict[str, Any], bool, float | None]:
    with flag_client(connection) as client:
        if connection.kind is ConnectionKind.UNLEASH:
            from launchdesk.flags.unleash_api import rollout_percentage

            definition = client.fetch_definition(connection.project, flag, environment)
            # A flag that depends on parent flags is evaluated with them, so the parents travel in the snapshot.
            parents = [d["feature"] for d in definition.get("dependencies") or []]
            definition["parents"] = [client.fetch_definition(connection.project, name, environment)
                                     for name in parents]
            return definition, bool(definition["enabled"]), rollout_percentage(definition)
        from launchdesk.flags.launchdarkly_api import rollout_percentage as ld_percentage

        definition = client.get_flag(connection.project, flag, environment)
        # A flag with prerequisites is evaluated with them (and theirs), so they travel in the snapshot.
        definition.update(client.get_prerequisites(connection.project, definition, environment))
        return definition, bool(definition.get("on")), ld_percentage(definition)


def sync_flags(
    workspace: Workspace,
    *,
    rollout_names: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    fetch: Callable[[Connection, str, str], tuple[dict[str, Any], bool, float | None]] = _fetch,
) -> SyncReport:
    """Fetch every linked flag, store snapshots, evaluate accounts, journal access changes and drift."""
    with workspace.transaction() as s:
        run = SyncRun(kind="flags", started_at=utcnow(), status=SyncStatus.RUNNING)
        s.add(run)
        s.flush()
        run_id = run.id
        query = select(Rollout).where(Rollout.flag_key.is_not(None), Rollout.flag_connection_id.is_not(None))
        if rollout_names:
            query = query.where(Rollout.name.in_(rollout_names))
        links: dict[FlagLink, list[str]] = {}
        connections: dict[int, Connection] = {}
        for rollout in s.scalars(query.order_by(Rollout.name)):
            link = flag_link(rollout)
            if link:
                links.setdefault(link, []).append(rollout.name)
                connections[link[0]] = rollout.flag_connection  # type: ignore[assignment]
        for c in connections.values():
            s.expunge(c)

    results = [FlagResult(link, names) for link, names in links.items()]

    def fetch_one(result: FlagResult) -> tuple[FlagResult, Any]:
        connection_id, flag, environment = result.link
        try:
            return result, fetch(connections[connection_id], flag, environment)
        except Exception as exc:  # every failure is reported per flag; the others still sync
            return result, exc

    # Several flags are fetched side by side; each client retries on its own.
    with ThreadPoolExecutor(max_workers=4) as pool:
        fetched = list(pool.map(fetch_one, results))

    for result, outcome in fetched:
        if cancelled and cancelled():
            result.error = "cancelled"
            continue
        connection_id, flag, environment = result.link
        name = connections[connection_id].name
        if progress:
            progress(f"{name}: {flag} ({environment})")
        if isinstance(outcome, Exception):
            result.error = _message(outcome, name, flag)
            log.warning("sync of %s failed: %s", flag, result.error)
            continue
        definition, enabled, percentage = outcome
        result.enabled, result.percentage = enabled, percentage
        _store_snapshot(workspace, run_id, result, definition, cancelled)

    status = SyncStatus.OK
    if any(r.error for r in results):
        status = SyncStatus.FAILED if all(r.error for r in results) else SyncStatus.PARTIAL
    with workspace.transaction() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.finished_at = utcnow()
        run.status = status
        run.errors = [{"flag": r.link[1], "environment": r.link[2], "message": r.error} for r in results if r.error]
        for r in results:
            if r.error:
                for rollout in s.scalars(select(Rollout).where(Rollout.name.in_(r.rollouts))):
                    journal.record(s, "sync_error", f"Sync of flag {r.link[1]} failed: {r.error}", rollout=rollout,
                                   details={"run": run_id})
    return SyncReport(run_id, status, results)


def _message(exc: Exception, connection: str, flag: str) -> str:
    from launchdesk.flags.http import PlatformError

    from launchdesk.secrets import SecretsUnavailable

    if isinstance(exc, (PlatformError, ConnectionProblem, SecretsUnavailable)):
        return str(exc)
    # Unexpected errors are logged with their traceback; the user sees their kind, never a token.
    log.exception("unexpected error syncing %s from %s", flag, connection, exc_info=exc)
    return f"unexpected {type(exc).__name__} while syncing {flag} from {connection}"


def _store_snapshot(
    workspace: Workspace,
    run_id: int,
    result: FlagResult,
    definition: dict[str, Any],
    cancelled: Callable[[], bool] | None,
) -> None:
    connection_id, flag, environment = result.link
    now = utcnow()
    with workspace.transaction() as s:
        previous = latest_snapshot(s, connection_id, flag, environment)
        snapshot = FlagSnapshot(
            connection_id=connection_id, sync_run_id=run_id, flag_key=flag, environment=environment,
            fetched_at=now, enabled=bool(result.enabled), definition=definition,
            rollout_percentage=result.percentage,
        )
        s.add(snapshot)
        s.flush()
        new_eval = SnapshotEvaluator(snapshot)
        old_eval = SnapshotEvaluator(previous) if previous is not None else None
        diff = compare_snapshots(s, new_eval, old_eval, now=now, cancelled=cancelled)
        summary = {
            "enabled": diff.counts.enabled,
            "disabled": diff.counts.disabled,
            "unpredictable": diff.counts.unpredictable,
            "gained": len(diff.gained),
            "lost": len(diff.lost),
            "previous_snapshot": previous.id if previous else None,
        }
        snapshot.access_summary = summary
        result.snapshot_id = snapshot.id
        result.summary = summary
        drifts = []
        blocked = blocked_by(snapshot.connection.kind, definition)
        for rollout in s.scalars(select(Rollout).where(Rollout.name.in_(result.rollouts))):
            # A flag held back by an off parent or prerequisite reaches nobody: no phase goes live on it.
            _follow_platform(s, rollout, bool(result.enabled) and not blocked, result.percentage, now)
            drift = plan_drift(rollout, bool(result.enabled), result.percentage, blocked)
            if drift:
                drifts.append(drift)
                journal.record(s, "plan_drift", f"Plan drift on {flag}: {drift}", rollout=rollout,
                               details={"snapshot": snapshot.id, "percentage": result.percentage})
            if diff.gained or diff.lost:
                journal.record(
                    s, "access_change",
                    f"{len(diff.gained)} accounts gained and {len(diff.lost)} lost access to {flag} in {environment}",
                    rollout=rollout,
                    details={"snapshot": snapshot.id, "previous_snapshot": summary["previous_snapshot"],
                             "gained_sample": diff.gained[:20], "lost_sample": diff.lost[:20]},
                )
            journal.record(
                s, "sync",
                f"Synced {flag} ({environment}): {'on' if result.enabled else 'off'}"
                + (f" at {result.percentage:g}%" if result.percentage is not None else "")
                + f"; {diff.counts.enabled} accounts have access",
                rollout=rollout, details={"snapshot": snapshot.id, "run": run_id},
            )
        snapshot.drift = "; ".join(drifts) or None
        result.drift = drifts


def _follow_platform(session: Session, rollout: Rollout, enabled: bool, percentage: float | None,
                     now: dt.datetime) -> None:
    """An approved phase goes live when the platform confirms its percentage (never because someone says so);
    the phase it replaces is then complete."""
    from launchdesk.planning.decisions import complete_phase, confirm_live

    phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
    for index, phase in enumerate(phases):
        if phase.status is PhaseStatus.APPROVED and confirm_live(phase, percentage, enabled, now=now):
            for earlier in phases[:index]:
                if earlier.status is PhaseStatus.LIVE:
                    complete_phase(session, earlier, now=now)
            break


def snapshot_age(snapshot: FlagSnapshot, now: dt.datetime | None = None) -> float:
    return ((now or utcnow()) - snapshot.fetched_at).total_seconds()
