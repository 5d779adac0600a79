"""The random and RL selector strategies: registered, seeded, nominating through the ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.selector_training.dqn import QNetwork
from colearn_chain.simulation import make_settings, run_simulation
from colearn_chain.strategies import STRATEGIES, make_strategy
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.rl.cost import cost_matrix
from colearn_chain.strategies.rl.policy import PolicyInfo, SelectorPolicy
from colearn_chain.strategies.rl.state import StateConfig, build_state, rounds_from_records
from colearn_chain.strategies.selectors import RandomSelector, RLSelector
from colearn_chain.weights.store import InMemoryStore


def _context(round_index: int, learners: int = 5, seed: int = 0) -> RoundContext:
    """A context with ``learners`` placeholder learners (the selectors only count them)."""
    placeholders: list[Any] = [None] * learners
    return RoundContext(round_index, placeholders, [f"0x{i:040x}" for i in range(learners)], InMemoryStore(), (), seed)


def test_both_selectors_are_registered_and_nominate() -> None:
    assert {"random", "rl"} <= set(STRATEGIES)
    assert make_strategy("random").nominates and RLSelector.nominates
    with pytest.raises(ColearnValueError, match="needs a trained policy"):
        make_strategy("rl")  # refused at start-up, not at the first nomination
    with pytest.raises(ColearnValueError, match="random, rl, round-robin"):
        make_strategy("rl-selector")


def test_random_is_uniform_and_repeatable() -> None:
    selector = RandomSelector()
    picks = [selector.nominate(_context(r)) for r in range(2000)]
    assert picks == [RandomSelector().nominate(_context(r)) for r in range(2000)]
    counts = Counter(picks)
    assert set(counts) == set(range(5)) and all(350 <= c <= 450 for c in counts.values())
    other_seed = [selector.nominate(_context(r, seed=1)) for r in range(50)]
    assert other_seed != picks[:50]
    fixed = make_strategy("random", {"seed": "1"})
    assert [fixed.nominate(_context(r, seed=99)) for r in range(50)] == other_seed
    with pytest.raises(ColearnValueError, match="parameter 'seed' must be int"):
        make_strategy("random", {"seed": "x"})


def test_random_selection_runs_on_the_chain() -> None:
    settings = make_settings(learners=3, rounds=4, strategy="random", seed=5, centralized_epochs=0)
    result = run_simulation(settings, InMemoryStore(), "chain", with_centralized=False)
    expected = [RandomSelector().nominate(_context(r, 3, 5)) for r in range(4)]
    assert [result.learners.index(r.proposer) for r in result.rounds] == expected
    assert all(len(r.votes) == 2 for r in result.rounds)


def _random_policy(path: Path, learners: int) -> SelectorPolicy:
    config = StateConfig(learners)
    torch.manual_seed(1)
    network = QNetwork(learners, config.features, (8,))
    policy = SelectorPolicy.from_layers(network.linear_layers(), PolicyInfo(config, cost_matrix(learners), 0.8))
    policy.save(path)
    return policy


def test_rl_nominates_what_its_policy_chooses_from_the_public_record(tmp_path: Path) -> None:
    policy = _random_policy(tmp_path / "policy.onnx", 3)
    settings = make_settings(
        learners=3, rounds=4, strategy="rl", seed=2, strategy_params={"policy": str(tmp_path / "policy.onnx")}
    )
    result = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False)
    proposers = [result.learners.index(r.proposer) for r in result.rounds]
    for index, record in enumerate(result.rounds):
        rounds = rounds_from_records(result.rounds[:index], result.learners)
        state = build_state(policy.info.config, rounds, index, policy.info.cost)
        assert proposers[index] == int(np.argmax(policy.q_values(state))), record.round


def test_rl_needs_a_usable_policy(tmp_path: Path) -> None:
    with pytest.raises(ColearnValueError, match="needs a trained policy: pass --selector-policy"):
        RLSelector().nominate(_context(0))
    with pytest.raises(ColearnFileError, match="does not exist"):
        make_strategy("rl", {"policy": str(tmp_path / "nothing.onnx")})
    _random_policy(tmp_path / "four.onnx", 4)
    strategy = make_strategy("rl", {"policy": str(tmp_path / "four.onnx")})
    with pytest.raises(ColearnValueError, match="chooses among 4 learners but the experiment has 5"):
        strategy.nominate(_context(0))
