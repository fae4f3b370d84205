"""Who cohort rules reach among the imported accounts: live counts, a sample, and the overlaps between cohorts.

A workspace may hold a million accounts, so the accounts are read in chunks of raw attribute JSON (never as
ORM objects) and each rule is judged by ``cohort_rules.matches``, the same function every other part uses;
a ``cancelled`` callback is checked between chunks, so an editor can drop a count the user has typed past.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, func, select

from launchdesk.models import Account
from launchdesk.planning.cohort_rules import (  # noqa: F401 - the words of a rule are named here too for importers
    OPERATOR_LABELS,
    describe_rule,
    matches,
    validate_rule,
    values_text,
)

SAMPLE_SIZE = 20
CHUNK = 5000


@dataclass(frozen=True)
class SampleAccount:
    """A matching account as the editor lists it, with the attributes the rule looks at."""

    account_key: str
    name: str
    attributes: dict[str, Any]


@dataclass
class Reach:
    """How many accounts each rule matches, how many each pair shares, and a sample for the focused rule."""

    total: int = 0
    counts: dict[Hashable, int] = field(default_factory=dict)
    shared: dict[tuple[Hashable, Hashable], int] = field(default_factory=dict)
    sample: list[SampleAccount] = field(default_factory=list)

    def overlaps(self, key: Hashable) -> list[tuple[Hashable, int]]:
        """The other rules sharing accounts with ``key``, as (other key, shared count), most shared first."""
        pairs = [(b if a == key else a, n) for (a, b), n in self.shared.items() if key in (a, b) and n]
        return sorted(pairs, key=lambda pair: -pair[1])


def rule_attributes(rule: Mapping[str, Any]) -> list[str]:
    """The attribute names a rule looks at, in the order of its conditions."""
    return list(dict.fromkeys(c["attribute"] for c in rule.get("conditions") or []))


def measure(
    session: Any,
    rules: Mapping[Hashable, Mapping[str, Any]],
    *,
    focus: Hashable | None = None,
    sample_size: int = SAMPLE_SIZE,
    chunk: int = CHUNK,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> Reach | None:
    """Count the accounts each rule matches and the pairs' shared accounts in one pass; None when cancelled.

    Raises CohortRuleError for a rule that cannot be evaluated. ``progress(done, total)`` follows each chunk.
    """
    for rule in rules.values():
        validate_rule(rule)
    keys = list(rules)
    reach = Reach(total=session.scalar(select(func.count()).select_from(Account)) or 0,
                  counts=dict.fromkeys(keys, 0),
                  shared={(a, b): 0 for i, a in enumerate(keys) for b in keys[i + 1:]})
    focus_attributes = rule_attributes(rules[focus]) if focus is not None else []
    seen = 0
    for rows in _account_chunks(session, chunk):
        if cancelled():
            return None
        for key_, name, attributes in rows:
            hits = [k for k in keys if matches(rules[k], attributes)]
            for i, a in enumerate(hits):
                reach.counts[a] += 1
                for b in hits[i + 1:]:
                    reach.shared[(a, b)] += 1
            if focus in hits and len(reach.sample) < sample_size:
                reach.sample.append(SampleAccount(key_, name, {a: attributes.get(a) for a in focus_attributes}))
        seen += len(rows)
        if progress is not None:
            progress(seen, reach.total)
    return reach


def _account_chunks(session: Any, size: int) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """(account key, name, attributes) in id order, ``size`` at a time, by keyset so each chunk is one indexed
    query. The attributes come as text and are parsed here: faster than the JSON column's own conversion."""
    last_id = 0
    while True:
        rows = session.execute(
            select(Account.id, Account.account_key, Account.name, cast(Account.attributes, Text))
            .where(Account.id > last_id).order_by(Account.id).limit(size)
        ).all()
        if not rows:
            return
        last_id = rows[-1][0]
        yield [(key_, name, json.loads(raw) if raw else {}) for _id, key_, name, raw in rows]


def known_attributes(session: Any, *, scan: int = 2000) -> dict[str, list[str]]:
    """Attribute names seen on the first ``scan`` accounts, each with its most common values (up to 12):
    what the rule editor offers to pick from."""
    values: dict[str, Counter[str]] = {}
    for rows in _account_chunks(session, scan):
        for _key, _name, attributes in rows:
            for name, value in attributes.items():
                for one in value if isinstance(value, list) else [value]:
                    if one is not None and one != "":
                        values.setdefault(name, Counter())[str(one)] += 1
        break
    return {name: [v for v, _n in counter.most_common(12)] for name, counter in sorted(values.items())}


def parse_values(text: str) -> list[str]:
    """Values typed in one box, separated by commas: "enterprise, mid_market" → ["enterprise", "mid_market"]."""
    return [v.strip() for v in text.split(",") if v.strip()]
