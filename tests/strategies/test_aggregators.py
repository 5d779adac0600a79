"""Aggregating strategies in real rounds: every proposal recomputes from its manifest, on memory and chain."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    MachineLearningInterface,
    ProposedWeights,
    Weights,
    weights_to_onnx,
)
from colearn_chain.records import ExperimentResult
from colearn_chain.simulation import build_learners, make_settings, run_simulation
from colearn_chain.strategies import STRATEGIES, RoundContext, make_strategy
from colearn_chain.strategies.aggregators import (
    STRATEGIES as AGGREGATORS,
)
from colearn_chain.strategies.aggregators import (
    Krum,
    KrumSettings,
    lower_is_better,
)
from colearn_chain.strategies.manifest import parse_manifest, recompute_proposal, verify_proposal
from colearn_chain.weights.digest import sha256_hex
from colearn_chain.weights.store import InMemoryStore

NAMES = ("fedavg", "weighted", "evolutionary", "attention", "median", "trimmed-mean", "krum", "multi-krum")
LINEAR = {"fedavg", "weighted", "attention", "krum", "multi-krum"}


@pytest.fixture(scope="module", params=NAMES)
def played(request: pytest.FixtureRequest) -> tuple[str, ExperimentResult, InMemoryStore]:
    """A 2-round in-memory experiment with 4 learners under one aggregator."""
    store = InMemoryStore()
    settings = make_settings(learners=4, rounds=2, strategy=request.param, centralized_epochs=1)
    return request.param, run_simulation(settings, store, "memory", with_centralized=False), store


@pytest.fixture(scope="module")
def four_learners() -> list[MachineLearningInterface]:
    learners, _, _ = build_learners(make_settings(learners=4, rounds=1))
    return learners


IDS = [f"0x{i:040x}" for i in range(1, 5)]


def test_registry_lists_every_aggregator() -> None:
    assert set(NAMES) == set(AGGREGATORS)
    for name in NAMES:
        assert name in STRATEGIES
        assert make_strategy(name).name == name


def test_every_proposal_recomputes_from_its_manifest(played: tuple[str, ExperimentResult, InMemoryStore]) -> None:
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
        if name in LINEAR:
            assert math.fsum(manifest.coefficients) == pytest.approx(1.0)
    assert result.final_accuracy is not None and result.final_accuracy > 0.5  # digits learns in two rounds


def test_manifests_record_the_public_recipe(played: tuple[str, ExperimentResult, InMemoryStore]) -> None:
    name, result, store = played
    assert result.rounds[0].manifest is not None
    document = json.loads(store.get(result.rounds[0].manifest))
    inputs, recipe = document["inputs"], document["recipe"]
    if name == "fedavg":
        assert all(entry["samples"] > 0 for entry in inputs)
    elif name == "weighted":
        assert all(entry["reward"] < 0 for entry in inputs)  # minus a loss: negative rewards
        assert recipe["temperature"] == document["params"]["temperature"]
    elif name == "attention":
        assert all(-1 <= entry["score"] <= 1 for entry in inputs)
        assert recipe["query"] == "own update"
    elif name == "evolutionary":
        assert recipe["fitness"] <= min(recipe["input_fitness"])
        assert {"F", "CR", "winner", "derivations", "seed"} <= set(recipe)
    elif name in ("krum", "multi-krum"):
        assert recipe["f"] == 0 and len(recipe["selected"]) == recipe["m"]  # 4 learners tolerate no Byzantine one
        assert recipe["m"] == (1 if name == "krum" else 4)
    elif name == "trimmed-mean":
        assert recipe == {"trim": 0.2, "dropped": 0}


def test_bad_contributions_are_excluded_and_recorded(four_learners: list[MachineLearningInterface]) -> None:
    store = InMemoryStore()
    good = store.put(weights_to_onnx(four_learners[0].mli_propose_weights()))
    other = store.put(weights_to_onnx(four_learners[1].mli_propose_weights()))
    junk = store.put(b"not a model")
    contributions = {0: good, 1: other, 2: junk, 3: sha256_hex(b"never stored")}
    context = RoundContext(0, four_learners, IDS, store)
    proposal = make_strategy("median").propose(context, 0, contributions)
    assert proposal.manifest is not None
    manifest = parse_manifest(proposal.manifest)
    assert [e.learner for e in manifest.inputs] == IDS[:2]
    assert [(e.learner, e.weights) for e in manifest.excluded] == [
        (IDS[2], "0x" + junk),
        (IDS[3], "0x" + sha256_hex(b"never stored")),
    ]
    assert "not a valid model" in manifest.excluded[0].reason
    assert "missing or corrupt" in manifest.excluded[1].reason
    assert recompute_proposal(proposal.manifest, store) == proposal.weights

    with pytest.raises(ColearnRuntimeError, match="no contribution could be used"):
        make_strategy("median").propose(context, 0, {2: junk})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("trimmed-mean", {"trim": "0.5"}, r"trim must be in \[0, 0.5\)"),
        ("krum", {"f": "-1"}, "f must be 0 or more"),
        ("multi-krum", {"m": "0"}, "m must be at least 1"),
        ("weighted", {"temperature": "0"}, "temperature must be a positive number"),
        ("attention", {"temperature": "-1"}, "temperature must be a positive number"),
        ("evolutionary", {"F": "0"}, r"F \(the mutation factor\) must be in \(0, 2\]"),
        ("evolutionary", {"F": "2.5"}, r"must be in \(0, 2\]"),
        ("evolutionary", {"CR": "1.5"}, r"CR \(the crossover rate\) must be in \[0, 1\]"),
        ("evolutionary", {"generations": "-1"}, "generations must be 0 or more"),
        ("evolutionary", {"population": "0"}, "population must be at least 1"),
        ("fedavg", {"weighting": "loudest"}, "weighting must be 'samples' or 'equal'"),
        ("median", {"trim": "0.1"}, "has no parameter 'trim'"),
    ],
)
def test_settings_are_validated(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        make_strategy(name, params)


def test_settings_from_the_command_line_are_typed() -> None:
    strategy = make_strategy("evolutionary", {"F": "0.8", "CR": "0.3", "population": "6", "generations": "2"})
    assert (strategy.settings.F, strategy.settings.CR, strategy.settings.population) == (0.8, 0.3, 6)  # type: ignore[attr-defined]
    assert make_strategy("multi-krum", {"f": "1", "m": "3"}).settings.m == 3  # type: ignore[attr-defined]


def test_krum_with_too_large_f_says_what_to_do(four_learners: list[MachineLearningInterface]) -> None:
    store = InMemoryStore()
    contributions = {
        i: store.put(weights_to_onnx(learner.mli_get_current_weights())) for i, learner in enumerate(four_learners)
    }
    context = RoundContext(0, four_learners, IDS, store)
    with pytest.raises(ColearnValueError, match=r"krum with f=1 needs more than 4 learners .* set f to at most 0"):
        Krum(KrumSettings(f=1)).propose(context, 0, contributions)


class _Plain(MachineLearningInterface):
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


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fedavg", "has no train_sample_count"),
        ("attention", "needs the proposer .* embed_vote_inputs"),
        ("weighted", "vote_criterion attribute"),
        ("evolutionary", "vote_criterion attribute"),
    ],
)
def test_learners_without_an_optional_ability_fail_clearly(
    four_learners: list[MachineLearningInterface], name: str, message: str
) -> None:
    plain: Sequence[MachineLearningInterface] = [_Plain(learner) for learner in four_learners]
    store = InMemoryStore()
    contributions = {
        i: store.put(weights_to_onnx(learner.mli_get_current_weights())) for i, learner in enumerate(plain)
    }
    with pytest.raises(ColearnValueError, match=message):
        make_strategy(name).propose(RoundContext(0, plain, IDS, store), 0, contributions)
    equal = make_strategy("fedavg", {"weighting": "equal"}).propose(
        RoundContext(0, plain, IDS, store), 0, contributions
    )
    assert equal.manifest is not None
    assert parse_manifest(equal.manifest).coefficients == [0.25] * 4


def test_lower_is_better_reads_the_learner_criterion(four_learners: list[MachineLearningInterface]) -> None:
    assert lower_is_better(four_learners[0]) is True  # the built-in learners vote on loss

    class Colearn(_Plain):
        minimise_criterion = False

    assert lower_is_better(Colearn(four_learners[0])) is False
    with pytest.raises(ColearnValueError, match="minimise_criterion"):
        lower_is_better(_Plain(four_learners[0]))


@pytest.fixture(scope="module")
def chain_run() -> Iterator[tuple[Any, InMemoryStore, list[Any]]]:
    """Two rounds of trimmed-mean on the embedded chain, with the ledger kept to read its events."""
    from colearn_chain.experiment import Experiment, publish_initial_model
    from colearn_chain.simulation import build_chain_ledger

    settings = make_settings(learners=4, rounds=2, strategy="trimmed-mean")
    learners, evaluate, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    ledger = build_chain_ledger(settings, initial, len(learners))
    experiment = Experiment(learners, ledger, store, make_strategy("trimmed-mean"), initial, evaluate, settings.seed)
    history = experiment.run(2)
    try:
        yield ledger, store, history
    finally:
        ledger.client.chain.close()


def test_a_chain_run_records_contributions_and_manifest_hashes(chain_run: tuple[Any, InMemoryStore, list[Any]]) -> None:
    from colearn_chain.chain import events as ev

    ledger, store, history = chain_run
    events = ledger.client.events()
    contributed = [e for e in events if isinstance(e, ev.UpdateContributed)]
    assert [(e.round, e.learner) for e in contributed] == [(r, a) for r in (0, 1) for a in ledger.learner_ids]
    proposed = [e for e in events if isinstance(e, ev.WeightsProposed)]
    assert len(proposed) == 2
    for event, record in zip(proposed, history, strict=True):
        assert event.manifest != bytes(32) and "0x" + event.manifest.hex() == record.manifest
        assert ledger.client.round_info(event.round).manifest == event.manifest
        data = store.get(event.manifest)
        manifest = parse_manifest(data)
        # every input is an update contributed on chain in that round, under the same hash
        on_chain = {(e.learner, "0x" + e.weights.hex()) for e in contributed if e.round == event.round}
        assert {(i.learner, i.weights) for i in manifest.inputs} == on_chain
        assert verify_proposal(data, store, event.weights) == event.weights.hex()
        # contributions come before the proposal they feed
        assert max(e.block_number for e in contributed if e.round == event.round) < event.block_number


def test_aggregated_proposal_is_deterministic(four_learners: list[MachineLearningInterface]) -> None:
    store = InMemoryStore()
    contributions = {
        i: store.put(weights_to_onnx(learner.mli_propose_weights())) for i, learner in enumerate(four_learners)
    }
    context = RoundContext(0, four_learners, IDS, store)
    first = make_strategy("evolutionary").propose(context, 1, contributions)
    second = make_strategy("evolutionary").propose(context, 1, contributions)
    assert (first.weights, first.manifest) == (second.weights, second.manifest)
    assert np.isfinite(json.loads(first.manifest or b"{}")["recipe"]["fitness"])
