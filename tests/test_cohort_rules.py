"""Cohort rules: each operator, missing attributes, all/any, and the checks on a rule's shape."""

from __future__ import annotations

import pytest

from launchdesk.planning.cohort_rules import CohortRuleError, matches, validate_rule


def rule(*conditions: tuple[str, str, list[object]], match: str = "all") -> dict[str, object]:
    return {"match": match, "conditions": [{"attribute": a, "operator": o, "values": v} for a, o, v in conditions]}


ACCOUNT = {"segment": "Mid_Market", "engagement": "high", "plan": "business", "seats": 120,
           "integrations": "slack; Salesforce|jira", "region": "eu"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("segment", "in", ["mid_market", "enterprise"]), True),  # case and spaces do not matter
        (("segment", "in", ["smb"]), False),
        (("segment", "not_in", ["smb", "internal"]), True),
        (("segment", "not_in", ["mid_market"]), False),
        (("plan", "eq", [" Business "]), True),
        (("plan", "eq", ["pro"]), False),
        (("plan", "neq", ["pro"]), True),
        (("seats", "eq", ["120"]), True),  # an imported "120" equals the number 120
        (("seats", "gt", [100]), True),
        (("seats", "gt", [120]), False),
        (("seats", "gte", [120]), True),
        (("seats", "lt", ["120.5"]), True),
        (("seats", "lte", [119]), False),
        (("integrations", "contains", ["salesforce"]), True),
        (("integrations", "contains", ["hubspot", "JIRA"]), True),
        (("integrations", "contains", ["hubspot"]), False),
        (("region", "gt", [1]), False),  # not a number: a numeric comparison never matches
    ],
)
def test_each_operator(condition: tuple[str, str, list[object]], expected: bool) -> None:
    assert matches(rule(condition), ACCOUNT) is expected


def test_contains_accepts_a_real_list() -> None:
    assert matches(rule(("integrations", "contains", ["slack"])), {"integrations": ["Slack", "jira"]})
    assert not matches(rule(("integrations", "contains", ["hubspot"])), {"integrations": ["Slack", "jira"]})


def test_a_missing_attribute_matches_only_the_exclusions() -> None:
    account: dict[str, object] = {"segment": "smb", "region": ""}
    assert matches(rule(("engagement", "not_in", ["low"])), account)
    assert matches(rule(("engagement", "neq", ["low"])), account)
    assert matches(rule(("region", "neq", ["eu"])), account)  # empty counts as missing
    for operator, values in (("in", ["low"]), ("eq", ["low"]), ("gte", [0]), ("lt", [10]), ("contains", ["x"])):
        assert not matches(rule(("engagement", operator, values)), account), operator


def test_all_needs_every_condition_any_needs_one() -> None:
    both = (("segment", "eq", ["mid_market"]), ("engagement", "eq", ["power"]))
    assert not matches(rule(*both, match="all"), ACCOUNT)
    assert matches(rule(*both, match="any"), ACCOUNT)
    assert not matches(rule(("segment", "eq", ["smb"]), ("engagement", "eq", ["power"]), match="any"), ACCOUNT)


def test_an_empty_rule_matches_every_account() -> None:
    assert matches({"match": "all", "conditions": []}, {})
    assert matches({"match": "any", "conditions": []}, ACCOUNT)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("segment = smb", "must be an object"),
        ({"match": "most", "conditions": []}, "'match' must be 'all' or 'any'"),
        ({"conditions": {"attribute": "segment"}}, "'conditions' must be a list"),
        (rule(("segment", "like", ["smb"])), "unknown operator 'like'"),
        (rule(("", "eq", ["smb"])), "needs an 'attribute'"),
        (rule(("segment", "in", [])), "non-empty 'values'"),
        (rule(("segment", "eq", ["smb", "pro"])), "exactly one value"),
        (rule(("seats", "gt", ["many"])), "needs a number"),
    ],
)
def test_malformed_rules_are_refused_with_the_reason(bad: object, message: str) -> None:
    with pytest.raises(CohortRuleError, match=message):
        validate_rule(bad)


def test_a_well_formed_rule_passes_validation() -> None:
    validate_rule(rule(("segment", "in", ["smb"]), ("seats", "gte", [10]), match="any"))
