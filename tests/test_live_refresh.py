"""Other people's changes appear without reopening the workspace (the document polls the journal)."""

from __future__ import annotations

from sqlalchemy import select

from launchdesk import journal
from launchdesk.models import Rollout
from launchdesk.views.document import WorkspaceDocument
from launchdesk.workspace import open_workspace


def test_a_change_made_elsewhere_is_announced(qapp, qtbot, demo_workspace):
    doc = WorkspaceDocument()
    doc.open(demo_workspace)
    try:
        seen: list[tuple[str, int]] = []
        doc.changed.connect(lambda kind, row: seen.append((kind, row)))
        doc.poll_for_changes()
        assert seen == []  # nothing new yet
        with open_workspace(demo_workspace) as other, other.transaction() as s:  # a teammate renames a rollout
            rollout = s.scalars(select(Rollout).where(Rollout.name == "Smart Scheduling")).one()
            rollout.name = "Smart Scheduling v2"
            journal.record(s, "edit", "Renamed", rollout=rollout, actor="Teammate")
        doc.poll_for_changes()
        assert seen == [("*", 0)]
        doc.poll_for_changes()
        assert seen == [("*", 0)]  # announced once
        assert doc._watch.isActive()
    finally:
        doc.close()
    assert not doc._watch.isActive()
