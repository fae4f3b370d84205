"""Find accounts by id, name or e-mail prefix with index range scans, so a million accounts answer in milliseconds."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from launchdesk.models import Account

# The largest code point: "prefix" <= value < "prefix" + TOP is exactly "value starts with prefix" under a
# binary (code point) collation, and uses the column's b-tree index.
TOP = "\U0010ffff"

# One statement, so a keystroke in the lookup pane costs one round trip: exact id first, then id prefixes as
# typed, upper- and lower-case (support rarely knows an id's case), then names (case-folded), then e-mails.
_SEARCH = text(
    """
    SELECT id, r FROM (SELECT id, 0 AS r FROM account WHERE account_key = :q) AS exact
    UNION ALL SELECT id, 1 FROM (SELECT id FROM account WHERE account_key >= :q AND account_key < :q_end
                                 ORDER BY account_key LIMIT :n) AS as_typed
    UNION ALL SELECT id, 2 FROM (SELECT id FROM account WHERE account_key >= :qu AND account_key < :qu_end
                                 ORDER BY account_key LIMIT :n) AS upper_ids
    UNION ALL SELECT id, 3 FROM (SELECT id FROM account WHERE account_key >= :ql AND account_key < :ql_end
                                 ORDER BY account_key LIMIT :n) AS lower_ids
    UNION ALL SELECT id, 4 FROM (SELECT id FROM account WHERE name_folded >= :qf AND name_folded < :qf_end
                                 ORDER BY name_folded LIMIT :n) AS names
    UNION ALL SELECT account_id, 5 FROM (SELECT account_id FROM contact WHERE email >= :ql AND email < :ql_end
                                         ORDER BY email LIMIT :n) AS emails
    """
)


def search_account_ids(session: Session, query: str, *, limit: int = 20) -> list[int]:
    """Ids of accounts whose id, name (case-insensitive) or a contact e-mail starts with the query, best first."""
    q = query.strip()
    if not q:
        return []
    params = {"n": limit}
    for key, value in (("q", q), ("qu", q.upper()), ("ql", q.lower()), ("qf", q.casefold())):
        params[key] = value
        params[f"{key}_end"] = value + TOP
    ids: list[int] = []
    seen: set[int] = set()
    for account_id, _rank in sorted(session.execute(_SEARCH, params).all(), key=lambda row: row[1]):
        if account_id not in seen:
            seen.add(account_id)
            ids.append(account_id)
    return ids[:limit]


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
