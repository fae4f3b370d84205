"""Account CSV import speed as a ratio to the sqlite3 shell's `.import` of the same file (target: >= 0.5).

    .venv/bin/python benchmarks/import_accounts.py [--rows 1000000] [--rounds 3]

The shell's time on this machine varies by half from one run to the next (it ends with an fsync), so each
round times the three runs back to back and the medians are reported, with every round's ratio.

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
import statistics
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


def _remove(*paths: Path) -> None:
    for path in paths:
        for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            part.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of baseline, import and floor, one after the other (medians are reported)")
    args = parser.parse_args()
    shell = shutil.which("sqlite3")
    if not shell:
        raise SystemExit("the sqlite3 shell is needed as the baseline (apt-get install sqlite3)")
    baselines: list[float] = []
    imports: list[float] = []
    floors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "accounts.csv"
        write_csv(src, args.rows)
        for _ in range(args.rounds):
            # One round measures all three back to back, so each ratio compares runs that met the same machine.
            baseline_db, ours_db, floor_db = d / "baseline.db", d / "bench.launchdesk", d / "floor.launchdesk"
            t = time.perf_counter()
            subprocess.run([shell, str(baseline_db), f".import --csv {src} accounts"], check=True)
            baselines.append(time.perf_counter() - t)
            with create_workspace(ours_db) as ws:
                t = time.perf_counter()
                report = import_accounts(ws, src)
                imports.append(time.perf_counter() - t)
            assert report.imported == args.rows and not report.rejected, report.summary()
            floors.append(write_floor(ours_db, floor_db))
            _remove(baseline_db, ours_db, floor_db)
    baseline, ours, floor = (statistics.median(v) for v in (baselines, imports, floors))
    rounds = ", ".join(f"{b / i:.2f}" for b, i in zip(baselines, imports))
    floor_rounds = ", ".join(f"{b / f:.2f}" for b, f in zip(baselines, floors))
    print(f"{args.rows} rows, median of {args.rounds} rounds")
    print(f"sqlite3 .import: {baseline:.2f} s")
    print(f"LaunchDesk import (accounts, contacts, properties, indexes): {ours:.2f} s")
    print(f"SQLite alone writing the same accounts and contacts (no parsing): {floor:.2f} s")
    print(f"import speed ratio LaunchDesk/sqlite3 = {baseline / ours:.2f} (rounds: {rounds}; target >= 0.5)")
    print(f"floor ratio (SQLite writing the result)/sqlite3 = {baseline / floor:.2f} (rounds: {floor_rounds}): "
          "no import on this schema can do better")
    print(f"LaunchDesk import / floor = {ours / floor:.2f}")


if __name__ == "__main__":
    main()
