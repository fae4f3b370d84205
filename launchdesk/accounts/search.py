"""Find accounts by id, name or e-mail prefix with index range scans, so a million accounts answer in milliseconds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from launchdesk.models import Account, Contact

# The largest code point: "prefix" <= value < "prefix" + TOP is exactly "value starts with prefix" under a
# binary (code point) collation, and uses the column's b-tree index.
TOP = "\U0010ffff"


def search_accounts(session: Session, query: str, *, limit: int = 20) -> list[Account]:
    """Accounts whose id, name (case-insensitive) or a contact e-mail starts with the query; exact ids first."""
    q = query.strip()
    if not q:
        return []
    folded = q.casefold()
    ids: list[int] = []

    def add(statement) -> None:  # type: ignore[no-untyped-def]
        for (account_id,) in session.execute(statement.limit(limit)):
            if account_id not in ids:
                ids.append(account_id)

    add(select(Account.id).where(Account.account_key == q))
    # ids are matched as typed, and in upper and lower case (support agents rarely know an id's case)
    for variant in dict.fromkeys((q, q.upper(), q.lower())):
        add(select(Account.id).where(Account.account_key >= variant, Account.account_key < variant + TOP)
            .order_by(Account.account_key))
    add(select(Account.id).where(Account.name_folded >= folded, Account.name_folded < folded + TOP)
        .order_by(Account.name_folded))
    add(select(Contact.account_id).where(Contact.email >= q.lower(), Contact.email < q.lower() + TOP)
        .order_by(Contact.email))
    ids = ids[:limit]
    if not ids:
        return []
    found = {
        a.id: a
        for a in session.scalars(select(Account).where(Account.id.in_(ids)).options(selectinload(Account.contacts)))
    }
    return [found[i] for i in ids if i in found]
