"""The journal on the command line: filters by kind and time, and the CSV export."""

from __future__ import annotations

import csv

from launchdesk import cli


def test_journal_filters_and_exports_csv(demo_workspace, tmp_path, capsys):
    out = tmp_path / "journal.csv"
    assert cli.main(["journal", str(demo_workspace), "--kind", "decision.go", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and {r["kind"] for r in rows} == {"decision.go"}
    assert set(rows[0]) == {"at", "actor", "kind", "rollout", "summary", "details"}
    assert any(r["rollout"] == "Workflow Automations" for r in rows)
    capsys.readouterr()
    assert cli.main(["journal", str(demo_workspace), "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["journal", str(demo_workspace), "--kind", "no.such.kind", "--limit", "5"]) == 0
    assert capsys.readouterr().out == ""
