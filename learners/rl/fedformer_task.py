"""FedFormer tasks (``pendulum-fedformer``): FedFormer SAC agents on environment variants.

Like :class:`~learners.rl.task.RLSource`, learner ``i`` of seed ``s`` always gets the same
variant; unlike it, there is no global policy: the ledger carries the agents' encoder sets
(``--strategy fedformer``), and the run's evaluation is the mean held-out return of the agents'
own actors (the agents made in this process: a run's, not a participant's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import Weights
from colearn_chain.metrics import MEAN_RETURN, Metric
from learners.rl.agent_learner import AgentSettings
from learners.rl.environments import (
    HELDOUT_EPISODE_SEED,
    EnvFamily,
    check_variant_partition,
    family,
    heldout_variants,
    learner_seed,
    learner_variant,
)
from learners.rl.episodes import EpisodeSet
from learners.rl.fedformer_agent import FedFormerAgent, FedFormerAgentSettings, FedFormerAlgorithm
from learners.rl.fedformer_critic import FedFormerSettings

__all__ = ["FEDFORMER_TASKS", "FedFormerSource", "FedFormerTask"]



@dataclass(frozen=True)
class FedFormerTask:
    """An environment family, SAC's hyperparameters, the FedFormer critic's shape and the budget.

    ``from_saved`` is how many other agents' encoders each critic attends to (capped by the
    number of other agents); ``critic`` gives layers, heads and width (its ``others`` is set
    from ``from_saved`` per run).
    """

    name: str
    description: str
    family_name: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    critic: FedFormerSettings = field(default_factory=FedFormerSettings)
    from_saved: int = 8
    agent: AgentSettings = field(default_factory=AgentSettings)
    fedformer: FedFormerAgentSettings = field(default_factory=FedFormerAgentSettings)
    heldout_count: int = 4
    heldout_episodes: int = 3
    spread: float = 1.0

    @property
    def family(self) -> EnvFamily:
        return family(self.family_name)

    def algorithm(self, agents: int) -> FedFormerAlgorithm:
        """SAC with a critic attending to ``min(from_saved, agents - 1)`` other encoders."""
        critic = dataclasses.replace(self.critic, others=min(self.from_saved, agents - 1))
        return FedFormerAlgorithm(self.hyperparameters, critic)


@dataclass(frozen=True)
class FedFormerSource:
    """A :class:`FedFormerTask` as the platform's learner source."""

    task: FedFormerTask
    metric: Metric = MEAN_RETURN
    #: The agents made so far, by seed: the evaluation scores their own actors.
    agents: dict[int, dict[int, FedFormerAgent]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.task.name

    def check_partition(self, partition: str) -> None:
        check_variant_partition(self.name, partition, "agent")

    def make_learner(self, index: int, count: int, seed: int, *, partition: str = "iid") -> FedFormerAgent:
        task = self.task
        variant = learner_variant(task.family, seed, index, task.spread)
        agent = FedFormerAgent(
            task.algorithm(count),
            variant,
            task.agent,
            task.fedformer,
            seed,
            learner_seed(seed, index),
            index,
            count,
            f"{self.name} agent {index}",
        )
        self.agents.setdefault(seed, {})[index] = agent
        return agent

    def learner_on_file(self, path: Path, index: int, seed: int) -> FedFormerAgent:
        raise ColearnValueError(
            f"task {self.name} runs its agents in one process (colearn-chain run): a participant's own "
            "environment file is not supported yet"
        )

    def evaluator(self, seed: int) -> Callable[[Weights], float | None]:
        """The mean held-out return of this run's agents' current actors (None before any agent exists)."""
        variants = heldout_variants(self.task.family, seed, self.task.heldout_count, self.task.spread)
        episodes = EpisodeSet(variants, self.task.heldout_episodes, HELDOUT_EPISODE_SEED)

        def evaluate(weights: Weights) -> float | None:
            agents = self.agents.get(seed, {})
            if not agents:
                return None
            return float(np.mean([agents[i].heldout_score(episodes) for i in sorted(agents)]))

        return evaluate

    def centralized(self, seed: int) -> None:
        return None

    def file_scorer(self, path: Path) -> Callable[[bytes], float]:
        raise ColearnValueError(
            f"task {self.name}'s proposals are encoder sets, not policies: audit --evaluate does not apply"
        )

    def with_local_epochs(self, epochs: int) -> FedFormerSource:
        steps = epochs * self.task.algorithm(2).rollout_steps()
        agent = dataclasses.replace(self.task.agent, steps_per_proposal=steps)
        return FedFormerSource(dataclasses.replace(self.task, agent=agent))

    def with_training(self, *, dp: Any = None, setting: str = "platform") -> FedFormerSource:
        if dp is not None:
            raise ColearnValueError(f"--dp applies to the supervised tasks, not FedFormer task {self.name}")
        if setting != "platform":
            raise ColearnValueError(f"--setting {setting} applies to the supervised tasks, not task {self.name}")
        return self


#: The built-in FedFormer tasks by name.
FEDFORMER_TASKS = MappingProxyType(
    {
        task.name: task
        for task in (
            FedFormerTask(
                "pendulum-fedformer",
                "FedFormer SAC agents on Pendulum variants (run with --strategy fedformer): CI-sized critic",
                "pendulum",
                {"learning_starts": 100},
                FedFormerSettings(layers=1, heads=2, width=32),
                from_saved=8,
                agent=AgentSettings(steps_per_proposal=800, vote_episodes=2, test_episodes=1),
                fedformer=FedFormerAgentSettings(vote_gradient_steps=50),
                heldout_count=2,
                heldout_episodes=2,
            ),
        )
    }
)
