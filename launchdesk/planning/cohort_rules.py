"""Cohort rules: which accounts belong to a cohort, decided from the account's attributes.

A rule is ``{"match": "all" | "any", "conditions": [{"attribute": str, "operator": str, "values": [...]}]}``.
``match: "all"`` needs every condition, ``"any"`` one of them; an empty condition list matches every account.

Operators (text is compared without regard to case or surrounding spaces; ``"50"`` equals ``50``):

- ``in`` / ``not_in``: the attribute equals one of ``values`` / none of them.
- ``eq`` / ``neq``: the attribute equals / differs from the single value.
- ``gt``, ``gte``, ``lt``, ``lte``: numeric comparison with the single value; a non-numeric attribute never matches.
- ``contains``: the attribute is a list, or a list-ish text such as ``"slack, salesforce"`` (separated by
  commas, semicolons or ``|``), and holds at least one of ``values``.

An account without the attribute matches only ``not_in`` and ``neq`` (it is not among the excluded values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MEMBERSHIP_OPERATORS = ("in", "not_in", "contains")
SINGLE_VALUE_OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte")
OPERATORS = MEMBERSHIP_OPERATORS + SINGLE_VALUE_OPERATORS
MATCH_ALL_ACCOUNTS: dict[str, Any] = {"match": "all", "conditions": []}

OPERATOR_LABELS = {
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains any of",
    "eq": "is",
    "neq": "is not",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
}

_LIST_SEPARATORS = re.compile(r"[,;|]")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


class CohortRuleError(ValueError):
    """A rule that cannot be evaluated; the message names what is wrong."""


def validate_rule(rule: Any) -> None:
    """Raise CohortRuleError unless ``rule`` has the documented shape."""
    if not isinstance(rule, Mapping):
        raise CohortRuleError("a cohort rule must be an object with 'match' and 'conditions'")
    if rule.get("match", "all") not in ("all", "any"):
        raise CohortRuleError(f"'match' must be 'all' or 'any', not {rule.get('match')!r}")
    conditions = rule.get("conditions", [])
    if not isinstance(conditions, list):
        raise CohortRuleError("'conditions' must be a list")
    for i, condition in enumerate(conditions):
        where = f"condition {i + 1}"
        if not isinstance(condition, Mapping):
            raise CohortRuleError(f"{where} must be an object")
        attribute = condition.get("attribute")
        if not isinstance(attribute, str) or not attribute.strip():
            raise CohortRuleError(f"{where} needs an 'attribute' name")
        operator = condition.get("operator")
        if operator not in OPERATORS:
            raise CohortRuleError(f"{where}: unknown operator {operator!r} (use one of {', '.join(OPERATORS)})")
        values = condition.get("values")
        if not isinstance(values, list) or not values:
            raise CohortRuleError(f"{where} needs a non-empty 'values' list")
        if operator in SINGLE_VALUE_OPERATORS and len(values) != 1:
            raise CohortRuleError(f"{where}: '{operator}' takes exactly one value")
        if operator in ("gt", "gte", "lt", "lte") and _number(values[0]) is None:
            raise CohortRuleError(f"{where}: '{operator}' needs a number, not {values[0]!r}")


def matches(rule: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """True when an account with these attributes belongs to the cohort the rule defines."""
    conditions = rule.get("conditions") or []
    if not conditions:
        return True
    results = (_condition_holds(c, attributes) for c in conditions)
    return any(results) if rule.get("match", "all") == "any" else all(results)


def _condition_holds(condition: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    operator = condition["operator"]
    values = condition["values"]
    value = attributes.get(condition["attribute"])
    if value is None or value == "":
        return operator in ("not_in", "neq")
    if operator == "in":
        return any(_same(value, v) for v in values)
    if operator == "not_in":
        return not any(_same(value, v) for v in values)
    if operator == "eq":
        return _same(value, values[0])
    if operator == "neq":
        return not _same(value, values[0])
    if operator == "contains":
        items = value if isinstance(value, list | tuple | set) else _LIST_SEPARATORS.split(str(value))
        return any(_same(item, v) for item in items for v in values)
    left, right = _number(value), _number(values[0])
    if left is None or right is None:
        return False
    if operator == "gt":
        return left > right
    if operator == "gte":
        return left >= right
    if operator == "lt":
        return left < right
    return left <= right  # lte


def _same(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return _text(a) == _text(b)


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):  # True is not 1 in an attribute rule
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    # Checked before float() so the common case, a word such as "mid_market", costs no exception.
    return float(text) if _NUMBER.fullmatch(text) else None


# --- in words ------------------------------------------------------------------------------------------------


def values_text(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def describe_rule(rule: Mapping[str, Any]) -> str:
    """A rule as a sentence: "segment is mid_market and engagement is one of high, power"; "every account".

    The one wording of a rule: the plan page's cohort table, the PDF plan, undo texts and the cohort editor
    (whose operator choices are ``OPERATOR_LABELS``) all say a rule this way."""
    conditions = rule.get("conditions") or []
    if not conditions:
        return "every account"
    joiner = " or " if rule.get("match") == "any" else " and "
    parts = []
    for c in conditions:
        values = c.get("values") or []
        shown = str(values[0]) if c.get("operator") in SINGLE_VALUE_OPERATORS and values else values_text(values)
        parts.append(f"{c.get('attribute')} {OPERATOR_LABELS.get(c.get('operator'), c.get('operator'))} {shown}")
    return joiner.join(parts)
