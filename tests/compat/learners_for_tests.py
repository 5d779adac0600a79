"""Learner factories for the compatibility tests: scikit-learn learners, a pickling one, a broken one."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from colearn_chain.compat.ml_interface import (
    ColearnModel,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    Weights,
)
from colearn_chain.compat.onnxutils import convert_model_to_onnx
from colearn_chain.compat.sklearn_learner import SklearnLearner


def _shard(index: int, count: int, seed: int) -> tuple[np.ndarray, ...]:
    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    mine = order[index::count]
    n = len(mine)
    train, vote, test = mine[: n // 2], mine[n // 2 : 3 * n // 4], mine[3 * n // 4 :]
    return x[train], y[train], x[vote], y[vote], x[test], y[test]


def forest(index: int, count: int, seed: int) -> SklearnLearner:
    """A warm-started random forest on an iris shard; its weights are ONNX."""
    estimator = RandomForestClassifier(n_estimators=1, warm_start=True, max_depth=2, random_state=seed)
    return SklearnLearner(estimator, *_shard(index, count, seed), trees_to_add=1, seed=seed + index)


class PicklingForest(MachineLearningInterface):
    """colearn's random forest example in short: its weights are ``pickle.dumps(model)``."""

    def __init__(self, index: int, count: int, seed: int) -> None:
        self.x, self.y, self.vx, self.vy, _, _ = _shard(index, count, seed)
        self.model = RandomForestClassifier(n_estimators=1, warm_start=True, max_depth=2).fit(self.x, self.y)

    def mli_propose_weights(self) -> Weights:
        return Weights(weights=pickle.dumps(self.model))

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        model = pickle.loads(weights.weights)
        score = float(model.score(self.vx, self.vy))
        return ProposedWeights(weights=weights, vote_score=score, test_score=score, vote=False)

    def mli_accept_weights(self, weights: Weights) -> None:
        self.model = pickle.loads(weights.weights)

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=pickle.dumps(self.model))

    def mli_get_current_model(self) -> ColearnModel:
        return ColearnModel(model_format=ModelFormat.ONNX, model_file="", model=convert_model_to_onnx(self.model))


def pickling_forest(index: int, count: int, seed: int) -> PicklingForest:
    """Factory for ``--learner tests.compat.learners_for_tests:pickling_forest``."""
    return PicklingForest(index, count, seed)


class NaNScores(MachineLearningInterface):
    """A learner whose scores are NaN: run's fast checks stop it before round 0."""

    def mli_propose_weights(self) -> Weights:
        return Weights(weights=[np.ones(3, dtype=np.float32)])

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        return ProposedWeights(weights=weights, vote_score=float("nan"), test_score=0.0, vote=False)

    def mli_accept_weights(self, weights: Weights) -> None:
        return None

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=[np.zeros(3, dtype=np.float32)])

    def mli_get_current_model(self) -> ColearnModel:
        return ColearnModel(model_format=ModelFormat.PICKLE_WEIGHTS_ONLY)


def nan_scores(index: int, count: int, seed: int) -> Any:
    """Factory for a learner that fails run's fast checks."""
    return NaNScores()


class HalvingLoss(MachineLearningInterface):
    """A learner scored by a loss it declares (``score_name``, ``minimise_criterion``): |w|, halved per proposal."""

    score_name = "test loss"
    minimise_criterion = True

    def __init__(self, start: float) -> None:
        self.current = np.array([start], dtype=np.float32)

    def mli_propose_weights(self) -> Weights:
        return Weights(weights=[self.current / 2])

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        loss = float(abs(np.asarray(weights.weights[0])[0]))
        return ProposedWeights(weights=weights, vote_score=loss, test_score=loss, vote=loss < abs(self.current[0]))

    def mli_accept_weights(self, weights: Weights) -> None:
        self.current = np.asarray(weights.weights[0], dtype=np.float32).copy()

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=[self.current.copy()])

    def mli_get_current_model(self) -> ColearnModel:
        return ColearnModel(model_format=ModelFormat.PICKLE_WEIGHTS_ONLY, model=None)


def halving_loss(index: int, count: int, seed: int) -> HalvingLoss:
    return HalvingLoss(8.0)
