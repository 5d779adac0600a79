"""User learners that break one method each (for ``run --learner tests.reliability.broken_learners:NAME``).

Each wraps the built-in digits learner and breaks one ``mli_*`` method of learner 1 only, so that
the failure happens mid-round in a voter or a proposer, as with a real user's bug.
"""

from __future__ import annotations

from typing import Any

from colearn_chain.interface import MachineLearningInterface, ProposedWeights, Weights
from colearn_chain.plugins import learner_source


class _Broken(MachineLearningInterface):
    def __init__(self, inner: MachineLearningInterface, broken: bool, how: str) -> None:
        self.inner, self.broken, self.how = inner, broken, how
        self.vote_criterion = getattr(inner, "vote_criterion", "loss")

    def mli_propose_weights(self) -> Weights:
        if self.broken and self.how == "propose-raises":
            raise KeyError("layer-3")
        if self.broken and self.how == "propose-returns-str":
            return "weights"  # type: ignore[return-value]
        return self.inner.mli_propose_weights()

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        if self.broken and self.how == "test-raises":
            raise RuntimeError("CUDA out of memory")
        if self.broken and self.how == "test-returns-str":
            return "approve"  # type: ignore[return-value]
        result = self.inner.mli_test_weights(weights)
        if self.broken and self.how == "huge-score":
            return result.model_copy(update={"vote_score": 1e300})
        if self.broken and self.how == "vote-str":
            return result.model_copy(update={"vote": "yes"})
        return result

    def mli_accept_weights(self, weights: Weights) -> None:
        if self.broken and self.how == "accept-raises":
            raise AttributeError("'NoneType' object has no attribute 'load_state_dict'")
        self.inner.mli_accept_weights(weights)

    def mli_get_current_weights(self) -> Weights:
        return self.inner.mli_get_current_weights()

    def mli_get_current_model(self) -> Any:
        return self.inner.mli_get_current_model()


def _factory(how: str) -> Any:
    def make(index: int, count: int, seed: int) -> MachineLearningInterface:
        inner = learner_source(task="digits-mlp").make_learner(index, count, seed)
        return _Broken(inner, index == 1, how)

    return make


propose_raises = _factory("propose-raises")
propose_returns_str = _factory("propose-returns-str")
test_raises = _factory("test-raises")
test_returns_str = _factory("test-returns-str")
accept_raises = _factory("accept-raises")
huge_score = _factory("huge-score")
vote_str = _factory("vote-str")
