"""check_learner: validate a user's learner against the interface contract before an experiment."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import onnx

from colearn_chain.errors import ColearnError, ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    ModelFormat,
    ProposedWeights,
    Weights,
    onnx_to_weights,
    weights_to_onnx,
)
from colearn_chain.weights.onnx_model import is_full_model

__all__ = ["MLI_METHODS", "LearnerCheckError", "LearnerCheckWarning", "check_learner"]

#: The five methods every learner implements.
MLI_METHODS = (
    "mli_propose_weights",
    "mli_test_weights",
    "mli_accept_weights",
    "mli_get_current_weights",
    "mli_get_current_model",
)

T = TypeVar("T")


class LearnerCheckError(ColearnValueError):
    """A learner breaks the interface contract; the message says which rule and what to do."""


class LearnerCheckWarning(UserWarning):
    """A learner looks suspicious (e.g. vote and test sets seem shared) but may be correct."""


class _Checker:
    """One run of the checks on one learner, with its messages prefixed by the learner's name."""

    def __init__(self, learner: Any) -> None:
        from colearn_chain.learner_guard import GuardedLearner

        if isinstance(learner, GuardedLearner):
            learner = learner.inner  # the checks name and call the user's learner itself
        self.learner = learner
        self.name = type(learner).__name__

    def fail(self, message: str) -> LearnerCheckError:
        """The error for a broken rule."""
        return LearnerCheckError(f"check_learner({self.name}): {message}")

    def warn(self, message: str) -> None:
        """Warn about a suspicious property."""
        warnings.warn(LearnerCheckWarning(f"check_learner({self.name}): {message}"), stacklevel=4)

    def call(self, method: str, *args: Any) -> Any:
        """Call a learner method, turning any exception into a LearnerCheckError."""
        try:
            return getattr(self.learner, method)(*args)
        except Exception as exc:
            raise self.fail(f"{method} raised {type(exc).__name__}: {exc}") from exc

    def typed(self, method: str, value: Any, kind: type[T]) -> T:
        """Check that a method returned the interface's model type."""
        if not isinstance(value, kind):
            raise self.fail(
                f"{method} returned {type(value).__name__}, expected colearn_chain.interface.{kind.__name__}"
            )
        return value

    def to_onnx(self, weights: Weights, what: str) -> bytes:
        """The ONNX bytes of ``weights``, or a clear error if they cannot be converted."""
        try:
            return weights_to_onnx(weights)
        except (ColearnError, ValueError, TypeError) as exc:
            raise self.fail(
                f"{what} cannot be converted to ONNX ({exc}): hand over a list or dict of numpy arrays, or ONNX bytes"
            ) from exc

    def from_onnx(self, blob: bytes, like: Weights, what: str) -> Weights:
        """Decode ``blob`` in the layout of ``like``, or a clear error."""
        try:
            return onnx_to_weights(blob, like)
        except (ColearnError, ValueError, TypeError) as exc:
            raise self.fail(f"{what} do not survive the ONNX round trip: {exc}") from exc

    def current_blob(self) -> bytes:
        """The ONNX bytes of the learner's current weights."""
        current = self.typed("mli_get_current_weights", self.call("mli_get_current_weights"), Weights)
        return self.to_onnx(current, "the current weights")

    def scores(self, weights: Weights, what: str) -> ProposedWeights:
        """Test ``weights`` and check the verdict's types and finiteness."""
        result = self.typed("mli_test_weights", self.call("mli_test_weights", weights), ProposedWeights)
        for field in ("vote_score", "test_score"):
            value = getattr(result, field)
            if not isinstance(value, float | int) or not math.isfinite(value):
                raise self.fail(
                    f"mli_test_weights gave {what} a {field} of {value!r}: scores must be "
                    "finite numbers (check for empty vote/test sets or diverged training)"
                )
        if not isinstance(result.vote, bool):
            raise self.fail(
                f"mli_test_weights left vote={result.vote!r} for {what}: set it to True or "
                "False (approve iff strictly better than the current model)"
            )
        return result

    def same_model(self, a: bytes, b: bytes) -> bool:
        """Whether two blobs are the same model: equal bytes, or for full-graph ONNX models equal behaviour.

        A converter may legitimately give a model different bytes (graph names, node order)
        while it predicts the same; for such models the learner's own scores decide.
        """
        if a == b:
            return True
        if not (is_full_model(a) and is_full_model(b)):
            return False
        left = self.scores(Weights(weights=a), "the model before")
        right = self.scores(Weights(weights=b), "the model after")
        return _close(left.vote_score, right.vote_score) and _close(left.test_score, right.test_score)

    def unchanged(self, before: bytes, method: str, advice: str) -> None:
        """Fail if the current weights are no longer ``before`` (by behaviour for full models)."""
        if not self.same_model(self.current_blob(), before):
            raise self.fail(f"{method} changed the current weights: {advice}")


