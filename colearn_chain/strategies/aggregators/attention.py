"""FedFormer-style contextual aggregation: softmax of the attention between the proposer's and each
contributor's embeddings of the proposer's vote inputs.

The proposer must implement :class:`~colearn_chain.strategies.aggregators.abilities.EmbeddingLearner`.
Manifest: each input records its attention ``score`` (null where not finite), the recipe the
``temperature`` and the ``query`` used (the proposer's own update, or its current model when it
did not contribute); recomputation checks the coefficients are the softmax of the recorded
scores, then averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import onnx_to_weights
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.abilities import EmbeddingLearner, json_number
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, softmax_rule
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import Manifest
from colearn_chain.strategies.settings import check_positive


@dataclass(frozen=True)
class AttentionSettings:
    """``temperature`` of the softmax over attention scores (cosine similarities in [-1, 1])."""

    temperature: float = 0.1

    def __post_init__(self) -> None:
        check_positive(self.temperature, "temperature")


class Attention(Aggregator[AttentionSettings]):
    """FedFormer-style contextual aggregation: weights from attention between the proposer's model and each
    contributor's, on their embeddings of the proposer's validation inputs."""

    name: ClassVar[str] = "attention"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        learner = context.learners[proposer]
        if not isinstance(learner, EmbeddingLearner):
            raise ColearnValueError(
                f"the attention aggregator needs the proposer (learner {proposer}, {type(learner).__name__}) to embed "
                "its validation inputs: give it an embed_vote_inputs(weights) -> (samples, features) array method"
            )
        like = learner.mli_get_current_weights()
        own = next((c for c in inputs if c.index == proposer), None)
        query_weights = onnx_to_weights(own.blob, like) if own is not None else like
        query = np.asarray(learner.embed_vote_inputs(query_weights))
        keys = [np.asarray(learner.embed_vote_inputs(onnx_to_weights(c.blob, like))) for c in inputs]
        scores = aggregate.attention_scores(query, keys)
        temperature = self.settings.temperature
        return Plan(
            aggregate.softmax_coefficients(scores, temperature),
            recipe={"temperature": temperature, "query": "own update" if own is not None else "current model"},
            details=[{"score": json_number(v)} for v in scores],
        )

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        return softmax_rule(manifest, models, "score")
