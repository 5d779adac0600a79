"""How a separate participant's signed vote travels (PROTOCOL.md v2): through the shared store.

A voter signs its vote (EIP-712) and puts it in the content store as a small JSON envelope; the
round's relayer (its proposer) collects the envelopes of the round and relays them in one
``submitVotes`` transaction. The store is content-addressed (blobs have no names), so the
relayer finds envelopes by listing the store and reading only the blobs it has not seen before.

Nothing in the store is trusted: the relayer keeps an envelope only if it is for this contract,
chain, round and proposal and its signature recovers to the learner it names, so a forged or
replayed vote is dropped here and never makes the relayer's batch revert (one bad entry would
revert the whole ``submitVotes``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from colearn_chain.chain.signing import VOTE_TYPES, vote_domain, vote_message
from colearn_chain.chain.types import SignedVote
from colearn_chain.errors import ColearnError
from colearn_chain.weights.digest import Digest
from colearn_chain.weights.errors import StoreUnavailable
from colearn_chain.weights.store import BlobNotFound, ContentStore

log = logging.getLogger(__name__)

#: The envelope's ``kind``: what tells a vote from the models in the same store.
ENVELOPE_KIND = "colearn-chain/signed-vote/v2"
#: Envelopes are a few hundred bytes; anything much larger is not one (and is not parsed).
MAX_ENVELOPE_BYTES = 4096


@dataclass(frozen=True)
class VoteEnvelope:
    """A signed vote as it sits in the store: the vote, its signature, and where it belongs."""

    contract: str
    chain_id: int
    vote: SignedVote

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the same vote always makes the same blob."""
        vote = self.vote
        body = {
            "kind": ENVELOPE_KIND,
            "contract": to_checksum_address(self.contract),
            "chainId": self.chain_id,
            "round": vote.round,
            "voter": to_checksum_address(vote.voter),
            "weights": "0x" + vote.weights.hex(),
            "approve": vote.approve,
            "score": vote.score,
            "signature": "0x" + vote.signature.hex(),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> VoteEnvelope | None:
        """The envelope in ``blob``, or None for anything else (a model, junk, a malformed vote)."""
        if len(blob) > MAX_ENVELOPE_BYTES or not blob.startswith(b"{"):
            return None
        try:
            body = json.loads(blob)
            if not isinstance(body, dict) or body.get("kind") != ENVELOPE_KIND:
                return None
            vote = SignedVote(
                voter=to_checksum_address(body["voter"]),
                round=_integer(body["round"]),
                weights=bytes.fromhex(str(body["weights"]).removeprefix("0x")),
                approve=_boolean(body["approve"]),
                score=_integer(body["score"]),
                signature=bytes.fromhex(str(body["signature"]).removeprefix("0x")),
            )
            return cls(to_checksum_address(body["contract"]), _integer(body["chainId"]), vote)
        except (ValueError, KeyError, TypeError):
            return None


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"not a boolean: {value!r}")
    return value


def vote_signer(contract: str, chain_id: int, vote: SignedVote) -> str | None:
    """The address ``vote``'s signature recovers to for this experiment, or None if it is no signature.

    eth-account rebuilds the EIP-712 message and recovers the signer, as the contract does.
    """
    try:
        signable = encode_typed_data(
            domain_data=vote_domain(contract, chain_id),
            message_types=VOTE_TYPES,
            message_data=vote_message(vote.round, vote.weights, vote.approve, vote.score),
        )
        signer: str = Account.recover_message(signable, signature=vote.signature)
        return to_checksum_address(signer)
    except (ValueError, TypeError, ColearnError):
        return None


def post_vote(store: ContentStore, contract: str, chain_id: int, vote: SignedVote) -> Digest:
    """Put ``vote`` in the store for the round's relayer; the same vote is the same blob."""
    return Digest(store.put(VoteEnvelope(contract, chain_id, vote).to_bytes()))


class VoteCollector:
    """A relayer's view of the store: the valid signed votes of each round found so far.

    Each blob is read once (its digest is remembered, vote or not), so polling costs the new
    blobs only.

    Parameters
    ----------
    store:
        The shared content store the voters post to.
    contract, chain_id:
        The experiment: an envelope for another one is dropped.
    learners:
        The contract's learners, in order.
    """

    def __init__(self, store: ContentStore, contract: str, chain_id: int, learners: Iterable[str]) -> None:
        self.store = store
        self.contract = to_checksum_address(contract)
        self.chain_id = chain_id
        self.learners = [to_checksum_address(a) for a in learners]
        self._seen: set[str] = set()
        #: Valid votes by (round, proposal hash), then by voter.
        self._votes: dict[tuple[int, bytes], dict[str, SignedVote]] = {}

    def ignore(self, digests: Iterable[str]) -> None:
        """Blobs known not to be votes (the round's proposal, its contributions): never read."""
        self._seen.update(Digest(d) for d in digests)

    def votes(self, round: int, weights: bytes) -> Mapping[str, SignedVote]:
        """The valid votes found for proposal ``weights`` of ``round``, by voter (reads new blobs first)."""
        for digest in self.store.list():
            if digest in self._seen:
                continue
            self._seen.add(digest)
            try:
                envelope = VoteEnvelope.from_bytes(self.store.get(digest))
            except StoreUnavailable:
                self._seen.discard(digest)  # not read, not judged: read again once the store answers
                raise
            except (BlobNotFound, ColearnError):
                continue  # gone, corrupt or too large: not a vote this relayer can use
            if envelope is not None:
                self._keep(envelope, digest)
        return dict(self._votes.get((round, bytes(weights)), {}))

    def _keep(self, envelope: VoteEnvelope, digest: str) -> None:
        vote = envelope.vote
        if envelope.contract != self.contract or envelope.chain_id != self.chain_id:
            return  # another experiment's vote: not ours to relay
        if vote.voter not in self.learners:
            log.warning("signed vote %s names %s, who is not a learner: dropped", digest[:12], vote.voter)
            return
        if vote_signer(self.contract, self.chain_id, vote) != vote.voter:
            log.warning(
                "signed vote %s for round %d is not %s's signature (forged, or replayed from another vote): dropped",
                digest[:12], vote.round, vote.voter,
            )  # fmt: skip
            return
        self._votes.setdefault((vote.round, vote.weights), {})[vote.voter] = vote
