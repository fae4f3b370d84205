"""PDF plan export of a plan with 10 phases, 200 checklist items, 40 messages and 30 decisions: the time, the peak
memory, and the ratio to the time Qt needs to print the same HTML text alone (target <= 2: the chart, the
headers and the page layout add little on top of Qt's own text printing).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/export_pdf.py [--runs 5]

The two sides are timed in turns, best of ``--runs`` each, so load on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

from launchdesk.export.pdf import ensure_gui_application
from launchdesk.workspace import create_workspace, open_workspace

UTC = dt.timezone.utc
PHASES = 10  # 3 preparation weeks and 7 expansions
CHECKLIST_ITEMS = 200
MESSAGES = 40
DECISIONS = 30


def build(path: Path) -> int:
    """The plan, with samples for every gate and a decision snapshot of every gate; returns the rollout's id."""
    from launchdesk.models import Account, ChecklistItem, Decision, DecisionKind, Message, MetricSample, Role
    from launchdesk.planning.gates import Measurement, judge
    from launchdesk.planning.template import create_rollout_from_template, load_template

    template = load_template()
    preparation = [p for p in template["phases"] if p["kind"] == "preparation"]
    cohorts = [c["name"] for c in template["cohorts"]]
    expansions = [{"kind": "rollout", "name": f"Phase {n}: wave {n}", "cohort": cohorts[(n - 1) % len(cohorts)],
                   "target_percentage": min(100, 15 * n), "duration_days": 5, "gap_after_days": 2, "checklist": []}
                  for n in range(1, PHASES - len(preparation) + 1)]
    template = {**template, "phases": [{**p, "checklist": []} for p in preparation] + expansions}
    with create_workspace(path) as ws, ws.transaction() as s:
        rollout = create_rollout_from_template(s, template, name="Benchmark launch", feature_name="Smart inbox",
                                               launch_start=dt.datetime(2027, 3, 1, 9, tzinfo=UTC), owner="Mia")
        phases = rollout.phases
        roles = list(Role)
        for n in range(CHECKLIST_ITEMS):
            phase = phases[n % len(phases)]
            phase.checklist.append(ChecklistItem(role=roles[n % len(roles)], offset_minutes=(n % 5 - 2) * 1440,
                                                 position=n, title=f"Checklist duty number {n} for {phase.name}",
                                                 notes="Check with the on-call engineer first." if n % 3 else ""))
        expanding = phases[len(preparation):]
        for n in range(MESSAGES):
            phase = expanding[n % len(expanding)]
            phase.messages.append(Message(name=f"Message {n}", cohort=phase.cohort, subject=f"News {n}",
                                          body="Hi {{ contact.first_name }},\n\n" + "A paragraph of news. " * 12,
                                          send_offset_minutes=60 * (n % 4)))
        s.add_all(Account(account_key=f"A{n}", name=f"Account {n}", name_folded=f"account {n}",
                          attributes={"segment": "smb", "engagement": "high"}) for n in range(500))
        s.flush()
        now = dt.datetime(2027, 3, 1, 8, tzinfo=UTC)
        snapshot = []
        for gate in rollout.gates:
            value = gate.threshold * 0.8
            result = judge(gate, Measurement(value, observed_at=now, sample_count=12, baseline=1.0), now=now)
            s.add(MetricSample(gate_id=gate.id, sampled_at=now, value=value, baseline=1.0, sample_count=12,
                               outcome=result.outcome, detail=result.reason))
            snapshot.append(result.snapshot())
        for n in range(DECISIONS):
            phase = expanding[n % len(expanding)]
            phase.decisions.append(Decision(kind=DecisionKind.GO if n % 3 else DecisionKind.NO_GO, decided_by="Mia",
                                            decided_at=now - dt.timedelta(hours=n), reason=f"Decision {n}: gates read.",
                                            gate_snapshot=snapshot, overridden=n % 7 == 0))
        return rollout.id


def export_once(workspace: object, rollout_id: int, out: Path) -> float:
    from launchdesk.export.pdf import export_plan

    start = time.perf_counter()
    export_plan(workspace, rollout_id, out)  # type: ignore[arg-type]
    return time.perf_counter() - start


def text_only_once(html: str, out: Path) -> float:
    """Qt printing the export's HTML alone: one QTextDocument, its own pagination, QTextDocument.print_."""
    from PySide6.QtGui import QFont, QPdfWriter, QTextDocument

    from launchdesk.export.html import stylesheet
    from launchdesk.export.pdf import RESOLUTION

    start = time.perf_counter()
    writer = QPdfWriter(str(out))
    writer.setResolution(RESOLUTION)  # the export's, so both lay text out at the same precision
    document = QTextDocument()
    font = QFont("DejaVu Sans")
    font.setPointSizeF(9.0)
    document.setDefaultFont(font)
    document.setDefaultStyleSheet(stylesheet())
    document.setHtml(html)
    document.print_(writer)
    del writer
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    _app = ensure_gui_application()
    from launchdesk.export import SECTIONS
    from launchdesk.export.html import render_section
    from launchdesk.export.plan import ExportOptions, read_plan
    from launchdesk.models import Rollout

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.launchdesk"
        rollout_id = build(path)
        workspace = open_workspace(path)
        with workspace.session() as s:
            plan = read_plan(s, s.get(Rollout, rollout_id), ExportOptions(), now=dt.datetime.now(UTC))
        html = "".join(render_section(section, plan) for section in SECTIONS if section != "timeline")
        export_once(workspace, rollout_id, Path(folder) / "warm.pdf")  # fonts and templates loaded once
        text_only_once(html, Path(folder) / "warm-text.pdf")
        exports, texts = [], []
        for run in range(args.runs):
            exports.append(export_once(workspace, rollout_id, Path(folder) / f"plan-{run}.pdf"))
            texts.append(text_only_once(html, Path(folder) / f"text-{run}.pdf"))
        from pypdf import PdfReader

        pages = len(PdfReader(Path(folder) / "plan-0.pdf").pages)
        workspace.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        peak_mib /= 1024
    best, baseline = min(exports), min(texts)
    print(f"plan: {PHASES} phases, {CHECKLIST_ITEMS} checklist items, {MESSAGES} messages, {DECISIONS} decisions; "
          f"{pages} pages")
    print(f"export (read, lay out, chart, paint): best {best * 1000:.0f} ms of {args.runs}")
    print(f"Qt printing the same HTML alone:     best {baseline * 1000:.0f} ms of {args.runs}")
    print(f"peak memory (process RSS): {peak_mib:.0f} MiB")
    print(f"ratio export / text alone: {best / baseline:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
