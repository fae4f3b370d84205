"""Cold start of LaunchDesk to a painted main window on the demo workspace, as a ratio to a bare PySide6 window.

Both are new processes started the same way and stopped at their window's first paint, alternated so
machine noise hits both alike. Prints the medians and the ratio (target: <= 3.5).

LaunchDesk's first paint shows the whole first screen of the workspace (the rollouts, the selected one's
timeline, phases, cohorts and details), read with plain SQL; SQLAlchemy and the mapped classes load right
after it. The time until that warm-up is done ("ready for edits") is printed too, as a second ratio.

    .venv/bin/python benchmarks/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_WINDOW = """
import sys
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

class QuitOnPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            QApplication.instance().quit()
        return False

app = QApplication(sys.argv)
window = QMainWindow()
window.resize(1280, 800)
quitter = QuitOnPaint()
window.installEventFilter(quitter)
window.show()
app.exec()
"""


def time_process(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        demo = tmpdir / "demo.launchdesk"
        subprocess.run([sys.executable, "-m", "launchdesk.cli", "demo", "--out", str(demo)], check=True)
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
            # keep the user's settings and logs out of it
            "LAUNCHDESK_CONFIG_DIR": str(tmpdir / "config"),
            "LAUNCHDESK_DATA_DIR": str(tmpdir / "data"),
            "LAUNCHDESK_LOG_DIR": str(tmpdir / "logs"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # any value, even "0", turns .pyc caching off
        bare_cmd = [sys.executable, "-c", BARE_WINDOW]
        app_cmd = [sys.executable, "-m", "launchdesk", "--quit-after-paint", str(demo)]
        ready_cmd = [sys.executable, "-m", "launchdesk", "--quit-after-ready", str(demo)]
        # one warm-up each so all find their files in the page cache and their bytecode compiled
        for cmd in (bare_cmd, app_cmd, ready_cmd):
            time_process(cmd, env)
        bare, app, ready = [], [], []
        for _ in range(args.runs):
            bare.append(time_process(bare_cmd, env))
            app.append(time_process(app_cmd, env))
            ready.append(time_process(ready_cmd, env))
    b, a, r = statistics.median(bare), statistics.median(app), statistics.median(ready)
    print(f"bare PySide6 window: median {b * 1000:.0f} ms over {args.runs} runs")
    print(f"LaunchDesk on the demo workspace, first paint: median {a * 1000:.0f} ms over {args.runs} runs")
    print(f"LaunchDesk ready for edits (ORM loaded after the paint): median {r * 1000:.0f} ms")
    print(f"cold start ratio LaunchDesk/bare = {a / b:.2f} (target <= 3.5)")
    print(f"ready-for-edits ratio LaunchDesk/bare = {r / b:.2f}")


if __name__ == "__main__":
    main()
