"""Find accounts by id, name or e-mail prefix with index range scans, so a million accounts answer in milliseconds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from launchdesk.models import Account

# The largest code point: "prefix" <= value < "prefix" + TOP is exactly "value starts with prefix" under a
# binary (code point) collation, and uses the column's b-tree index.
TOP = "\U0010ffff"

# Every candidate as (account id, rank, sort key), each branch an index range scan that stops after :n rows:
# exact id first, then id prefixes as typed, upper- and lower-case (support rarely knows an id's case), then
# names (case-folded), then e-mails. An account found twice keeps its best (rank, key); the first :n of those,
# ordered by (rank, key, id), are the answer.
_RANKED = """
    WITH hits AS (
        SELECT id, 0 AS r, account_key AS k FROM account WHERE account_key = :q
        UNION ALL SELECT id, 1, account_key FROM (SELECT id, account_key FROM account
            WHERE account_key >= :q AND account_key < :q_end ORDER BY account_key LIMIT :n) AS as_typed
        UNION ALL SELECT id, 2, account_key FROM (SELECT id, account_key FROM account
            WHERE account_key >= :qu AND account_key < :qu_end ORDER BY account_key LIMIT :n) AS upper_ids
        UNION ALL SELECT id, 3, account_key FROM (SELECT id, account_key FROM account
            WHERE account_key >= :ql AND account_key < :ql_end ORDER BY account_key LIMIT :n) AS lower_ids
        UNION ALL SELECT id, 4, name_folded FROM (SELECT id, name_folded FROM account
            WHERE name_folded >= :qf AND name_folded < :qf_end ORDER BY name_folded LIMIT :n) AS names
        UNION ALL SELECT account_id, 5, email FROM (SELECT account_id, email FROM contact
            WHERE email >= :ql AND email < :ql_end ORDER BY email LIMIT :n) AS emails
    ),
    ranked AS (SELECT id, r, k, row_number() OVER (PARTITION BY id ORDER BY r, k) AS nth FROM hits),
    top AS (SELECT id, r, k FROM ranked WHERE nth = 1 ORDER BY r, k, id LIMIT :n)
"""

_SEARCH_IDS = text(_RANKED + "SELECT id FROM top ORDER BY r, k, id")

# The same search and the accounts' rows with their contacts' e-mails, in one round trip and without ORM objects:
# the support lookup runs this on every keystroke.
_SEARCH_ROWS = text(
    _RANKED
    + """
    SELECT a.id, a.account_key, a.name, a.stickiness_id, a.attributes, c.email
    FROM top JOIN account AS a ON a.id = top.id LEFT JOIN contact AS c ON c.account_id = a.id
    ORDER BY top.r, top.k, top.id, c.position, c.id
    """
)


@dataclass(slots=True)
class FoundAccount:
    """An account as the search found it: plain values, its contacts' e-mails in contact order."""

    id: int
    account_key: str
    name: str
    stickiness_id: str | None
    attributes: dict[str, Any]
    emails: list[str] = field(default_factory=list)


def _params(query: str, limit: int) -> dict[str, Any] | None:
    q = query.strip()
    if not q or limit <= 0:
        return None
    params: dict[str, Any] = {"n": limit}
    for key, value in (("q", q), ("qu", q.upper()), ("ql", q.lower()), ("qf", q.casefold())):
        params[key] = value
        params[f"{key}_end"] = value + TOP
    return params


def search_account_ids(session: Session, query: str, *, limit: int = 20) -> list[int]:
    """Ids of accounts whose id, name (case-insensitive) or a contact e-mail starts with the query, best first."""
    params = _params(query, limit)
    if params is None:
        return []
    return [row[0] for row in session.connection().execute(_SEARCH_IDS, params)]


def search_account_rows(session: Session, query: str, *, limit: int = 20) -> list[FoundAccount]:
    """The matching accounts as plain rows with their e-mails, best first (see `search_account_ids`)."""
    params = _params(query, limit)
    if params is None:
        return []
    found: list[FoundAccount] = []
    last: FoundAccount | None = None
    loads = json.loads
    for account_id, key, name, stickiness_id, attributes, email in session.connection().execute(_SEARCH_ROWS, params):
        if last is None or last.id != account_id:
            if isinstance(attributes, str):  # SQLite hands JSON back as text, PostgreSQL as objects
                attributes = loads(attributes)
            last = FoundAccount(account_id, key, name or "", stickiness_id, attributes or {})
            found.append(last)
        if email is not None:
            last.emails.append(email)
    return found


def search_accounts(session: Session, query: str, *, limit: int = 20) -> list[Account]:
    """The matching accounts with their contacts, best first (see `search_account_ids`)."""
    ids = search_account_ids(session, query, limit=limit)
    if not ids:
        return []
    found = {
        a.id: a
        for a in session.scalars(select(Account).where(Account.id.in_(ids)).options(selectinload(Account.contacts)))
    }
    return [found[i] for i in ids if i in found]
