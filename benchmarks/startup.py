"""Cold start of LaunchDesk to a painted main window on the demo workspace, as a ratio to a bare PySide6 window.

Both are new processes started the same way and stopped at their window's first paint, alternated so
machine noise hits both alike. Prints the medians and the ratio (target: <= 3.5).

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
        # one warm-up each so both find their files in the page cache and their bytecode compiled
        time_process(bare_cmd, env)
        time_process(app_cmd, env)
        bare, app = [], []
        for _ in range(args.runs):
            bare.append(time_process(bare_cmd, env))
            app.append(time_process(app_cmd, env))
    b, a = statistics.median(bare), statistics.median(app)
    print(f"bare PySide6 window: median {b * 1000:.0f} ms over {args.runs} runs")
    print(f"LaunchDesk on the demo workspace: median {a * 1000:.0f} ms over {args.runs} runs")
    print(f"cold start ratio LaunchDesk/bare = {a / b:.2f} (target <= 3.5)")


if __name__ == "__main__":
    main()
