"""The roles and helpers the contract tests share: a chain, its accounts, deploying, asserting reverts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import Chain, CollectiveLearningClient
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain.signing import SECP256K1_ORDER, compact_signature, sign_vote

from .protocol_model import BatchEntry, VoteClaim

INITIAL = bytes([1]) * 32


@dataclass
class Setup:
    """A chain and its roles: the deployer, six would-be learners, an outsider, a selector."""

    chain: Chain
    deployer: LocalAccount
    people: list[LocalAccount]
    outsider: LocalAccount
    selector: LocalAccount

    @classmethod
    def on(cls, chain: Chain) -> Setup:
        accounts = chain.dev_accounts()
        return cls(chain, accounts[0], accounts[1:7], accounts[7], accounts[8])

    def deploy(self, n: int = 3, **settings: Any) -> tuple[CollectiveLearningClient, list[Any]]:
        """Deploy with the first ``n`` people as learners; return the client and them."""
        learners = self.people[:n]
        settings.setdefault("initial_model", INITIAL)
        client = CollectiveLearningClient.deploy(self.chain, self.deployer, [a.address for a in learners], **settings)
        return client, learners

    def past(self, last_block: int) -> None:
        """Mine so that the next transaction executes in block ``last_block + 1`` (or later)."""
        gap = last_block - self.chain.block_number()
        if gap > 0:
            self.chain.mine(gap)

    def next_tx_in(self, block: int) -> None:
        """Mine so that the next transaction executes exactly in ``block`` (each one mines its own)."""
        gap = block - self.chain.block_number() - 1
        if gap < 0:
            raise AssertionError(f"block {block} is already past: the test is mis-timed")
        if gap:
            self.chain.mine(gap)


def reverts(error: type[ce.ContractRevert], call: Callable[[], object], **fields: Any) -> None:
    """Assert that ``call`` raises exactly ``error`` carrying exactly ``fields``."""
    with pytest.raises(ce.ContractRevert) as info:
        call()
    exc = info.value
    assert type(exc) is error, f"expected {error.error_name}, got {exc!r}"
    assert exc.error_name == error.error_name
    assert exc.fields == fields
    for name, value in fields.items():
        assert getattr(exc, name) == value


# --------------------------------------------------------------------------------------------
# Signed votes: real signatures of what a VoteClaim says was signed
# --------------------------------------------------------------------------------------------

#: secp256k1's group order; a signature's ``s`` must be at most half of it (EIP-2).
ORDER = SECP256K1_ORDER
HALF_ORDER = ORDER // 2


def signature_words(claim: VoteClaim, key_of: dict[str, LocalAccount]) -> tuple[bytes, bytes]:
    """The compact ``(r, vs)`` signature of exactly ``claim``, by ``claim.signer``'s key.

    With ``claim.low_s`` false this is the signature's malleable twin ``(r, n - s, parity ^ 1)``,
    which recovers to the same key; in the compact form its ``s`` has the top bit set (for all
    but a 2**-127 fraction of signatures), so the contract reads it as another ``s`` and parity.
    """
    signed = sign_vote(
        key_of[claim.signer], claim.contract, claim.chain_id, claim.round, claim.weights,
        claim.approve, claim.score,
    )  # fmt: skip
    compact = compact_signature(signed.signature)
    r, vs = compact[:32], int.from_bytes(compact[32:], "big")
    if not claim.low_s:
        s, parity = vs & (2**255 - 1), vs >> 255
        vs = ((ORDER - s) % 2**256) ^ ((parity ^ 1) << 255)
    return r, vs.to_bytes(32, "big")


def entry_tuple(entry: BatchEntry, key_of: dict[str, LocalAccount]) -> tuple[int, bool, int, bytes, bytes]:
    """A model :class:`BatchEntry` as the contract's ``SignedVote`` (index, approve, score, r, vs)."""
    r, vs = signature_words(entry.claim, key_of)
    return entry.index, entry.approve, entry.score, r, vs


def honest_entry(
    client: CollectiveLearningClient, voter: LocalAccount, index: int, round: int, weights: bytes,
    approve: bool = True, score: int = 973_000, signed: dict[str, Any] | None = None,
) -> BatchEntry:
    """``voter``'s vote at ``index``, signed correctly unless ``signed`` changes what was signed."""
    claim = VoteClaim(
        signer=voter.address, chain_id=client.chain.chain_id, contract=client.address, round=round,
        weights=weights, approve=approve, score=score,
    )  # fmt: skip
    return BatchEntry(index, approve, score, replace(claim, **(signed or {})))
