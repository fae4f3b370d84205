"""The answer a local flag evaluator gives for one account: enabled or not (or unpredictable), and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evaluation:
    """One account's access to one flag.

    `enabled` is None when nobody can know in advance (random stickiness, a custom strategy, the SDK host's
    name): LaunchDesk then never treats the account as having access. `code` is short and stable for
    programs (filters, exports); `reason` is the sentence shown to people.

    Codes. Both platforms: unknown_flag, flag_off. Unleash: strategy_matched, no_strategies,
    constraint_failed, rollout_excluded, strategy_not_matched, no_strategy_matched, dependency_not_met,
    invalid_definition, and for None: unpredictable_random, unpredictable_hostname,
    unpredictable_custom_strategy, unpredictable_dependency, unsupported_constraint. LaunchDarkly:
    target_match, rule_match, fallthrough, prerequisite_failed (`prerequisite_key` names the prerequisite
    flag, as the SDK's PREREQUISITE_FAILED reason does), malformed_flag, invalid_context, and for None:
    unpredictable_big_segment, unpredictable_prerequisite.
    """

    enabled: bool | None
    code: str
    reason: str
    variation: int | None = None  # LaunchDarkly: the index of the served variation
    value: Any = None  # LaunchDarkly: the served variation's value
    prerequisite_key: str | None = None  # LaunchDarkly: the prerequisite flag that failed


def kleene_and(left: bool | None, right: bool | None) -> bool | None:
    """Three-valued AND: False wins, then unknown."""
    if left is False or right is False:
        return False
    if left is None or right is None:
        return None
    return True


def kleene_or(left: bool | None, right: bool | None) -> bool | None:
    """Three-valued OR: True wins, then unknown."""
    if left is True or right is True:
        return True
    if left is None or right is None:
        return None
    return False
