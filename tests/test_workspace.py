"""The workspace module: creation, pragmas, migrations, and refusing files it must not touch."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from launchdesk import migrations
from launchdesk.models import Account, Cohort, Phase, PhaseStatus, Rollout
from launchdesk.workspace import (
    APPLICATION_ID,
    SCHEMA_HEAD,
    SCHEMA_REVISIONS,
    CorruptWorkspace,
    NewerWorkspace,
    NotAWorkspace,
    WorkspaceError,
    WorkspaceNotFound,
    create_workspace,
    open_workspace,
)

UTC = dt.timezone.utc


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_known_revisions_match_the_alembic_scripts():
    # start-up checks the version against SCHEMA_REVISIONS without importing Alembic; they must agree
    assert list(SCHEMA_REVISIONS) == migrations.script_revisions()


def test_create_sets_pragmas_and_schema(tmp_path):
    path = tmp_path / "plan.launchdesk"
    with create_workspace(path) as ws:
        assert ws.schema_revision() == SCHEMA_HEAD
        with ws.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            # NORMAL == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA application_id").scalar() == APPLICATION_ID


def test_create_refuses_existing_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(WorkspaceError, match="already exists"):
        create_workspace(path)
    assert path.read_text() == "keep me"


def test_models_match_the_migrations(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from launchdesk.models import Base

    with create_workspace(tmp_path / "w.launchdesk") as ws, ws.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_round_trip_of_a_plan(tmp_path):
    path = tmp_path / "w.launchdesk"
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with create_workspace(path) as ws, ws.transaction() as s:
        r = Rollout(name="Smart inbox", feature_name="Smart inbox", owner="Dana")
        c = Cohort(rollout=r, name="Power users", target_percentage=10, rule={"match": "all", "conditions": [
            {"attribute": "engagement", "operator": "in", "values": ["power"]}]})
        Phase(rollout=r, cohort=c, name="Phase 2", position=1, target_percentage=10,
              planned_start=start, planned_end=start + dt.timedelta(days=7))
        s.add(r)
    with open_workspace(path) as ws, ws.session() as s:
        r = s.scalars(select(Rollout)).one()
        assert r.owner == "Dana"
        (p,) = r.phases
        assert p.planned_start == start and p.planned_start.tzinfo is not None
        assert p.status is PhaseStatus.PLANNED
        assert p.cohort.rule["conditions"][0]["values"] == ["power"]
        # enumerations are stored as their values, readable in the SQLite shell
        assert s.execute(text("SELECT status FROM phase")).scalar() == "planned"


def test_foreign_keys_are_enforced(tmp_path):
    with create_workspace(tmp_path / "w.launchdesk") as ws, ws.engine.connect() as conn:
        with pytest.raises(Exception, match="FOREIGN KEY"):
            conn.execute(text("INSERT INTO cohort (rollout_id, position, name, description, rule, target_percentage,"
                              " comms_style) VALUES (999, 0, 'x', '', '{}', 0, '')"))


def test_deleting_a_rollout_cascades(tmp_path):
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with create_workspace(tmp_path / "w.launchdesk") as ws:
        with ws.transaction() as s:
            r = Rollout(name="A", feature_name="A")
            Phase(rollout=r, name="P", planned_start=start, planned_end=start)
            s.add(r)
        with ws.transaction() as s:
            s.delete(s.scalars(select(Rollout)).one())
        with ws.session() as s:
            assert s.scalars(select(Phase)).all() == []


def test_missing_file(tmp_path):
    with pytest.raises(WorkspaceNotFound):
        open_workspace(tmp_path / "nope.launchdesk")


@pytest.mark.parametrize(
    "content, error",
    [
        (b"", NotAWorkspace),
        (b"just some text, not a database\n" * 100, NotAWorkspace),
        (b"%PDF-1.7\n" + bytes(range(256)) * 40, NotAWorkspace),
    ],
    ids=["empty", "text", "pdf"],
)
def test_foreign_files_are_refused_untouched(tmp_path, content, error):
    path = tmp_path / "thing.launchdesk"
    path.write_bytes(content)
    before = digest(path)
    with pytest.raises(error) as info:
        open_workspace(path)
    assert str(path) in str(info.value)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.launchdesk"]


def test_other_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE songs (title TEXT)")
    con.execute("INSERT INTO songs VALUES ('x')")
    con.commit()
    con.close()
    before = digest(path)
    with pytest.raises(NotAWorkspace, match="not a LaunchDesk workspace"):
        open_workspace(path)
    assert digest(path) == before


def _make_workspace_with_accounts(path: Path, n: int = 3000) -> None:
    with create_workspace(path) as ws, ws.transaction() as s:
        s.add_all(Account(account_key=f"acc-{i}", name=f"Account {i}" * 5, name_folded=f"account {i}")
                  for i in range(n))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def test_corrupt_workspace_is_refused_untouched(tmp_path):
    path = tmp_path / "damaged.launchdesk"
    _make_workspace_with_accounts(path)
    data = bytearray(path.read_bytes())
    page = 4096
    # overwrite pages in the middle of the file (the account table's b-tree) with garbage
    for offset in range(page * 3, min(len(data), page * 12)):
        data[offset] = (offset * 7919) % 251
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(CorruptWorkspace, match="damaged"):
        open_workspace(path)
    assert digest(path) == before


def test_truncated_workspace_is_refused(tmp_path):
    path = tmp_path / "cut.launchdesk"
    _make_workspace_with_accounts(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    before = digest(path)
    with pytest.raises(CorruptWorkspace):
        open_workspace(path)
    assert digest(path) == before


def test_newer_workspace_is_refused_untouched(tmp_path):
    path = tmp_path / "future.launchdesk"
    with create_workspace(path) as ws, ws.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = digest(path)
    with pytest.raises(NewerWorkspace, match="newer version of LaunchDesk"):
        open_workspace(path)
    assert digest(path) == before


@pytest.mark.parametrize("revision", SCHEMA_REVISIONS)
def test_workspace_made_by_an_earlier_revision_is_copied_then_upgraded(tmp_path, revision):
    """A workspace created at each known revision opens at head; older ones are backed up first."""
    path = tmp_path / "old.launchdesk"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
    con.commit()
    con.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrations.upgrade(conn, revision)
        conn.execute(text("INSERT INTO rollout (name, feature_name, description, owner, status, readiness_can_flag,"
                          " readiness_blast_radius, readiness_monitoring, readiness_rollback_plan, created_at,"
                          " updated_at, version) VALUES ('Old plan', 'F', '', 'Kim', 'planning', '', '', '', '',"
                          " '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"))
    engine.dispose()
    before = path.read_bytes()
    with open_workspace(path) as ws:
        assert ws.schema_revision() == SCHEMA_HEAD
        with ws.session() as s:
            assert s.scalars(select(Rollout.owner)).one() == "Kim"
        if revision == SCHEMA_HEAD:
            assert ws.backup_path is None
        else:
            assert ws.backup_path is not None and ws.backup_path.exists()
            backup = sqlite3.connect(ws.backup_path)
            assert backup.execute("SELECT version_num FROM alembic_version").fetchone()[0] == revision
            backup.close()
    if revision == SCHEMA_HEAD:
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".bak"] == []
        assert before  # untouched path: nothing to migrate


def test_save_a_copy(tmp_path):
    src = tmp_path / "w.launchdesk"
    with create_workspace(src) as ws:
        with ws.transaction() as s:
            s.add(Rollout(name="Copy me", feature_name="F"))
        dest = ws.save_copy(tmp_path / "copy.launchdesk")
        with pytest.raises(WorkspaceError):
            ws.save_copy(src)
    with open_workspace(dest) as ws2, ws2.session() as s:
        assert s.scalars(select(Rollout.name)).all() == ["Copy me"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_workspace_caught_mid_send_at_the_previous_head_upgrades_to_send_leases(tmp_path, request, backend):
    """0002 → 0003: messages get an empty send lease (so a send left running is resumable at once, its row in
    flight uncertain, as before) and rows dropped earlier remember who dropped them, so a retry skips them."""
    from comms_world import build_world
    from launchdesk.comms.outbox import drop_uncertain, retry_failed, send_message
    from launchdesk.models import Delivery, Message
    from launchdesk.workspace_copy import copy_workspace
    from smtp_sink import SmtpSink

    with SmtpSink() as sink:
        world = build_world(tmp_path, accounts=8, percentage=100, smtp_url=sink.url)
        # The outbox written, nothing sent yet; then the rows put as 0002 could leave them: one in flight.
        assert send_message(world.workspace, world.message_id, cancelled=lambda: True).queued == 8
        with world.workspace.transaction() as s:
            s.execute(text("UPDATE delivery SET state = 'uncertain' WHERE recipient = 'ops1@company1.example'"))
            drop_uncertain(s, s.get(Message, world.message_id), by="Pat O'Neil")
            s.execute(text("UPDATE delivery SET dropped_by = NULL"))  # 0002 had only the error text
            s.execute(text("UPDATE delivery SET state = 'failed', last_error = '550 No such user here' "
                           "WHERE recipient = 'ops2@company2.example'"))
            s.execute(text("UPDATE delivery SET state = 'sending', attempts = 1 "
                           "WHERE recipient = 'ops3@company3.example'"))
        world.workspace.close()
        target = str(world.path)
        if backend == "postgresql":
            target = request.getfixturevalue("postgres_server").create_database("mid_send_upgrade")
            copy_workspace(world.path, target)
        from alembic import command

        engine = create_engine(target if backend == "postgresql" else f"sqlite:///{target}")
        with engine.begin() as conn:
            command.downgrade(migrations.config(conn), "0002_snapshot_access")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002_snapshot_access"
        engine.dispose()

        with open_workspace(target) as ws:
            assert ws.schema_revision() == SCHEMA_HEAD
            with ws.session() as s:
                message = s.get(Message, world.message_id)
                assert (message.send_lease_token, message.send_lease_expires) == (None, None)
                dropped = {d.recipient: d.dropped_by for d in s.scalars(select(Delivery))}
            assert dropped["ops1@company1.example"] == "Pat O'Neil"
            assert dropped["ops2@company2.example"] is None
            report = send_message(ws, world.message_id)
            assert report.recovered == 1 and report.sent == 5  # the row in flight is uncertain, never resent
            again = retry_failed(ws, world.message_id)
            assert again.sent == 1  # the refused one; the dropped one stays dropped
            assert sink.count_for("ops1@company1.example") == 0 and sink.count_for("ops3@company3.example") == 0
            assert sink.count_for("ops2@company2.example") == 1 and max(sink.per_recipient.values()) == 1
