"""The DQN: the paper's epsilon schedule, a ring-buffer replay, a target network, seeded learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from colearn_chain.errors import ColearnValueError
from colearn_chain.selector_training.dqn import DQNAgent, DQNSettings, QNetwork, ReplayBuffer


def test_epsilon_decays_by_exp_minus_002_per_episode() -> None:
    settings = DQNSettings()
    assert settings.epsilon(0) == 1.0
    assert settings.epsilon(1) == pytest.approx(math.exp(-0.02))
    assert settings.epsilon(119) == pytest.approx(math.exp(-0.02 * 119))
    assert DQNSettings(epsilon_min=0.2).epsilon(500) == 0.2


def test_the_paper_network_and_the_shared_one() -> None:
    paper = DQNSettings.named("paper")
    assert paper == DQNSettings.paper() and DQNSettings.named("shared") == DQNSettings()
    with pytest.raises(ColearnValueError, match="choose shared or paper"):
        DQNSettings.named("big")
    assert (paper.hidden, paper.replay_size, paper.batch_size, paper.gamma) == ((500, 200), 50_000, 128, 0.9)
    flat = QNetwork(10, 10, paper.hidden, shared=paper.shared)
    sizes = [tuple(m.weight.shape) for m in flat.layers if isinstance(m, torch.nn.Linear)]
    assert sizes == [(500, 100), (200, 500), (10, 200)]  # the paper's 100-500-200-10
    shared = QNetwork(10, 8, (64, 64), shared=True)
    assert [tuple(m.weight.shape) for m in shared.layers if isinstance(m, torch.nn.Linear)] == [
        (64, 8),
        (64, 64),
        (1, 64),
    ]
    states = torch.randn(5, 10, 8)
    q = shared(states)
    assert q.shape == (5, 10) and flat(torch.randn(5, 10, 10)).shape == (5, 10)
    # the shared network scores a learner by its row alone: permuting rows permutes Q-values
    order = torch.randperm(10)
    assert torch.allclose(shared(states[:, order]), q[:, order], atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"gamma": 1.0},
        {"hidden": ()},
        {"batch_size": 0},
        {"epsilon_min": 0.5, "epsilon_start": 0.1},
        {"lr": 0},
        {"n_step": 0},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ColearnValueError):
        DQNSettings(**bad)  # type: ignore[arg-type]


def test_replay_buffer_overwrites_the_oldest_transitions() -> None:
    buffer = ReplayBuffer(3, (2,), np.random.default_rng(0))
    for i in range(5):
        buffer.add(np.full(2, i, np.float32), i, float(i), np.full(2, i + 1, np.float32), i == 4, 0.9)
    assert len(buffer) == 3
    assert sorted(buffer.actions.tolist()) == [2, 3, 4]
    states, actions, rewards, next_states, dones, discounts = buffer.sample(50)
    assert torch.allclose(discounts, torch.full((50,), 0.9))
    assert set(actions.tolist()) <= {2, 3, 4}
    assert torch.equal(states[:, 0], rewards) and torch.equal(next_states[:, 0], rewards + 1)
    assert torch.equal(dones, (actions == 4).float())


def test_n_step_transitions_sum_discounted_rewards() -> None:
    agent = DQNAgent(2, 1, DQNSettings(hidden=(4,), gamma=0.5, n_step=3), seed=0)

    def state(i: int) -> np.ndarray:
        return np.full((2, 1), i, np.float32)

    agent.remember(state(0), 0, 1.0, state(1), False)
    agent.remember(state(1), 1, 2.0, state(2), False)
    assert len(agent.replay) == 0  # nothing complete yet
    agent.remember(state(2), 0, 4.0, state(3), False)
    agent.remember(state(3), 1, 8.0, state(4), False, truncated=True)  # the episode is cut: flush
    agent.remember(state(10), 0, 1.0, state(11), False)
    agent.remember(state(11), 1, 2.0, state(12), True)  # the goal: no bootstrapping
    replay = agent.replay
    rows = [
        (replay.states[i, 0, 0], replay.rewards[i], replay.next_states[i, 0, 0], replay.discounts[i], replay.dones[i])
        for i in range(len(replay))
    ]
    assert rows == [
        (0, 1 + 0.5 * 2 + 0.25 * 4, 3, 0.125, 0),
        (1, 2 + 0.5 * 4 + 0.25 * 8, 4, 0.125, 0),
        (2, 4 + 0.5 * 8, 4, 0.25, 0),
        (3, 8, 4, 0.5, 0),
        (10, 1 + 0.5 * 2, 12, 0.25, 1),
        (11, 2, 12, 0.5, 1),
    ]


def _bandit_state(context: int) -> np.ndarray:
    """Row ``a`` of the state in context ``i``: one-hot(i) then one-hot(a)."""
    eye = np.eye(3, dtype=np.float32)
    return np.hstack([np.tile(eye[context], (3, 1)), eye])


def _train_bandit(seed: int, shared: bool = True) -> DQNAgent:
    """A contextual bandit: in context i the best of three actions is (i + 1) % 3 (reward 1, else 0)."""
    settings = DQNSettings(shared=shared, hidden=(32,), batch_size=16, target_sync=10, lr=1e-2, gamma=0.0)
    agent = DQNAgent(3, 6, settings, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(150):
        i = int(rng.integers(3))
        action = agent.act(_bandit_state(i), epsilon=1.0)
        agent.remember(_bandit_state(i), action, float(action == (i + 1) % 3), _bandit_state(i), True)
        agent.learn()
    return agent


@pytest.mark.parametrize("shared", [True, False])
def test_agent_learns_a_contextual_bandit(shared: bool) -> None:
    agent = _train_bandit(seed=1, shared=shared)
    assert [agent.act(_bandit_state(i), epsilon=0.0) for i in range(3)] == [1, 2, 0]
    assert agent.gradient_steps == (150 - 15) * agent.settings.updates_per_step


def test_target_network_follows_only_every_target_sync_steps() -> None:
    settings = DQNSettings(hidden=(8,), batch_size=4, target_sync=3, updates_per_step=1)
    agent = DQNAgent(2, 3, settings, seed=0)
    for i in range(4):
        agent.remember(np.ones((2, 3), np.float32), i % 2, 1.0, np.ones((2, 3), np.float32), False)
    before = [p.clone() for p in agent.target.parameters()]
    agent.learn()
    agent.learn()
    assert all(torch.equal(a, b) for a, b in zip(before, agent.target.parameters(), strict=True))
    agent.learn()  # the third gradient step copies the online network
    assert all(torch.equal(a, b) for a, b in zip(agent.online.parameters(), agent.target.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(before, agent.target.parameters(), strict=True))


def test_same_seed_same_agent_other_seed_other_agent() -> None:
    first, again, other = _train_bandit(3), _train_bandit(3), _train_bandit(4)
    assert all(torch.equal(a, b) for a, b in zip(first.online.parameters(), again.online.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first.online.parameters(), other.online.parameters(), strict=True))
