"""The learner interface: colearn's models and field names, and conversion to ONNX and back."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ValidationError

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    DiffPrivBudget,
    DiffPrivConfig,
    ErrorCodes,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    TrainingSummary,
    Weights,
    onnx_to_weights,
    weights_to_onnx,
)
from colearn_chain.weights.codec import decode_weights, encode_weights
from colearn_chain.weights.errors import WeightsSpecMismatch


def test_field_names_match_colearn() -> None:
    assert list(Weights.model_fields) == ["weights", "training_summary"]
    assert list(ProposedWeights.model_fields) == ["weights", "vote_score", "test_score", "vote"]
    assert list(TrainingSummary.model_fields) == ["dp_budget", "error_code"]
    assert list(DiffPrivBudget.model_fields) == [
        "target_epsilon",
        "target_delta",
        "consumed_epsilon",
        "consumed_delta",
    ]
    assert list(DiffPrivConfig.model_fields) == [
        "target_epsilon",
        "target_delta",
        "max_grad_norm",
        "noise_multiplier",
    ]
    assert list(ColearnModel.model_fields) == ["model_format", "model_file", "model"]


def test_enums_match_colearn() -> None:
    assert {m.name: m.value for m in ModelFormat} == {"PICKLE_WEIGHTS_ONLY": 1, "ONNX": 2}
    assert {m.name: m.value for m in ErrorCodes} == {"DP_BUDGET_EXCEEDED": 1}


def test_optional_fields_default_to_none_as_in_colearn() -> None:
    """colearn was on pydantic v1, where Optional meant optional: ported code omits them."""
    weights = Weights(weights=[np.zeros(2)])
    assert weights.training_summary is None
    verdict = ProposedWeights(weights=weights, vote_score=0.5, test_score=0.25)
    assert verdict.vote is None
    model = ColearnModel(model_format=ModelFormat.ONNX, model=b"onnx")
    assert model.model_file is None
    summary = TrainingSummary(error_code=ErrorCodes.DP_BUDGET_EXCEEDED)
    assert summary.dp_budget is None


def test_models_hold_numpy_arrays_and_bytes_unchanged() -> None:
    array = np.arange(4.0)
    weights = Weights(weights=[array])
    assert weights.weights[0] is array
    assert Weights(weights=b"\x01\x02").weights == b"\x01\x02"
    budget = DiffPrivBudget(target_epsilon=1, target_delta=1e-5, consumed_epsilon=0.5, consumed_delta=0)
    summary = TrainingSummary(dp_budget=budget)
    assert Weights(weights=[array], training_summary=summary).training_summary == summary


_EMPTY = Weights(weights=[])


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (ProposedWeights, {"weights": _EMPTY, "vote_score": "high", "test_score": 0.1}),
        (ProposedWeights, {"weights": [1, 2], "vote_score": 0.1, "test_score": 0.1}),
        (ProposedWeights, {"weights": _EMPTY, "vote_score": 0.1, "test_score": 0.1, "vote": "maybe"}),
        (ProposedWeights, {"weights": _EMPTY, "vote_score": 0.1, "test_score": 0.1, "vote_accuracy": 1}),
        (ColearnModel, {"model_format": "TORCHSCRIPT"}),
        (DiffPrivConfig, {"target_epsilon": 1.0, "target_delta": 1e-5, "max_grad_norm": 1.0}),
        (Weights, {}),
    ],
    ids=["score-not-a-number", "weights-not-weights", "vote-not-bool", "unknown-field", "bad-enum", "missing", "empty"],
)
def test_validation_refuses_bad_values(model: type[BaseModel], fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model(**fields)


def test_non_finite_scores_are_representable_for_check_learner_to_catch() -> None:
    verdict = ProposedWeights(weights=Weights(weights=[]), vote_score=math.nan, test_score=math.inf)
    assert math.isnan(verdict.vote_score)


def test_machine_learning_interface_has_exactly_the_five_abstract_methods() -> None:
    assert MachineLearningInterface.__abstractmethods__ == {
        "mli_propose_weights",
        "mli_test_weights",
        "mli_accept_weights",
        "mli_get_current_weights",
        "mli_get_current_model",
    }
    with pytest.raises(TypeError):
        MachineLearningInterface()  # type: ignore[abstract]


# ---------------------------------------------------------------- ONNX conversion
def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4), np.arange(5, dtype=np.int64)]


def test_a_list_round_trips_as_a_list() -> None:
    original = Weights(weights=_arrays())
    blob = weights_to_onnx(original)
    back = onnx_to_weights(blob, like=original)
    assert isinstance(back.weights, list)
    for a, b in zip(original.weights, back.weights, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert weights_to_onnx(back) == blob
    assert blob == encode_weights(_arrays())  # deterministic: same weights, same bytes


def test_a_dict_round_trips_with_its_names_and_order() -> None:
    original = Weights(weights={"z.bias": np.ones(2), "a.weight": np.eye(2, dtype=np.float32)})
    back = onnx_to_weights(weights_to_onnx(original), like=original)
    assert isinstance(back.weights, dict)
    assert list(back.weights) == ["z.bias", "a.weight"]
    np.testing.assert_array_equal(back.weights["a.weight"], np.eye(2))
    assert set(decode_weights(weights_to_onnx(original))) == {"z.bias", "a.weight"}


def test_bytes_pass_through_unchanged() -> None:
    blob = encode_weights(_arrays())
    held = Weights(weights=blob)
    assert weights_to_onnx(held) == blob
    assert weights_to_onnx(Weights(weights=bytearray(blob))) == blob
    same_layout = encode_weights([a + 1 for a in _arrays()])
    assert onnx_to_weights(same_layout, like=held).weights == same_layout


def test_bytes_of_another_layout_are_refused_not_passed_through() -> None:
    """A learner that holds ONNX bytes only ever gets bytes checked against its own layout."""
    held = Weights(weights=encode_weights(_arrays()))
    with pytest.raises(WeightsSpecMismatch):
        onnx_to_weights(encode_weights([np.zeros(1)]), like=held)


def test_torch_tensors_are_converted_and_come_back_as_tensors() -> None:
    """A ported colearn PyTorch learner hands over tensors; it gets tensors back."""
    tensors = [torch.randn(2, 3), torch.arange(3)]
    original = Weights(weights=tensors)
    back = onnx_to_weights(weights_to_onnx(original), like=original)
    assert all(isinstance(t, torch.Tensor) for t in back.weights)
    for a, b in zip(tensors, back.weights, strict=True):
        assert torch.equal(a, b)


def test_a_blob_for_another_layout_is_refused() -> None:
    like = Weights(weights=_arrays())
    with pytest.raises(ColearnValueError):
        onnx_to_weights(encode_weights([np.zeros(3)]), like=like)
    with pytest.raises(ColearnValueError):
        onnx_to_weights(b"not onnx at all", like=like)


@pytest.mark.parametrize(
    ("held", "message"),
    [
        ("a string", "hand over a list"),
        (3.5, "hand over a list"),
        ([np.array([object()], dtype=object)], "not a numeric array"),
        ([np.array([1.0, math.nan])], "(?i)nan"),
    ],
    ids=["string", "number", "object-array", "nan"],
)
def test_weights_that_cannot_become_onnx_are_refused(held: object, message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        weights_to_onnx(Weights(weights=held))
