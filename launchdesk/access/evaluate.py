"""Evaluate a synced flag snapshot for accounts: one at a time with a reason, or all of them in chunks.

The account id is the Unleash ``userId`` (or the account's stickiness id when the import named one) and the
LaunchDarkly context key; the imported attributes are the context properties.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from launchdesk.flags.evaluation import Evaluation
from launchdesk.models import Account, ConnectionKind, FlagSnapshot

CHUNK = 50_000
Tri = bool | None


def account_context(account: Account) -> dict[str, Any]:
    return make_context(account.account_key, account.stickiness_id, account.name,
                        account.contacts[0].email if account.contacts else None, account.attributes)


def make_context(account_key: str, stickiness_id: str | None, name: str, email: str | None,
                 attributes: dict[str, Any] | None) -> dict[str, Any]:
    """What the evaluators see of an account: its stickiness id (else its id) as the key, name, first e-mail
    and attributes. ORM accounts and the lookup's plain rows both go through here."""
    return {"key": stickiness_id or account_key, "name": name, "email": email, "attributes": dict(attributes or {})}


class SnapshotEvaluator:
    """A compiled snapshot of one flag in one environment."""

    def __init__(self, snapshot: FlagSnapshot) -> None:
        self.kind = snapshot.connection.kind
        self.flag = snapshot.flag_key
        self.environment = snapshot.environment
        self.fetched_at = snapshot.fetched_at
        # LaunchDarkly contexts have a kind; B2B flags often target "organization" contexts.
        self.context_kind = str((snapshot.connection.options or {}).get("context_kind") or "user")
        definition = snapshot.definition
        if self.kind is ConnectionKind.UNLEASH:
            from launchdesk.flags.unleash_eval import UnleashSnapshot

            features = [definition, *(definition.get("parents") or [])]
            segments = {str(k): v for f in features for k, v in (f.get("segments") or {}).items()}
            self._unleash = UnleashSnapshot(features, list(segments.values()), environment=self.environment)
            self.fields = self._unleash.fields(self.flag) - {"currentTime"}
        elif self.kind is ConnectionKind.LAUNCHDARKLY:
            from launchdesk.flags.launchdarkly_eval import LaunchDarklySnapshot

            # Prerequisite flags came along with the flag (see `LaunchDarklyClient.get_prerequisites`); a snapshot
            # from before they did has none, so its prerequisites are unknown rather than missing.
            flags = [definition, *(definition.get("prerequisiteFlags") or [])]
            segments = {k: {"key": k, **segment} for f in flags for k, segment in (f.get("segments") or {}).items()}
            if "prerequisiteFlags" in definition:
                unsynced = list(definition.get("unsyncedPrerequisites") or ())
            else:
                unsynced = [p["key"] for p in definition.get("prerequisites") or []]
            self._ld = LaunchDarklySnapshot(flags, list(segments.values()), environment=self.environment,
                                            unsynced=unsynced)
            self.fields = set()
        else:
            raise ValueError(f"{self.kind} is not a flag platform")

    def explain(self, context: dict[str, Any], now: dt.datetime | None = None) -> Evaluation:
        if self.kind is ConnectionKind.UNLEASH:
            return self._unleash.explain(self.flag, _unleash_context(context), now=now)
        return self._ld.explain(self.flag, _ld_context(context, self.context_kind))

    def evaluate_rows(self, rows: list[tuple[str, dict[str, Any]]], now: dt.datetime | None = None) -> list[Tri]:
        """Answers for (user id, attributes) rows, in order."""
        if self.kind is ConnectionKind.UNLEASH:
            columns: dict[str, list[str | None]] = {"userId": [uid for uid, _ in rows]}
            for field in self.fields - {"userId"}:
                columns[field] = [_text(attrs.get(field)) for _, attrs in rows]
            return self._unleash.evaluate_columns(self.flag, columns, len(rows), now=now)
        kind = self.context_kind
        return self._ld.evaluate_many(
            self.flag, (_ld_context({"key": uid, "attributes": attrs}, kind) for uid, attrs in rows)
        )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _unleash_context(context: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in context["attributes"].items() if v not in (None, "")}
    return {"userId": context["key"], "properties": properties}


def typed_attribute(value: Any) -> Any:
    """CSV gives text; LaunchDarkly's numeric and boolean clauses need numbers and booleans. Text that reads
    as a number or as true/false is sent as one, as the application's SDK would have it."""
    if not isinstance(value, str):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number = float(value)
    except ValueError:
        return value
    if number != number or number in (float("inf"), float("-inf")):
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in lowered else number


def _ld_context(context: dict[str, Any], kind: str) -> dict[str, Any]:
    attributes = {
        k: typed_attribute(v) for k, v in context["attributes"].items() if v not in (None, "") and k not in ("kind", "key")
    }
    ld = {"kind": kind, "key": context["key"], **attributes}
    if context.get("name"):
        ld.setdefault("name", context["name"])
    if context.get("email"):
        ld.setdefault("email", context["email"])
    return ld


@dataclass
class AccountRow:
    id: int
    account_key: str
    user_id: str
    attributes: dict[str, Any]


def iter_account_chunks(session: Session, chunk: int = CHUNK) -> Iterator[list[AccountRow]]:
    """All accounts in id order, a chunk at a time (keyset paging: never the whole table in memory)."""
    last = 0
    loads = json.loads
    while True:
        rows = session.execute(
            text("SELECT id, account_key, stickiness_id, attributes FROM account WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": chunk},
        ).all()
        if not rows:
            return
        yield [
            AccountRow(r[0], r[1], r[2] or r[1], loads(r[3]) if isinstance(r[3], str) else (r[3] or {}))
            for r in rows
        ]
        last = rows[-1][0]


@dataclass
class AccessCounts:
    enabled: int = 0
    disabled: int = 0
    unpredictable: int = 0

    def add(self, answers: list[Tri]) -> None:
        for a in answers:
            if a is True:
                self.enabled += 1
            elif a is None:
                self.unpredictable += 1
            else:
                self.disabled += 1


@dataclass
class AccessDiff:
    counts: AccessCounts
    gained: list[str]  # account keys that have access now and did not before
    lost: list[str]


def compare_snapshots(
    session: Session,
    new: SnapshotEvaluator,
    old: SnapshotEvaluator | None,
    *,
    now: dt.datetime | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> AccessDiff:
    """Evaluate every account under the new snapshot (and the previous one) and list who gained or lost access.

    "Access" means a predictable yes: an account that becomes unpredictable has lost access for LaunchDesk.
    """
    counts = AccessCounts()
    gained: list[str] = []
    lost: list[str] = []
    for rows in iter_account_chunks(session):
        pairs = [(r.user_id, r.attributes) for r in rows]
        answers = new.evaluate_rows(pairs, now)
        counts.add(answers)
        before = old.evaluate_rows(pairs, now) if old is not None else [False] * len(rows)
        for row, a, b in zip(rows, answers, before):
            if (a is True) != (b is True):
                (gained if a is True else lost).append(row.account_key)
        if cancelled and cancelled():
            break
    return AccessDiff(counts, gained, lost)
