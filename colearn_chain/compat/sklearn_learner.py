"""A scikit-learn learner whose weights are ONNX (via skl2onnx), never a pickle.

colearn's scikit-learn examples pickle their model; a pickle runs code when it is loaded, so
here it never crosses the wire. This learner hands over its fitted model as a full-graph ONNX
model (for a random forest, ``TreeEnsembleClassifier`` from ``ai.onnx.ml``), and scores any
model, its own or a peer's, only through onnxruntime after the platform's ONNX checks.

A scikit-learn estimator cannot be rebuilt from a peer's ONNX, so proposing improves the
learner's *own* estimator (a warm-started ensemble grows ``trees_to_add`` more members, any
other estimator is refit with a new seed) and the vote keeps whichever model is best on the
voters' data. When the learner's own proposal is accepted it continues from that estimator.
"""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

import numpy as np

from colearn_chain.compat.onnxutils import sklearn_to_onnx_bytes
from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import ColearnModel, MachineLearningInterface, ModelFormat, ProposedWeights, Weights
from colearn_chain.weights.onnx_model import run_onnx_model

__all__ = ["SklearnLearner"]

# Own proposals remembered by hash, so an accepted one can be grown further.
_REMEMBERED = 4


class SklearnLearner(MachineLearningInterface):
    """Any scikit-learn classifier, with its train, vote and test sets; weights are ONNX bytes.

    Parameters
    ----------
    estimator
        A classifier; it is fitted on the train set here if it is not fitted yet.
    train_data, train_labels, vote_data, vote_labels, test_data, test_labels
        The three data sets, as arrays.
    trees_to_add
        For a warm-started ensemble (``warm_start=True`` and ``n_estimators``): members a
        proposal adds.
    seed
        Seeds refits of estimators that are not warm-started ensembles.
    """

    def __init__(
        self,
        estimator: Any,
        train_data: np.ndarray,
        train_labels: np.ndarray,
        vote_data: np.ndarray,
        vote_labels: np.ndarray,
        test_data: np.ndarray,
        test_labels: np.ndarray,
        *,
        trees_to_add: int = 2,
        seed: int = 0,
    ) -> None:
        if len(train_labels) == 0 or len(vote_labels) == 0 or len(test_labels) == 0:
            raise ColearnValueError("SklearnLearner needs non-empty train, vote and test sets")
        self.train_data, self.train_labels = np.asarray(train_data), np.asarray(train_labels)
        self.vote_data, self.vote_labels = np.asarray(vote_data, dtype=np.float32), np.asarray(vote_labels)
        self.test_data, self.test_labels = np.asarray(test_data, dtype=np.float32), np.asarray(test_labels)
        self.trees_to_add = trees_to_add
        self.seed = seed
        self._proposals = 0
        if not hasattr(estimator, "n_features_in_"):
            estimator.fit(self.train_data, self.train_labels)
        self._own = estimator
        self._current = sklearn_to_onnx_bytes(estimator)
        self._mine: dict[bytes, Any] = {}
        self._scores: dict[bytes, tuple[float, float]] = {}
        self.vote_score = self._score(self._current)[0]

    def _score(self, blob: bytes) -> tuple[float, float]:
        """(vote accuracy, test accuracy) of an ONNX model, run by onnxruntime (cached by hash)."""
        key = hashlib.sha256(blob).digest()
        if key not in self._scores:
            accuracies = []
            for x, y in ((self.vote_data, self.vote_labels), (self.test_data, self.test_labels)):
                labels = np.asarray(run_onnx_model(blob, {"input": x})[0]).reshape(-1)
                accuracies.append(float(np.mean(labels == y)))
            self._scores[key] = (accuracies[0], accuracies[1])
        return self._scores[key]

    def _grown(self) -> Any:
        """A new estimator from the learner's own: more ensemble members, or a refit with a new seed."""
        candidate = copy.deepcopy(self._own)
        self._proposals += 1
        params = candidate.get_params()
        if params.get("warm_start") and "n_estimators" in params:
            candidate.set_params(n_estimators=params["n_estimators"] + self.trees_to_add)
        elif "random_state" in params:
            candidate.set_params(random_state=self.seed * 1_000_003 + self._proposals)
        candidate.fit(self.train_data, self.train_labels)
        return candidate

    def mli_propose_weights(self) -> Weights:
        """Train a new estimator from the learner's own and hand it over as ONNX."""
        candidate = self._grown()
        blob = sklearn_to_onnx_bytes(candidate)
        self._mine[hashlib.sha256(blob).digest()] = candidate
        while len(self._mine) > _REMEMBERED:
            self._mine.pop(next(iter(self._mine)))
        return Weights(weights=blob)

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Accuracy of an ONNX model on the vote and test sets; approve iff strictly better."""
        vote_score, test_score = self._score(bytes(weights.weights))
        better = math.isfinite(vote_score) and vote_score > self.vote_score
        return ProposedWeights(weights=weights, vote_score=vote_score, test_score=test_score, vote=better)

    def mli_accept_weights(self, weights: Weights) -> None:
        """Adopt the ONNX model; continue from its estimator when it was this learner's own proposal."""
        blob = bytes(weights.weights)
        self._current = blob
        own = self._mine.get(hashlib.sha256(blob).digest())
        if own is not None:
            self._own = own
        self.vote_score = self._score(blob)[0]

    def mli_get_current_weights(self) -> Weights:
        """The current model as ONNX bytes."""
        return Weights(weights=self._current)

    def mli_get_current_model(self) -> ColearnModel:
        """The current model, runnable ONNX."""
        return ColearnModel(model_format=ModelFormat.ONNX, model_file="", model=self._current)
