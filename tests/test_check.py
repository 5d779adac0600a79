"""check_learner: the built-in learners pass, and each way of breaking the contract is caught."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from colearn_chain.check import LearnerCheckError, LearnerCheckWarning, check_learner
from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    Weights,
)
from colearn_chain.weights.codec import decode_weights, encode_weights
from learners.data import load_sklearn_dataset
from learners.models import DigitsMLP
from learners.tasks import breast_cancer_mlp, digits_cnn, digits_mlp
from learners.torch_learner import TorchLearner


class PointLearner(MachineLearningInterface):
    """A correct toy learner: its model is a point; training moves it towards its data.

    The vote score is the squared distance to the vote target (lower is better), the test
    score the distance to a different test target.
    """

    def __init__(self, vote_target: float = 1.0, test_target: float = 2.0) -> None:
        self.w = np.zeros(4)
        self.train_target = np.full(4, 1.5)
        self.vote_target = np.full(4, vote_target)
        self.test_target = np.full(4, test_target)

    def pack(self, w: np.ndarray) -> Any:
        return [w.copy()]

    def unpack(self, weights: Weights) -> np.ndarray:
        return np.array(weights.weights[0], dtype=np.float64, copy=True)

    def score(self, w: np.ndarray, target: np.ndarray) -> float:
        return float(np.sum((w - target) ** 2))

    def mli_propose_weights(self) -> Weights:
        return Weights(weights=self.pack(self.w + 0.5 * (self.train_target - self.w)))

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        w = self.unpack(weights)
        vote_score = self.score(w, self.vote_target)
        return ProposedWeights(
            weights=weights,
            vote_score=vote_score,
            test_score=self.score(w, self.test_target),
            vote=vote_score < self.score(self.w, self.vote_target),
        )

    def mli_accept_weights(self, weights: Weights) -> None:
        self.w = self.unpack(weights)

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=self.pack(self.w))

    def mli_get_current_model(self) -> ColearnModel:
        return ColearnModel(model_format=ModelFormat.PICKLE_WEIGHTS_ONLY, model=self.w.copy())


class DictPointLearner(PointLearner):
    """Hands over a name -> array dict."""

    def pack(self, w: np.ndarray) -> Any:
        return {"point": w.copy()}

    def unpack(self, weights: Weights) -> np.ndarray:
        return np.array(weights.weights["point"], dtype=np.float64, copy=True)


class BytesPointLearner(PointLearner):
    """Hands over ONNX bytes it made itself."""

    def pack(self, w: np.ndarray) -> Any:
        return encode_weights({"point": w})

    def unpack(self, weights: Weights) -> np.ndarray:
        return np.array(decode_weights(weights.weights)["point"], dtype=np.float64)


# ---------------------------------------------------------------- passing learners
@pytest.mark.parametrize("learner_class", [PointLearner, DictPointLearner, BytesPointLearner])
def test_correct_toy_learners_pass(learner_class: type[PointLearner]) -> None:
    learner = learner_class()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_learner(learner)
    np.testing.assert_array_equal(learner.w, np.zeros(4))  # left as it was found


@pytest.mark.parametrize("factory", [digits_mlp, digits_cnn, breast_cancer_mlp])
def test_built_in_learners_pass(factory) -> None:  # type: ignore[no-untyped-def]
    learner = factory(0, 4, 0)
    start = learner.mli_get_current_weights().weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_learner(learner)
    after = learner.mli_get_current_weights().weights
    assert all(np.array_equal(a, b) for a, b in zip(start, after, strict=True))


# ---------------------------------------------------------------- broken learners
class NoModel(PointLearner):
    mli_get_current_model = None  # type: ignore[assignment]


class ListNotWeights(PointLearner):
    def mli_get_current_weights(self) -> Weights:
        return [self.w.copy()]  # type: ignore[return-value]


class StringWeights(PointLearner):
    def mli_get_current_weights(self) -> Weights:
        return Weights(weights="0,0,0,0")


class ProposeMutates(PointLearner):
    def mli_propose_weights(self) -> Weights:
        self.w = self.w + 0.5 * (self.train_target - self.w)
        return Weights(weights=self.pack(self.w))


class ProposeDoesNothing(PointLearner):
    def mli_propose_weights(self) -> Weights:
        return self.mli_get_current_weights()


class ProposeOtherLayout(PointLearner):
    def mli_propose_weights(self) -> Weights:
        return Weights(weights=[self.w + 1.0, np.zeros(2)])


class ProposeRaises(PointLearner):
    def mli_propose_weights(self) -> Weights:
        raise RuntimeError("out of memory")


class ScoringMutates(PointLearner):
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result = super().mli_test_weights(weights)
        self.w = self.unpack(weights)
        return result


class NanScore(PointLearner):
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result = super().mli_test_weights(weights)
        return result.model_copy(update={"vote_score": float("nan")})


class NoVote(PointLearner):
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        return super().mli_test_weights(weights).model_copy(update={"vote": None})


class ScoringReturnsDict(PointLearner):
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        return {"vote": True}  # type: ignore[return-value]


class ApprovesEqual(PointLearner):
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result = super().mli_test_weights(weights)
        current = self.score(self.w, self.vote_target)
        return result.model_copy(update={"vote": result.vote_score <= current})


class AcceptIgnored(PointLearner):
    def mli_accept_weights(self, weights: Weights) -> None:
        pass


class StaleVoteCache(PointLearner):
    """Caches its model's vote score once and never refreshes it on accept."""

    def __init__(self) -> None:
        super().__init__()
        self.cached = self.score(self.w, self.vote_target)

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result = super().mli_test_weights(weights)
        return result.model_copy(update={"vote": result.vote_score < self.cached})


