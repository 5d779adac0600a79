"""Attention aggregation (FedFormer): softmax of embedding similarities, recorded and recomputed."""

from __future__ import annotations

import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.strategies import RoundContext, make_strategy
from colearn_chain.weights.store import InMemoryStore

from .rounds import IDS, Plain, Played, check_every_proposal_recomputes, play, store_updates


@pytest.fixture(scope="module")
def played() -> Played:
    return play("attention")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=True)


def test_manifests_record_scores_and_the_query(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    document = json.loads(played.store.get(played.result.rounds[0].manifest))
    assert all(-1 <= entry["score"] <= 1 for entry in document["inputs"])
    assert document["recipe"]["query"] == "own update"


def test_temperature_is_validated() -> None:
    with pytest.raises(ColearnValueError, match="temperature must be a positive number"):
        make_strategy("attention", {"temperature": "-1"})


def test_a_proposer_that_cannot_embed_fails_clearly(four_learners: list[MachineLearningInterface]) -> None:
    plain = [Plain(learner) for learner in four_learners]
    store = InMemoryStore()
    contributions = store_updates(plain, store, train=False)
    with pytest.raises(ColearnValueError, match=r"needs the proposer .* embed_vote_inputs"):
        make_strategy("attention").make_proposal(RoundContext(0, plain, IDS, store), 0, contributions)
