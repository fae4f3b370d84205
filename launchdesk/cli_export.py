"""The ``export`` command: a rollout's plan as a PDF for engineering, support, CS and marketing, without a window.

Registered into ``launchdesk.cli``'s command table on import. Qt is imported only when the command runs: the
export paints with QtGui on an offscreen QGuiApplication made here when none is running.
"""

from __future__ import annotations

import argparse

from launchdesk.cli import WORKSPACE, CommandError, _open, arg, command
from launchdesk.export import PAGE_SIZES, SECTIONS


def _sections(text: str) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown section {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    return names


@command(
    "export", "write a rollout's plan as a PDF: cover, readiness, cohorts, timeline, gates, decisions, checklists, comms",
    WORKSPACE,
    arg("rollout", metavar="ROLLOUT", help="the rollout's name"),
    arg("--pdf", required=True, metavar="OUT.pdf", help="the PDF file to write (replaced if it exists)"),
    arg("--sections", type=_sections, nargs="+", metavar="SECTION",
        help=f"only these sections, separated by spaces or commas ({', '.join(SECTIONS)}); default: all"),
    arg("--page-size", choices=PAGE_SIZES, default="A4", help="the paper size (default A4)"),
    arg("--message-bodies", action="store_true",
        help="include the message templates' text in the comms plan (never recipients)"),
)
def export(args: argparse.Namespace) -> int:
    from launchdesk.cli_access import _rollout
    from launchdesk.export.pdf import ensure_gui_application, export_plan
    from launchdesk.export.plan import ExportError, ExportOptions

    sections = tuple(name for group in args.sections for name in group) if args.sections else SECTIONS
    try:
        options = ExportOptions(sections=sections, message_bodies=args.message_bodies, page_size=args.page_size)
    except ExportError as exc:
        raise CommandError(str(exc)) from None
    _app = ensure_gui_application()  # referenced until the PDF is written
    with _open(args.workspace) as workspace:
        with workspace.session() as session:
            rollout_id = _rollout(session, args.rollout).id
        try:
            result = export_plan(workspace, rollout_id, args.pdf, options)
        except ExportError as exc:
            raise CommandError(str(exc)) from None
    print(f"Wrote {result.path} ({result.pages} page{'s' if result.pages != 1 else ''}).")
    return 0
