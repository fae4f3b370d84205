"""20 concurrent clients ticking checklist items and moving phases on a PostgreSQL team workspace for 30 s.

Checks that no update is lost (every row's version count equals the successful edits made to it, and every
phase moved by exactly the sum of its successful moves) and prints the p95 operation latency.

    .venv/bin/python benchmarks/team_concurrency.py [--url postgresql+psycopg://...] [--clients 20] [--seconds 30]

Without --url a private PostgreSQL cluster is started on 127.0.0.1 in a temporary folder (needs initdb).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from launchdesk.models import ChecklistItem, Phase, Rollout
from launchdesk.workspace import create_workspace

UTC = dt.timezone.utc


@contextlib.contextmanager
def private_cluster():
    bindir = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name))
    folder = Path(tempfile.mkdtemp(prefix="launchdesk-bench-pg-"))
    prefix = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
                    "-o", f"-k {folder} -h 127.0.0.1 -p {port} -c max_connections=100", "-w", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"],
                       check=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def run(url: str, clients: int, seconds: float) -> None:
    start = dt.datetime(2027, 1, 11, 9, tzinfo=UTC)
    ws = create_workspace(url)
    with ws.transaction() as s:
        r = Rollout(name="Load", feature_name="Load")
        for i in range(10):
            p = Phase(rollout=r, name=f"P{i}", position=i, planned_start=start, planned_end=start)
            p.checklist.extend(ChecklistItem(role="support", title=f"Item {i}.{j}") for j in range(20))
        s.add(r)
    with ws.session() as s:
        phase_ids = list(s.scalars(select(Phase.id)))
        item_ids = list(s.scalars(select(ChecklistItem.id)))
    ws.engine.pool.dispose()
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine(url, pool_size=clients, max_overflow=0)
    sessions = sessionmaker(engine, expire_on_commit=False)
    moves: Counter[int] = Counter()
    edits: Counter[tuple[str, int]] = Counter()
    conflicts = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        rnd = random.Random(n)
        while time.monotonic() < deadline:
            t = time.perf_counter()
            if rnd.random() < 0.6:
                item_id = rnd.choice(item_ids)
                with sessions() as s:
                    item = s.get(ChecklistItem, item_id)
                    done = item.done_at is None
                    item.done_at = dt.datetime.now(UTC) if done else None
                    item.done_by = f"client {n}" if done else None
                    try:
                        s.commit()
                        ok, key = True, ("item", item_id)
                    except StaleDataError:
                        s.rollback()
                        ok, key = False, ("item", item_id)
            else:
                phase_id = rnd.choice(phase_ids)
                with sessions() as s:
                    phase = s.get(Phase, phase_id)
                    phase.planned_start += dt.timedelta(minutes=1)
                    try:
                        s.commit()
                        ok, key = True, ("phase", phase_id)
                    except StaleDataError:
                        s.rollback()
                        ok, key = False, ("phase", phase_id)
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if ok:
                    edits[key] += 1
                    if key[0] == "phase":
                        moves[key[1]] += 1
                else:
                    conflicts[key[0]] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lost = 0
    with sessions() as s:
        for phase in s.scalars(select(Phase)):
            if phase.planned_start != start + dt.timedelta(minutes=moves[phase.id]):
                lost += 1
            if phase.version - 1 != edits[("phase", phase.id)]:
                lost += 1
        for item in s.scalars(select(ChecklistItem)):
            if item.version - 1 != edits[("item", item.id)]:
                lost += 1
    engine.dispose()
    ws.close()
    latencies.sort()
    total = len(latencies)
    print(f"{clients} clients, {seconds:g} s: {total} operations, {sum(edits.values())} applied, "
          f"{sum(conflicts.values())} refused as conflicts (the user would be asked), {lost} lost updates")
    print(f"p50 {latencies[total // 2] * 1000:.1f} ms, p95 {latencies[int(total * 0.95)] * 1000:.1f} ms")
    if lost:
        raise SystemExit("LOST UPDATES")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    if args.url:
        run(args.url, args.clients, args.seconds)
    else:
        with private_cluster() as url:
            run(url, args.clients, args.seconds)


if __name__ == "__main__":
    main()
