"""Command-line commands for who has access: connections, flag links, accounts, sync, access lists and lookup.

Registered into ``launchdesk.cli``'s command table on import. Secrets are read from standard input, never from
an argument (arguments end up in shell history and process lists).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from launchdesk.cli import WORKSPACE, CommandError, GROUP_HELP, _open, arg, command

GROUP_HELP.update({
    "connection": "flag platforms, metric sources and senders (secrets go to the system keyring)",
    "accounts": "import customer accounts",
})
ROLLOUT = arg("rollout", metavar="ROLLOUT", help="the rollout's name")


def _rollout(session: Any, name: str) -> Any:
    from sqlalchemy import select

    from launchdesk.models import Rollout

    rollout = session.scalars(select(Rollout).where(Rollout.name == name)).first()
    if rollout is None:
        known = ", ".join(session.scalars(select(Rollout.name).order_by(Rollout.name))) or "none yet"
        raise CommandError(f"There is no rollout named {name!r} (rollouts: {known}).")
    return rollout


def _read_secret_from_stdin(what: str) -> str | None:
    if sys.stdin is None:
        return None
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"{what} (input hidden, empty for none): ") or None
    value = sys.stdin.readline().strip()
    return value or None


@command(
    "connection add", "add a connection; its token or password is read from standard input",
    WORKSPACE,
    arg("name", metavar="NAME"),
    arg("--kind", required=True, choices=["unleash", "launchdarkly", "prometheus", "datadog", "smtp", "slack",
                                          "webhook"]),
    arg("--url", default=""),
    arg("--project", default=""),
    arg("--environment", default=""),
    arg("--no-secret", action="store_true", help="the connection needs no secret; do not read standard input"),
    arg("--starttls", action="store_const", dest="security", const="starttls",
        help="smtp: upgrade the connection with STARTTLS"),
    arg("--tls", action="store_const", dest="security", const="tls", help="smtp: TLS from the first byte (smtps)"),
    arg("--from", dest="sender", metavar="ADDR", help="smtp: the sender address, e.g. 'Launch Team <launch@x.com>'"),
    arg("--username", help="smtp and prometheus (basic sign-in): the user name (the password is read from "
                           "standard input)"),
    arg("--auth", choices=["none", "bearer", "basic"],
        help="prometheus: how to sign in (default: a bearer token if a secret is given, none otherwise)"),
    arg("--site", metavar="SITE", help="datadog: the site, e.g. datadoghq.eu (default datadoghq.com)"),
    arg("--rate", type=float, metavar="PER_SECOND", help="smtp and webhook: at most this many messages a second"),
    arg("--unsubscribe-url", metavar="URL",
        help="smtp: add List-Unsubscribe headers pointing here ({email} is replaced by the recipient)"),
)
def connection_add(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from launchdesk.connections import add_connection

    secret = None if args.no_secret else _read_secret_from_stdin(f"Secret for {args.name}")
    url = args.url
    if args.kind in ("slack", "webhook"):
        # The webhook URL is the secret: it goes to the keyring; the workspace keeps only its host.
        secret = secret or url or None
        if not secret:
            raise CommandError(f"A {args.kind} connection needs its webhook URL on standard input.")
        parts = urlsplit(secret)
        url = f"{parts.scheme}://{parts.netloc}"
    sender_options = {"security": args.security, "from": args.sender, "username": args.username,
                      "rate_per_second": args.rate, "unsubscribe_url": args.unsubscribe_url, "auth": args.auth,
                      "site": args.site}
    options = {key: value for key, value in sender_options.items() if value}
    if args.kind == "smtp" and not args.sender:
        raise CommandError("An smtp connection needs its sender address: --from ADDR.")
    with _open(args.workspace) as ws, ws.transaction() as s:
        add_connection(s, args.name, args.kind, url=url, project=args.project, environment=args.environment,
                       options=options, secret=secret)
    print(f"Connection {args.name!r} added" + (" (secret kept in the system keyring)" if secret else ""))
    return 0


@command("connection list", "list the connections of a workspace", WORKSPACE)
def connection_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from launchdesk.models import Connection

    with _open(args.workspace) as ws, ws.session() as s:
        for c in s.scalars(select(Connection).order_by(Connection.name)):
            print(f"{c.name}\t{c.kind}\t{c.url}\t{c.project}\t{c.environment}")
    return 0


@command("connection test", "check that a connection's server answers and accepts its token",
         WORKSPACE, arg("name", metavar="NAME"))
def connection_test(args: argparse.Namespace) -> int:
    from launchdesk.connections import check_connection, get_connection

    with _open(args.workspace) as ws, ws.session() as s:
        connection = get_connection(s, args.name)
        s.expunge(connection)
    check = check_connection(connection)
    print(check.message)
    return 0 if check.ok else 1


@command(
    "rollout link", "link a rollout to a flag on a flag platform connection",
    WORKSPACE, ROLLOUT,
    arg("--connection", required=True),
    arg("--flag", required=True, help="the flag key"),
    arg("--environment", help="defaults to the connection's environment"),
)
def rollout_link(args: argparse.Namespace) -> int:
    from launchdesk import journal
    from launchdesk.connections import get_connection

    with _open(args.workspace) as ws, ws.transaction() as s:
        rollout = _rollout(s, args.rollout)
        connection = get_connection(s, args.connection)
        rollout.flag_connection = connection
        rollout.flag_key = args.flag
        rollout.flag_environment = args.environment or connection.environment
        journal.record(s, "plan_edit", f"Linked to flag {args.flag} ({rollout.flag_environment}) on {connection.name}",
                       rollout=rollout)
    print(f"{args.rollout} now follows flag {args.flag}")
    return 0


@command(
    "accounts import", "import or update accounts from a CSV file (bad rows go to a rejects file)",
    WORKSPACE,
    arg("file", metavar="FILE.csv"),
    arg("--id-column", help="the column holding the account id (default: account_id, id, ...)"),
    arg("--name-column"),
    arg("--email-column", action="append", help="a column of contact e-mails (repeatable)"),
    arg("--stickiness-field", help="a column whose value the flag platform sees as the user id"),
    arg("--rejects", help="where to write rejected rows (default: beside the file)"),
)
def accounts_import(args: argparse.Namespace) -> int:
    from launchdesk.accounts.importer import ColumnMapping, import_accounts

    with open(args.file, encoding="utf-8-sig", errors="replace", newline="") as f:
        header = next(csv.reader(f), [])
    mapping = ColumnMapping.guess(
        [h.strip() for h in header] or ["account_id"],
        id_column=args.id_column, name_column=args.name_column,
        email_columns=tuple(args.email_column) if args.email_column else None,
        stickiness_field=args.stickiness_field,
    )
    with _open(args.workspace) as ws:
        report = import_accounts(ws, args.file, mapping, rejects_path=args.rejects)
    print(f"Accounts: {report.summary()}")
    for r in report.rejected[:10]:
        print(f"  line {r.line}: {r.reason}", file=sys.stderr)
    if len(report.rejected) > 10:
        print(f"  ... and {len(report.rejected) - 10} more in {report.rejects_path}", file=sys.stderr)
    return 0


@command("sync", "fetch every linked flag, evaluate the accounts, report access changes and plan drift",
         WORKSPACE, arg("--rollout", action="append", help="only this rollout (repeatable)"))
def sync(args: argparse.Namespace) -> int:
    from launchdesk.access.sync import sync_flags
    from launchdesk.models import SyncStatus

    with _open(args.workspace) as ws:
        report = sync_flags(ws, rollout_names=args.rollout)
    if not report.flags:
        print("No rollout is linked to a flag yet (launchdesk-cli rollout link ...).")
        return 0
    for f in report.flags:
        label = f"{f.link[1]} ({f.link[2]}) for {', '.join(f.rollouts)}"
        if f.error:
            print(f"FAILED {label}: {f.error}")
            continue
        s = f.summary
        state = "on" if f.enabled else "off"
        pct = f" at {f.percentage:g}%" if f.percentage is not None else ""
        print(f"synced {label}: {state}{pct}; {s['enabled']} accounts have access, {s['unpredictable']} "
              f"unpredictable; {s['gained']} gained, {s['lost']} lost since the previous sync")
        for drift in f.drift:
            print(f"PLAN DRIFT: {drift}")
    return 0 if report.status is SyncStatus.OK else 1


@command(
    "access", "list every account's access to the rollout's flag, from the last sync",
    WORKSPACE, ROLLOUT,
    arg("--csv", required=True, metavar="OUT.csv",
        help="columns: account_id, has_access (true/false/unpredictable), cohort, reason"),
)
def access(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from launchdesk.access.evaluate import account_context
    from launchdesk.access.lookup import access_word, cohort_of, evaluator_for
    from launchdesk.access.sync import rollout_snapshot
    from launchdesk.models import Account, utcnow

    counts = {"true": 0, "false": 0, "unpredictable": 0}
    with _open(args.workspace) as ws, ws.session() as s, open(args.csv, "w", newline="", encoding="utf-8") as out:
        rollout = _rollout(s, args.rollout)
        snapshot = rollout_snapshot(s, rollout)
        if snapshot is None:
            raise CommandError(f"{rollout.name} has no flag snapshot yet; run 'launchdesk-cli sync' first.")
        evaluator = evaluator_for(s, snapshot)
        now = utcnow()
        writer = csv.writer(out)
        writer.writerow(["account_id", "has_access", "cohort", "reason"])
        last = 0
        while True:
            batch = s.scalars(select(Account).where(Account.id > last).order_by(Account.id).limit(5000)
                              .options(selectinload(Account.contacts))).all()
            if not batch:
                break
            for account in batch:
                result = evaluator.explain(account_context(account), now=now)
                cohort = cohort_of(rollout, account)
                word = access_word(result.enabled)
                counts[word] += 1
                writer.writerow([account.account_key, word, cohort.name if cohort else "", result.reason])
            last = batch[-1].id
            s.expunge_all()
    age = (now - snapshot.fetched_at).total_seconds()
    print(f"{counts['true']} with access, {counts['false']} without, {counts['unpredictable']} unpredictable "
          f"(snapshot {age:.0f} s old) -> {args.csv}")
    return 0


@command(
    "access-diff", "accounts that gained or lost access at the last sync (for support and CS)",
    WORKSPACE, ROLLOUT, arg("--csv", required=True, metavar="OUT.csv"),
)
def access_diff(args: argparse.Namespace) -> int:
    from launchdesk.access.evaluate import SnapshotEvaluator, compare_snapshots
    from launchdesk.access.sync import rollout_snapshot
    from launchdesk.models import FlagSnapshot

    with _open(args.workspace) as ws, ws.session() as s:
        rollout = _rollout(s, args.rollout)
        snapshot = rollout_snapshot(s, rollout)
        if snapshot is None:
            raise CommandError(f"{rollout.name} has no flag snapshot yet; run 'launchdesk-cli sync' first.")
        previous_id = (snapshot.access_summary or {}).get("previous_snapshot")
        previous = s.get(FlagSnapshot, previous_id) if previous_id else None
        diff = compare_snapshots(s, SnapshotEvaluator(snapshot), SnapshotEvaluator(previous) if previous else None,
                                 now=snapshot.fetched_at)
    with open(args.csv, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["account_id", "change"])
        writer.writerows([k, "gained"] for k in diff.gained)
        writer.writerows([k, "lost"] for k in diff.lost)
    print(f"{len(diff.gained)} gained, {len(diff.lost)} lost access -> {args.csv}")
    return 0


@command(
    "lookup", "who is this account for each rollout: cohort, phase, access and why (offline)",
    WORKSPACE, arg("query", metavar="QUERY", help="an account id, name or e-mail (any prefix)"),
    arg("--rollout", help="only this rollout"),
    arg("--json", action="store_true", help="print a JSON list"),
)
def lookup_command(args: argparse.Namespace) -> int:
    from launchdesk.access.lookup import lookup

    with _open(args.workspace) as ws, ws.session() as s:
        if args.rollout:
            _rollout(s, args.rollout)
        answers = lookup(s, args.query, rollout_name=args.rollout)
    if args.json:
        print(json.dumps([a.as_dict() for a in answers], indent=2))
        return 0
    if not answers:
        print(f"No account matches {args.query!r}.")
        return 1
    for a in answers:
        age = f"{a.snapshot_age_s:.0f} s old" if a.snapshot_age_s is not None else "no snapshot"
        print(f"{a.account_id}  {a.name}  [{a.rollout}]  cohort: {a.cohort or '-'}  phase: {a.phase or '-'}  "
              f"access: {a.has_access}  ({a.reason}; {age})")
    return 0


@command(
    "kill-switch", "turn the rollout's flag off on the platform and wait until a sync confirms it",
    WORKSPACE, ROLLOUT,
    arg("--confirm", required=True, metavar="FLAG_KEY", help="type the flag key to confirm"),
    arg("--timeout", type=float, default=60.0, help="seconds to wait for the platform to confirm (default 60)"),
)
def kill_switch(args: argparse.Namespace) -> int:
    from launchdesk.access.kill_switch import KillSwitchRefused, turn_flag_off

    with _open(args.workspace) as ws:
        try:
            result = turn_flag_off(ws, args.rollout, confirmation=args.confirm, timeout_s=args.timeout)
        except KillSwitchRefused as exc:
            raise CommandError(str(exc)) from None
    print(result.message)
    return 0 if result.confirmed else 1


@command(
    "copy", "copy a whole workspace between SQLite and PostgreSQL (either way); counts are verified",
    arg("source", metavar="SRC", help="a .launchdesk file or a database URL"),
    arg("destination", metavar="DEST", help="a new .launchdesk file or an empty database URL"),
)
def copy(args: argparse.Namespace) -> int:
    from launchdesk.workspace import display_name
    from launchdesk.workspace_copy import copy_workspace

    report = copy_workspace(args.source, args.destination)
    print(f"Copied {report.rows} rows in {len(report.counts)} tables to {display_name(args.destination)}; "
          "counts verified.")
    return 0
