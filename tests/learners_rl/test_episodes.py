"""Seeded episode sets: reproducible scores, side-by-side episodes, failing environments named."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from colearn_chain.errors import ColearnRuntimeError
from learners.rl.environments import EnvFamily, EnvVariant, family
from learners.rl.episodes import EpisodeSet


def _lean_right(observations: np.ndarray) -> np.ndarray:
    """Push the cart the way the pole leans: balances CartPole for a while."""
    return (observations[:, 2] > 0).astype(np.int64)


def test_the_same_policy_on_the_same_set_scores_the_same_and_seeds_matter() -> None:
    variant = EnvVariant(family("cartpole"), {"length": 0.5, "masspole": 0.1})
    first = EpisodeSet([variant], 4, seed=10).returns(_lean_right)
    again = EpisodeSet([variant], 4, seed=10).returns(_lean_right)
    assert first == again
    assert len(first) == 4
    always_left = EpisodeSet([variant], 4, seed=10).mean_return(lambda obs: np.zeros(len(obs), dtype=np.int64))
    assert always_left < float(np.mean(first))  # a better policy scores higher


def test_episodes_of_several_variants_run_side_by_side_with_one_policy_call_per_step() -> None:
    variants = [EnvVariant(family("cartpole"), {"length": v, "masspole": 0.1}) for v in (0.3, 0.9)]
    calls: list[int] = []

    def policy(observations: np.ndarray) -> np.ndarray:
        calls.append(len(observations))
        return _lean_right(observations)

    returns = EpisodeSet(variants, 3, seed=0).returns(policy)
    assert len(returns) == 6
    assert calls[0] == 6  # every episode's first action in one call
    assert len(calls) == max(returns)  # one call per step of the longest episode


class _Exploding(gym.Env[np.ndarray, int]):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space: gym.spaces.Space[int] = gym.spaces.Discrete(2)  # type: ignore[assignment]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        raise ValueError("the simulator diverged")


def test_an_environment_that_raises_is_named_in_one_line() -> None:
    exploding = EnvFamily(
        "exploding", "Exploding-v0", {"x": (0.0, 1.0)}, {"x": 0.5}, lambda params, steps: _Exploding()
    )
    episodes = EpisodeSet([EnvVariant(exploding, {"x": 0.5})], 1, seed=0)
    with pytest.raises(ColearnRuntimeError, match=r"environment Exploding-v0 \(x=0.5\) failed in a step: ValueError"):
        episodes.returns(lambda obs: np.zeros(len(obs), dtype=np.int64))
