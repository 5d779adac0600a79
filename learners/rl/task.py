"""The RL tasks (``cartpole-ppo``, ``lunarlander-ppo``, ``pendulum-sac``) as learner sources.

An RL task is an environment family, an algorithm and a training budget. Its learners' "data"
are environment variants (see :mod:`learners.rl.environments`): learner ``i`` of seed ``s``
always gets the same variant, and held-out variants score the global policy. A participant
with its own environment gives ``--data FILE``, a JSON object of the family's parameters
(``{"length": 0.7, "masspole": 0.2}``); an auditor's ``audit --evaluate FILE`` takes a JSON
object ``{"variants": [{...}, ...], "episodes": 5, "seed": 0}``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.interface import Weights
from colearn_chain.metrics import MEAN_RETURN, Metric
from colearn_chain.weights.codec import WeightsSpec, decode_weights
from learners.rl.agent_learner import AgentLearner, AgentSettings
from learners.rl.algorithm import Algorithm
from learners.rl.environments import (
    HELDOUT_EPISODE_SEED,
    EnvFamily,
    EnvVariant,
    check_variant_partition,
    family,
    heldout_variants,
    learner_seed,
    learner_variant,
)
from learners.rl.episodes import EpisodeSet
from learners.rl.ppo import PPOAlgorithm
from learners.rl.sac import SACAlgorithm
from learners.rl.scoring import PolicyScorer

__all__ = ["RL_TASKS", "RLSource", "RLTask"]

_ALGORITHMS: Mapping[str, type[Algorithm]] = MappingProxyType({"ppo": PPOAlgorithm, "sac": SACAlgorithm})


@dataclass(frozen=True)
class RLTask:
    """An environment family, an algorithm and its budget: everything an RL experiment's learners share.

    Attributes
    ----------
    name, description
        Registry name (``--task``) and one line for listings.
    family_name
        The environment family (``cartpole``, ``lunarlander``, ``pendulum``).
    algorithm_name
        ``ppo`` or ``sac``.
    hyperparameters
        The algorithm's own keyword arguments (SB3's names).
    agent
        Steps per proposal and scoring episodes.
    heldout_count, heldout_episodes
        Held-out variants and episodes on each that score the global policy.
    spread
        How far (0..1 of each parameter's range) variants stray from the nominal environment.
    """

    name: str
    description: str
    family_name: str
    algorithm_name: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    agent: AgentSettings = field(default_factory=AgentSettings)
    heldout_count: int = 4
    heldout_episodes: int = 3
    spread: float = 1.0

    @property
    def family(self) -> EnvFamily:
        return family(self.family_name)

    def algorithm(self) -> Algorithm:
        """A fresh algorithm object with the task's hyperparameters."""
        return _ALGORITHMS[self.algorithm_name](self.hyperparameters)

    def learner(self, variant: EnvVariant, seed: int, learner_seed: int, name: str) -> AgentLearner:
        """An agent on ``variant`` starting from the seed's initial policy."""
        return AgentLearner(self.algorithm(), variant, self.agent, seed, learner_seed, name)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ColearnFileError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ColearnFileError(f"{what} {path} is not a JSON file: {exc}") from exc


def _variant_params(fam: EnvFamily, value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise ColearnValueError(f"{where}: expected an object of {fam.name} parameters ({', '.join(fam.ranges)})")
    params = {**fam.nominal}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ColearnValueError(f"{where}: {key} must be a number, got {number!r}")
        params[str(key)] = float(number)
    fam.check(params)
    return params


@dataclass(frozen=True)
class RLSource:
    """An :class:`RLTask` as the platform's :class:`~colearn_chain.plugins.LearnerSource`."""

    task: RLTask
    #: The score every table and plot names: mean return, higher is better.
    metric: Metric = MEAN_RETURN

    @property
    def name(self) -> str:
        return self.task.name

    def check_partition(self, partition: str) -> None:
        check_variant_partition(self.name, partition)

    def make_learner(self, index: int, count: int, seed: int, *, partition: str = "iid") -> AgentLearner:
        variant = learner_variant(self.task.family, seed, index, self.task.spread)
        return self.task.learner(variant, seed, learner_seed(seed, index), f"{self.name} learner {index}")

    def learner_on_file(self, path: Path, index: int, seed: int) -> AgentLearner:
        """Learner ``index`` on the participant's own environment (a JSON object of its parameters)."""
        fam = self.task.family
        params = _variant_params(fam, _read_json(path, "environment file"), str(path))
        variant = EnvVariant(fam, params, f"learner {index} on {Path(path).name}")
        return self.task.learner(variant, seed, learner_seed(seed, index), f"{self.name} learner {index}")

    def _reference(self, seed: int) -> PolicyScorer:
        """A scorer over the seed's initial architecture (for evaluating blobs no learner holds)."""
        nominal = EnvVariant(self.task.family, dict(self.task.family.nominal), "nominal")
        algorithm = self.task.algorithm()
        env = nominal.make()
        model = algorithm.build(env, seed)
        return PolicyScorer(algorithm, model.policy, env.action_space, f"{self.name} evaluator")

    def evaluator(self, seed: int) -> Callable[[Weights], float | None]:
        """Mean return on held-out variants that no learner trains or votes on."""
        variants = heldout_variants(self.task.family, seed, self.task.heldout_count, self.task.spread)
        episodes = EpisodeSet(variants, self.task.heldout_episodes, HELDOUT_EPISODE_SEED)
        scorer: list[PolicyScorer] = []

        def evaluate(weights: Weights) -> float | None:
            if not scorer:
                scorer.append(self._reference(seed))
            held = weights.weights
            if not isinstance(held, Mapping):
                raise ColearnValueError(f"{self.name}: the global policy is not named arrays")
            return scorer[0].score({str(k): np.asarray(v) for k, v in held.items()}, episodes)

        return evaluate

    def centralized(self, seed: int) -> None:
        return None  # an all-variants agent is the benchmark's reference (benchmarks/federated_rl.py)

    def file_scorer(self, path: Path) -> Callable[[bytes], float]:
        """Scores a policy blob on an auditor's variants: ``{"variants": [...], "episodes": N, "seed": S}``."""
        spec = _read_json(path, "evaluation file")
        fam = self.task.family
        if not isinstance(spec, Mapping) or not isinstance(spec.get("variants"), list) or not spec["variants"]:
            raise ColearnValueError(f'{path}: expected {{"variants": [{{...}}, ...]}} with {fam.name} parameters')
        variants = [
            EnvVariant(fam, _variant_params(fam, v, f"{path} variant {i}"), f"audit {i}")
            for i, v in enumerate(spec["variants"])
        ]
        episodes = EpisodeSet(variants, int(spec.get("episodes", 3)), int(spec.get("seed", 0)))
        reference = self._reference(0)
        layout = WeightsSpec.from_weights({k: v.detach().numpy() for k, v in reference.policy.state_dict().items()})

        def score(blob: bytes) -> float:
            return reference.score(decode_weights(blob, spec=layout), episodes)

        return score

    def with_local_epochs(self, epochs: int) -> RLSource:
        """Each proposal trains ``epochs`` of the algorithm's rollouts."""
        steps = epochs * self.task.algorithm().rollout_steps()
        agent = dataclasses.replace(self.task.agent, steps_per_proposal=steps)
        return RLSource(dataclasses.replace(self.task, agent=agent))

    def with_training(self, *, dp: Any = None, setting: str = "platform") -> RLSource:
        if dp is not None:
            raise ColearnValueError(
                f"--dp trains the supervised tasks' torch learners with DP-SGD; task {self.name} is an RL agent"
            )
        if setting != "platform":
            raise ColearnValueError(f"--setting {setting} applies to the supervised tasks, not RL task {self.name}")
        return self


#: The built-in RL tasks by name.
RL_TASKS: Mapping[str, RLTask] = MappingProxyType(
    {
        task.name: task
        for task in (
            RLTask(
                "cartpole-ppo",
                "PPO on CartPole variants (pole length and mass): fast, for tests and the notebook",
                "cartpole",
                "ppo",
                {"n_steps": 512, "batch_size": 64, "n_epochs": 4, "learning_rate": 1e-3},
                AgentSettings(steps_per_proposal=2048, vote_episodes=3, test_episodes=3),
            ),
            RLTask(
                "lunarlander-ppo",
                "PPO on LunarLander variants (gravity, wind, turbulence): DeRL's setting",
                "lunarlander",
                "ppo",
                {
                    "n_steps": 1024,
                    "batch_size": 64,
                    "n_epochs": 4,
                    "gamma": 0.999,
                    "gae_lambda": 0.98,
                    "ent_coef": 0.01,
                },
                AgentSettings(steps_per_proposal=8192, vote_episodes=5, test_episodes=3),
            ),
            RLTask(
                "pendulum-sac",
                "SAC on Pendulum variants (gravity, mass, length): continuous control, fast",
                "pendulum",
                "sac",
                {},
                AgentSettings(steps_per_proposal=1000, vote_episodes=3, test_episodes=2),
                heldout_episodes=2,
            ),
        )
    }
)
