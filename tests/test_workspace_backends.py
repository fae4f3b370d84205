"""The model and migrations on both back ends (SQLite and a real PostgreSQL 15), copying between them, and
optimistic concurrency: two people editing the same row get one conflict, never a lost update."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm.exc import StaleDataError

from launchdesk import cli, migrations
from launchdesk.demo import write_demo
from launchdesk.models import Base, ChecklistItem, Phase, PhaseStatus, Rollout
from launchdesk.planning.checklists import due_at, team_zone
from launchdesk.workspace import (
    APPLICATION_ID,
    SCHEMA_HEAD,
    SCHEMA_REVISIONS,
    NotAWorkspace,
    WorkspaceError,
    create_workspace,
    open_workspace,
)
from launchdesk.workspace_copy import copy_workspace
from servers import PostgresServer

UTC = dt.timezone.utc
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_target(request, tmp_path):
    """A factory of fresh, empty workspace targets on the parametrized back end."""
    if request.param == "sqlite":
        return lambda: str(tmp_path / f"w{next(_names)}.launchdesk")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return lambda: server.create_database(f"workspace_{next(_names)}")


def test_models_match_the_migrations(new_target):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with create_workspace(new_target()) as ws, ws.engine.connect() as conn:
        assert ws.schema_revision() == SCHEMA_HEAD
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []


def test_round_trip_and_cascades(new_target):
    target = new_target()
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with create_workspace(target) as ws, ws.transaction() as s:
        r = Rollout(name="Smart inbox", feature_name="Inbox", owner="Dana")
        p = Phase(rollout=r, name="Phase 1", planned_start=start, planned_end=start + dt.timedelta(days=7),
                  target_percentage=5)
        p.checklist.append(ChecklistItem(role="support", offset_minutes=-2880, title="Brief support"))
        s.add(r)
    with open_workspace(target) as ws:
        with ws.session() as s:
            r = s.scalars(select(Rollout)).one()
            assert r.phases[0].planned_start == start
            assert due_at(start, r.phases[0].checklist[0].offset_minutes, team_zone(s)) == start - dt.timedelta(hours=48)
        with ws.transaction() as s:
            s.delete(s.scalars(select(Rollout)).one())
        with ws.session() as s:
            assert s.scalars(select(ChecklistItem)).all() == []


@pytest.mark.parametrize("revision", SCHEMA_REVISIONS[:-1])
def test_upgrade_from_an_earlier_revision(new_target, revision):
    target = new_target()
    if "://" not in target:
        con = sqlite3.connect(target)
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.commit()
        con.close()
        engine = create_engine(f"sqlite:///{target}")
    else:
        engine = create_engine(target)
    with engine.begin() as conn:
        migrations.upgrade(conn, revision)
        conn.execute(text("INSERT INTO rollout (name, feature_name, description, owner, status, readiness_can_flag,"
                          " readiness_blast_radius, readiness_monitoring, readiness_rollback_plan, created_at,"
                          " updated_at, version) VALUES ('Old plan', 'F', '', 'Kim', 'planning', '', '', '', '',"
                          " '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"))
    engine.dispose()
    with open_workspace(target) as ws:
        assert ws.schema_revision() == SCHEMA_HEAD
        with ws.session() as s:
            assert s.scalars(select(Rollout.owner)).one() == "Kim"


def test_an_empty_database_is_not_a_workspace(postgres_server):
    url = postgres_server.create_database("not_a_workspace")
    with pytest.raises(NotAWorkspace, match="holds no LaunchDesk workspace"):
        open_workspace(url)
    with create_workspace(url):
        pass
    with pytest.raises(WorkspaceError, match="already holds a workspace"):
        create_workspace(url)


def _table_contents(target: str) -> dict[str, list[tuple]]:
    with open_workspace(target) as ws, ws.engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables
        }


def test_copy_sqlite_to_postgresql_and_back_is_equal_in_content(tmp_path, postgres_server):
    original = write_demo(tmp_path / "demo.launchdesk", accounts=400)
    server = postgres_server.create_database("copy_round_trip")
    back = tmp_path / "back.launchdesk"
    report = copy_workspace(original, server)
    assert report.counts["account"] == 400 and report.counts["journal_entry"] > 0
    assert cli.main(["copy", server, str(back)]) == 0
    before, after = _table_contents(str(original)), _table_contents(str(back))
    assert set(before) == set(after)
    for name in before:
        assert before[name] == after[name], name
    # the server's sequences continue after the copied ids
    with open_workspace(server) as ws, ws.transaction() as s:
        r = Rollout(name="Created on the server", feature_name="F")
        s.add(r)
        s.flush()
        assert r.id > max(row[0] for row in before["rollout"])


def test_copy_refuses_a_destination_that_is_not_empty(tmp_path):
    src = write_demo(tmp_path / "a.launchdesk", accounts=10)
    dest = tmp_path / "b.launchdesk"
    dest.write_text("keep me")
    with pytest.raises(WorkspaceError, match="already exists"):
        copy_workspace(src, dest)
    assert dest.read_text() == "keep me"


def test_two_people_editing_the_same_phase_get_one_conflict(new_target):
    target = new_target()
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with create_workspace(target) as ws:
        with ws.transaction() as s:
            r = Rollout(name="R", feature_name="F")
            Phase(rollout=r, name="Phase 1", planned_start=start, planned_end=start + dt.timedelta(days=3))
            s.add(r)
        alice, bob = ws.session(), ws.session()
        try:
            a_phase = alice.scalars(select(Phase)).one()
            b_phase = bob.scalars(select(Phase)).one()
            a_phase.planned_start = start + dt.timedelta(days=1)
            alice.commit()
            b_phase.planned_start = start + dt.timedelta(days=2)
            with pytest.raises(StaleDataError):
                bob.commit()
            bob.rollback()
        finally:
            alice.close()
            bob.close()
        with ws.session() as s:
            phase = s.scalars(select(Phase)).one()
            assert phase.planned_start == start + dt.timedelta(days=1)  # Alice's edit, not lost, not overwritten
            assert phase.version == 2


def test_ticking_two_different_items_at_once_does_not_conflict(new_target):
    target = new_target()
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with create_workspace(target) as ws:
        with ws.transaction() as s:
            r = Rollout(name="R", feature_name="F")
            p = Phase(rollout=r, name="Phase 1", planned_start=start, planned_end=start, status=PhaseStatus.PLANNED)
            p.checklist.extend([ChecklistItem(role="support", title="A"), ChecklistItem(role="cs", title="B")])
            s.add(r)
        alice, bob = ws.session(), ws.session()
        try:
            a_item = alice.scalars(select(ChecklistItem).where(ChecklistItem.title == "A")).one()
            b_item = bob.scalars(select(ChecklistItem).where(ChecklistItem.title == "B")).one()
            now = dt.datetime.now(UTC)
            a_item.done_by, a_item.done_at = "Alice", now
            b_item.done_by, b_item.done_at = "Bob", now
            alice.commit()
            bob.commit()
        finally:
            alice.close()
            bob.close()
        with ws.session() as s:
            assert {i.title: i.done_by for i in s.scalars(select(ChecklistItem))} == {"A": "Alice", "B": "Bob"}


def test_server_password_comes_from_the_keyring(postgres_server, secret_service):
    """A URL without a password takes it from the keyring entry of that server and database."""
    from launchdesk import secrets
    from launchdesk.workspace import make_engine, server_secret_name

    url = postgres_server.url("postgres")
    secrets.set_secret(server_secret_name(url), "s3cret-for-test")
    try:
        engine = make_engine(url)
        assert engine.url.password == "s3cret-for-test"
        assert "s3cret" not in str(engine.url)  # rendered without it
        engine.dispose()
    finally:
        secrets.delete_secret(server_secret_name(url))
