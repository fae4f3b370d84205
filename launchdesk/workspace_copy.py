"""Copy a whole workspace between SQLite and PostgreSQL (either way), verifying the counts afterwards.

For moving a plan to the team server, or taking an offline copy on a plane. Rows keep their ids, so every
reference stays valid; PostgreSQL's id sequences are moved past the copied ids afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text

from launchdesk.models import Base
from launchdesk.workspace import WorkspaceError, create_workspace, display_name, open_workspace

BATCH = 5_000


@dataclass
class CopyReport:
    counts: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def copy_workspace(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``source`` into a new, empty workspace at ``destination`` (a file or a URL).

    The destination is created at the latest schema (the source is upgraded first if it is older); the whole
    copy is one transaction, so a failed copy leaves no half-filled workspace behind on a server.
    """
    with open_workspace(source) as src:
        dest = create_workspace(destination)
        try:
            counts: dict[str, int] = {}
            with src.engine.connect() as read, dest.engine.begin() as write:
                for table in Base.metadata.sorted_tables:  # parents before children
                    order = list(table.primary_key.columns)
                    copied = 0
                    result = read.execution_options(stream_results=True).execute(select(table).order_by(*order))
                    for rows in result.mappings().partitions(BATCH):
                        write.execute(insert(table), [dict(r) for r in rows])
                        copied += len(rows)
                        if progress:
                            progress(table.name, copied)
                    counts[table.name] = copied
                if write.dialect.name == "postgresql":
                    _advance_sequences(write)
            _verify(dest, counts)
        except BaseException:
            dest.close()
            raise
        dest.close()
    return CopyReport(counts)


def _advance_sequences(conn) -> None:  # type: ignore[no-untyped-def]
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and pk[0].type.python_type is int:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
            ))


def _verify(dest, counts: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    with dest.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            found = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if found != counts[table.name]:
                raise WorkspaceError(
                    f"Copy to {display_name(dest.target)} is incomplete: {table.name} has {found} rows, "
                    f"the source {counts[table.name]}."
                )
