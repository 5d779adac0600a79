"""An RL agent in its own environment variant as a MachineLearningInterface learner.

Proposing continues training the *global* policy for a set number of environment steps on the
learner's own variant and returns the new parameters, leaving the current ones as they were;
testing scores a policy by its mean return over a fixed, seeded set of episodes on the
learner's variant (deterministic actions), so anyone holding the variant reproduces the vote,
and approves iff it beats the current policy. The score is a return: higher is better.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    Weights,
)
from colearn_chain.weights.export import export_torch_model
from learners.rl.algorithm import Algorithm
from learners.rl.environments import EnvVariant
from learners.rl.episodes import EpisodeSet
from learners.rl.sb3_io import load_parameters, parameters
from learners.rl.scoring import PolicyScorer, torch_threads

__all__ = ["AgentLearner", "AgentSettings"]


@dataclass(frozen=True)
class AgentSettings:
    """How much an RL learner trains per proposal and how its votes are scored.

    Attributes
    ----------
    steps_per_proposal
        Environment steps of training behind each proposal (rounded up to whole rollouts by SB3).
    vote_episodes, test_episodes
        Seeded episodes behind a vote score and a test score.
    num_threads
        Torch threads while training or scoring (1: several learners share the cores).
    """

    steps_per_proposal: int = 2048
    vote_episodes: int = 5
    test_episodes: int = 5
    num_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("steps_per_proposal", "vote_episodes", "test_episodes", "num_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ColearnValueError(f"{name} must be a positive integer, got {value!r}")


def _seed_of(seed: int, parameters_digest: bytes) -> int:
    """A training seed fixed by the learner's seed and the policy it starts from (restart-safe)."""
    mixed = hashlib.sha256(seed.to_bytes(16, "big", signed=True) + parameters_digest).digest()
    return int.from_bytes(mixed[:4], "big")


def _digest(arrays: Mapping[str, np.ndarray]) -> bytes:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.digest()


class AgentLearner(MachineLearningInterface):
    """A stable-baselines3 agent federated through the MachineLearningInterface.

    Parameters
    ----------
    algorithm
        PPO or SAC (see :mod:`learners.rl.ppo`, :mod:`learners.rl.sac`).
    variant
        This learner's environment: it trains and votes here only.
    settings
        Training budget and scoring episodes.
    seed
        The experiment's seed: every learner of a seed starts from the same policy.
    learner_seed
        This learner's own seed (training randomness, its episodes' seeds).
    name
        For messages.
    """

    #: The vote score is a mean return: higher is better (the scoring aggregators read this).
    minimise_criterion = False
    #: What the scores are, for tables and plots.
    score_name = "mean return"

    def __init__(
        self,
        algorithm: Algorithm,
        variant: EnvVariant,
        settings: AgentSettings,
        seed: int,
        learner_seed: int,
        name: str,
    ) -> None:
        self.algorithm = algorithm
        self.variant = variant
        self.settings = settings
        self.learner_seed = learner_seed
        self.name = name
        env = variant.make()
        with torch.random.fork_rng(devices=[]):
            self.model: BaseAlgorithm = algorithm.build(env, seed)
        self.action_space = env.action_space
        self._observation_shape = tuple(env.observation_space.shape or ())
        self._current = parameters(self.model.policy)
        self.scorer = PolicyScorer(algorithm, self.model.policy, self.action_space, name, settings.num_threads)
        self.vote_set = EpisodeSet([variant], settings.vote_episodes, seed=learner_seed * 1_009)
        self.test_set = EpisodeSet([variant], settings.test_episodes, seed=learner_seed * 1_009 + 500)
        self._current_vote_score: float | None = None
        self.proposals = 0
        #: Environment steps this agent has trained for, over all its proposals.
        self.environment_steps = 0

    # ------------------------------------------------------------ helpers
    def _arrays(self, weights: Weights) -> dict[str, np.ndarray]:
        held = weights.weights
        if not isinstance(held, Mapping):
            raise ColearnValueError(f"{self.name}: expected the policy's named arrays, got {type(held).__name__}")
        return {str(k): np.asarray(v) for k, v in held.items()}

    def score(self, arrays: Mapping[str, np.ndarray], episodes: EpisodeSet) -> float:
        """Mean return of the policy ``arrays`` over ``episodes`` (``-inf`` for non-finite parameters)."""
        return self.scorer.score(arrays, episodes)

    @property
    def current_vote_score(self) -> float:
        """The current policy's vote score, computed once per accepted policy."""
        if self._current_vote_score is None:
            self._current_vote_score = self.score(self._current, self.vote_set)
        return self._current_vote_score

    def train_sample_count(self) -> int:
        """Environment steps behind each proposal (FedAvg's weight: equal for equal budgets, as DeRL averages)."""
        return self.settings.steps_per_proposal

    # ---------------------------------------------------------- the interface
    def mli_propose_weights(self) -> Weights:
        """Train the global policy on this learner's variant; the current policy is untouched."""
        current = self._current
        seed = _seed_of(self.learner_seed, _digest(current))
        with torch_threads(self.settings.num_threads), torch.random.fork_rng(devices=[]):
            load_parameters(self.model.policy, current, self.name)
            self.model.set_random_seed(seed)
            self.algorithm.before_training(self.model)
            before = self.model.num_timesteps if self.algorithm.continues_counting else 0
            try:
                self.model.learn(
                    total_timesteps=self.settings.steps_per_proposal,
                    reset_num_timesteps=not self.algorithm.continues_counting,
                )
            except (ValueError, RuntimeError) as exc:
                raise ColearnRuntimeError(f"{self.name}: training failed: {type(exc).__name__}: {exc}") from exc
            trained = parameters(self.model.policy)
            self.environment_steps += int(self.model.num_timesteps - before)
            load_parameters(self.model.policy, current, self.name)
        self.proposals += 1
        return Weights(weights=trained)

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Mean return of ``weights`` on this learner's vote and test episodes; approve iff it beats the current."""
        arrays = self._arrays(weights)
        vote_score = self.score(arrays, self.vote_set)
        test_score = self.score(arrays, self.test_set)
        current = self.current_vote_score
        return ProposedWeights(weights=weights, vote_score=vote_score, test_score=test_score, vote=vote_score > current)

    def mli_accept_weights(self, weights: Weights) -> None:
        """Make ``weights`` the current policy (checked against the architecture first)."""
        arrays = self._arrays(weights)
        self.scorer.load(arrays)  # refuses another architecture
        self._current = {k: np.array(v, copy=True) for k, v in arrays.items()}
        self._current_vote_score = None

    def mli_get_current_weights(self) -> Weights:
        """A copy of the current policy's named parameters."""
        return Weights(weights={k: v.copy() for k, v in self._current.items()})

    def mli_get_current_model(self) -> ColearnModel:
        """The current policy as a runnable ONNX model: a batch of observations in, actions out."""
        actor = self.scorer.load(self._current)
        example = torch.zeros((1, *self._observation_shape), dtype=torch.float32)
        return ColearnModel(model_format=ModelFormat.ONNX, model=export_torch_model(actor, example))
