"""The round step shared by the simulation and by real participants: publish, test, vote, adopt.

These are the parts of a round that involve a learner, a blob and the store, written once: a
contributor or a proposer puts its blob (and manifest) in the store and records the hash on the
ledger; a voter fetches the proposal by its hash, refuses anything the store or the codec rejects
(with the reason, never a crash), and otherwise tests it with its own ``mli_test_weights``.

The ledger call is handed in as a function of the ``bytes32`` hashes (``Ledger.propose`` in the
simulation, the contract client's ``propose`` from a participant's account), so both runners
publish the same way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from colearn_chain.errors import ColearnError
from colearn_chain.interface import (
    MachineLearningInterface,
    ProposedWeights,
    UnpublishableWeights,
    Weights,
    onnx_to_weights,
    publishable_onnx,
)
from colearn_chain.learner_guard import clamp_vote_score
from colearn_chain.privacy import budget_exceeded, privacy_manifest
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.weights.codec import Array, WeightsSpec, decode_weights
from colearn_chain.weights.digest import Digest, bytes32_or_zero
from colearn_chain.weights.errors import StoreUnavailable
from colearn_chain.weights.store import BlobNotFound, ContentStore

log = logging.getLogger(__name__)


#: What the ledger call returned (a round's outcome, a receipt).
Recorded = TypeVar("Recorded")


@dataclass(frozen=True)
class PublishedProposal(Generic[Recorded]):
    """A proposal in the store and on the ledger: its hashes, and what the ledger call returned."""

    weights: Digest
    manifest: Digest | None
    recorded: Recorded


def publish_contribution(
    learner: MachineLearningInterface, store: ContentStore, record: Callable[[bytes], object], who: str = "learner"
) -> Digest | None:
    """Train ``learner``'s update of the global model, store it and record its hash on the ledger.

    ``record(weights)`` is the ledger's ``contribute`` for this learner and round. See
    :func:`publish_update`.
    """
    return publish_update(learner.mli_propose_weights(), store, record, who)


def publish_update(
    weights: Weights, store: ContentStore, record: Callable[[bytes], object], who: str = "learner"
) -> Digest | None:
    """Store a trained update (``mli_propose_weights``'s result) and record its hash on the ledger.

    Only checked ONNX is published: bytes that are not a valid model (a pickle, say) raise
    :class:`~colearn_chain.interface.UnpublishableWeights` naming ``who``. A learner whose
    privacy budget is spent (``DP_BUDGET_EXCEEDED``) has no update: nothing is stored or
    recorded and the result is None.
    """
    if budget_exceeded(weights.training_summary):
        return None
    digest = Digest(store.put(publishable_onnx(weights, who)))
    record(digest.bytes32)
    return digest


def make_checked_proposal(
    strategy: ProposalStrategy, context: RoundContext, proposer: int, contributions: Mapping[int, str], who: str
) -> Proposal:
    """The strategy's proposal, with a private proposal described by a privacy manifest.

    A proposer whose bytes are not a valid model raises
    :class:`~colearn_chain.interface.UnpublishableWeights` naming ``who``. A proposal made
    with differential privacy and no manifest of its own gets one saying what it spent
    (:func:`~colearn_chain.privacy.privacy_manifest`); a proposal whose training summary says
    ``DP_BUDGET_EXCEEDED`` comes back unchanged: the caller skips the round.
    """
    try:
        proposal = strategy.make_proposal(context, proposer, contributions)
    except UnpublishableWeights as exc:
        raise UnpublishableWeights(f"{who}: {exc}") from exc
    summary = proposal.training_summary
    if proposal.manifest is None and summary is not None and not budget_exceeded(summary):
        described = privacy_manifest(strategy.name, context.round, context.learner_ids[proposer], summary)
        if described is not None:
            proposal = replace(proposal, manifest=described)
    return proposal


def publish_proposal(
    store: ContentStore, proposal: Proposal, record: Callable[[bytes, bytes], Recorded]
) -> PublishedProposal[Recorded]:
    """Store a proposal's weights and manifest, then record both hashes on the ledger.

    ``record(weights, manifest)`` is the ledger's ``propose`` for this proposer and round; a
    proposal without a manifest records the zero hash. Both blobs are in the store before the
    ledger hears of them, so no voter can see a hash it cannot fetch.
    """
    weights = Digest(store.put(proposal.weights))
    manifest = Digest(store.put(proposal.manifest)) if proposal.manifest is not None else None
    return PublishedProposal(weights, manifest, record(weights.bytes32, bytes32_or_zero(manifest)))


@dataclass(frozen=True)
class VoteDecision:
    """A learner's verdict on a proposal, and the decoded weights when it could load them."""

    approve: bool
    score: float
    reason: str | None
    weights: Weights | None


class SharedProposals:
    """Proposals fetched, verified and decoded once, for every voter of one process.

    In ``run`` every learner votes in the same process: each one fetching, re-hashing and
    decoding the same blob would repeat the same work n - 1 times. This keeps, per digest, the
    verified blob (or the store's refusal) and, per digest and receiving layout, the decoded
    arrays (or the codec's refusal). A learner whose layout differs is still checked against
    its own: the codec's check is keyed by the layout, never skipped. Every caller gets arrays
    of its own (copies), so no learner can change another's model. One instance per round: a
    store's contents do not change under a digest, but a round's cache should not outlive it.
    """

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self._blobs: dict[str, bytes | BlobNotFound] = {}
        self._decoded: dict[tuple[str, WeightsSpec], dict[str, Array] | ColearnError] = {}

    def blob(self, digest: str) -> bytes:
        """The verified blob ``digest`` (the store is asked once; its refusal is kept too)."""
        key = Digest(digest)
        if key not in self._blobs:
            try:
                self._blobs[key] = self.store.get(key)
            except BlobNotFound as exc:
                self._blobs[key] = exc
        found = self._blobs[key]
        if isinstance(found, BlobNotFound):
            raise found
        return found

    def load(self, learner: MachineLearningInterface, digest: str) -> Weights:
        """``digest`` decoded in the layout of ``learner``'s current weights (see :func:`load_proposal`)."""
        return self.load_like(learner.mli_get_current_weights(), digest)

    def load_like(self, like: Weights, digest: str) -> Weights:
        """``digest`` decoded in the layout of ``like`` (a learner's current weights)."""
        key = Digest(digest)

        def decode(blob: bytes, spec: WeightsSpec) -> dict[str, Array]:
            if (key, spec) not in self._decoded:
                try:
                    self._decoded[key, spec] = decode_weights(blob, spec=spec)
                except ColearnError as exc:
                    self._decoded[key, spec] = exc
            decoded = self._decoded[key, spec]
            if isinstance(decoded, ColearnError):
                raise decoded
            return {name: array.copy() for name, array in decoded.items()}

        return onnx_to_weights(self.blob(key), like, decode)


def load_proposal(
    learner: MachineLearningInterface, store: ContentStore, digest: str, shared: SharedProposals | None = None
) -> Weights:
    """Fetch ``digest`` and decode it in the layout of ``learner``'s current weights.

    With ``shared``, the fetch and the decoding are done once for all the learners using it.

    Raises
    ------
    BlobNotFound
        The store has no blob that hashes to ``digest``.
    ColearnValueError
        The blob is not valid weights for this learner's model (see the codec's errors).
    """
    if shared is not None:
        return shared.load(learner, digest)
    blob = store.get(digest)
    return onnx_to_weights(blob, learner.mli_get_current_weights())


def decide_vote(
    learner: MachineLearningInterface,
    store: ContentStore,
    digest: str,
    who: str = "learner",
    shared: SharedProposals | None = None,
) -> VoteDecision:
    """Fetch, check and test a proposal; an unusable proposal is a reject with its reason.

    An unreachable store (:class:`StoreUnavailable`) is raised, not voted on: an outage says
    nothing about the proposal, and the participant retries until the store answers.
    """
    loaded = load_for_vote(learner, store, digest, who, shared)
    if isinstance(loaded, VoteDecision):
        return loaded
    return judge_test(learner.mli_test_weights(loaded), digest, who)


def load_for_vote(
    learner: MachineLearningInterface,
    store: ContentStore,
    digest: str,
    who: str = "learner",
    shared: SharedProposals | None = None,
    like: Weights | None = None,
) -> Weights | VoteDecision:
    """The first half of :func:`decide_vote`: the proposal in ``learner``'s layout, or a reject.

    ``like`` is the learner's current weights when the caller already has them (the layout to
    decode into); a missing, corrupt or invalid blob is a reject with its reason, an unreachable
    store (:class:`StoreUnavailable`) an error: the outage says nothing about the proposal.
    """
    try:
        if like is not None and shared is not None:
            return shared.load_like(like, digest)
        return load_proposal(learner, store, digest, shared)
    except StoreUnavailable:
        raise
    except BlobNotFound as exc:
        reason = f"proposal {digest[:12]}... is missing or corrupt in the store: {exc}"
        log.warning("%s rejects: %s", who, reason)
        return VoteDecision(False, 0.0, reason, None)
    except ColearnError as exc:
        reason = f"proposal {digest[:12]}... is not a valid model: {exc}"
        log.warning("%s rejects: %s", who, reason)
        return VoteDecision(False, 0.0, reason, None)


def judge_test(proposed: ProposedWeights, digest: str, who: str = "learner") -> VoteDecision:
    """The second half of :func:`decide_vote`: the learner's test as a vote (a non-finite score rejects)."""
    if not math.isfinite(proposed.vote_score):
        reason = f"vote score of proposal {digest[:12]}... is not finite ({proposed.vote_score})"
        log.warning("%s rejects: %s", who, reason)
        return VoteDecision(False, 0.0, reason, proposed.weights)
    score = clamp_vote_score(float(proposed.vote_score))
    if score != proposed.vote_score:
        log.warning("%s: vote score %g is beyond what a ledger keeps; recorded as %g", who, proposed.vote_score, score)
    return VoteDecision(bool(proposed.vote), score, None, proposed.weights)


def adopt(
    learner: MachineLearningInterface,
    store: ContentStore,
    digest: str,
    decoded: Weights | None = None,
    shared: SharedProposals | None = None,
) -> None:
    """Make the accepted model ``digest`` the learner's current model."""
    weights = decoded if decoded is not None else load_proposal(learner, store, digest, shared)
    learner.mli_accept_weights(weights)
