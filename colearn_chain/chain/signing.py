"""EIP-712 signed votes (PROTOCOL.md v2), made with eth-account's typed-data signing.

The typed data is spelled out once here, exactly as the contract declares it, and eth-account
does every hash and the signature (no hand-rolled EIP-712 hashing): a test checks that
``voteDigest`` on chain equals eth-account's digest of the same message.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from colearn_chain.chain.types import SignedVote
from colearn_chain.errors import ColearnValueError

DOMAIN_NAME = "CollectiveLearning"
DOMAIN_VERSION = "2"
VOTE_TYPES: dict[str, list[dict[str, str]]] = {
    "Vote": [
        {"name": "round", "type": "uint256"},
        {"name": "weights", "type": "bytes32"},
        {"name": "approve", "type": "bool"},
        {"name": "score", "type": "int64"},
    ]
}
_INT64 = 2**63
#: secp256k1's group order: a valid low-s signature has s <= order // 2.
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def vote_domain(contract: str, chain_id: int) -> dict[str, Any]:
    """The EIP-712 domain of one experiment's votes (what ``eip712Domain()`` returns)."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": int(chain_id),
        "verifyingContract": to_checksum_address(contract),
    }


def vote_message(round: int, weights: bytes, approve: bool, score: int) -> dict[str, Any]:
    """The ``Vote`` message, its values checked against their Solidity types."""
    if not isinstance(weights, bytes | bytearray) or len(weights) != 32:
        raise ColearnValueError(f"weights must be 32 bytes, got {weights!r}")
    if not 0 <= round < 2**256:
        raise ColearnValueError(f"round must be a uint256, got {round}")
    if not -_INT64 <= score < _INT64:
        raise ColearnValueError(f"a signed vote's score must fit in int64, got {score}")
    return {"round": int(round), "weights": bytes(weights), "approve": bool(approve), "score": int(score)}


def vote_digest(contract: str, chain_id: int, round: int, weights: bytes, approve: bool, score: int) -> bytes:
    """The EIP-712 digest of a vote, encoded by eth-account (equals the contract's ``voteDigest``).

    eth-account's ``encode_typed_data`` does the EIP-712 work (domain separator and struct hash,
    in the signable message's header and body); the digest is EIP-191's keccak of
    ``0x19 || version || header || body``, exactly what ``Account.sign_typed_data`` signs.
    """
    signable = encode_typed_data(
        domain_data=vote_domain(contract, chain_id),
        message_types=VOTE_TYPES,
        message_data=vote_message(round, weights, approve, score),
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_vote(
    account: LocalAccount,
    contract: str,
    chain_id: int,
    round: int,
    weights: bytes,
    approve: bool,
    score: int,
) -> SignedVote:
    """``account``'s signed vote on proposal ``weights`` of ``round`` in experiment ``contract``."""
    signed = Account.sign_typed_data(
        account.key,
        domain_data=vote_domain(contract, chain_id),
        message_types=VOTE_TYPES,
        message_data=vote_message(round, weights, approve, score),
    )
    return SignedVote(
        voter=account.address,
        round=int(round),
        weights=bytes(weights),
        approve=bool(approve),
        score=int(score),
        signature=bytes(signed.signature),
    )


def compact_signature(signature: bytes) -> bytes:
    """EIP-2098's 64-byte ``r || vs`` form of a 65-byte ``r || s || v`` signature (v 27/28 or 0/1)."""
    if len(signature) == 64:
        return bytes(signature)
    if len(signature) != 65:
        raise ColearnValueError(f"a signature is 64 or 65 bytes, got {len(signature)}")
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    parity = v - 27 if v >= 27 else v
    if parity not in (0, 1) or s >= 2**255:
        raise ColearnValueError("not a signature that has a compact form (v or s out of range)")
    return r + (s | (parity << 255)).to_bytes(32, "big")
