"""Account CSV import speed as a ratio to the sqlite3 shell's `.import` of the same file (target: >= 0.5).

    .venv/bin/python benchmarks/import_accounts.py [--rows 1000000]

It also measures a floor: SQLite alone writing the rows the import produced (accounts, contacts, their
indexes, a WAL commit and its checkpoint) into an empty workspace, copied table to table inside one
connection with no parsing, checking or Python per row at all. No importer can be faster than that floor
on this schema, so its ratio to `.import` is the best any LaunchDesk import could reach.
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

from launchdesk.accounts.importer import IMPORT_CACHE_KIB, import_accounts
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


def write_floor(source: Path, target: Path) -> float:
    """Seconds SQLite takes to copy the imported accounts and contacts of `source` into a new workspace."""
    with create_workspace(target) as ws:
        ws.engine.dispose()
        raw = ws.engine.raw_connection()
        try:
            con = raw.driver_connection
            con.execute(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")  # what the importer's connection has
            con.execute("ATTACH DATABASE ? AS imported", (str(source),))
            con.commit()
            t = time.perf_counter()
            con.execute("BEGIN")
            indexes = con.execute("SELECT name, sql FROM main.sqlite_master WHERE type = 'index' "
                                  "AND tbl_name IN ('account', 'contact') AND sql IS NOT NULL").fetchall()
            for name, _ in indexes:
                con.execute(f'DROP INDEX main."{name}"')
            con.execute("INSERT INTO main.account SELECT * FROM imported.account ORDER BY id")
            con.execute("INSERT INTO main.contact SELECT * FROM imported.contact ORDER BY id")
            for _, create in indexes:
                con.execute(create)
            con.execute("COMMIT")
            seconds = time.perf_counter() - t
            con.execute("DETACH DATABASE imported")
        finally:
            raw.close()
    return seconds


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
        floor = write_floor(d / "bench.launchdesk", d / "floor.launchdesk")
    print(f"sqlite3 .import of {args.rows} rows: {baseline:.2f} s")
    print(f"LaunchDesk import (accounts, contacts, properties, indexes): {ours:.2f} s")
    print(f"SQLite alone writing the same accounts and contacts (no parsing): {floor:.2f} s")
    print(f"import speed ratio LaunchDesk/sqlite3 = {baseline / ours:.2f} (target >= 0.5)")
    print(f"floor ratio (SQLite writing the result)/sqlite3 = {baseline / floor:.2f}: no import on this schema can do better")


if __name__ == "__main__":
    main()
