"""Refactors keep behaviour: short runs of a fixed seed end on the same model hashes as before.

The hashes were recorded on main before the house was rearranged (issue 9). Every proposal is
a deterministic ONNX container under its sha256, so any change to how learners are built, how
rounds are played or how aggregates are computed shows up here as a different hash.
"""

from __future__ import annotations

import hashlib

import pytest

from colearn_chain.simulation import make_settings, run_simulation
from colearn_chain.weights.store import InMemoryStore

PINNED = [
    (
        "round-robin",
        "chain",
        "0x276bd72f75c13b7fa3065a66123b7a0b6a28c9130899de8102603efcbe40cba9",
        "588ed0c5a12f70b6f5a3a189fa3ac1726d8108a8254a36557ad9270951b9e326",
    ),
    (
        "fedavg",
        "memory",
        "0x657081013aa589614ac3757c30ac6d09861729d3a2ba7132cdebfe80ce3e6329",
        "a462efeaec00b8218ca039a479e364974aaac07bc664cec5a5a0ab23ff6d6af6",
    ),
    (
        "random",
        "chain",
        "0x35d50ebb5e364e5307fcb92dc91d8c8af58d8ef605ae9eae98a0422b8d1933ac",
        "97f771abc3b388b815553971301c471168bd6da0cb1a18252b5dbd9f48a32998",
    ),
    (
        "evolutionary",
        "memory",
        "0x0de9304ca6af39545e07ef2d0a1d0283fe06ce230c43c825a8076a70d05b516a",
        "f897d3ac677a610ff31c6d75a0d17dec9fea7f6ec7c9bdb5f21829bd566d1849",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "ledger", "final_model", "proposals"), PINNED)
def test_a_short_run_ends_on_the_pinned_hashes(strategy: str, ledger: str, final_model: str, proposals: str) -> None:
    settings = make_settings(learners=3, rounds=3, seed=7, strategy=strategy, partition="dirichlet:0.5")
    result = run_simulation(settings, InMemoryStore(), ledger, with_centralized=False)  # type: ignore[arg-type]
    assert result.rounds[-1].global_model == final_model
    assert hashlib.sha256("".join(r.weights or "" for r in result.rounds).encode()).hexdigest() == proposals
