"""Typed values of the driver contract: round status, round info, receipts and score fixed point."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from colearn_chain.chain.events import Event

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = bytes(32)
#: The `lastBlock` the contract reports for a window of 0 (it never closes).
NO_DEADLINE = 2**64 - 1
#: Votes carry scores as fixed-point integers with this many decimals (PROTOCOL.md).
SCORE_DECIMALS = 6
_SCALE = 1_000_000  # 10 ** SCORE_DECIMALS
_INT256_MAX = 2**255 - 1


class RoundStatus(IntEnum):
    """A round's status as ``roundInfo`` returns it."""

    PROPOSING = 0
    VOTING = 1
    ACCEPTED = 2
    REJECTED = 3
    SKIPPED = 4

    @property
    def ended(self) -> bool:
        """Whether the round is over (accepted, rejected or skipped)."""
        return self >= RoundStatus.ACCEPTED


@dataclass(frozen=True)
class RoundInfo:
    """Everything the chain holds about one round."""

    proposer: str
    weights: bytes
    manifest: bytes
    approvals: int
    rejections: int
    status: RoundStatus
    start_block: int
    proposed_block: int


@dataclass(frozen=True)
class Receipt:
    """A mined, successful transaction: where it landed, what it cost, what it emitted."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    events: list[Event] = field(default_factory=list)
    contract_address: str | None = None


def score_to_fixed(score: float) -> int:
    """A vote score as the contract's fixed-point integer (0.973 -> 973000), rounded to nearest.

    Non-finite scores cannot be represented on chain; they are refused here rather than
    silently turned into a misleading number.
    """
    if not math.isfinite(score):
        raise ValueError(f"vote score must be finite, got {score!r}")
    fixed = round(score * _SCALE)
    if abs(fixed) > _INT256_MAX:
        raise ValueError(f"vote score {score!r} does not fit in int256")
    return int(fixed)


def fixed_to_score(fixed: int) -> float:
    """The float vote score of a fixed-point integer read from the chain."""
    return fixed / _SCALE


@dataclass(frozen=True)
class SignedVote:
    """A voter's EIP-712 signed vote on one proposal of one round (PROTOCOL.md v2).

    Anyone can relay it with ``submitVotes``; the contract checks the signature against the
    learner at the voter's index. ``signature`` is the 65-byte ``r || s || v`` eth-account makes;
    the client sends it in EIP-2098's 64-byte compact form (cheaper calldata).
    """

    voter: str
    round: int
    weights: bytes
    approve: bool
    score: int
    signature: bytes
