"""Support lookup in a 1,000,000-account workspace: p99 latency (target <= 10 ms), and the memory cost of opening
that workspace as a ratio to an empty one (target <= 1.3: opening must not load accounts).

Lookups of random ids, id prefixes, name prefixes and e-mail prefixes (up to 20 matches each) run in one
session, as a script would; exact ids also run in a new session each, as the lookup pane asks. The search
statement alone, on the same queries, is the floor the lookup is compared with.

    .venv/bin/python benchmarks/lookup.py [--accounts 1000000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from launchdesk.workspace import create_workspace

RSS_PROBE = """
import resource, sys
from launchdesk.workspace import open_workspace
from launchdesk.access.lookup import lookup
ws = open_workspace(sys.argv[1])
with ws.session() as s:
    lookup(s, "ACC-0000042")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(path: Path, accounts: int) -> None:
    """Accounts, contacts and a rollout linked to a synced flag, generated inside SQLite (seconds, not minutes)."""
    from launchdesk.connections import add_connection
    from launchdesk.models import FlagSnapshot
    from launchdesk.planning.template import create_rollout_from_template, load_template

    with create_workspace(path) as ws:
        with ws.engine.begin() as conn:
            conn.execute(text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
                "INSERT INTO account (id, account_key, name, name_folded, attributes, imported_at) "
                "SELECT i, printf('ACC-%07d', i), printf('Company %d GmbH', i), printf('company %d gmbh', i), "
                "json_object('plan', CASE i % 4 WHEN 0 THEN 'starter' WHEN 1 THEN 'pro' WHEN 2 THEN 'business' "
                "ELSE 'enterprise' END, 'region', CASE i % 3 WHEN 0 THEN 'eu' WHEN 1 THEN 'us' ELSE 'apac' END, "
                "'segment', CASE i % 5 WHEN 0 THEN 'smb' WHEN 1 THEN 'mid_market' ELSE 'enterprise' END), "
                "'2026-01-01 00:00:00' FROM n"), {"count": accounts})
            conn.execute(text(
                "INSERT INTO contact (account_id, position, email, first_name, last_name) "
                "SELECT id, 0, printf('admin%d@company%d.example', id, id), 'Alex', '' FROM account"))
        with ws.transaction() as s:
            connection = add_connection(s, "unleash", "unleash", url="http://127.0.0.1:4242", project="default",
                                        environment="production")
            rollout = create_rollout_from_template(s, load_template(), name="Smart inbox", feature_name="Inbox",
                                                   launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
            rollout.flag_connection, rollout.flag_key, rollout.flag_environment = connection, "smart-inbox", "production"
            definition = {
                "name": "smart-inbox", "enabled": True, "environment": "production", "variants": [],
                "dependencies": [], "segments": {},
                "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "25", "stickiness": "default",
                                                                           "groupId": "smart-inbox"},
                                "constraints": [{"contextName": "plan", "operator": "IN",
                                                 "values": ["pro", "enterprise"]}],
                                "segments": [], "variants": []}],
            }
            s.add(FlagSnapshot(connection=connection, flag_key="smart-inbox", environment="production",
                               enabled=True, definition=definition, rollout_percentage=25.0))


def rss_kib(path: Path) -> int:
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    from launchdesk.access.lookup import lookup
    from launchdesk.accounts.search import search_account_rows
    from launchdesk.workspace import open_workspace

    def p50(values: list[float]) -> float:
        return statistics.median(values) * 1000

    def p99(values: list[float]) -> float:
        return sorted(values)[max(int(len(values) * 0.99) - 1, 0)] * 1000

    with tempfile.TemporaryDirectory() as tmp:
        big, empty = Path(tmp) / "big.launchdesk", Path(tmp) / "empty.launchdesk"
        t = time.perf_counter()
        build(big, args.accounts)
        print(f"built {args.accounts} accounts in {time.perf_counter() - t:.1f} s")
        build(empty, 0)
        kinds = ("id", "id prefix", "name prefix", "e-mail")

        def make_queries(seed: int, count: int) -> list[tuple[str, str]]:
            """Realistic prefixes, the kinds in turn; each measurement draws its own (no query is timed warm)."""
            rnd = random.Random(seed)
            make = {
                "id": lambda: f"ACC-{rnd.randint(1, args.accounts):07d}",
                "id prefix": lambda: f"ACC-{rnd.randint(1, args.accounts):07d}"[:9],
                "name prefix": lambda: f"company {rnd.randint(1, args.accounts)}",
                "e-mail": lambda: f"admin{rnd.randint(1, args.accounts)}@",
            }
            return [(kind, make[kind]()) for kind in (kinds[n % len(kinds)] for n in range(count))]

        queries = make_queries(3, args.lookups)
        times: dict[str, list[float]] = {k: [] for k in kinds}
        search_times: list[float] = []
        pane_times: list[float] = []
        with open_workspace(big) as ws:
            with ws.session() as s:
                lookup(s, "ACC-0000001")  # compile the snapshot once, as the open lookup pane would
                for kind, query in queries:
                    t = time.perf_counter()
                    answers = lookup(s, query, limit=20)
                    times[kind].append(time.perf_counter() - t)
                    assert answers, query
                for _kind, query in make_queries(4, args.lookups):
                    t = time.perf_counter()
                    found = search_account_rows(s, query, limit=20)
                    search_times.append(time.perf_counter() - t)
                    assert found, query
            for _kind, query in make_queries(5, args.lookups // 2)[::4]:  # exact ids
                t = time.perf_counter()
                with ws.session() as s:  # the lookup pane: a new session per account shown
                    answers = lookup(s, query, limit=1)
                pane_times.append(time.perf_counter() - t)
                assert answers and answers[0].account_id == query, query
        every = [x for v in times.values() for x in v]
        for kind, values in times.items():
            print(f"{kind:12s} p50 {p50(values):6.2f} ms  p99 {p99(values):6.2f} ms")
        print(f"{'pane (id)':12s} p50 {p50(pane_times):6.2f} ms  p99 {p99(pane_times):6.2f} ms  "
              f"(a new session per lookup, {len(pane_times)} lookups)")
        print(f"{'search only':12s} p50 {p50(search_times):6.2f} ms  p99 {p99(search_times):6.2f} ms  "
              "(the search statement alone, the same kinds of query)")
        print(f"lookup p99 over {len(every)} lookups = {p99(every):.2f} ms (target <= 10); p50 {p50(every):.2f} ms")
        print(f"lookup / search only: p50 {p50(every) / p50(search_times):.2f}x, "
              f"p99 {p99(every) / p99(search_times):.2f}x")
        big_rss, empty_rss = rss_kib(big), rss_kib(empty)
        print(f"RSS after opening and one lookup: {big_rss / 1024:.0f} MiB with {args.accounts} accounts, "
              f"{empty_rss / 1024:.0f} MiB empty")
        print(f"RSS ratio 1M/empty = {big_rss / empty_rss:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
