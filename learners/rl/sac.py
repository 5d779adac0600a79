"""SAC (stable-baselines3) for continuous control: the agent FedFormer federates, MLP actor and critics."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import gymnasium as gym
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.sac.policies import SACPolicy

from learners.rl.algorithm import Algorithm
from learners.rl.sb3_io import silence

__all__ = ["SACAlgorithm"]

#: Small, fast defaults (Pendulum improves within a few thousand steps); tasks override them.
DEFAULTS: dict[str, Any] = {
    "learning_starts": 200,
    "buffer_size": 50_000,
    "batch_size": 128,
    "train_freq": 1,
    "gradient_steps": 1,
    "learning_rate": 1e-3,
    "policy_kwargs": {"net_arch": [64, 64]},
}


class _DeterministicActor(torch.nn.Module):
    """Observation -> the actor's mean action, squashed by tanh and scaled to the action bounds."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, policy: SACPolicy, action_space: gym.spaces.Space[Any]) -> None:
        super().__init__()
        self.actor = policy.actor
        box: Any = action_space
        self.register_buffer("low", torch.as_tensor(box.low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(box.high, dtype=torch.float32))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        squashed: torch.Tensor = self.actor(observations, deterministic=True)
        return self.low + 0.5 * (squashed + 1.0) * (self.high - self.low)


class SACAlgorithm(Algorithm):
    """stable-baselines3's SAC with MLP actor and critics; hyperparameters are SAC's own keywords.

    Off-policy: a learner keeps its replay buffer (its private experience) across rounds and
    continues its step count, so warm-up happens once.
    """

    name: ClassVar[str] = "sac"
    continues_counting: ClassVar[bool] = True

    def build(self, env: gym.Env[Any, Any], seed: int) -> BaseAlgorithm:
        settings = {**DEFAULTS, **self.hyperparameters}
        return silence(SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **settings))

    def actor(self, policy: torch.nn.Module, action_space: gym.spaces.Space[Any]) -> torch.nn.Module:
        return _DeterministicActor(cast(SACPolicy, policy), action_space)

    def rollout_steps(self) -> int:
        return 500