class AcceptsOnlyImprovements(PointLearner):
    """Refuses to accept weights that are worse than its own: the round cannot be undone."""

    def mli_accept_weights(self, weights: Weights) -> None:
        if self.mli_test_weights(weights).vote:
            super().mli_accept_weights(weights)


class TupleSensitive(PointLearner):
    """Scores a tuple differently from a list: its proposals change meaning through ONNX."""

    def mli_propose_weights(self) -> Weights:
        return Weights(weights=tuple(super().mli_propose_weights().weights))

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result = super().mli_test_weights(weights)
        if not isinstance(weights.weights, tuple):
            return result.model_copy(update={"vote_score": result.vote_score + 1.0})
        return result


class BadOnnxModel(PointLearner):
    def mli_get_current_model(self) -> ColearnModel:
        return ColearnModel(model_format=ModelFormat.ONNX, model=b"definitely not onnx")


class OnnxModelNotBytes(PointLearner):
    def mli_get_current_model(self) -> ColearnModel:
        return ColearnModel(model_format=ModelFormat.ONNX, model=None)


@pytest.mark.parametrize(
    ("learner_class", "message"),
    [
        (NoModel, "missing mli_get_current_model: implement the five methods"),
        (ListNotWeights, "mli_get_current_weights returned list, expected colearn_chain.interface.Weights"),
        (StringWeights, "the current weights cannot be converted to ONNX"),
        (ProposeMutates, "mli_propose_weights changed the current weights: train a copy"),
        (ProposeDoesNothing, "returned the current weights unchanged"),
        (ProposeOtherLayout, "the proposed weights do not survive the ONNX round trip"),
        (ProposeRaises, "mli_propose_weights raised RuntimeError: out of memory"),
        (ScoringMutates, "mli_test_weights changed the current weights"),
        (NanScore, "vote_score of nan: scores must be finite"),
        (NoVote, "left vote=None"),
        (ScoringReturnsDict, "mli_test_weights returned dict, expected"),
        (ApprovesEqual, "approves the learner's own current weights"),
        (AcceptIgnored, "after mli_accept_weights the current weights are not the accepted ones"),
        (StaleVoteCache, "still votes for them: refresh the current model's vote score"),
        (AcceptsOnlyImprovements, "did not restore them"),
        (TupleSensitive, "weights do not survive the ONNX round trip: the proposal scored"),
        (BadOnnxModel, "not a valid ONNX model"),
        (OnnxModelNotBytes, "put the serialized ONNX bytes in model"),
    ],
)
def test_each_broken_rule_is_named(learner_class: type[PointLearner], message: str) -> None:
    with pytest.raises(LearnerCheckError, match=message) as info:
        check_learner(learner_class())
    assert str(info.value).startswith(f"check_learner({learner_class.__name__}): ")
    assert isinstance(info.value, ColearnValueError)


def test_a_learner_that_is_not_one_at_all() -> None:
    with pytest.raises(LearnerCheckError, match="missing mli_propose_weights, mli_test_weights"):
        check_learner(object())


# ---------------------------------------------------------------- warnings
def test_identical_vote_and_test_scores_warn() -> None:
    with pytest.warns(LearnerCheckWarning, match="vote_score equals test_score"):
        check_learner(PointLearner(vote_target=1.0, test_target=1.0))


def test_torch_learner_with_one_set_for_vote_and_test_warns() -> None:
    data = load_sklearn_dataset("digits")
    train, shared = data.subset(np.arange(200)), data.subset(np.arange(200, 300))
    same_object = TorchLearner(DigitsMLP(hidden=8), train, shared, shared)
    with pytest.warns(LearnerCheckWarning, match="100% of the vote set's rows are also in the test set"):
        check_learner(same_object)
    overlapping = TorchLearner(
        DigitsMLP(hidden=8), train, data.subset(np.arange(200, 300)), data.subset(np.arange(220, 320))
    )
    with pytest.warns(LearnerCheckWarning, match="80% of the vote set's rows"):
        check_learner(overlapping)


def test_a_user_learner_exposing_one_object_as_both_sets_warns() -> None:
    learner = PointLearner()
    learner.vote_data = learner.test_data = object()  # type: ignore[attr-defined]
    with pytest.warns(LearnerCheckWarning, match="vote_data and test_data are the same object") as record:
        check_learner(learner)
    assert record[0].filename == __file__  # reported at the caller's line
