"""PPO (stable-baselines3), the agent DeRL federates: discrete or continuous actions, MLP policy."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from learners.rl.algorithm import Algorithm
from learners.rl.sb3_io import silence

__all__ = ["PPOAlgorithm"]

#: Small, fast defaults (CartPole learns in a few thousand steps); tasks override them.
DEFAULTS: dict[str, Any] = {"n_steps": 512, "batch_size": 64, "n_epochs": 4, "learning_rate": 3e-4, "gamma": 0.99}


class _DeterministicActor(torch.nn.Module):
    """Observation -> the policy's most likely action (argmax for Discrete, the mean clipped otherwise)."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, policy: ActorCriticPolicy, action_space: gym.spaces.Space[Any]) -> None:
        super().__init__()
        self.policy = policy
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if not self.discrete:
            box: Any = action_space
            self.register_buffer("low", torch.as_tensor(box.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(box.high, dtype=torch.float32))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        features = self.policy.pi_features_extractor(observations)
        latent = self.policy.mlp_extractor.forward_actor(features)
        out = self.policy.action_net(latent)
        if self.discrete:
            return torch.argmax(out, dim=1)
        return torch.maximum(torch.minimum(out, self.high), self.low)


class PPOAlgorithm(Algorithm):
    """stable-baselines3's PPO with an MLP policy; hyperparameters are PPO's own keywords."""

    name: ClassVar[str] = "ppo"

    def build(self, env: gym.Env[Any, Any], seed: int) -> BaseAlgorithm:
        """A PPO agent whose initial policy is uniform: the action head starts at zero.

        SB3 initialises that head with a small random gain, which makes the stochastic policy
        nearly uniform but leaves its deterministic (argmax) policy to chance: some seeds'
        untrained agents balance CartPole perfectly. From zero, every seed's experiment
        starts from the same untrained behaviour (the first action, or the zero action).
        """
        settings = {**DEFAULTS, **self.hyperparameters}
        model = silence(PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **settings))
        head: Any = model.policy.action_net
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
        return model

    def actor(self, policy: torch.nn.Module, action_space: gym.spaces.Space[Any]) -> torch.nn.Module:
        return _DeterministicActor(cast(ActorCriticPolicy, policy), action_space)

    def before_training(self, model: BaseAlgorithm) -> None:
        """A fresh Adam state: a proposal depends on the global policy and its seed only, so a
        participant restarted mid-experiment proposes what it would have."""
        policy: Any = model.policy
        policy.optimizer = policy.optimizer_class(
            policy.parameters(), lr=model.lr_schedule(1.0), **policy.optimizer_kwargs
        )

    def rollout_steps(self) -> int:
        return int({**DEFAULTS, **self.hyperparameters}["n_steps"])
