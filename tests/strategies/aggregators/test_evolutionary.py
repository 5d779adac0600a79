"""Differential evolution: the lineage is recorded, replays to the proposal, and the run is deterministic."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.strategies import RoundContext, make_strategy
from colearn_chain.weights.store import InMemoryStore

from .rounds import IDS, Plain, Played, check_every_proposal_recomputes, play, store_updates


@pytest.fixture(scope="module")
def played() -> Played:
    return play("evolutionary")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=False)


def test_manifests_record_the_lineage_and_fitness(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    recipe = json.loads(played.store.get(played.result.rounds[0].manifest))["recipe"]
    assert recipe["fitness"] <= min(recipe["input_fitness"])
    assert {"F", "CR", "winner", "derivations", "seed"} <= set(recipe)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"F": "0"}, r"F \(the mutation factor\) must be in \(0, 2\]"),
        ({"F": "2.5"}, r"must be in \(0, 2\]"),
        ({"CR": "1.5"}, r"CR \(the crossover rate\) must be in \[0, 1\]"),
        ({"generations": "-1"}, "generations must be 0 or more"),
        ({"population": "0"}, "population must be at least 1"),
    ],
)
def test_settings_are_validated(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        make_strategy("evolutionary", params)


def test_settings_from_the_command_line_are_typed() -> None:
    strategy = make_strategy("evolutionary", {"F": "0.8", "CR": "0.3", "population": "6", "generations": "2"})
    assert (strategy.settings.F, strategy.settings.CR, strategy.settings.population) == (0.8, 0.3, 6)  # type: ignore[attr-defined]


def test_a_proposer_without_a_vote_criterion_fails_clearly(four_learners: list[MachineLearningInterface]) -> None:
    plain = [Plain(learner) for learner in four_learners]
    store = InMemoryStore()
    contributions = store_updates(plain, store, train=False)
    with pytest.raises(ColearnValueError, match="vote_criterion attribute"):
        make_strategy("evolutionary").make_proposal(RoundContext(0, plain, IDS, store), 0, contributions)


def test_aggregated_proposal_is_deterministic(four_learners: list[MachineLearningInterface]) -> None:
    store = InMemoryStore()
    contributions = store_updates(four_learners, store, train=True)
    context = RoundContext(0, four_learners, IDS, store)
    first = make_strategy("evolutionary").make_proposal(context, 1, contributions)
    second = make_strategy("evolutionary").make_proposal(context, 1, contributions)
    assert (first.weights, first.manifest) == (second.weights, second.manifest)
    assert np.isfinite(json.loads(first.manifest or b"{}")["recipe"]["fitness"])
