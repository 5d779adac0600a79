"""What every aggregator shares: unusable contributions excluded, and contributions recorded on chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.interface import MachineLearningInterface, weights_to_onnx
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import RoundContext, make_strategy
from colearn_chain.strategies.manifest import parse_manifest, recompute_proposal, verify_proposal
from colearn_chain.weights.digest import Digest, sha256_hex
from colearn_chain.weights.store import InMemoryStore

from .rounds import IDS


def test_bad_contributions_are_excluded_and_recorded(four_learners: list[MachineLearningInterface]) -> None:
    store = InMemoryStore()
    good = store.put(weights_to_onnx(four_learners[0].mli_propose_weights()))
    other = store.put(weights_to_onnx(four_learners[1].mli_propose_weights()))
    junk = store.put(b"not a model")
    contributions = {0: good, 1: other, 2: junk, 3: sha256_hex(b"never stored")}
    context = RoundContext(0, four_learners, IDS, store)
    proposal = make_strategy("median").make_proposal(context, 0, contributions)
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
        make_strategy("median").make_proposal(context, 0, {2: junk})


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
        assert event.manifest != bytes(32) and Digest(event.manifest).prefixed == record.manifest
        assert ledger.client.round_info(event.round).manifest == event.manifest
        data = store.get(event.manifest)
        manifest = parse_manifest(data)
        # every input is an update contributed on chain in that round, under the same hash
        on_chain = {(e.learner, Digest(e.weights).prefixed) for e in contributed if e.round == event.round}
        assert {(i.learner, i.weights) for i in manifest.inputs} == on_chain
        assert verify_proposal(data, store, event.weights) == Digest(event.weights)
        # contributions come before the proposal they feed
        assert max(e.block_number for e in contributed if e.round == event.round) < event.block_number
