"""Only checked ONNX crosses the wire: pickles are refused on publishing and rejected by voters, never loaded."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from colearn_chain.cli.main import main
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.interface import UnpublishableWeights, Weights, weights_to_onnx
from colearn_chain.ledger import InMemoryLedger
from colearn_chain.rounds import decide_vote
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.codec import encode_weights
from colearn_chain.weights.store import InMemoryStore
from learners.tasks import digits_mlp
from tests.compat.learners_for_tests import PicklingForest, forest


class _WritesAFile:
    """A pickle that, when loaded, writes a file: what a malicious proposal would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.target, "pwned"))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way of loading a pickle fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("a built-in path reached pickle loading")

    for name in ("loads", "load", "Unpickler", "_loads", "_load", "_Unpickler"):
        if hasattr(pickle, name):
            monkeypatch.setattr(pickle, name, refuse)


def test_a_pickle_in_the_store_is_a_reject_with_its_reason_and_runs_nothing(
    tmp_path: Path, no_unpickling: None
) -> None:
    target = tmp_path / "written-by-the-pickle"
    store = InMemoryStore()
    digest = store.put(pickle.dumps(_WritesAFile(target)))
    for voter in (digits_mlp(0, 2, 0), forest(0, 2, 0)):
        decision = decide_vote(voter, store, digest, who="voter")
        assert not decision.approve and decision.weights is None
        assert decision.reason is not None and "not a valid model" in decision.reason
    assert not target.exists()


def test_a_learner_whose_weights_are_a_pickle_is_refused_naming_it() -> None:
    learners = [PicklingForest(i, 2, 0) for i in range(2)]
    with pytest.raises(UnpublishableWeights, match=r"^learner 0: .*not a valid ONNX model") as info:
        publish_initial_model(learners, InMemoryStore())
    assert "\n" not in str(info.value)


def test_raw_bytes_that_are_not_onnx_are_never_published() -> None:
    with pytest.raises(UnpublishableWeights, match="never a pickle"):
        weights_to_onnx(Weights(weights=b"\x80\x04not onnx"))
    container = encode_weights([np.ones(2, dtype=np.float32)])
    assert weights_to_onnx(Weights(weights=container)) == container


def test_a_forest_experiment_goes_through_onnx_only(no_unpickling: None) -> None:
    learners = [forest(i, 3, 0) for i in range(3)]
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    ledger = InMemoryLedger([f"0x{i:040x}" for i in range(3)], 0.5, initial)
    history = Experiment(learners, ledger, store, make_strategy("round-robin", {}), initial).run(6)
    assert any(r.accepted for r in history)
    assert all(v.reason is None for r in history for v in r.votes)
    assert all(store.get(r.weights)[:2] != b"\x80\x04" for r in history if r.weights)  # ONNX, not pickle


def test_run_refuses_a_pickling_learner_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--learners", "2", "--rounds", "1", "--in-memory", "--out", str(tmp_path / "out"),
         "--learner", "tests.compat.learners_for_tests:pickling_forest"]
    )  # fmt: skip
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("colearn-chain: error:")]
    assert code == 1 and len(errors) == 1
    assert "check_learner(PicklingForest)" in errors[0] and "never a pickle" in errors[0]
