"""Account CSV import speed as a ratio to the sqlite3 shell's `.import` of the same file (target: >= 0.5).

    .venv/bin/python benchmarks/import_accounts.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from launchdesk.accounts.importer import import_accounts
from launchdesk.workspace import create_workspace

PLANS = ["starter", "pro", "business", "enterprise"]
SEGMENTS = ["smb", "mid_market", "enterprise", "internal", "design_partner"]
REGIONS = ["eu", "us", "apac", "latam"]


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(42)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "name", "email", "first_name", "plan", "segment", "region", "seats", "engagement"])
        for i in range(rows):
            w.writerow([f"ACC-{i:08d}", f"Company {i} GmbH", f"admin{i}@company{i}.example", "Alex",
                        rnd.choice(PLANS), rnd.choice(SEGMENTS), rnd.choice(REGIONS), rnd.randint(1, 5000),
                        rnd.choice(["low", "medium", "high", "power"])])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    shell = shutil.which("sqlite3")
    if not shell:
        raise SystemExit("the sqlite3 shell is needed as the baseline (apt-get install sqlite3)")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "accounts.csv"
        write_csv(src, args.rows)
        t = time.perf_counter()
        subprocess.run([shell, str(d / "baseline.db"), f".import --csv {src} accounts"], check=True)
        baseline = time.perf_counter() - t
        with create_workspace(d / "bench.launchdesk") as ws:
            t = time.perf_counter()
            report = import_accounts(ws, src)
            ours = time.perf_counter() - t
        assert report.imported == args.rows and not report.rejected, report.summary()
    print(f"sqlite3 .import of {args.rows} rows: {baseline:.2f} s")
    print(f"LaunchDesk import (accounts, contacts, properties, indexes): {ours:.2f} s")
    print(f"import speed ratio LaunchDesk/sqlite3 = {baseline / ours:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
