"""Krum: one selected input, the selection recorded and re-run on recomputation."""

from __future__ import annotations

import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.strategies import RoundContext, make_strategy
from colearn_chain.strategies.aggregators import Krum, KrumSettings
from colearn_chain.weights.store import InMemoryStore

from .rounds import IDS, Played, check_every_proposal_recomputes, play, store_updates


@pytest.fixture(scope="module")
def played() -> Played:
    return play("krum")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=True)


def test_manifests_record_the_selection(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    recipe = json.loads(played.store.get(played.result.rounds[0].manifest))["recipe"]
    assert recipe["f"] == 0 and len(recipe["selected"]) == recipe["m"]  # 4 learners tolerate no Byzantine one
    assert recipe["m"] == 1


def test_f_is_validated() -> None:
    with pytest.raises(ColearnValueError, match="f must be 0 or more"):
        make_strategy("krum", {"f": "-1"})


def test_krum_with_too_large_f_says_what_to_do(four_learners: list[MachineLearningInterface]) -> None:
    store = InMemoryStore()
    contributions = store_updates(four_learners, store, train=False)
    context = RoundContext(0, four_learners, IDS, store)
    with pytest.raises(ColearnValueError, match=r"krum with f=1 needs more than 4 learners .* set f to at most 0"):
        Krum(KrumSettings(f=1)).make_proposal(context, 0, contributions)
