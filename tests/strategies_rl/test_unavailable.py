"""A served selector does not nominate a learner that cannot propose (a spent privacy budget)."""

from __future__ import annotations

import numpy as np

from colearn_chain.records import RoundRecord
from colearn_chain.selector_service import unavailable_proposers
from colearn_chain.strategies.rl.state import StateConfig, build_state
from tests.strategies_rl.test_policy import _policy

LEARNERS = ["0xA1", "0xB2", "0xC3"]


def _record(round_index: int, proposer: str, skipped: bool) -> RoundRecord:
    return RoundRecord(round_index, proposer, None if skipped else "0x11", None, False, 0, 0, [], None, skipped=skipped)


def test_learners_whose_nominated_round_was_skipped_are_unavailable() -> None:
    records = [_record(0, "0xa1", False), _record(1, "0xB2", True), _record(2, "0xC3", False)]
    assert unavailable_proposers(records, LEARNERS) == frozenset({1})
    assert unavailable_proposers([], LEARNERS) == frozenset()


def test_the_policy_chooses_the_best_learner_it_may_nominate() -> None:
    config = StateConfig(learners=3)
    _network, policy = _policy(config)
    state = build_state(config, [], 0, policy.info.cost, None)
    best = policy.choose(state)
    assert policy.choose(state, {best}) != best
    others = set(range(3)) - {best}
    q_values = np.array(policy.q_values(state))
    assert policy.choose(state, {best}) == max(others, key=lambda i: q_values[i])
    assert policy.choose(state, {0, 1, 2}) == best  # nobody is available: the rotation skips the round anyway
