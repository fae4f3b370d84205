"""Account CSV import: good rows in, bad rows reported by line, re-import updates, cancel changes nothing."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import func, select

from launchdesk.accounts.importer import ColumnMapping, ImportCancelled, ImportFailed, import_accounts
from launchdesk.accounts.search import search_accounts
from launchdesk.models import Account, Contact
from launchdesk.workspace import create_workspace


@pytest.fixture
def ws(tmp_path):
    with create_workspace(tmp_path / "w.launchdesk") as workspace:
        yield workspace


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_import_maps_columns_to_accounts_contacts_and_properties(ws, tmp_path):
    src = write(tmp_path / "a.csv",
                "account_id,name,email,first_name,plan,region\n"
                "A-1,Acme <b>Corp</b>,Jo@Acme.example,Jo,enterprise,eu\n"
                "A-2,Beta,,,starter,us\n")
    report = import_accounts(ws, src)
    assert (report.imported, report.updated, report.rejected) == (2, 0, [])
    with ws.session() as s:
        acme = s.scalars(select(Account).where(Account.account_key == "A-1")).one()
        assert acme.name == "Acme <b>Corp</b>"
        assert acme.attributes == {"plan": "enterprise", "region": "eu"}
        assert [(c.email, c.first_name) for c in acme.contacts] == [("jo@acme.example", "Jo")]
        beta = s.scalars(select(Account).where(Account.account_key == "A-2")).one()
        assert beta.contacts == []


def test_bad_rows_are_reported_with_line_numbers_and_written_to_rejects(ws, tmp_path):
    huge = "x" * 200_000
    src = write(tmp_path / "bad.csv",
                "account_id,name,plan\n"      # line 1
                "A-1,Good,pro\n"              # 2
                ",No id,pro\n"                # 3
                "A-1,Duplicate,pro\n"         # 4
                "A-3,Too,many,columns\n"      # 5
                f"A-4,\"{huge}\",pro\n"       # 6: a field over the limit
                "A-5,Fine,starter\n")         # 7
    report = import_accounts(ws, src)
    assert report.imported == 2
    reasons = {r.line: r.reason for r in report.rejected}
    assert set(reasons) == {3, 4, 5, 6}
    assert "no account id" in reasons[3]
    assert "repeats line 2" in reasons[4]
    assert "4 columns" in reasons[5]
    assert "field" in reasons[6]
    assert report.rejects_path is not None and report.rejects_path.exists()
    rows = list(csv.reader(report.rejects_path.open(encoding="utf-8")))
    assert rows[0][:2] == ["line", "reason"]
    assert sorted(int(r[0]) for r in rows[1:]) == [3, 4, 5, 6]
    with ws.session() as s:
        assert sorted(s.scalars(select(Account.account_key))) == ["A-1", "A-5"]
        assert s.scalars(select(Account.name).where(Account.account_key == "A-1")).one() == "Good"


def test_undecodable_rows_are_rejected_not_mangled(ws, tmp_path):
    data = "account_id,name\nA-1,Zoë\n".encode() + b"A-2,Caf\xe9 latin-1\n" + "A-3,Ok\n".encode()
    src = write(tmp_path / "enc.csv", data)
    report = import_accounts(ws, src)
    assert report.imported == 2
    assert [(r.line, r.reason) for r in report.rejected] == [(3, "not valid UTF-8 text")]
    with ws.session() as s:
        assert s.scalars(select(Account.name).where(Account.account_key == "A-1")).one() == "Zoë"


def test_reimport_updates_existing_accounts_and_replaces_contacts(ws, tmp_path):
    import_accounts(ws, write(tmp_path / "1.csv", "account_id,name,email,plan\nA-1,Acme,a@x.example,starter\n"))
    report = import_accounts(ws, write(tmp_path / "2.csv",
                                       "account_id,name,email,plan\nA-1,Acme Inc,b@x.example,pro\nA-2,New,,pro\n"))
    assert (report.imported, report.updated) == (1, 1)
    with ws.session() as s:
        acme = s.scalars(select(Account).where(Account.account_key == "A-1")).one()
        assert acme.name == "Acme Inc" and acme.attributes == {"plan": "pro"}
        assert [c.email for c in acme.contacts] == ["b@x.example"]
        assert s.scalar(select(func.count(Contact.id))) == 1


def test_mapping_chooses_id_and_stickiness_columns(ws, tmp_path):
    src = write(tmp_path / "m.csv", "org,company,tenant,tier\no-1,Org One,t-9,gold\n")
    mapping = ColumnMapping.guess(["org", "company", "tenant", "tier"], id_column="org", name_column="company",
                                  stickiness_field="tenant")
    import_accounts(ws, src, mapping)
    with ws.session() as s:
        a = s.scalars(select(Account)).one()
        assert (a.account_key, a.name, a.stickiness_id) == ("o-1", "Org One", "t-9")
        # the stickiness column stays a context property too
        assert a.attributes == {"tenant": "t-9", "tier": "gold"}


def test_file_without_the_id_column_fails_clearly(ws, tmp_path):
    src = write(tmp_path / "x.csv", "name,plan\nA,pro\n")
    with pytest.raises(ImportFailed, match="no column 'account_id'"):
        import_accounts(ws, src, ColumnMapping())


def test_empty_file_and_duplicate_header(ws, tmp_path):
    with pytest.raises(ImportFailed, match="empty"):
        import_accounts(ws, write(tmp_path / "e.csv", ""))
    with pytest.raises(ImportFailed, match="twice"):
        import_accounts(ws, write(tmp_path / "d.csv", "account_id,plan,plan\n1,a,b\n"))


def test_cancel_leaves_the_workspace_unchanged(ws, tmp_path):
    import_accounts(ws, write(tmp_path / "seed.csv", "account_id,name\nKEEP,Kept\n"))
    lines = ["account_id,name"] + [f"C-{i},Company {i}" for i in range(50_000)]
    src = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    seen = []
    with pytest.raises(ImportCancelled):
        import_accounts(ws, src, progress=lambda done, total: seen.append((done, total)), cancelled=lambda: True)
    with ws.session() as s:
        assert s.scalars(select(Account.account_key)).all() == ["KEEP"]


def test_progress_reaches_the_end(ws, tmp_path):
    lines = ["account_id,name"] + [f"C-{i},Company {i}" for i in range(45_000)]
    src = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    seen = []
    report = import_accounts(ws, src, progress=lambda done, total: seen.append((done, total)))
    assert report.imported == 45_000
    assert len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == seen[-1][1]


def test_many_properties_are_kept(ws, tmp_path):
    header = ["account_id"] + [f"p{i}" for i in range(150)]
    src = write(tmp_path / "wide.csv", ",".join(header) + "\n" + ",".join(["W-1"] + [str(i) for i in range(150)]) + "\n")
    import_accounts(ws, src, ColumnMapping(name_column=None, email_columns=()))
    with ws.session() as s:
        attrs = s.scalars(select(Account.attributes)).one()
    assert attrs == {f"p{i}": str(i) for i in range(150)}
    assert json.dumps(attrs)  # a real JSON object


def test_search_by_id_name_and_email_prefix(ws, tmp_path):
    import_accounts(ws, write(tmp_path / "s.csv",
                              "account_id,name,email\nACME-1,Acme Corp,jo@acme.example\nB-2,Beta ÄG,ann@beta.example\n"))
    with ws.session() as s:
        def keys(q):
            return [a.account_key for a in search_accounts(s, q)]
        assert keys("ACME-1") == ["ACME-1"]
        assert keys("b-") == ["B-2"]
        assert keys("acme c") == ["ACME-1"]
        assert keys("BETA ä") == ["B-2"]
        assert keys("ann@") == ["B-2"]
        assert keys("nobody") == []
        assert keys("   ") == []


def test_whitespace_set_is_what_str_strip_removes():
    from launchdesk.accounts.importer import WHITESPACE

    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def _accounts(ws):
    with ws.session() as s:
        return {
            a.account_key: (a.name, a.name_folded, a.stickiness_id, a.attributes,
                            [(c.position, c.email, c.first_name, c.last_name) for c in a.contacts])
            for a in s.scalars(select(Account))
        }


MIXED = (
    "\ufeffaccount_id,name,email,alt_email,first_name,last_name,plan\r\n"
    "A-1,  Straße Corp\u00a0, Jo@Acme.EXAMPLE ,,Jo,Doe,pro\r\n"           # line 2: non-ASCII, padded
    "A-2,Plain,ann@b.example,ANN2@B.example, Ann ,Lee,starter\r\n"      # 3
    '"A-3","Quoted, with comma","q@c.example",,"Q","R","multi\r\nline"\r\n'  # 4-5: a record over two lines
    "A-4,After quote,,,,,\r\n"                                          # 6
    "\r\n"                                                              # 7: blank
    "A-2,Repeat,,,,,pro\r\n"                                            # 8: repeats line 3
    "A-5,ÉCOLE,É@X.example,,,,pro\r\n"                                  # 9
    "A-6,Too,many,columns,here,x,y,z\r\n"                               # 10
    "A-7,Last,l@x.example,,,,enterprise"                                # 11: no final line break
)


@pytest.mark.parametrize("chunk,batch", [(1 << 19, 5000), (40, 2), (7, 1)])
def test_chunks_batches_quotes_and_padding_give_the_same_accounts_and_lines(ws, tmp_path, monkeypatch, chunk, batch):
    from launchdesk.accounts import importer

    monkeypatch.setattr(importer, "CHUNK", chunk)
    monkeypatch.setattr(importer, "BATCH", batch)
    report = import_accounts(ws, write(tmp_path / "mixed.csv", MIXED),
                             ColumnMapping.guess(["account_id", "name", "email", "alt_email", "first_name",
                                                  "last_name", "plan"]))
    assert (report.imported, report.updated) == (6, 0)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (8, "account id 'A-2' repeats line 3"), (10, "8 columns, the header has 7")]
    accounts = _accounts(ws)
    assert accounts["A-1"] == ("Straße Corp", "strasse corp", None, {"plan": "pro"},
                               [(0, "jo@acme.example", "Jo", "Doe")])
    assert accounts["A-2"][4] == [(0, "ann@b.example", "Ann", "Lee"), (1, "ann2@b.example", "", "")]
    assert accounts["A-3"][:4] == ("Quoted, with comma", "quoted, with comma", None, {"plan": "multi\r\nline"})
    assert accounts["A-4"] == ("After quote", "after quote", None, {"plan": ""}, [])
    assert accounts["A-5"][1] == "école" and accounts["A-5"][4] == [(0, "é@x.example", "", "")]
    assert accounts["A-7"][3] == {"plan": "enterprise"}


def test_empty_table_fast_path_and_update_path_give_the_same_accounts(tmp_path):
    src = write(tmp_path / "m.csv", MIXED)
    with create_workspace(tmp_path / "empty.launchdesk") as empty, \
            create_workspace(tmp_path / "seeded.launchdesk") as seeded:
        first = import_accounts(empty, src)
        # A workspace that already holds accounts takes the upsert path, for new and existing ids alike.
        import_accounts(seeded, write(tmp_path / "seed.csv", "account_id,name,email\nA-2,Old,old@x.example\nZ,Z,\n"))
        second = import_accounts(seeded, src)
        assert (second.imported, second.updated) == (5, 1)
        assert first.rejected == second.rejected
        got = _accounts(seeded)
        assert got.pop("Z")[0] == "Z"
        assert got == _accounts(empty)
        # the indexes dropped for the bulk load are back
        with empty.engine.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_account_name_folded", "ix_contact_email", "ix_contact_account_id"} <= names


def test_repeat_of_an_id_from_an_earlier_batch_names_its_first_line(ws, tmp_path, monkeypatch):
    from launchdesk.accounts import importer

    monkeypatch.setattr(importer, "BATCH", 3)
    lines = ["account_id,name"] + [f"K-{i},N{i}" for i in range(10)] + ["K-4,again", "K-9,again"]
    report = import_accounts(ws, write(tmp_path / "d.csv", "\n".join(lines) + "\n"))
    assert report.imported == 10
    assert [(r.line, r.reason) for r in report.rejected] == [
        (12, "account id 'K-4' repeats line 6"), (13, "account id 'K-9' repeats line 11")]


def test_an_import_after_a_cancelled_one_works_and_the_connection_keeps_its_settings(ws, tmp_path):
    src = write(tmp_path / "a.csv", "account_id,name\nA,One\nB,Two\n")
    with pytest.raises(ImportCancelled):
        import_accounts(ws, src, cancelled=lambda: True)
    assert import_accounts(ws, src).imported == 2
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar_one() == 0
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -2000


def test_postgresql_imports_what_sqlite_imports(tmp_path, postgres_server):
    """A team workspace on PostgreSQL takes the upsert path with its own SQL (btrim, ON CONFLICT): the same
    file gives the same accounts, contacts and rejects as a workspace file, on a first import and a re-import."""
    src = write(tmp_path / "m.csv", MIXED)
    again = write(tmp_path / "again.csv", "account_id,name,email,plan\nA-2,  Renamed ,new@b.example,pro\nA-8,New,,\n")
    results = []
    for target in (str(tmp_path / "w.launchdesk"), postgres_server.create_database("import_parity")):
        with create_workspace(target) as workspace:
            first = import_accounts(workspace, src)
            second = import_accounts(workspace, again)
            results.append(((first.imported, first.updated, [(r.line, r.reason) for r in first.rejected]),
                            (second.imported, second.updated), _accounts(workspace)))
    assert results[0] == results[1]
    (imported, updated, rejected), (new, changed), accounts = results[1]
    assert (imported, updated, new, changed) == (6, 0, 1, 1) and len(rejected) == 2
    assert accounts["A-2"][:2] == ("Renamed", "renamed") and accounts["A-2"][4] == [(0, "new@b.example", "", "")]
    assert accounts["A-1"][:2] == ("Straße Corp", "strasse corp")


def test_postgresql_keeps_many_properties(tmp_path, postgres_server):
    """More properties than json_build_object takes at once are merged from groups."""
    header = ["account_id"] + [f"p{i}" for i in range(150)]
    src = write(tmp_path / "wide.csv", ",".join(header) + "\n" + ",".join(["W-1"] + [str(i) for i in range(150)]) + "\n")
    with create_workspace(postgres_server.create_database("import_wide")) as workspace:
        import_accounts(workspace, src, ColumnMapping(name_column=None, email_columns=()))
        import_accounts(workspace, src, ColumnMapping(name_column=None, email_columns=()))  # and the update path
        with workspace.session() as s:
            assert s.scalars(select(Account.attributes)).one() == {f"p{i}": str(i) for i in range(150)}
