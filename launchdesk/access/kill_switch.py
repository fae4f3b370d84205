"""The kill switch: turn a rollout's flag off through the platform's API, then re-sync until the platform confirms.

Guarded by a typed confirmation (the flag key), journaled with who pulled it and how many seconds the platform
took to confirm. The live phase is rolled back, so the plan says what really happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select

from launchdesk import journal
from launchdesk.access.sync import flag_link, rollout_snapshot, sync_flags
from launchdesk.connections import flag_client
from launchdesk.models import ConnectionKind, PhaseStatus, Rollout, RolloutStatus, utcnow
from launchdesk.workspace import Workspace


class KillSwitchRefused(Exception):
    """The kill switch was not pulled; the message says why."""


@dataclass
class KillSwitchResult:
    confirmed: bool
    seconds: float
    message: str


def turn_flag_off(
    workspace: Workspace,
    rollout_name: str,
    *,
    confirmation: str,
    actor: str | None = None,
    timeout_s: float = 60.0,
    poll_s: float = 1.0,
    cancelled: Callable[[], bool] | None = None,
) -> KillSwitchResult:
    """Turn the rollout's flag off in its environment; returns once the platform confirms it off (or timeout)."""
    with workspace.session() as s:
        rollout = s.scalars(select(Rollout).where(Rollout.name == rollout_name)).first()
        if rollout is None:
            raise KillSwitchRefused(f"There is no rollout named {rollout_name!r}.")
        link = flag_link(rollout)
        if link is None:
            raise KillSwitchRefused(f"{rollout_name} is not linked to a flag; there is nothing to turn off.")
        if confirmation.strip() != rollout.flag_key:
            raise KillSwitchRefused(f"Type the flag key ({rollout.flag_key}) to confirm turning it off.")
        connection = rollout.flag_connection
        assert connection is not None
        s.expunge(connection)
        _, flag, environment = link
    started = time.monotonic()
    with flag_client(connection) as client:
        if connection.kind is ConnectionKind.UNLEASH:
            client.http.request_json(
                "POST", f"/api/admin/projects/{quote(connection.project, safe='')}/features/"
                        f"{quote(flag, safe='')}/environments/{quote(environment, safe='')}/off")
        else:
            client.http.request_json(
                "PATCH", f"/api/v2/flags/{quote(connection.project, safe='')}/{quote(flag, safe='')}",
                json_body=[{"op": "replace", "path": f"/environments/{environment}/on", "value": False}])
    confirmed = False
    while True:
        report = sync_flags(workspace, rollout_names=[rollout_name])
        if not report.errors:
            with workspace.session() as s:
                snapshot = rollout_snapshot(s, s.scalars(select(Rollout).where(Rollout.name == rollout_name)).one())
                confirmed = snapshot is not None and not snapshot.enabled
        if confirmed or time.monotonic() - started > timeout_s or (cancelled and cancelled()):
            break
        time.sleep(poll_s)
    seconds = round(time.monotonic() - started, 1)
    with workspace.transaction() as s:
        rollout = s.scalars(select(Rollout).where(Rollout.name == rollout_name)).one()
        if confirmed:
            for phase in rollout.phases:
                if phase.status in (PhaseStatus.LIVE, PhaseStatus.PAUSED):
                    phase.status = PhaseStatus.ROLLED_BACK
                    phase.actual_end = phase.actual_end or utcnow()
            rollout.status = RolloutStatus.ROLLED_BACK
            message = f"Kill switch: {flag} is off in {environment}; the platform confirmed it after {seconds:g} s."
        else:
            message = (f"Kill switch: asked {connection.name} to turn {flag} off in {environment}, but no sync "
                       f"confirmed it within {seconds:g} s. Check the platform.")
        journal.record(s, "kill_switch", message, rollout=rollout, actor=actor,
                       details={"flag": flag, "environment": environment, "confirmed": confirmed, "seconds": seconds})
    return KillSwitchResult(confirmed, seconds, message)
