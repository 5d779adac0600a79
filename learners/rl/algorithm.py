"""What an RL learner needs from a stable-baselines3 algorithm: build it, act with it, train it.

One file per algorithm (``ppo.py``, ``sac.py``) implements :class:`Algorithm`; the learner
(:mod:`learners.rl.agent_learner`) is written once against it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = ["Algorithm"]


class Algorithm(abc.ABC):
    """A stable-baselines3 algorithm with the settings every learner of an experiment shares."""

    #: Short name (``ppo``, ``sac``).
    name: ClassVar[str]
    #: Whether training continues the step count across proposals (off-policy learners keep their
    #: replay buffer and warm-up); on-policy ones start every proposal afresh.
    continues_counting: ClassVar[bool] = False

    def __init__(self, hyperparameters: Mapping[str, Any] | None = None) -> None:
        self.hyperparameters = dict(hyperparameters or {})

    @abc.abstractmethod
    def build(self, env: gym.Env[Any, Any], seed: int) -> BaseAlgorithm:
        """A fresh agent on ``env``; the same seed gives the same initial policy in any process."""

    @abc.abstractmethod
    def actor(self, policy: torch.nn.Module, action_space: gym.spaces.Space[Any]) -> torch.nn.Module:
        """A module mapping a batch of float32 observations to the policy's deterministic actions.

        It is what votes are scored with and what ``mli_get_current_model`` exports as ONNX.
        """

    def before_training(self, model: BaseAlgorithm) -> None:
        """Called before each proposal's training (e.g. to start the optimizer afresh)."""
        return None

    def rollout_steps(self) -> int:
        """The environment steps of one unit of training (``with_local_epochs`` counts in these)."""
        return int(self.hyperparameters.get("n_steps", 1024))
