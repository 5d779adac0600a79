"""The FedFormer Q-function: tokens are [own, kept others], frozen encoders get no gradient, SB3's SAC trains it."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import SAC

from colearn_chain.errors import ColearnValueError
from learners.rl.fedformer_critic import FedFormerCritic, FedFormerPolicy, FedFormerSettings


def _sac(others: int) -> SAC:
    settings = FedFormerSettings(layers=1, heads=2, width=16, others=others)
    return SAC(
        FedFormerPolicy,
        gym.make("Pendulum-v1"),
        seed=0,
        device="cpu",
        learning_starts=10,
        batch_size=8,
        policy_kwargs={"net_arch": [16], "fedformer": settings},
    )


@pytest.mark.parametrize("others", [0, 1, 3])
def test_the_critic_attends_over_one_token_per_kept_encoder_plus_its_own(others: int) -> None:
    model = _sac(others)
    critic = model.policy.critic
    assert isinstance(critic, FedFormerCritic) and isinstance(model.policy.critic_target, FedFormerCritic)
    obs, actions = torch.zeros((5, 3)), torch.zeros((5, 1))
    assert critic.tokens(obs, actions).shape == (5, 1 + others, 16)
    q1, q2 = critic(obs, actions)  # twin Q-functions for SAC
    assert q1.shape == q2.shape == (5, 1)
    assert critic.q1_forward(obs, actions).shape == (5, 1)


def test_frozen_encoders_get_no_gradient_and_do_not_change_in_training() -> None:
    model = _sac(2)
    critic = model.policy.critic
    assert isinstance(critic, FedFormerCritic)
    frozen_before = [p.detach().clone() for p in critic.others.parameters()]
    own_before = [p.detach().clone() for p in critic.encoder.parameters()]
    q1, q2 = critic(torch.randn(4, 3), torch.randn(4, 1))
    (q1.sum() + q2.sum()).backward()
    assert all(p.grad is None for p in critic.others.parameters())
    assert all(p.grad is not None for p in critic.encoder.parameters())
    critic.zero_grad()
    critic.requires_grad_(True)  # SB3 toggles this: the others stay frozen
    assert not any(p.requires_grad for p in critic.others.parameters())
    model.learn(40)
    assert all(torch.equal(a, b) for a, b in zip(frozen_before, critic.others.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(own_before, critic.encoder.parameters(), strict=True))


def test_loading_other_agents_encoders_changes_the_q_values() -> None:
    model = _sac(1)
    critic = model.policy.critic
    assert isinstance(critic, FedFormerCritic)
    obs, actions = torch.randn(4, 3), torch.randn(4, 1)
    before = critic(obs, actions)[0].detach()
    theirs = {k: v.numpy() * 3.0 for k, v in critic.encoder.state_dict().items()}
    critic.load_others([theirs])
    assert not torch.allclose(before, critic(obs, actions)[0].detach())
    with pytest.raises(ColearnValueError, match="holds 1 other encoders"):
        critic.load_others([theirs, theirs])


def test_settings_are_checked_with_a_reason() -> None:
    with pytest.raises(ColearnValueError, match="multiple of heads"):
        FedFormerSettings(heads=3, width=16)
    with pytest.raises(ColearnValueError, match="from_saved"):
        FedFormerSettings(others=-1)
