"""The Unleash Admin API client against a real Unleash server: flags, segments, the normalized definition, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from launchdesk.flags.http import AuthError, ConnectionFailed, NotFound
from launchdesk.flags.unleash_api import UnleashAdminClient, definition_for_environment, rollout_percentage
from servers import UnleashServer, free_port
from unleash_admin import UnleashAdmin, unique_name

PROJECT = "default"


@pytest.fixture
def admin(unleash_server: UnleashServer) -> Iterator[UnleashAdmin]:
    helper = UnleashAdmin(unleash_server)
    yield helper
    helper.close()


@pytest.fixture
def client(unleash_server: UnleashServer) -> Iterator[UnleashAdminClient]:
    with UnleashAdminClient(unleash_server.base_url, unleash_server.admin_token) as c:
        yield c


TIER_GOLD = {"contextName": "tier", "operator": "IN", "values": ["gold", "Platinum"], "caseInsensitive": True}
SEATS_OVER_50 = {"contextName": "seats", "operator": "NUM_GT", "value": "50"}
VARIANT = {"name": "blue", "weight": 1000, "weightType": "variable", "stickiness": "default",
           "payload": {"type": "string", "value": "b"}}


def make_phased_flag(admin: UnleashAdmin, environment: str) -> tuple[str, int]:
    """A flag rolled out to 25% of gold accounts with more than 50 seats in the beta segment, plus noise."""
    flag = unique_name("checkout")
    segment_id = admin.create_segment(
        unique_name("beta"), [{"contextName": "userId", "operator": "IN", "values": ["acct-1", "acct-2"]}]
    )
    admin.create_feature(PROJECT, flag)
    admin.flexible_rollout(
        PROJECT, flag, environment, 25,
        constraints=[TIER_GOLD, SEATS_OVER_50], segments=[segment_id], variants=[VARIANT], title="phase 3",
    )
    # A disabled strategy: SDKs never see it, so neither may the evaluator.
    admin.add_strategy(PROJECT, flag, environment, "default", disabled=True)
    admin.enable(PROJECT, flag, environment)
    return flag, segment_id


def test_normalized_definition_of_a_phased_flag(admin: UnleashAdmin, client: UnleashAdminClient) -> None:
    flag, segment_id = make_phased_flag(admin, "production")

    definition = client.fetch_definition(PROJECT, flag, "production")

    assert definition["name"] == flag and definition["environment"] == "production"
    assert definition["enabled"] is True
    [strategy] = definition["strategies"]
    assert strategy["name"] == "flexibleRollout" and strategy["title"] == "phase 3"
    assert strategy["parameters"] == {"rollout": "25", "stickiness": "default", "groupId": flag}
    assert strategy["constraints"] == [
        {"contextName": "tier", "operator": "IN", "values": ["gold", "Platinum"], "inverted": False,
         "caseInsensitive": True},
        {"contextName": "seats", "operator": "NUM_GT", "values": [], "inverted": False, "caseInsensitive": False,
         "value": "50"},
    ]
    assert strategy["segments"] == [segment_id]
    assert strategy["disabled"] is False
    assert [v["name"] for v in strategy["variants"]] == ["blue"]
    assert definition["segments"] == {
        str(segment_id): {
            "id": segment_id,
            "name": definition["segments"][str(segment_id)]["name"],
            "constraints": [{"contextName": "userId", "operator": "IN", "values": ["acct-1", "acct-2"],
                             "inverted": False, "caseInsensitive": False}],
        }
    }
    assert rollout_percentage(definition) == 25.0
    # A snapshot is stored as JSON: the definition must read back unchanged.
    assert json.loads(json.dumps(definition)) == definition


def test_other_environments_keep_their_own_state(admin: UnleashAdmin, client: UnleashAdminClient) -> None:
    flag, _ = make_phased_flag(admin, "production")

    development = client.fetch_definition(PROJECT, flag, "development")

    assert development["enabled"] is False
    assert development["strategies"] == [] and development["segments"] == {}
    assert rollout_percentage(development) == 0.0


def test_definition_matches_what_sdks_receive(
    admin: UnleashAdmin, client: UnleashAdminClient, unleash_server: UnleashServer
) -> None:
    """The client API (what SDKs evaluate) and our normalized Admin API view agree strategy for strategy."""
    flag, segment_id = make_phased_flag(admin, "development")
    ours = client.fetch_definition(PROJECT, flag, "development")

    # A client that declares spec 4.3+ gets segments by id instead of inlined into the constraints.
    answer = httpx.get(
        f"{unleash_server.base_url}/api/client/features",
        headers={"Authorization": unleash_server.client_token, "Unleash-Client-Spec": "5.1.9"},
        params={"namePrefix": flag},
        timeout=30,
    )
    answer.raise_for_status()
    body = answer.json()
    [sdk_feature] = [f for f in body["features"] if f["name"] == flag]

    def constraints(items: list[dict]) -> list[dict]:
        # The client API leaves out fields at their defaults.
        return [{"inverted": False, "caseInsensitive": False, "values": [], **c} for c in items]

    def comparable(strategy: dict) -> dict:
        return {
            "name": strategy["name"],
            "parameters": strategy["parameters"],
            "segments": strategy.get("segments", []),
            "constraints": constraints(strategy["constraints"]),
            "variants": [v["name"] for v in strategy.get("variants", [])],
        }

    assert sdk_feature["enabled"] == ours["enabled"] is True
    assert [comparable(s) for s in sdk_feature["strategies"]] == [comparable(s) for s in ours["strategies"]]
    sdk_segment = next(s for s in body["segments"] if s["id"] == segment_id)
    assert constraints(sdk_segment["constraints"]) == ours["segments"][str(segment_id)]["constraints"]


def test_segments_are_resolved_concurrently_by_id(admin: UnleashAdmin, client: UnleashAdminClient) -> None:
    ids = [
        admin.create_segment(unique_name(f"seg{n}"), [{"contextName": "tier", "operator": "IN", "values": [str(n)]}])
        for n in range(3)
    ]
    segments = client.get_segments(ids + ids[:1])
    assert sorted(segments) == sorted(ids)
    assert [segments[i]["constraints"][0]["values"] for i in ids] == [["0"], ["1"], ["2"]]


def test_test_connection_succeeds(client: UnleashAdminClient) -> None:
    check = client.test_connection(PROJECT)
    assert check.ok and check.error is None
    assert "Connected" in check.message


def test_a_wrong_token_is_an_auth_error(unleash_server: UnleashServer) -> None:
    wrong = "*:*.not-the-token-" + "0" * 20
    with UnleashAdminClient(unleash_server.base_url, wrong) as client:
        check = client.test_connection(PROJECT)
        assert not check.ok and isinstance(check.error, AuthError)
        assert check.error.status == 401
        with pytest.raises(AuthError):
            client.get_feature(PROJECT, "anything")
    assert wrong not in check.message and unleash_server.admin_token not in check.message


def test_an_unknown_project_is_not_found(client: UnleashAdminClient, unleash_server: UnleashServer) -> None:
    check = client.test_connection("no-such-project")
    assert not check.ok and isinstance(check.error, NotFound)
    assert "no-such-project" in check.message
    assert unleash_server.admin_token not in check.message


def test_an_unknown_flag_or_environment_is_not_found(admin: UnleashAdmin, client: UnleashAdminClient) -> None:
    with pytest.raises(NotFound, match="no flag 'no-such-flag'"):
        client.get_feature(PROJECT, "no-such-flag")
    flag, _ = make_phased_flag(admin, "production")
    with pytest.raises(NotFound, match="no environment 'staging'"):
        client.fetch_definition(PROJECT, flag, "staging")


def test_a_server_that_is_not_running_is_reported() -> None:
    with UnleashAdminClient(f"http://127.0.0.1:{free_port()}/api", "token", retries=0) as client:
        check = client.test_connection(PROJECT)
    assert not check.ok and isinstance(check.error, ConnectionFailed)
    assert "refused" in check.message


# The percentage rules on hand-made definitions (the shapes above come from the real server).


def definition(enabled: bool, *strategies: dict) -> dict:
    feature = {"name": "f", "environments": [{"name": "production", "enabled": enabled, "strategies": list(strategies)}]}
    return definition_for_environment(feature, "production", {})


def strategy(name: str, constraints: list | None = None, **parameters: str) -> dict:
    return {"name": name, "parameters": parameters, "constraints": constraints or [], "segments": []}


def test_rollout_percentage_rules() -> None:
    internal = [{"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@example.com"]}]
    assert rollout_percentage(definition(False, strategy("default"))) == 0.0
    assert rollout_percentage(definition(True)) == 100.0
    assert rollout_percentage(definition(True, strategy("default"))) == 100.0
    assert rollout_percentage(definition(True, strategy("flexibleRollout", rollout="10"))) == 10.0
    # Internal users by constraint plus 5% of everyone: the plan's percentage is 5, not 100.
    both = definition(True, strategy("default", internal), strategy("flexibleRollout", rollout="5"))
    assert rollout_percentage(both) == 5.0
    assert rollout_percentage(definition(True, strategy("gradualRolloutUserId", percentage="40"))) == 40.0
    assert rollout_percentage(definition(True, strategy("default", internal))) is None
    assert rollout_percentage(definition(True, strategy("userWithId", userIds="a,b"))) is None
