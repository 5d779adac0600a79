"""Mean return of a policy over a fixed, seeded set of episodes: the score every RL vote rests on.

Every episode of a set starts from ``reset(seed=s)`` for its own seed and the policy acts
deterministically, so the same policy on the same variant always gets the same score: a vote
is reproducible by anyone holding the variant. The episodes of a set run side by side and the
policy is asked for all their actions at once (one forward pass per step, not per episode).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from colearn_chain.errors import ColearnRuntimeError
from learners.rl.environments import EnvVariant

__all__ = ["EpisodeSet", "Policy"]

#: Observations (batch, ...) -> actions (batch, ...), deterministic.
Policy = Callable[[np.ndarray], np.ndarray]


class EpisodeSet:
    """Episodes with fixed seeds on fixed variants; environments are made once and reused.

    Parameters
    ----------
    variants
        The environments to play, each ``episodes`` times.
    episodes
        Episodes per variant.
    seed
        The first episode seed; episode ``k`` of a variant uses ``seed + k``.
    """

    def __init__(self, variants: Sequence[EnvVariant], episodes: int, seed: int) -> None:
        if episodes < 1:
            raise ValueError("an episode set needs at least one episode")
        self.plays = [(v, seed + k) for v in variants for k in range(episodes)]
        self._envs: list[gym.Env[Any, Any]] | None = None

    def _environments(self) -> list[gym.Env[Any, Any]]:
        if self._envs is None:
            self._envs = [variant.make() for variant, _ in self.plays]
        return self._envs

    def returns(self, policy: Policy) -> list[float]:
        """Each episode's undiscounted return under ``policy``, in play order.

        Raises
        ------
        ColearnRuntimeError
            If an environment raises while stepping, naming it (never a bare traceback).
        """
        envs = self._environments()
        totals = [0.0] * len(envs)
        obs: list[Any] = []
        for env, (_variant, seed) in zip(envs, self.plays, strict=True):
            first, _ = env.reset(seed=seed)
            obs.append(first)
        active = list(range(len(envs)))
        while active:
            actions = policy(np.stack([np.asarray(obs[i], dtype=np.float32) for i in active]))
            still: list[int] = []
            for action, i in zip(actions, active, strict=True):
                variant = self.plays[i][0]
                try:
                    obs[i], reward, terminated, truncated, _ = envs[i].step(_as_action(envs[i], action))
                except Exception as exc:  # an environment is user-visible code: name it
                    raise ColearnRuntimeError(
                        f"environment {variant.family.env_id} ({variant.describe()}) failed in a step: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                totals[i] += float(reward)
                if not (terminated or truncated):
                    still.append(i)
            active = still
        return totals

    def mean_return(self, policy: Policy) -> float:
        """The mean of :meth:`returns` (``-inf`` if a return is not finite, so it never wins a vote)."""
        values = self.returns(policy)
        mean = float(np.mean(values))
        return mean if math.isfinite(mean) else -math.inf

    def close(self) -> None:
        """Close the environments (made again on next use)."""
        for env in self._envs or []:
            env.close()
        self._envs = None


def _as_action(env: gym.Env[Any, Any], action: np.ndarray) -> Any:
    """A policy's output as the environment's action space takes it (an int for Discrete)."""
    if isinstance(env.action_space, gym.spaces.Discrete):
        return int(np.asarray(action).reshape(()))
    return np.asarray(action, dtype=np.float32).reshape(env.action_space.shape)
