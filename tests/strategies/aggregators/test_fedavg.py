"""FedAvg: sample-weighted (or equal) averages, recorded and recomputed."""

from __future__ import annotations

import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.strategies import RoundContext, make_strategy
from colearn_chain.strategies.manifest import parse_manifest
from colearn_chain.weights.store import InMemoryStore

from .rounds import IDS, Plain, Played, check_every_proposal_recomputes, play, store_updates


@pytest.fixture(scope="module")
def played() -> Played:
    return play("fedavg")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=True)


def test_manifests_record_each_inputs_samples(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    document = json.loads(played.store.get(played.result.rounds[0].manifest))
    assert all(entry["samples"] > 0 for entry in document["inputs"])


def test_weighting_is_validated() -> None:
    with pytest.raises(ColearnValueError, match="weighting must be 'samples' or 'equal'"):
        make_strategy("fedavg", {"weighting": "loudest"})


def test_learners_without_a_sample_count_fail_clearly_unless_weighting_is_equal(
    four_learners: list[MachineLearningInterface],
) -> None:
    plain = [Plain(learner) for learner in four_learners]
    store = InMemoryStore()
    contributions = store_updates(plain, store, train=False)
    with pytest.raises(ColearnValueError, match="has no train_sample_count"):
        make_strategy("fedavg").make_proposal(RoundContext(0, plain, IDS, store), 0, contributions)
    equal = make_strategy("fedavg", {"weighting": "equal"}).make_proposal(
        RoundContext(0, plain, IDS, store), 0, contributions
    )
    assert equal.manifest is not None
    assert parse_manifest(equal.manifest).coefficients == [0.25] * 4
