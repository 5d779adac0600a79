"""How participants build their learner from the deployment's description."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import weights_to_onnx
from colearn_chain.learner_spec import LearnerSpec


def test_every_participant_starts_from_the_same_model() -> None:
    spec = LearnerSpec("digits-mlp", None, seed=3, count=3)
    first, second = spec.build(0), spec.build(2, partition="dirichlet:0.5")
    assert weights_to_onnx(first.mli_get_current_weights()) == weights_to_onnx(second.mli_get_current_weights())


def test_a_participant_on_its_own_data_file(tmp_path: Path) -> None:
    from learners.data import load_sklearn_dataset

    digits = load_sklearn_dataset("digits")
    path = tmp_path / "mine.npz"
    np.savez(path, x=digits.x[:300], y=digits.y[:300])
    spec = LearnerSpec("digits-mlp", None, seed=3, count=3)
    mine = spec.build(1, data_file=path)
    shared = spec.build(0)
    assert weights_to_onnx(mine.mli_get_current_weights()) == weights_to_onnx(shared.mli_get_current_weights())
    proposal = mine.mli_propose_weights()
    assert weights_to_onnx(proposal) != weights_to_onnx(mine.mli_get_current_weights())


def test_mismatched_data_and_bad_descriptions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.npz"
    np.savez(path, x=np.zeros((50, 5), dtype=np.float32), y=np.arange(50) % 2)
    spec = LearnerSpec("digits-mlp", None, seed=0, count=2)
    with pytest.raises(ColearnValueError, match="do not fit task"):
        spec.build(0, data_file=path)
    with pytest.raises(ColearnValueError, match="out of range"):
        spec.build(2)
    with pytest.raises(ColearnValueError, match="exactly one"):
        LearnerSpec("digits-mlp", "learners.tasks:digits_mlp", seed=0, count=2)
    factory = LearnerSpec(None, "learners.tasks:digits_mlp", seed=0, count=2)
    with pytest.raises(ColearnValueError, match="--data does not apply"):
        factory.build(0, data_file=path)
    assert LearnerSpec.from_json(factory.to_json()) == factory
    with pytest.raises(ColearnValueError, match="malformed"):
        LearnerSpec.from_json({"task": "digits-mlp"})