def _same_arrays(a: Weights, b: Weights) -> bool:
    """Whether two Weights hold equal arrays (or equal bytes), compared value by value."""
    if isinstance(a.weights, bytes | bytearray) or isinstance(b.weights, bytes | bytearray):
        return bool(a.weights == b.weights)
    left = list(a.weights.values() if isinstance(a.weights, Mapping) else a.weights)
    right = list(b.weights.values() if isinstance(b.weights, Mapping) else b.weights)
    return len(left) == len(right) and all(
        np.array_equal(np.asarray(_plain(x)), np.asarray(_plain(y))) for x, y in zip(left, right, strict=True)
    )


def _plain(value: Any) -> Any:
    """A torch tensor as numpy (duck-typed), anything else as is."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def _rows(data: Any) -> set[bytes] | None:
    """The feature rows of a learner's data set as bytes, when it exposes them as ``x``."""
    x = getattr(data, "x", None)
    if x is None:
        return None
    try:
        array = np.ascontiguousarray(np.asarray(_plain(x)))
    except (TypeError, ValueError):
        return None
    if array.ndim < 1 or array.shape[0] == 0:
        return None
    return {row.tobytes() for row in array.reshape(array.shape[0], -1)}


def _close(a: float, b: float) -> bool:
    """Scores equal up to float noise."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _check_shared_sets(checker: _Checker, own: ProposedWeights, new: ProposedWeights) -> None:
    """Warn when the vote and test sets look like the same data."""
    vote_data = getattr(checker.learner, "vote_data", None)
    test_data = getattr(checker.learner, "test_data", None)
    if vote_data is not None and vote_data is test_data:
        checker.warn("vote_data and test_data are the same object: keep the two sets apart")
        return
    vote_rows, test_rows = _rows(vote_data), _rows(test_data)
    if vote_rows and test_rows:
        shared = len(vote_rows & test_rows) / min(len(vote_rows), len(test_rows))
        if shared > 0.5:
            checker.warn(
                f"{shared:.0%} of the vote set's rows are also in the test set: keep the two "
                "sets apart, or test_score says nothing the vote did not"
            )
            return
    if _close(own.vote_score, own.test_score) and _close(new.vote_score, new.test_score):
        checker.warn(
            "vote_score equals test_score for two different models: are the vote and test "
            "sets the same data? keep them apart"
        )


def _check_model(checker: _Checker) -> None:
    """The current model must be a ColearnModel; an ONNX one must parse and pass onnx.checker."""
    model = checker.typed("mli_get_current_model", checker.call("mli_get_current_model"), ColearnModel)
    if model.model_format is ModelFormat.ONNX:
        if isinstance(model.model, onnx.ModelProto):  # what colearn's convert_model_to_onnx returns
            model = ColearnModel(model_format=model.model_format, model=model.model.SerializeToString())
        if not isinstance(model.model, bytes | bytearray):
            raise checker.fail(
                "mli_get_current_model says ONNX but model holds "
                f"{type(model.model).__name__}: put the serialized ONNX bytes in model"
            )
        try:
            onnx.checker.check_model(onnx.load_model_from_string(bytes(model.model)))
        except Exception as exc:
            raise checker.fail(f"mli_get_current_model returned bytes that are not a valid ONNX model: {exc}") from exc


def check_learner(learner: Any, *, fast: bool = False) -> None:
    """Check that ``learner`` keeps the interface's contract, as SB3's ``check_env`` does.

    Run it on a new learner before an experiment: a learner that changes its weights while
    proposing, votes for its own model, or whose weights do not survive the trip through
    ONNX would otherwise fail far away, rounds later, on other people's machines. It checks
    that

    - the five ``mli_*`` methods exist and return the interface's types;
    - the current weights, and a proposal, convert to ONNX and back unchanged, and the
      learner scores decoded weights exactly as it scored the originals;
    - ``mli_propose_weights`` and ``mli_test_weights`` leave the current weights unchanged,
      and a proposal differs from them;
    - scores are finite and a vote is cast; the current model is not voted for (approval
      means strictly better), and after ``mli_accept_weights`` the accepted weights are the
      current ones and are no longer voted for;
    - an ONNX model from ``mli_get_current_model`` is valid.

    It warns (:class:`LearnerCheckWarning`) when the vote and test sets look shared. The
    learner ends with the weights it started with. Models whose bytes may legitimately differ
    (full-graph ONNX, e.g. a converted random forest) are compared by the learner's scores.

    With ``fast``, only the checks that need no training run (the methods, the current
    weights' round trip and scores, the current model): what ``colearn-chain run --learner``
    checks before round 0, so a broken learner fails in seconds. (colearn's own examples
    approve a tie, ``vote_score <= new``, which the full check reports; the fast one does not.)

    Raises
    ------
    LearnerCheckError
        At the first broken rule, with a message saying what to fix.
    """
    checker = _Checker(learner)
    missing = [m for m in MLI_METHODS if not callable(getattr(learner, m, None))]
    if missing:
        raise checker.fail(
            f"missing {', '.join(missing)}: implement the five methods of "
            "colearn_chain.interface.MachineLearningInterface"
        )

    current = checker.typed("mli_get_current_weights", checker.call("mli_get_current_weights"), Weights)
    start = checker.to_onnx(current, "the current weights")
    decoded = checker.from_onnx(start, current, "the current weights")
    if not _same_arrays(decoded, current) or not checker.same_model(checker.to_onnx(decoded, ""), start):
        raise checker.fail("the current weights change in the ONNX round trip")
    _check_model(checker)
    if fast:
        own = checker.scores(current, "its current weights")
        again = checker.scores(decoded, "its decoded current weights")
        if not (_close(own.vote_score, again.vote_score) and _close(own.test_score, again.test_score)):
            raise checker.fail(
                f"weights do not survive the ONNX round trip: the current weights scored {own.vote_score} "
                f"but after ONNX {again.vote_score}"
            )
        return

    proposal = checker.typed("mli_propose_weights", checker.call("mli_propose_weights"), Weights)
    checker.unchanged(start, "mli_propose_weights", "train a copy of the model and return its weights")
    proposed = checker.to_onnx(proposal, "the proposed weights")
    if proposed == start:
        raise checker.fail(
            "mli_propose_weights returned the current weights unchanged: local training "
            "must change them (is the learning rate 0, or the train set empty?)"
        )
    decoded_proposal = checker.from_onnx(proposed, current, "the proposed weights")

    verdict = checker.scores(proposal, "the proposal")
    checker.unchanged(start, "mli_test_weights", "score a copy of the model, not the model")
    again = checker.scores(decoded_proposal, "the decoded proposal")
    if not (
        _close(verdict.vote_score, again.vote_score)
        and _close(verdict.test_score, again.test_score)
        and verdict.vote == again.vote
    ):
        raise checker.fail(
            "weights do not survive the ONNX round trip: the proposal scored "
            f"vote_score={verdict.vote_score}, test_score={verdict.test_score}, "
            f"vote={verdict.vote} but after ONNX vote_score={again.vote_score}, "
            f"test_score={again.test_score}, vote={again.vote}"
        )
    own = checker.scores(current, "its current weights")
    if own.vote:
        raise checker.fail(
            "mli_test_weights approves the learner's own current weights: approve only "
            "weights strictly better than the current model (colearn's rule)"
        )
    _check_shared_sets(checker, own, verdict)

    checker.call("mli_accept_weights", decoded_proposal)
    if not checker.same_model(checker.current_blob(), proposed):
        raise checker.fail(
            "after mli_accept_weights the current weights are not the accepted ones: load "
            "the given weights into the model"
        )
    if checker.scores(decoded_proposal, "the accepted weights").vote:
        raise checker.fail(
            "after accepting weights the learner still votes for them: refresh the current "
            "model's vote score in mli_accept_weights"
        )
    checker.call("mli_accept_weights", current)
    if not checker.same_model(checker.current_blob(), start):
        raise checker.fail(
            "accepting the original weights again did not restore them: "
            "mli_accept_weights must load exactly the weights it is given"
        )
