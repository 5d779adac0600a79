"""What the aggregator tests share: short experiments, stored updates, and a learner without extras."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import pytest

from colearn_chain.interface import (
    ColearnModel,
    MachineLearningInterface,
    ProposedWeights,
    Weights,
    weights_to_onnx,
)
from colearn_chain.records import ExperimentResult
from colearn_chain.simulation import make_settings, run_simulation
from colearn_chain.strategies.manifest import parse_manifest, recompute_proposal, verify_proposal
from colearn_chain.weights.digest import sha256_hex
from colearn_chain.weights.store import InMemoryStore

#: The learners' ledger identities in the hand-built round contexts.
IDS = [f"0x{i:040x}" for i in range(1, 5)]


class Played(NamedTuple):
    """A short in-memory experiment under one aggregator, with the store that holds its blobs."""

    name: str
    result: ExperimentResult
    store: InMemoryStore


def play(name: str) -> Played:
    """A 2-round in-memory experiment with 4 learners under the aggregator ``name``."""
    store = InMemoryStore()
    settings = make_settings(learners=4, rounds=2, strategy=name, centralized_epochs=1)
    return Played(name, run_simulation(settings, store, "memory", with_centralized=False), store)


def check_every_proposal_recomputes(played: Played, *, linear: bool) -> None:
    """Every round's proposal recomputes from its manifest; ``linear`` rules' coefficients sum to 1."""
    name, result, store = played
    assert len(result.rounds) == 2
    for record in result.rounds:
        assert record.manifest is not None
        data = store.get(record.manifest)
        manifest = parse_manifest(data)
        assert (manifest.strategy, manifest.round, manifest.proposer) == (name, record.round, record.proposer)
        assert [entry.learner for entry in manifest.inputs] == result.learners  # everyone contributed
        assert manifest.excluded == ()
        assert record.weights is not None
        assert sha256_hex(recompute_proposal(data, store)) == record.weights.removeprefix("0x")
        assert verify_proposal(data, store, record.weights) == record.weights.removeprefix("0x")
        if linear:
            assert math.fsum(manifest.coefficients) == pytest.approx(1.0)
    assert result.final_accuracy is not None and result.final_accuracy > 0.5  # digits learns in two rounds


def store_updates(learners: Sequence[MachineLearningInterface], store: InMemoryStore, *, train: bool) -> dict[int, str]:
    """Each learner's update (``train``) or current weights, stored; learner index -> hash."""
    return {
        i: store.put(weights_to_onnx(learner.mli_propose_weights() if train else learner.mli_get_current_weights()))
        for i, learner in enumerate(learners)
    }


class Plain(MachineLearningInterface):
    """A learner with only the MachineLearningInterface: no sample count, no embeddings, no criterion."""

    def __init__(self, inner: MachineLearningInterface) -> None:
        self.inner = inner

    def mli_propose_weights(self) -> Weights:
        return self.inner.mli_propose_weights()

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        return self.inner.mli_test_weights(weights)

    def mli_accept_weights(self, weights: Weights) -> None:
        self.inner.mli_accept_weights(weights)

    def mli_get_current_weights(self) -> Weights:
        return self.inner.mli_get_current_weights()

    def mli_get_current_model(self) -> ColearnModel:
        return self.inner.mli_get_current_model()
