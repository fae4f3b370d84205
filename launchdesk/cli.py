"""The headless commands (``launchdesk-cli``): workspaces, the demo, rollouts and the journal, without a window.

Each command is one small function registered with ``@command("words", "help", arg(...), ...)``; adding a
command means adding one such function. A command returns its exit status. Problems the user can fix
(a missing or foreign workspace, a bad template, a taken name) end with one line on stderr and status 1;
a wrong command line gives status 2. Heavy modules are imported inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from launchdesk.models import Rollout
    from launchdesk.workspace import Workspace

PROG = "launchdesk-cli"
DEFAULT_START_HOUR = 9  # a launch given as a date starts at 09:00 in the team's time zone
DEFAULT_LEAD_DAYS = 28  # without --start, phase 1 is four weeks out, so week -4 preparation starts today


class CommandError(Exception):
    """A problem the user can fix; shown as one line."""


class UsageError(Exception):
    """A wrong command line; shown as one line with exit status 2."""


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """One argparse argument of a command, as ``add_argument`` takes it."""
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("rollout", "new") for ``launchdesk-cli rollout new``
    help: str
    arguments: tuple[Arg, ...]
    run: Callable[[argparse.Namespace], int]


COMMANDS: list[Command] = []
# Help for command groups such as ``rollout``; a group without an entry gets a generic line.
GROUP_HELP: dict[str, str] = {"rollout": "plan and list rollouts"}


def command(words: str, help: str, *arguments: Arg) -> Callable[[Callable[[argparse.Namespace], int]],
                                                                Callable[[argparse.Namespace], int]]:
    """Register a command under one or more words (``"rollout new"``)."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS.append(Command(tuple(words.split()), help, arguments, run))
        return run

    return register


# Modules holding further commands; each registers its commands with @command when imported.
COMMAND_MODULES = ("launchdesk.cli_access", "launchdesk.cli_comms", "launchdesk.cli_export",
                   "launchdesk.cli_journal_slack", "launchdesk.cli_plan")


def _load_command_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name)


def command_names() -> set[str]:
    """The first words of every command: what ``python -m launchdesk`` hands to the CLI instead of the window."""
    _load_command_modules()
    return {c.words[0] for c in COMMANDS}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line instead of usage + message + exit
        raise UsageError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    from launchdesk import __version__

    _load_command_modules()
    parser = _Parser(prog=PROG, description="LaunchDesk without the window: workspaces, rollouts, the journal.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    groups = {(): parser.add_subparsers(metavar="COMMAND", required=True)}
    for cmd in sorted(COMMANDS, key=lambda c: c.words):
        for depth in range(1, len(cmd.words)):
            prefix = cmd.words[:depth]
            if prefix not in groups:
                name = prefix[-1]
                group_help = GROUP_HELP.get(" ".join(prefix), f"{name} commands")
                group = groups[prefix[:-1]].add_parser(name, help=group_help, description=group_help)
                groups[prefix] = group.add_subparsers(metavar="COMMAND", required=True)
        sub = groups[cmd.words[:-1]].add_parser(cmd.words[-1], help=cmd.help, description=cmd.help)
        for argument in cmd.arguments:
            sub.add_argument(*argument.flags, **argument.options)
        sub.set_defaults(run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 success, 1 a problem to fix, 2 a wrong command line)."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"{exc} (see --help)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version print and exit
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        message = " ".join(str(exc).split())  # one line, even when a message spans several
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1


def _is_user_error(exc: Exception) -> bool:
    from launchdesk.accounts.importer import ImportCancelled, ImportFailed
    from launchdesk.connections import ConnectionProblem
    from launchdesk.flags.http import PlatformError
    from launchdesk.planning.template import RolloutNameError, TemplateError
    from launchdesk.secrets import SecretsUnavailable
    from launchdesk.workspace import WorkspaceError

    return isinstance(
        exc,
        CommandError | WorkspaceError | TemplateError | RolloutNameError | OSError | ConnectionProblem
        | PlatformError | SecretsUnavailable | ImportFailed | ImportCancelled,
    )


# --- argument types -------------------------------------------------------------------------------------------


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _iso_start(text: str) -> dt.date | dt.datetime:
    try:
        return dt.date.fromisoformat(text) if len(text) <= 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO date or time such as 2025-03-04 or 2025-03-04T09:00+01:00"
        ) from None


