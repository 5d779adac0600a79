"""What aggregators may ask of a learner beyond the MachineLearningInterface, and how they ask it.

The optional abilities are protocols a learner implements by having the method (the built-in
torch learner has them all); an aggregator that needs one says so, naming the method to add,
when the learner lacks it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from colearn_chain.errors import ColearnError, ColearnValueError
from colearn_chain.interface import MachineLearningInterface, Weights, onnx_to_weights
from colearn_chain.strategies.aggregate import Array
from colearn_chain.weights.codec import encode_weights

__all__ = ["EmbeddingLearner", "SampleCountingLearner", "fitness_of", "json_number", "lower_is_better"]


@runtime_checkable
class EmbeddingLearner(Protocol):
    """A learner that can embed its own vote (validation) inputs with given weights.

    Needed by the ``attention`` aggregator (FedFormer's contextual aggregation): the proposer
    embeds its validation inputs with its own model and with each contributor's, and weighs
    each contribution by how alike the embeddings are.
    """

    def embed_vote_inputs(self, weights: Weights) -> np.ndarray:
        """``(samples, features)`` embeddings (e.g. penultimate activations) of the vote inputs."""


@runtime_checkable
class SampleCountingLearner(Protocol):
    """A learner that says how many samples it trains on (FedAvg's weights)."""

    def train_sample_count(self) -> int:
        """The number of training samples behind this learner's updates."""


def lower_is_better(learner: MachineLearningInterface) -> bool:
    """Whether the learner's ``vote_score`` is better when lower (a loss) or higher (an accuracy).

    Read from ``vote_criterion`` (``"loss"``, ``"accuracy"`` or ``"approve-all"``, which scores
    by the loss, as the built-in torch learner exposes it) or colearn's ``minimise_criterion`` flag.

    Raises
    ------
    ColearnValueError
        If the learner exposes neither, saying what to add.
    """
    criterion = getattr(learner, "vote_criterion", None)
    if criterion in ("loss", "accuracy", "approve-all"):
        return bool(criterion != "accuracy")  # approve-all scores by the loss
    minimise = getattr(learner, "minimise_criterion", None)
    if isinstance(minimise, bool):
        return bool(minimise)
    raise ColearnValueError(
        f"{type(learner).__name__} does not say whether its vote_score is better lower or higher: give it a "
        "vote_criterion attribute ('loss' or 'accuracy') or a minimise_criterion bool to use a scoring aggregator"
    )


def fitness_of(learner: MachineLearningInterface) -> Callable[[Mapping[str, Array]], float]:
    """The proposer's fitness of a model: its vote score, oriented so that lower is better.

    Used by the scoring aggregators (``weighted``, ``evolutionary``). A model that cannot be
    encoded (non-finite values) or scored gets +infinity.
    """
    sign = 1.0 if lower_is_better(learner) else -1.0
    like = learner.mli_get_current_weights()

    def fitness(weights: Mapping[str, Array]) -> float:
        try:
            candidate = onnx_to_weights(encode_weights(weights), like)
        except ColearnError:
            return math.inf
        score = float(learner.mli_test_weights(candidate).vote_score)
        return sign * score if math.isfinite(score) else math.inf

    return fitness


def json_number(value: float) -> float | None:
    """A measured value as a manifest can hold it: None where it is not finite."""
    return float(value) if math.isfinite(value) else None
