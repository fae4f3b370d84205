"""The self-check a packaged LaunchDesk runs in CI: open a fresh demo workspace, render the main window, export
a PDF of a rollout, and report. Exit status 0 only when every step worked."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from PySide6.QtWidgets import QApplication


def run_self_check(out_dir: str | Path) -> int:
    """Run inside a QApplication; writes demo.launchdesk, main-window.png and plan.pdf into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from launchdesk.demo import write_demo
        from launchdesk.views.main_window import MainWindow

        demo = out / "demo.launchdesk"
        for leftover in out.glob("demo.launchdesk*"):
            leftover.unlink()
        write_demo(demo, accounts=500)
        from PySide6.QtCore import QSettings

        window = MainWindow(QSettings(str(out / "settings.ini"), QSettings.Format.IniFormat))
        if not window.open_workspace(demo):
            raise RuntimeError("the demo workspace did not open")
        window.resize(1280, 800)
        window.show()
        for _ in range(10):
            QApplication.processEvents()
        image = window.grab().toImage()
        if image.isNull() or image.width() < 100:
            raise RuntimeError("the main window rendered nothing")
        image.save(str(out / "main-window.png"))
        rollouts = window.rollouts.rowCount() if hasattr(window, "rollouts") else 0
        if rollouts < 1:
            raise RuntimeError("the demo's rollouts are not in the sidebar")
        pdf = _export_pdf(demo, out / "plan.pdf")
        window.close()
        print(f"self-check ok: {rollouts} rollouts shown, window image and {pdf} written to {out}")
        return 0
    except Exception:  # the point is to report every failure, whatever it is
        traceback.print_exc(file=sys.stderr)
        print("self-check FAILED", file=sys.stderr)
        return 1


def _export_pdf(workspace: Path, pdf: Path) -> str:
    from launchdesk import cli

    if cli.main(["export", str(workspace), "Workflow Automations", "--pdf", str(pdf)]) != 0 or not pdf.exists():
        raise RuntimeError("the PDF export failed")
    if not pdf.read_bytes().startswith(b"%PDF"):
        raise RuntimeError("the PDF export wrote something that is not a PDF")
    return pdf.name
