"""Simulated episodes for the selector: real collective learning rounds, in memory, on digits.

This is not a surrogate. Each step plays one round of the project's own experiment loop
(:class:`~colearn_chain.experiment.Experiment`) with the built-in task's learners, the
dominant-class split and the in-memory ledger (the contract's tally without a chain): the
nominee trains, every other learner tests the proposal on its private vote set and votes,
the ledger decides, everyone adopts an accepted model. What makes it cheap is the learners'
local training, cut to ``local_epochs`` (1 by default, against the task's 20), so a step
takes tens of milliseconds; the selector sees only the public record of each round, the
holdout accuracy enters only the reward.

The reward is Homogeneous Learning's: ``32 ** (accuracy - goal) - cost[prev][next] - 1`` per
step; an episode ends at the goal accuracy, or is cut after ``horizon`` steps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.interface import weights_to_onnx
from colearn_chain.ledger import InMemoryLedger, threshold_to_bps
from colearn_chain.plugins import SETTINGS, build_all, learner_source
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.rl.cost import check_cost_matrix, cost_matrix
from colearn_chain.strategies.rl.state import (
    PublicRound,
    StateConfig,
    WeightProjection,
    build_state,
    flatten_weights,
    rounds_from_records,
)
from colearn_chain.weights.store import InMemoryStore

log = logging.getLogger(__name__)

#: Homogeneous Learning's reward base: ``BASE ** (accuracy - goal)``.
REWARD_BASE = 32.0
#: Seeds in a row whose data split may fail before :meth:`SelectionEnvironment.reset_usable` gives up.
MAX_UNUSABLE_SEEDS = 10


@dataclass(frozen=True)
class EnvironmentSettings:
    """The simulated experiment the selector learns on.

    Attributes
    ----------
    learners
        The number of learners (the paper: 10).
    task
        A registered task (see :mod:`colearn_chain.plugins`).
    partition
        How the data is split (the paper's: ``dominant``, 80% of one class per learner).
    goal
        The goal accuracy on the holdout that ends an episode (the paper: 0.8).
    horizon
        The most steps (rounds) of an episode (the paper: 35).
    local_epochs
        The learners' local epochs per proposal; None: the setting's (``platform``: 1 against
        the task's 20, which keeps steps cheap and leaves random selection some 15-30 rounds
        from the goal on digits; ``hl``: :data:`learners.tasks.HL_LOCAL_EPOCHS`).
    threshold
        The share of voters that must approve.
    cost_seed
        The seed of the cost matrix (one matrix for training and evaluation, as in the paper).
    setting
        How the learners train and vote (``learners.tasks.with_setting``): ``platform`` (the
        task's damped, class-balanced updates put to the vote) or ``hl`` (Homogeneous
        Learning's: one plain local epoch whose update becomes the global model).
    cost
        A cost matrix to use instead of the one drawn from ``cost_seed`` (e.g. measured
        latencies between the participants).
    """

    learners: int = 10
    task: str = "digits-mlp"
    partition: str = "dominant"
    goal: float = 0.8
    horizon: int = 35
    local_epochs: int | None = None
    threshold: float = 0.5
    cost_seed: int = 0
    setting: str = "platform"
    cost: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ColearnValueError(f"unknown setting {self.setting!r}: choose one of {', '.join(SETTINGS)}")
        if self.cost is not None:
            check_cost_matrix(np.asarray(self.cost, dtype=np.float64), self.learners)
        if self.learners < 1:
            raise ColearnValueError(f"an episode needs at least 1 learner, got {self.learners}")
        if not 0.0 < self.goal <= 1.0:
            raise ColearnValueError(f"the goal accuracy must be in (0, 1], got {self.goal}")
        if self.horizon < 1 or (self.local_epochs is not None and self.local_epochs < 1):
            raise ColearnValueError("horizon and local_epochs must be at least 1")
        threshold_to_bps(self.threshold)


def step_reward(accuracy: float, goal: float, cost: float) -> float:
    """Homogeneous Learning's reward for one step: ``32 ** (accuracy - goal) - cost - 1``."""
    return float(REWARD_BASE ** (accuracy - goal) - cost - 1.0)


@dataclass(frozen=True)
class Step:
    """What one step (round) of an episode gave.

    ``done`` means the goal was reached (a true terminal state); ``truncated`` that the
    horizon was reached without it.
    """

    state: np.ndarray
    reward: float
    accuracy: float
    cost: float
    accepted: bool
    done: bool
    truncated: bool


class _Scripted(ProposalStrategy):
    """Nominates whichever learner the environment was told to; the nominee trains alone."""

    name = "scripted"
    nominates = True

    def __init__(self) -> None:
        self.pending: int | None = None

    def nominate(self, context: RoundContext) -> int:
        if self.pending is None:
            raise RuntimeError("the environment stepped without an action")  # an environment bug
        return self.pending

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        return Proposal(weights=weights_to_onnx(context.learners[proposer].mli_propose_weights()))


class SelectionEnvironment:
    """Episodes of collective learning in which the agent nominates every round's proposer.

    Parameters
    ----------
    settings
        The simulated experiment.
    state_config
        The state's shape (by default: the settings' learners and horizon, no PCA).
    projection
        The PCA of the weights, when ``state_config.pca_components`` asks for one.
    """

    def __init__(
        self,
        settings: EnvironmentSettings | None = None,
        state_config: StateConfig | None = None,
        projection: WeightProjection | None = None,
    ) -> None:
        self.settings = settings or EnvironmentSettings()
        self.config = state_config or StateConfig(self.settings.learners, self.settings.horizon)
        if self.config.learners != self.settings.learners:
            raise ColearnValueError(
                f"the state is for {self.config.learners} learners, the environment has {self.settings.learners}"
            )
        if (projection.size if projection else 0) != self.config.pca_components:
            raise ColearnValueError(f"the state needs a projection with {self.config.pca_components} components")
        self.projection = projection
        source = learner_source(self.settings.task).with_training(setting=self.settings.setting)
        epochs = self.settings.local_epochs
        if epochs is None and self.settings.setting == "platform":
            epochs = 1  # cheap episodes; the HL setting keeps its own local epochs
        self.source = source.with_local_epochs(epochs) if epochs is not None else source
        self.source.check_partition(self.settings.partition)
        self.cost = (
            cost_matrix(self.settings.learners, self.settings.cost_seed)
            if self.settings.cost is None
            else np.asarray(self.settings.cost, dtype=np.float64)
        )
        self.learner_ids = [f"0x{i + 1:040x}" for i in range(self.settings.learners)]
        self._strategy = _Scripted()
        self._experiment: Experiment | None = None
        self.seed = 0
        self.proposers: list[int] = []
        self.accuracies: list[float] = []

    # -- episodes -------------------------------------------------------------------------
    def reset(self, seed: int) -> np.ndarray:
        """Start an episode: fresh learners (data split, initial model, training) from ``seed``."""
        built = build_all(self.source, self.settings.learners, seed, self.settings.partition)
        if built.evaluate is None:
            raise ColearnValueError(f"task {self.source.name!r} has no holdout to reward the selector with")
        store = InMemoryStore()
        initial = publish_initial_model(built.learners, store)
        ledger = InMemoryLedger(self.learner_ids, self.settings.threshold, initial, selector_mode=True)
        self._experiment = Experiment(built.learners, ledger, store, self._strategy, initial, built.evaluate, seed)
        self.seed = seed
        self.proposers, self.accuracies = [], []
        return self.observe()

    def reset_usable(self, seeds: Iterator[int]) -> tuple[int, np.ndarray]:
        """Reset with the first of ``seeds`` whose data split works; (that seed, the state).

        A data split may not be able to serve every seed (too little data for the learners);
        such seeds are skipped, the same way in training and evaluation.

        Raises
        ------
        ColearnValueError
            The split's own error, after :data:`MAX_UNUSABLE_SEEDS` failures in a row (the
            setting itself cannot work), or when the seeds run out.
        """
        error: ColearnValueError | None = None
        for attempt, seed in enumerate(seeds):
            try:
                return seed, self.reset(seed)
            except ColearnValueError as exc:
                log.info("seed %d skipped: %s", seed, exc)
                error = exc
                if attempt + 1 >= MAX_UNUSABLE_SEEDS:
                    break
        raise error or ColearnValueError("no seeds left to start an episode with")

    @property
    def experiment(self) -> Experiment:
        """The episode's experiment (after :meth:`reset`)."""
        if self._experiment is None:
            raise ColearnValueError("call reset(seed) before stepping the environment")
        return self._experiment

    @property
    def rounds(self) -> list[PublicRound]:
        """The episode's ended rounds as the ledger shows them."""
        return rounds_from_records(self.experiment.history, self.learner_ids)

    def context(self) -> RoundContext:
        """The context of the next round, as the experiment loop gives it to a strategy."""
        experiment = self.experiment
        return RoundContext(
            len(experiment.history),
            experiment.learners,
            self.learner_ids,
            experiment.store,
            tuple(experiment.history),
            experiment.seed,
        )

    def observe(self) -> np.ndarray:
        """The state for nominating the next round's proposer (public data only)."""
        rounds = self.rounds
        projected = None
        if self.projection is not None and rounds and rounds[-1].global_model:
            blob = self.experiment.store.get(rounds[-1].global_model)
            projected = self.projection.project(flatten_weights(blob))
        return build_state(self.config, rounds, len(rounds), self.cost, projected)

    def step(self, action: int) -> Step:
        """Nominate learner ``action``, play the round, and score it."""
        if not 0 <= action < self.settings.learners:
            raise ColearnValueError(f"action {action} is not a learner index (0..{self.settings.learners - 1})")
        experiment = self.experiment
        self._strategy.pending = action
        record = experiment.run_round()
        accuracy = float(record.test_accuracy if record.test_accuracy is not None else 0.0)
        cost = float(self.cost[self.proposers[-1], action]) if self.proposers else 0.0
        self.proposers.append(action)
        self.accuracies.append(accuracy)
        done = accuracy >= self.settings.goal
        return Step(
            state=self.observe(),
            reward=step_reward(accuracy, self.settings.goal, cost),
            accuracy=accuracy,
            cost=cost,
            accepted=record.accepted,
            done=done,
            truncated=not done and len(self.proposers) >= self.settings.horizon,
        )

    def model_blobs(self) -> list[bytes]:
        """Every model of the episode so far (initial, proposals), for fitting a weight PCA."""
        experiment = self.experiment
        digests = [experiment.initial_model, *(r.weights for r in experiment.history if r.weights is not None)]
        return [experiment.store.get(d) for d in digests]