# --- commands -----------------------------------------------------------------------------------------------

WORKSPACE = arg("workspace", metavar="WORKSPACE", help="a .launchdesk file or a database URL")


@command("new", "create a new, empty workspace", WORKSPACE)
def new_workspace(args: argparse.Namespace) -> int:
    from launchdesk.workspace import create_workspace, display_name

    create_workspace(args.workspace).close()
    print(f"Created the workspace {display_name(args.workspace)}.")
    return 0


@command(
    "demo", "write the demo workspace: three rollouts at different stages and their accounts",
    arg("--out", required=True, metavar="FILE", help="the new workspace file (never overwritten)"),
    arg("--accounts", type=_count, default=5000, metavar="N", help="how many accounts (default 5000)"),
    arg("--seed", type=int, default=7, help="the random seed; the same seed writes the same demo"),
)
def demo(args: argparse.Namespace) -> int:
    from launchdesk.demo import write_demo

    path = write_demo(args.out, accounts=args.accounts, seed=args.seed)
    print(f"Wrote the demo workspace {path} ({args.accounts} accounts, 3 rollouts).")
    return 0


@command(
    "rollout new", "plan a new rollout from a template",
    WORKSPACE,
    arg("name", metavar="NAME", help="the rollout's name, unique in the workspace"),
    arg("--feature", metavar="F", help="the feature's name as customers see it (default: NAME)"),
    arg("--start", type=_iso_start, metavar="ISO-DATE",
        help="when phase 1 starts; a date means 09:00 in the team's time zone (default: four weeks from today)"),
    arg("--template", metavar="PATH", default="default",
        help="a template file, or the name of a built-in template (default: default)"),
    arg("--owner", help="who owns the rollout (default: you)"),
)
def rollout_new(args: argparse.Namespace) -> int:
    from launchdesk.journal import current_user
    from launchdesk.planning.template import create_rollout_from_template, load_template

    template = load_template(args.template)
    with _open(args.workspace) as workspace, workspace.transaction() as session:
        zone = _team_zone(session)
        launch = _launch_start(args.start, zone)
        rollout = create_rollout_from_template(
            session, template, name=args.name, feature_name=args.feature or args.name,
            launch_start=launch, owner=args.owner or current_user(),
        )
        phase_count = len(rollout.phases)
    print(f"Created the rollout '{args.name}' from the template '{template['name']}': "
          f"{phase_count} phases, phase 1 starts {launch.astimezone(zone):%Y-%m-%d %H:%M} {zone}.")
    return 0


