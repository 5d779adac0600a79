"""DeRL's reward-weighted average: softmax(reward / temperature), the reward being the proposer's score.

Each contribution's reward is minus the proposer's fitness of it (its ``vote_score`` on the
proposer's vote data, oriented so that higher is better). Manifest: each input records its
``reward`` (null where not finite) and the recipe the ``temperature``; recomputation checks the
coefficients are the softmax of the recorded rewards, then averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.abilities import json_number
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, softmax_rule
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import Manifest
from colearn_chain.strategies.settings import check_positive


@dataclass(frozen=True)
class WeightedSettings:
    """``temperature`` of the softmax over rewards (> 0; small favours the best, large tends to the mean)."""

    temperature: float = 0.5

    def __post_init__(self) -> None:
        check_positive(self.temperature, "temperature")


class Weighted(Aggregator[WeightedSettings]):
    """DeRL's reward-weighted average: softmax(reward / temperature), the reward being the proposer's score."""

    name: ClassVar[str] = "weighted"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        fitness = self.fitness(context, proposer)
        rewards = [-fitness(c.weights) for c in inputs]
        temperature = self.settings.temperature
        return Plan(
            aggregate.softmax_coefficients(rewards, temperature),
            recipe={"temperature": temperature},
            details=[{"reward": json_number(r)} for r in rewards],
        )

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        return softmax_rule(manifest, models, "reward")
