"""Command-line commands for posting journal events to Slack: choose the connection and events, and post.

``journal-slack post`` is meant for a scheduler (cron, a systemd timer): each run posts what was journaled since
the last one, at most once per entry, whoever else (a window, another run) posts too. Registered into
``launchdesk.cli``'s command table on import.
"""

from __future__ import annotations

import argparse

from launchdesk.cli import WORKSPACE, GROUP_HELP, CommandError, _open, arg, command

GROUP_HELP["journal-slack"] = "post go/no-go decisions, phases going live, kill switch, drift and failed gates to Slack"


@command(
    "journal-slack set", "choose the Slack connection and the journal events it gets (or --off)",
    WORKSPACE,
    arg("--connection", metavar="NAME", help="a Slack connection of the workspace"),
    arg("--event", action="append", metavar="KIND",
        help="decision, phase_live, kill_switch, plan_drift or gate_failed (repeatable; default: all)"),
    arg("--off", action="store_true", help="stop posting journal events"),
)
def journal_slack_set(args: argparse.Namespace) -> int:
    from launchdesk.comms.journal_slack import EVENTS, save_setting

    if not args.off and not args.connection:
        raise CommandError("Name the Slack connection (--connection NAME), or turn posting off with --off.")
    events = args.event or list(EVENTS)
    with _open(args.workspace) as ws, ws.transaction() as s:
        setting = save_setting(s, None if args.off else args.connection, events)
    if setting is None:
        print("Journal events are no longer posted to Slack.")
    else:
        print(f"Journal events ({', '.join(setting.events)}) will be posted through {args.connection!r}; "
              "run 'launchdesk-cli journal-slack post' on a schedule, or keep the window open.")
    return 0


@command(
    "journal-slack post", "post the chosen journal events written since the last post (each at most once)",
    WORKSPACE,
    arg("--limit", type=int, default=50, metavar="N", help="post at most N entries in this run (default 50)"),
)
def journal_slack_post(args: argparse.Namespace) -> int:
    from launchdesk.comms.journal_slack import post_journal_to_slack

    with _open(args.workspace) as ws:
        report = post_journal_to_slack(ws, limit=max(1, args.limit))
    print(report.summary())
    return 0 if report.ok else 1