@command(
    "rollout list", "list the rollouts of a workspace",
    WORKSPACE,
    arg("--json", action="store_true", help="print JSON instead of a table"),
)
def rollout_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from launchdesk.models import Rollout

    with _open(args.workspace) as workspace, workspace.session() as session:
        rollouts = session.scalars(
            select(Rollout).options(selectinload(Rollout.phases)).order_by(Rollout.created_at, Rollout.id)
        ).all()
        rows = [_rollout_summary(r) for r in rollouts]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No rollouts yet; plan one with 'launchdesk-cli rollout new'.")
        return 0
    columns = [("NAME", "name"), ("STATUS", "status"), ("CURRENT PHASE", "current_phase"),
               ("LAUNCH", "launch"), ("FLAG", "flag_key")]
    table = [[title for title, _ in columns]]
    table += [[_cell(row, key) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return 0


@command(
    "journal", "show the journal, oldest first, ending with the latest entry",
    WORKSPACE,
    arg("--rollout", metavar="NAME", help="only this rollout's entries"),
    arg("--limit", type=_positive, default=50, metavar="N", help="the latest N entries (default 50)"),
    arg("--kind", action="append", metavar="KIND", help="only entries of this kind (repeatable), e.g. plan_drift"),
    arg("--since", type=_iso_start, metavar="DATE", help="only entries at or after this date or time (UTC)"),
    arg("--csv", metavar="OUT.csv", help="write the entries (all that match, no limit) as CSV"),
)
def show_journal(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from launchdesk.models import JournalEntry, Rollout
    from launchdesk.workspace import display_name

    with _open(args.workspace) as workspace, workspace.session() as session:
        names: dict[int, str] = dict(session.execute(select(Rollout.id, Rollout.name)).all())
        query = select(JournalEntry).order_by(JournalEntry.at.desc(), JournalEntry.id.desc()).limit(args.limit)
        if args.rollout is not None:
            ids = [i for i, name in names.items() if name == args.rollout]
            if not ids:
                known = ", ".join(f"'{n}'" for n in sorted(names.values())) or "none"
                raise CommandError(f"There is no rollout named '{args.rollout}' in {display_name(args.workspace)} "
                                   f"(rollouts: {known}).")
            query = query.where(JournalEntry.rollout_id == ids[0])
        if args.kind:
            query = query.where(JournalEntry.kind.in_(args.kind))
        if args.since is not None:
            since = args.since if isinstance(args.since, dt.datetime) else dt.datetime.combine(args.since, dt.time())
            query = query.where(JournalEntry.at >= (since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)))
        if args.csv:
            query = query.limit(None)
        entries = list(reversed(session.scalars(query).all()))
    if args.csv:
        from launchdesk.journal import write_csv

        with open(args.csv, "w", newline="", encoding="utf-8") as out:
            write_csv(out, entries, names)
        print(f"{len(entries)} journal entries -> {args.csv}")
        return 0
    for entry in entries:
        where = "" if args.rollout or entry.rollout_id is None else f"[{names.get(entry.rollout_id, '?')}] "
        summary = " ".join(entry.summary.split())
        print(f"{entry.at:%Y-%m-%d %H:%M}Z  {entry.actor:<16} {entry.kind:<18} {where}{summary}")
    return 0


# --- helpers --------------------------------------------------------------------------------------------------


def _open(target: str) -> Workspace:
    from launchdesk.workspace import open_workspace

    return open_workspace(target)


def _team_zone(session: Any) -> dt.tzinfo:
    """The team's time zone from the workspace settings; UTC when none is set or it is unknown here."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from launchdesk.models import Setting

    setting = session.get(Setting, "team.timezone")
    if setting is None or not isinstance(setting.value, str):
        return dt.timezone.utc
    try:
        return ZoneInfo(setting.value)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


def _launch_start(start: dt.date | dt.datetime | None, zone: dt.tzinfo) -> dt.datetime:
    if start is None:
        start = dt.datetime.now(zone).date() + dt.timedelta(days=DEFAULT_LEAD_DAYS)
    if not isinstance(start, dt.datetime):
        start = dt.datetime.combine(start, dt.time(DEFAULT_START_HOUR))
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    return start


def _rollout_summary(rollout: Rollout) -> dict[str, Any]:
    from launchdesk.models import PhaseKind, PhaseStatus, RolloutStatus

    phases = [p for p in rollout.phases if p.kind == PhaseKind.ROLLOUT]
    current = next((p for p in phases if p.status not in (PhaseStatus.PLANNED, PhaseStatus.COMPLETE)), None)
    if current is None and rollout.status == RolloutStatus.COMPLETE:
        current_name = "all complete"
    else:
        current_name = current.name if current else ""
    return {
        "id": rollout.id,
        "name": rollout.name,
        "feature_name": rollout.feature_name,
        "status": rollout.status.value,
        "owner": rollout.owner,
        "current_phase": current_name,
        "launch": phases[0].planned_start.isoformat() if phases else None,
        "phases": len(rollout.phases),
        "flag_key": rollout.flag_key,
        "flag_environment": rollout.flag_environment,
    }


def _cell(row: dict[str, Any], key: str) -> str:
    value = row[key]
    if key == "launch" and value:
        return value[:10]
    return "" if value is None else str(value)



# --- go/no-go: gates and decisions ----------------------------------------------------------------------------

ROLLOUT_NAME = arg("rollout", metavar="ROLLOUT", help="the rollout's name")
DECISIONS = ("go", "no-go", "pause", "rollback")


@command(
    "gates", "evaluate a rollout's gates now and print each gate's value, threshold and outcome",
    WORKSPACE, ROLLOUT_NAME,
    arg("--json", action="store_true",
        help="print a JSON list of objects (name, value, threshold, comparison, outcome, reason, ...)"),
)
def gates(args: argparse.Namespace) -> int:
    from launchdesk.metrics.evaluate import evaluate_rollout
    from launchdesk.models import utcnow
    from launchdesk.planning.business_hours import phase_start_warning
    from launchdesk.planning.decisions import next_phase
    from launchdesk.planning.gates import format_duration, go_blockers

    with _open(args.workspace) as workspace, workspace.transaction() as session:
        rollout = _named_rollout(session, args.rollout, args.workspace)
        now = utcnow()
        results = evaluate_rollout(session, rollout, now=now)
        phase = next_phase(rollout)
        upcoming = None if phase is None else (phase.name, phase_start_warning(session, phase))
    if args.json:
        print(json.dumps([r.as_dict(now) for r in results], indent=2, ensure_ascii=False))
        return 0
    if not results:
        print(f"The rollout '{args.rollout}' has no gates.")
        return 0
    table = [["GATE", "VALUE", "THRESHOLD", "OUTCOME", "AGE", "REASON"]]
    for r in results:
        age = r.age(now)
        table.append([r.name, r.display_value(), r.display_threshold(), r.outcome.value,
                      "" if age is None else format_duration(age.total_seconds()), " ".join(r.reason.split())])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        print("  ".join([cell.ljust(width) for cell, width in zip(line, widths)] + [line[-1]]).rstrip())
    if upcoming is not None:
        name, warning = upcoming
        blockers = go_blockers(results)
        verdict = (f"a go needs a written override: {len(blockers)} gate(s) not passing" if blockers
                   else "all gates pass")
        print(f"\nNext phase: {name}: {verdict}." + (f" Warning: it {warning}." if warning else ""))
    return 0


@command(
    "decide", "record a go / no-go / pause / rollback for a phase, with a snapshot of every gate taken now",
    WORKSPACE, ROLLOUT_NAME,
    arg("--phase", type=_positive, required=True, metavar="N", help="the phase: 1 is the first rollout phase"),
    arg("--decision", required=True, choices=DECISIONS),
    arg("--by", required=True, metavar="NAME", help="who decides"),
    arg("--role", required=True, help="their role (pmm, engineering, support, ...)"),
    arg("--why", required=True, metavar="TEXT", help="the reason, kept with the decision"),
    arg("--override", metavar="TEXT", help="a go while gates fail or are inconclusive: why go anyway"),
)
def decide(args: argparse.Namespace) -> int:
    from launchdesk.metrics.evaluate import evaluate_rollout
    from launchdesk.models import PhaseKind
    from launchdesk.planning.business_hours import phase_start_warning
    from launchdesk.planning.decisions import DecisionRefused, OverrideRequired, record_decision

    with _open(args.workspace) as workspace:
        # The evaluation is kept even when the decision is refused: it is what the refusal was based on.
        with workspace.transaction() as session:
            rollout = _named_rollout(session, args.rollout, args.workspace)
            results = evaluate_rollout(session, rollout, actor=args.by)
        with workspace.transaction() as session:
            rollout = _named_rollout(session, args.rollout, args.workspace)
            phases = [p for p in rollout.phases if p.kind == PhaseKind.ROLLOUT]
            if args.phase > len(phases):
                raise CommandError(f"The rollout '{args.rollout}' has {len(phases)} rollout phases; "
                                   f"there is no phase {args.phase}.")
            phase = phases[args.phase - 1]
            try:
                decision = record_decision(session, phase, args.decision, decided_by=args.by, role=args.role,
                                           why=args.why, results=results, override_reason=args.override)
            except OverrideRequired as err:
                raise CommandError(f"{err} Give it with --override TEXT.") from None
            except DecisionRefused as err:
                raise CommandError(str(err)) from None
            name, status, overridden = phase.name, phase.status.value, decision.overridden
            warning = phase_start_warning(session, phase) if args.decision == "go" else None
    override = " as an OVERRIDE of the gates not passing" if overridden else ""
    print(f"Recorded a {args.decision} for '{name}' by {args.by} ({args.role}){override}; "
          f"the phase is now {status.replace('_', ' ')}.")
    if warning:
        print(f"Warning: '{name}' {warning}.", file=sys.stderr)
    return 0


def _named_rollout(session: Any, name: str, target: str) -> Rollout:
    from sqlalchemy import select

    from launchdesk.models import Rollout
    from launchdesk.workspace import display_name

    rollout = session.scalars(select(Rollout).where(Rollout.name == name)).first()
    if rollout is None:
        known = ", ".join(f"'{n}'" for n in session.scalars(select(Rollout.name).order_by(Rollout.name))) or "none"
        raise CommandError(f"There is no rollout named '{name}' in {display_name(target)} (rollouts: {known}).")
    return rollout

if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: command modules register into launchdesk.cli.
    from launchdesk.cli import main as _main

    sys.exit(_main())
