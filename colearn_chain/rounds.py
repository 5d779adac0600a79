"""The round step shared by the simulation and by real participants: test, vote, adopt.

These are the parts of a round that involve a learner and a blob from the store, written once:
a voter fetches the proposal by its hash, refuses anything the store or the codec rejects (with
the reason, never a crash), and otherwise tests it with its own ``mli_test_weights``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from colearn_chain.errors import ColearnError
from colearn_chain.interface import MachineLearningInterface, Weights, onnx_to_weights
from colearn_chain.weights.store import BlobNotFound, ContentStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoteDecision:
    """A learner's verdict on a proposal, and the decoded weights when it could load them."""

    approve: bool
    score: float
    reason: str | None
    weights: Weights | None


def load_proposal(learner: MachineLearningInterface, store: ContentStore, digest: str) -> Weights:
    """Fetch ``digest`` and decode it in the layout of ``learner``'s current weights.

    Raises
    ------
    BlobNotFound
        The store has no blob that hashes to ``digest``.
    ColearnValueError
        The blob is not valid weights for this learner's model (see the codec's errors).
    """
    blob = store.get(digest)
    return onnx_to_weights(blob, learner.mli_get_current_weights())


def decide_vote(
    learner: MachineLearningInterface, store: ContentStore, digest: str, who: str = "learner"
) -> VoteDecision:
    """Fetch, check and test a proposal; an unusable proposal is a reject with its reason."""
    try:
        weights = load_proposal(learner, store, digest)
    except BlobNotFound as exc:
        reason = f"proposal {digest[:12]}... is missing or corrupt in the store: {exc}"
        log.warning("%s rejects: %s", who, reason)
        return VoteDecision(False, 0.0, reason, None)
    except ColearnError as exc:
        reason = f"proposal {digest[:12]}... is not a valid model: {exc}"
        log.warning("%s rejects: %s", who, reason)
        return VoteDecision(False, 0.0, reason, None)
    proposed = learner.mli_test_weights(weights)
    if not math.isfinite(proposed.vote_score):
        reason = f"vote score of proposal {digest[:12]}... is not finite ({proposed.vote_score})"
        log.warning("%s rejects: %s", who, reason)
        return VoteDecision(False, 0.0, reason, weights)
    return VoteDecision(bool(proposed.vote), float(proposed.vote_score), None, weights)


def adopt(
    learner: MachineLearningInterface, store: ContentStore, digest: str, decoded: Weights | None = None
) -> None:
    """Make the accepted model ``digest`` the learner's current model."""
    weights = decoded if decoded is not None else load_proposal(learner, store, digest)
    learner.mli_accept_weights(weights)
