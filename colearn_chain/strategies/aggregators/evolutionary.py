"""Differential evolution (DE/rand/1/bin) over the contributions, fitness on the proposer's vote data.

Elitist, so the proposal is never worse (on the proposer's data) than the best contribution.
The fitness is private; what it led to is public. Manifest: recipe ``{"F", "CR", "seed",
"winner", "derivations": [{"id", "target", "base", "plus", "minus", "seed"}], "trials",
"fitness", "input_fitness"}`` and coefficient 1 for every input the winner's lineage uses, 0
for the others. Recomputation replays the derivations (individual ``i < n`` is input ``i``)
and returns individual ``winner``; the fitness values are recorded for information only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Derivation, Named
from colearn_chain.strategies.aggregators.abilities import json_number
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import (
    Manifest,
    ManifestError,
    is_int,
    params_agree,
    recipe_int,
    recipe_number,
    require,
)


@dataclass(frozen=True)
class EvolutionarySettings:
    """DE/rand/1/bin: ``F`` in (0, 2], ``CR`` in [0, 1], ``population`` (unset: one per contribution),
    ``generations`` >= 0 and a ``seed`` mixed with the experiment's seed and the round."""

    F: float = 0.5
    CR: float = 0.9
    population: int | None = None
    generations: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.F) and 0.0 < self.F <= 2.0):
            raise ColearnValueError(f"F (the mutation factor) must be in (0, 2], got {self.F}")
        if not (math.isfinite(self.CR) and 0.0 <= self.CR <= 1.0):
            raise ColearnValueError(f"CR (the crossover rate) must be in [0, 1], got {self.CR}")
        if self.population is not None and self.population < 1:
            raise ColearnValueError(
                f"population must be at least 1 (or unset for one per contribution), got {self.population}"
            )
        if self.generations < 0:
            raise ColearnValueError(f"generations must be 0 or more, got {self.generations}")


def _inputs_used(lineage: Sequence[Derivation], winner: int, count: int) -> set[int]:
    """The inputs (ids below ``count``) that the winner depends on."""
    used = {p for d in lineage for p in (d.target, d.base, d.plus, d.minus) if p < count}
    if winner < count:
        used.add(winner)
    return used


class Evolutionary(Aggregator[EvolutionarySettings]):
    """Differential evolution (DE/rand/1/bin) over the contributions, fitness on the proposer's vote data."""

    name: ClassVar[str] = "evolutionary"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        s = self.settings
        entropy = [s.seed % 2**64, context.seed % 2**64, context.round]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]) % 2**63
        evolution = aggregate.differential_evolution(
            [c.weights for c in inputs],
            self.fitness(context, proposer),
            mutation=s.F,
            crossover=s.CR,
            generations=s.generations,
            population=s.population,
            seed=seed,
        )
        used = _inputs_used(evolution.lineage, evolution.winner, len(inputs))
        recipe = {
            "F": s.F,
            "CR": s.CR,
            "seed": seed,
            "winner": evolution.winner,
            "derivations": [d.to_json() for d in evolution.lineage],
            "trials": evolution.trials,
            "fitness": json_number(evolution.fitness),
            "input_fitness": [json_number(v) for v in evolution.input_fitness],
        }
        return Plan([1.0 if i in used else 0.0 for i in range(len(inputs))], recipe=recipe)

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        mutation, crossover = recipe_number(manifest, "F"), recipe_number(manifest, "CR")
        params_agree(manifest, "F", mutation)
        params_agree(manifest, "CR", crossover)
        winner = recipe_int(manifest, "winner")
        raw = manifest.recipe.get("derivations")
        require(isinstance(raw, list), "the evolutionary manifest's recipe.derivations is not a list")
        lineage = [_derivation(entry, i) for i, entry in enumerate(raw)]  # type: ignore[arg-type]
        used = _inputs_used(lineage, winner, len(models))
        expected = [1.0 if i in used else 0.0 for i in range(len(models))]
        require(
            expected == manifest.coefficients, "the evolutionary manifest's coefficients do not mark the inputs used"
        )
        try:
            return aggregate.replay_evolution(models, lineage, winner, mutation, crossover)
        except ColearnValueError as exc:
            raise ManifestError(f"the evolutionary manifest cannot be replayed: {exc}") from exc


def _derivation(entry: Any, index: int) -> Derivation:
    keys = ("id", "target", "base", "plus", "minus", "seed")
    require(
        isinstance(entry, dict) and set(entry) == set(keys) and all(is_int(entry[k]) and entry[k] >= 0 for k in keys),
        f"recipe.derivations[{index}] must hold exactly the non-negative integers {', '.join(keys)}",
    )
    return Derivation(*(int(entry[k]) for k in keys))
