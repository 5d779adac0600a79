"""Scoring a policy's parameters by mean return, without touching the agent that trains.

A scorer owns a copy of the agent's policy network: candidate parameters are loaded into the
copy, so judging a proposal never disturbs the learner's current policy or its training state.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from learners.rl.algorithm import Algorithm
from learners.rl.episodes import EpisodeSet, Policy
from learners.rl.sb3_io import load_parameters

__all__ = ["PolicyScorer", "policy_function", "torch_threads"]


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    if count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def policy_function(actor: torch.nn.Module) -> Policy:
    """Batched observations -> actions through ``actor`` (no gradients)."""

    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            actions: np.ndarray = actor(torch.as_tensor(observations, dtype=torch.float32)).cpu().numpy()
            return actions

    return act


class PolicyScorer:
    """Loads parameters into a private copy of a policy and plays seeded episodes with it.

    Parameters
    ----------
    algorithm
        Gives the deterministic actor over the policy.
    policy
        The agent's policy network (copied, never modified).
    action_space
        The environment's action space (bounds for continuous actions).
    who
        Names the learner in errors.
    num_threads
        Torch threads while playing.
    """

    def __init__(
        self,
        algorithm: Algorithm,
        policy: torch.nn.Module,
        action_space: gym.spaces.Space[Any],
        who: str,
        num_threads: int = 1,
    ) -> None:
        self.policy = copy.deepcopy(policy)
        self.actor = algorithm.actor(self.policy, action_space).eval()
        self.who = who
        self.num_threads = num_threads

    def load(self, arrays: Mapping[str, np.ndarray]) -> torch.nn.Module:
        """Load ``arrays`` (checked against the architecture) and return the actor over them."""
        load_parameters(self.policy, arrays, self.who)
        return self.actor

    def score(self, arrays: Mapping[str, np.ndarray], episodes: EpisodeSet) -> float:
        """Mean return of the policy ``arrays`` over ``episodes`` (``-inf`` for non-finite parameters)."""
        if not all(np.all(np.isfinite(a)) for a in arrays.values()):
            return -math.inf
        actor = self.load(arrays)
        with torch_threads(self.num_threads):
            return episodes.mean_return(policy_function(actor))
