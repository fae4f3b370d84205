"""Command-line commands for the plan: a role's checklist for the next days, printed or exported as CSV and .ics.

Registered into ``launchdesk.cli``'s command table on import.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from launchdesk.cli import WORKSPACE, CommandError, _open, _positive, arg, command


@command(
    "checklist", "a role's checklist items for the next days (open overdue ones included), on the team's clock",
    WORKSPACE,
    arg("--role", required=True, choices=["pmm", "engineering", "support", "cs", "sales", "marketing", "all"],
        help="whose items; 'all' for every role"),
    arg("--days", type=_positive, default=7, metavar="N", help="how many days ahead (default 7)"),
    arg("--rollout", metavar="NAME", help="only this rollout's items (default: every rollout)"),
    arg("--csv", metavar="OUT.csv", help="also write the items as CSV"),
    arg("--ics", metavar="OUT.ics", help="also write them as an iCalendar file to import into a calendar"),
)
def checklist(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from launchdesk.models import Role, Rollout, utcnow
    from launchdesk.planning.checklists import (
        ROLE_LABELS,
        checklist_csv,
        checklist_ics,
        describe_offset,
        load_items,
        team_zone,
        upcoming,
    )
    from launchdesk.planning.schedule import when_text

    role = None if args.role == "all" else Role(args.role)
    now = utcnow()
    with _open(args.workspace) as workspace, workspace.session() as session:
        rollout_id = None
        if args.rollout is not None:
            rollout_id = session.scalar(select(Rollout.id).where(Rollout.name == args.rollout))
            if rollout_id is None:
                known = ", ".join(f"'{n}'" for n in session.scalars(select(Rollout.name).order_by(Rollout.name)))
                raise CommandError(f"There is no rollout named '{args.rollout}' (rollouts: {known or 'none'}).")
        zone = team_zone(session)
        items = upcoming(load_items(session, zone, rollout_id=rollout_id, role=role), now, args.days)
    who = ROLE_LABELS[role] if role else "Every role"
    if args.csv:
        Path(args.csv).write_text(checklist_csv(items, zone, now), encoding="utf-8", newline="")
    if args.ics:
        calendar = checklist_ics(items, now, calendar_name=f"LaunchDesk: {who} checklist")
        Path(args.ics).write_bytes(calendar.encode("utf-8"))
    if not items:
        print(f"{who}: nothing due in the next {args.days} days.")
        return 0
    print(f"{who}: {len(items)} item{'s' if len(items) > 1 else ''} in the next {args.days} days "
          f"(times in {zone.key}):")
    for item in items:
        status = item.status_text(now, zone) or "open"
        whose = "" if role else f"{ROLE_LABELS[item.role]}: "
        print(f"  {when_text(item.due, zone)}  [{status}] {whose}{item.title}  "
              f"— {item.rollout_name}, {item.phase_name} ({describe_offset(item.offset_minutes)})")
    for path in (args.csv, args.ics):
        if path:
            print(f"-> {path}")
    return 0
