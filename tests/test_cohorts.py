"""Cohort reach: counts, samples and overlaps measured in chunks agree with judging every account directly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from launchdesk.models import Account
from launchdesk.planning.cohort_rules import CohortRuleError, matches
from launchdesk.planning.cohorts import (
    describe_rule,
    known_attributes,
    measure,
    parse_values,
    rule_attributes,
    values_text,
)
from launchdesk.workspace import create_workspace

SEGMENTS = ("smb", "mid_market", "Mid_Market ", "enterprise", "internal")
RULES = {
    "mid-market engaged": {"match": "all", "conditions": [
        {"attribute": "segment", "operator": "eq", "values": ["mid_market"]},
        {"attribute": "engagement", "operator": "in", "values": ["high", "power"]}]},
    "big or slack": {"match": "any", "conditions": [
        {"attribute": "seats", "operator": "gte", "values": ["500"]},
        {"attribute": "integrations", "operator": "contains", "values": ["slack"]}]},
    "not internal": {"match": "all", "conditions": [
        {"attribute": "segment", "operator": "not_in", "values": ["internal"]}]},
    "everyone": {"match": "all", "conditions": []},
    "nobody": {"match": "all", "conditions": [{"attribute": "tier", "operator": "eq", "values": ["platinum"]}]},
}


@pytest.fixture
def accounts(tmp_path: Path):  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    rows = []
    for i in range(1234):
        attributes: dict = {"segment": rng.choice(SEGMENTS), "engagement": rng.choice(["low", "high", "power"])}
        if i % 3:
            attributes["seats"] = rng.choice([10, 499, 500, "750", "n/a"])
        if i % 4 == 0:
            attributes["integrations"] = rng.choice([["slack", "jira"], "Slack; Salesforce", "jira", []])
        if i % 97 == 0:
            attributes = {}  # an account imported without attributes
        rows.append({"account_key": f"acct-{i:05d}", "name": f"Customer {i}", "name_folded": f"customer {i}",
                     "attributes": attributes})
    workspace = create_workspace(tmp_path / "accounts.launchdesk")
    with workspace.transaction() as session:
        session.execute(insert(Account), rows)
    yield workspace
    workspace.close()


def direct(workspace, rule) -> set[str]:  # type: ignore[no-untyped-def]
    with workspace.session() as session:
        return {a.account_key for a in session.scalars(select(Account)) if matches(rule, a.attributes)}


@pytest.mark.parametrize("chunk", [7, 1000, 5000])
def test_counts_and_overlaps_equal_judging_every_account(accounts, chunk: int) -> None:
    with accounts.session() as session:
        reach = measure(session, RULES, focus="mid-market engaged", chunk=chunk)
    assert reach is not None and reach.total == 1234
    members = {name: direct(accounts, rule) for name, rule in RULES.items()}
    assert reach.counts == {name: len(keys) for name, keys in members.items()}
    assert reach.counts["everyone"] == 1234 and reach.counts["nobody"] == 0
    names = list(RULES)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert reach.shared[(a, b)] == len(members[a] & members[b])
    overlaps = dict(reach.overlaps("mid-market engaged"))
    assert "nobody" not in overlaps and overlaps["everyone"] == len(members["mid-market engaged"])


def test_the_sample_holds_matching_accounts_with_the_attributes_the_rule_reads(accounts) -> None:
    with accounts.session() as session:
        reach = measure(session, RULES, focus="big or slack", sample_size=15, chunk=100)
    assert reach is not None and len(reach.sample) == 15
    members = direct(accounts, RULES["big or slack"])
    assert all(s.account_key in members for s in reach.sample)
    assert all(set(s.attributes) == {"seats", "integrations"} for s in reach.sample)
    keys = [s.account_key for s in reach.sample]
    assert keys == sorted(keys)  # the first matching accounts in import order


def test_a_count_can_be_cancelled_between_chunks_and_reports_progress(accounts) -> None:
    seen: list[tuple[int, int]] = []
    with accounts.session() as session:
        assert measure(session, RULES, chunk=100, cancelled=lambda: len(seen) >= 3,
                       progress=lambda done, total: seen.append((done, total))) is None
    assert seen == [(100, 1234), (200, 1234), (300, 1234)]


def test_a_broken_rule_is_refused_before_any_account_is_read(accounts) -> None:
    with accounts.session() as session, pytest.raises(CohortRuleError, match="needs a number"):
        measure(session, {"x": {"match": "all", "conditions": [
            {"attribute": "seats", "operator": "gt", "values": ["many"]}]}})


def test_an_empty_workspace_matches_nobody(tmp_path: Path) -> None:
    with create_workspace(tmp_path / "empty.launchdesk") as workspace, workspace.session() as session:
        reach = measure(session, {"everyone": RULES["everyone"]}, focus="everyone")
    assert reach is not None and (reach.total, reach.counts, reach.sample) == (0, {"everyone": 0}, [])


def test_known_attributes_offer_names_and_common_values(accounts) -> None:
    with accounts.session() as session:
        known = known_attributes(session)
    assert list(known) == ["engagement", "integrations", "seats", "segment"]
    assert set(known["engagement"]) == {"low", "high", "power"}
    assert "slack" in known["integrations"]  # list values count one by one


def test_rules_read_as_sentences_and_values_as_typed() -> None:
    assert describe_rule(RULES["mid-market engaged"]) == "segment is mid_market and engagement is one of high, power"
    assert describe_rule(RULES["big or slack"]) == "seats ≥ 500 or integrations contains any of slack"
    assert describe_rule(RULES["everyone"]) == "every account"
    assert rule_attributes(RULES["big or slack"]) == ["seats", "integrations"]
    assert parse_values(" enterprise, mid_market ,, ") == ["enterprise", "mid_market"]
    assert values_text(["a", 5]) == "a, 5"
