"""Command-line commands for cohort messages: list them with their audiences, review, approve, send, test, and
resolve deliveries left uncertain by a crash.

Registered into ``launchdesk.cli``'s command table on import. ``send`` applies the same guards as the window's
send button, reports progress on stderr and a summary on stdout, and resumes an interrupted send.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from launchdesk.cli import GROUP_HELP, WORKSPACE, CommandError, _open, arg, command

GROUP_HELP.update({"message": "cohort messages"})
MESSAGE_ID = arg("message", type=int, metavar="MESSAGE_ID", help="the message's id (see 'launchdesk-cli messages')")
BY = arg("--by", required=True, metavar="NAME", help="who does it (kept in the journal)")
PROGRESS_EVERY = 1.0  # seconds between progress lines on stderr


@command(
    "messages", "list a rollout's messages: phase, cohort, channel, state and audience by access",
    WORKSPACE, arg("rollout", metavar="ROLLOUT", help="the rollout's name"),
    arg("--json", action="store_true", help="print a JSON list of objects instead of a table"),
)
def messages(args: argparse.Namespace) -> int:
    from launchdesk.cli_access import _rollout
    from launchdesk.comms.audience import compute_audience, message_cohort

    rows = []
    with _open(args.workspace) as ws, ws.session() as s:
        rollout = _rollout(s, args.rollout)
        for phase in rollout.phases:
            for message in sorted(phase.messages, key=lambda m: (m.send_offset_minutes, m.id)):
                cohort = message_cohort(message)
                counts = compute_audience(s, message).counts()
                rows.append({
                    "id": message.id, "name": message.name, "phase": phase.name,
                    "cohort": "all customers" if message.audience == "all_customers" else (cohort.name if cohort else None),
                    "channel": message.channel.value, "state": message.state.value,
                    "approved_by": message.approved_by,
                    "approved_at": message.approved_at.isoformat() if message.approved_at else None,
                    "audience": counts,
                })
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"The rollout '{args.rollout}' has no messages.")
        return 0
    table = [["ID", "PHASE", "COHORT", "CHANNEL", "STATE", "WITH ACCESS", "WITHOUT", "UNPREDICTABLE", "NAME"]]
    for row in rows:
        counts = row["audience"]
        table.append([str(row["id"]), row["phase"], row["cohort"] or "-", row["channel"],
                      row["state"].replace("_", " "), str(counts["with_access"]), str(counts["without_access"]),
                      str(counts["unpredictable"]), row["name"]])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return 0


@command("review", "submit a draft message for review", WORKSPACE, MESSAGE_ID, BY)
def review(args: argparse.Namespace) -> int:
    from launchdesk.comms.approval import submit_for_review

    with _open(args.workspace) as ws, ws.transaction() as s:
        message = _message(s, args.message)
        _approval_step(submit_for_review, s, message, by=args.by)
        name = message.name
    print(f"'{name}' is in review.")
    return 0


@command("approve", "approve a message that is in review (refused while its template has problems)",
         WORKSPACE, MESSAGE_ID, BY)
def approve(args: argparse.Namespace) -> int:
    from launchdesk.comms.approval import approve as approve_message

    with _open(args.workspace) as ws, ws.transaction() as s:
        message = _message(s, args.message)
        _approval_step(approve_message, s, message, by=args.by)
        name = message.name
    print(f"'{name}' is approved by {args.by}.")
    return 0


@command(
    "send", "send an approved message to its audience with access (or resume an interrupted send)",
    WORKSPACE, MESSAGE_ID,
    arg("--via", metavar="CONNECTION", help="the connection to send through (kept with the message)"),
    arg("--retry-failed", action="store_true",
        help="send the deliveries that failed again (not those dropped after an uncertain attempt)"),
    arg("--quiet", action="store_true", help="no progress lines on stderr"),
)
def send(args: argparse.Namespace) -> int:
    from launchdesk.comms.outbox import SendProgress, SendRefused, retry_failed, send_message
    from launchdesk.connections import get_connection

    with _open(args.workspace) as ws:
        if args.via:
            with ws.transaction() as s:
                _message(s, args.message).sender_connection = get_connection(s, args.via)
        last = [0.0]

        def progress(p: SendProgress) -> None:
            now = time.monotonic()
            if not args.quiet and (now - last[0] >= PROGRESS_EVERY or p.done == p.total):
                last[0] = now
                print(f"{p.done}/{p.total}: {p.sent} sent, {p.failed} failed, {p.uncertain} uncertain",
                      file=sys.stderr, flush=True)

        try:
            run = retry_failed if args.retry_failed else send_message
            report = run(ws, args.message, progress=progress)
        except SendRefused as refused:
            raise CommandError(str(refused)) from None
    print(report.summary())
    if report.totals.get("uncertain"):
        print(f"{report.totals['uncertain']} deliveries are uncertain: check them with 'launchdesk-cli deliveries "
              f"{args.workspace} {args.message} --state uncertain', then 'launchdesk-cli resolve'.")
    return 0 if report.state.value == "sent" else 1


@command(
    "send-test", "e-mail a message as one account would get it, to your own address only",
    WORKSPACE, MESSAGE_ID,
    arg("--account", required=True, metavar="ID", help="the account to render it for"),
    arg("--to", required=True, metavar="ADDR", help="your address (never a customer's)"),
    arg("--via", metavar="CONNECTION", help="the SMTP connection (default: the message's, else the only one)"),
)
def send_test(args: argparse.Namespace) -> int:
    from launchdesk.comms.outbox import SendRefused, send_test as send_test_message
    from launchdesk.comms.senders import Outcome

    with _open(args.workspace) as ws:
        try:
            attempt = send_test_message(ws, args.message, args.account, args.to, via=args.via)
        except SendRefused as refused:
            raise CommandError(str(refused)) from None
    if attempt.outcome is not Outcome.SENT:
        raise CommandError(f"The test was not sent: {attempt.detail}")
    print(f"Test sent to {args.to} as {args.account}.")
    return 0


@command(
    "deliveries", "list a message's outbox rows (recipient, state, attempts, last error)",
    WORKSPACE, MESSAGE_ID,
    arg("--state", choices=["pending", "sending", "sent", "failed", "uncertain"], help="only rows in this state"),
    arg("--json", action="store_true", help="print a JSON list of objects instead of lines"),
)
def deliveries(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from launchdesk.models import Account, Delivery

    with _open(args.workspace) as ws, ws.session() as s:
        _message(s, args.message)
        query = (select(Delivery, Account.account_key).outerjoin(Account, Delivery.account_id == Account.id)
                 .where(Delivery.message_id == args.message).order_by(Delivery.id))
        if args.state:
            query = query.where(Delivery.state == args.state)
        rows = [{"id": d.id, "account": key, "recipient": d.recipient, "state": d.state.value,
                 "attempts": d.attempts, "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                 "message_id": d.provider_message_id, "last_error": d.last_error} for d, key in s.execute(query)]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        error = f"  {' '.join(row['last_error'].split())}" if row["last_error"] else ""
        print(f"{row['id']}\t{row['account'] or '-'}\t{row['recipient']}\t{row['state']}\t{row['attempts']}{error}")
    return 0


@command(
    "resolve", "decide about uncertain deliveries: resend them (they did not arrive) or drop them",
    WORKSPACE, MESSAGE_ID,
    arg("deliveries", nargs="*", type=int, metavar="DELIVERY_ID", help="the rows (default: every uncertain row)"),
    arg("--resend", action="store_true", help="queue them again; the next 'send' sends them"),
    arg("--drop", action="store_true", help="give them up without resending"),
    BY,
)
def resolve(args: argparse.Namespace) -> int:
    from launchdesk.comms.outbox import drop_uncertain, resend_uncertain

    if args.resend == args.drop:
        raise CommandError("Say either --resend or --drop.")
    with _open(args.workspace) as ws, ws.transaction() as s:
        message = _message(s, args.message)
        decide = resend_uncertain if args.resend else drop_uncertain
        count = decide(s, message, args.deliveries or None, by=args.by)
    if args.resend:
        print(f"{count} uncertain deliveries queued again; run 'launchdesk-cli send' to send them.")
    else:
        print(f"{count} uncertain deliveries dropped.")
    return 0


def _message(session: Any, message_id: int) -> Any:
    from launchdesk.models import Message

    message = session.get(Message, message_id)
    if message is None:
        raise CommandError(f"There is no message {message_id} (see 'launchdesk-cli messages WORKSPACE ROLLOUT').")
    return message


def _approval_step(step: Any, session: Any, message: Any, **options: Any) -> None:
    from launchdesk.comms.approval import ApprovalError

    try:
        step(session, message, **options)
    except ApprovalError as err:
        raise CommandError(str(err)) from None
