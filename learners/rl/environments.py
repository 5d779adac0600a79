"""Environment variants: the non-IID data of reinforcement learning, drawn from a seed and an index.

Each learner's environment is a variant of one family (CartPole with another pole, LunarLander
with another gravity and wind, Pendulum with another mass) drawn from the experiment's seed and
the learner's index; held-out variants, drawn from the same ranges under another stream, are
trained and voted on by nobody and score the global policy (the ``test`` metric), the way
held-out data scores a classifier.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import numpy as np

from colearn_chain.errors import ColearnValueError

__all__ = [
    "FAMILIES",
    "HELDOUT_EPISODE_SEED",
    "EnvFamily",
    "EnvVariant",
    "check_variant_partition",
    "family",
    "heldout_variants",
    "learner_seed",
    "learner_variant",
]

#: Added to the seed stream of held-out variants so they never coincide with a learner's.
_HELDOUT_STREAM = 7_919
#: First seed of the episodes played on held-out variants (apart from every learner's vote and test episodes).
HELDOUT_EPISODE_SEED = 900_000


@dataclass(frozen=True)
class EnvFamily:
    """A Gymnasium environment and the ranges its variants' physical parameters are drawn from.

    Attributes
    ----------
    name
        Short name (``cartpole``), used in learner names.
    env_id
        The Gymnasium id it makes.
    ranges
        Parameter name -> (low, high): each variant draws every parameter uniformly in its range.
    nominal
        The environment's own defaults (the variant a single reference agent would see).
    build
        Makes the environment of a parameter set (constructor arguments or attributes set on
        the unwrapped environment, whatever the environment supports).
    max_episode_steps
        Episode length cap (the environment's own unless set).
    """

    name: str
    env_id: str
    ranges: Mapping[str, tuple[float, float]]
    nominal: Mapping[str, float]
    build: Callable[[Mapping[str, float], int | None], gym.Env[Any, Any]] = field(repr=False)
    max_episode_steps: int | None = None

    def check(self, params: Mapping[str, float]) -> None:
        """Raise if a parameter is unknown, not finite or outside its family's range.

        Raises
        ------
        ColearnValueError
            Naming the parameter and its range.
        """
        for key, value in params.items():
            if key not in self.ranges:
                raise ColearnValueError(
                    f"{self.name}: unknown environment parameter {key!r}: choose from {', '.join(self.ranges)}"
                )
            low, high = self.ranges[key]
            if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
                raise ColearnValueError(f"{self.name}: {key} = {value!r} is out of range [{low}, {high}]")


@dataclass(frozen=True)
class EnvVariant:
    """One environment of a family with its physical parameters fixed."""

    family: EnvFamily
    params: Mapping[str, float]
    label: str = ""

    def make(self, render_mode: str | None = None) -> gym.Env[Any, Any]:
        """A fresh environment of this variant.

        Raises
        ------
        ColearnValueError
            If Gymnasium cannot make it (an unknown id, a missing optional dependency), in one line.
        """
        self.family.check(self.params)
        try:
            return self.family.build(self.params, self.family.max_episode_steps)
        except (gym.error.Error, ImportError, TypeError, ValueError) as exc:
            raise ColearnValueError(f"cannot make environment {self.family.env_id} ({self.describe()}): {exc}") from exc

    def describe(self) -> str:
        """The parameters as ``name=value`` pairs, for logs and learner names."""
        return ", ".join(f"{k}={v:.3g}" for k, v in self.params.items())


def _cartpole(params: Mapping[str, float], max_steps: int | None) -> gym.Env[Any, Any]:
    env = gym.make("CartPole-v1", max_episode_steps=max_steps)
    physics: Any = env.unwrapped
    physics.length = float(params["length"])  # half the pole's length, as CartPole names it
    physics.masspole = float(params["masspole"])
    physics.total_mass = physics.masspole + physics.masscart
    physics.polemass_length = physics.masspole * physics.length
    return env


def _lunarlander(params: Mapping[str, float], max_steps: int | None) -> gym.Env[Any, Any]:
    return gym.make(
        "LunarLander-v3",
        gravity=float(params["gravity"]),
        enable_wind=True,
        wind_power=float(params["wind_power"]),
        turbulence_power=float(params["turbulence_power"]),
        max_episode_steps=max_steps,
    )


def _pendulum(params: Mapping[str, float], max_steps: int | None) -> gym.Env[Any, Any]:
    env = gym.make("Pendulum-v1", g=float(params["g"]), max_episode_steps=max_steps)
    physics: Any = env.unwrapped
    physics.m = float(params["m"])
    physics.l = float(params["l"])
    return env


#: The built-in families by name.
FAMILIES: Mapping[str, EnvFamily] = MappingProxyType(
    {
        "cartpole": EnvFamily(
            "cartpole",
            "CartPole-v1",
            ranges={"length": (0.25, 1.0), "masspole": (0.05, 0.5)},
            nominal={"length": 0.5, "masspole": 0.1},
            build=_cartpole,
        ),
        "lunarlander": EnvFamily(
            "lunarlander",
            "LunarLander-v3",
            # Gymnasium's own bounds: gravity in (-12, 0), wind power <= 20, turbulence <= 2
            ranges={"gravity": (-11.5, -6.0), "wind_power": (0.0, 15.0), "turbulence_power": (0.0, 1.5)},
            nominal={"gravity": -10.0, "wind_power": 0.0, "turbulence_power": 0.0},
            build=_lunarlander,
        ),
        "pendulum": EnvFamily(
            "pendulum",
            "Pendulum-v1",
            ranges={"g": (8.0, 12.0), "m": (0.8, 1.3), "l": (0.8, 1.2)},
            nominal={"g": 10.0, "m": 1.0, "l": 1.0},
            build=_pendulum,
        ),
    }
)


def family(name: str) -> EnvFamily:
    """The family called ``name``.

    Raises
    ------
    ColearnValueError
        For an unknown name, listing the known ones.
    """
    if name not in FAMILIES:
        raise ColearnValueError(f"unknown environment family {name!r}: choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _draw(fam: EnvFamily, rng: np.random.Generator, spread: float) -> dict[str, float]:
    """Each parameter uniformly within ``spread`` (0..1) of its range around the nominal value."""
    params: dict[str, float] = {}
    for key, (low, high) in fam.ranges.items():
        centre = fam.nominal[key]
        lo = centre - spread * (centre - low)
        hi = centre + spread * (high - centre)
        params[key] = float(rng.uniform(lo, hi))
    return params


def learner_variant(fam: EnvFamily, seed: int, index: int, spread: float = 1.0) -> EnvVariant:
    """Learner ``index``'s variant: the same for the same seed and index, in every process."""
    rng = np.random.default_rng([seed, index])
    return EnvVariant(fam, _draw(fam, rng, spread), f"learner {index}")


def heldout_variants(fam: EnvFamily, seed: int, count: int, spread: float = 1.0) -> list[EnvVariant]:
    """``count`` variants that no learner trains or votes on (for the global policy's test metric)."""
    return [
        EnvVariant(fam, _draw(fam, np.random.default_rng([seed, _HELDOUT_STREAM, i]), spread), f"held-out {i}")
        for i in range(count)
    ]


def learner_seed(seed: int, index: int) -> int:
    """Learner ``index``'s own seed in an experiment of ``seed`` (its training and its episodes)."""
    return seed * 1_000_003 + index


def check_variant_partition(task: str, partition: str, members: str = "learner") -> None:
    """Refuse a data partition: an RL task's learners differ by their environment variants, not by data.

    Raises
    ------
    ColearnValueError
        For any partition but the default ``iid``.
    """
    if partition != "iid":
        raise ColearnValueError(
            f"task {task} gives each {members} its own environment variant: --partition does not apply"
        )
