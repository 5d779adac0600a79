"""A user's learner behind a guard: its failures are one line naming the learner, the method and the error.

The platform calls a user's ``mli_*`` methods deep inside a round (a strategy, the round step,
an aggregator). Without the guard, a ``KeyError`` raised in a user's ``mli_test_weights`` or a
``str`` returned by ``mli_propose_weights`` surfaces as an ``AttributeError`` somewhere in the
platform, with no word of whose code failed. The guard delegates every call and attribute, and
turns an exception or a result of the wrong type into :class:`LearnerFailure`.
"""

from __future__ import annotations

import math
from typing import Any

from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.interface import ColearnModel, MachineLearningInterface, ProposedWeights, Weights


class LearnerFailure(ColearnRuntimeError):
    """A user's learner raised, or returned something of the wrong type, in one of its methods."""


def _shown(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0][:200] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class GuardedLearner(MachineLearningInterface):
    """Delegates to ``inner``; a failure of one of its methods is a :class:`LearnerFailure`.

    Other attributes (``vote_criterion``, ``train_sample_count``, ...) pass through, so the
    optional abilities that aggregators look for are found as on the learner itself.

    Parameters
    ----------
    inner:
        The user's learner.
    name:
        How messages name it, e.g. ``learner 2 (mypkg.mod:factory)``.
    """

    def __init__(self, inner: MachineLearningInterface, name: str) -> None:
        self.__dict__["_inner"] = inner
        self.__dict__["_name"] = name

    @property
    def inner(self) -> MachineLearningInterface:
        """The user's learner itself."""
        inner: MachineLearningInterface = self.__dict__["_inner"]
        return inner

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.__dict__["_inner"], attribute)

    def __repr__(self) -> str:
        return f"GuardedLearner({self.__dict__['_name']}: {self.inner!r})"

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.inner, method)(*args)
        except Exception as exc:
            raise LearnerFailure(f"{self.__dict__['_name']}: {method} raised {_shown(exc)}") from exc

    def _wrong_type(self, method: str, result: object, expected: str) -> LearnerFailure:
        return LearnerFailure(
            f"{self.__dict__['_name']}: {method} returned a {type(result).__name__}, not {expected}"
        )

    def mli_propose_weights(self) -> Weights:
        result = self._call("mli_propose_weights")
        if not isinstance(result, Weights):
            raise self._wrong_type("mli_propose_weights", result, "Weights")
        return result

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result = self._call("mli_test_weights", weights)
        if not isinstance(result, ProposedWeights):
            raise self._wrong_type("mli_test_weights", result, "ProposedWeights")
        if not isinstance(result.vote, bool | None):
            raise self._wrong_type("mli_test_weights (its vote)", result.vote, "a bool")
        for field in ("vote_score", "test_score"):
            value = getattr(result, field)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self._wrong_type(f"mli_test_weights (its {field})", value, "a number")
        return result

    def mli_accept_weights(self, weights: Weights) -> None:
        self._call("mli_accept_weights", weights)

    def mli_get_current_weights(self) -> Weights:
        result = self._call("mli_get_current_weights")
        if not isinstance(result, Weights):
            raise self._wrong_type("mli_get_current_weights", result, "Weights")
        return result

    def mli_get_current_model(self) -> ColearnModel:
        result = self._call("mli_get_current_model")
        if not isinstance(result, ColearnModel):
            raise self._wrong_type("mli_get_current_model", result, "ColearnModel")
        return result


#: The largest vote score every ledger keeps: signed votes hold int64 fixed point (6 decimals),
#: the contract int256; scores beyond it are clamped to it.
MAX_VOTE_SCORE = float((2**63 - 1) // 1_000_000)


def clamp_vote_score(score: float) -> float:
    """``score`` clamped into the ledgers' range (non-finite scores are the caller's to refuse)."""
    if math.isfinite(score) and abs(score) > MAX_VOTE_SCORE:
        return math.copysign(MAX_VOTE_SCORE, score)
    return score
