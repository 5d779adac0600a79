"""When a deployed experiment's windows close, in blocks and in wall-clock time.

Deadlines are counted in blocks, but people start processes by the clock: ``deploy --start-in``
turns a delay (blocks, or a duration converted with the node's measured block time) into
PROTOCOL v2's ``startBlock``, so that every participant has started before round 0's proposal
window runs, and ``deploy`` says when that window closes. ``learner`` uses
:func:`late_start_warning` to say so when it joins a round whose window has already closed.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from colearn_chain.chain import Chain, CollectiveLearningClient, RoundStatus
from colearn_chain.errors import ColearnValueError

#: Blocks looked back over to measure the block time.
BLOCK_TIME_SAMPLE = 64
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h)$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class StartIn:
    """How long round 0 waits before its proposal window runs: ``blocks`` or ``seconds``."""

    blocks: int | None = None
    seconds: float | None = None

    def in_blocks(self, block_seconds: float | None) -> int:
        """The delay in blocks; a duration needs the node's block time (``block_seconds``)."""
        if self.blocks is not None:
            return self.blocks
        assert self.seconds is not None
        if block_seconds is None:
            raise ColearnValueError(
                "cannot convert --start-in to blocks: the node's block time is unknown (too few blocks, "
                "or blocks only on transactions); give --start-in as a number of blocks"
            )
        return math.ceil(self.seconds / block_seconds)


def parse_start_in(text: str) -> StartIn:
    """``--start-in``: a number of blocks (``120``) or a duration (``90s``, ``2m``, ``1.5h``)."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return StartIn(blocks=int(cleaned))
    duration = _DURATION.match(cleaned)
    if duration is None:
        raise ColearnValueError(f"--start-in takes blocks (120) or a duration (90s, 2m, 1h), got {text!r}")
    return StartIn(seconds=float(duration.group(1)) * _UNIT_SECONDS[duration.group(2)])


def estimate_block_seconds(chain: Chain, sample: int = BLOCK_TIME_SAMPLE) -> float | None:
    """Mean seconds per block over the last ``sample`` blocks; None if it cannot be told.

    Timestamps have a resolution of one second and a node that mines on transactions as well as
    on a timer (Anvil's ``--mixed-mining``) adds blocks between ticks: the estimate is then short,
    which errs towards more blocks for a duration, i.e. more time for the participants.
    """
    head = chain.block_number()
    oldest = max(0, head - sample)
    if head == oldest:
        return None
    span = chain.block_timestamp(head) - chain.block_timestamp(oldest)
    return span / (head - oldest) if span > 0 else None


@dataclass(frozen=True)
class WindowClose:
    """The last block in which a window still accepts its transaction, and when that is."""

    block: int
    #: Seconds from now until that block is mined (None: the block time is unknown).
    seconds_from_now: float | None

    def describe(self) -> str:
        """``block 1254 (in about 140 s, at 05:58:10 UTC)``."""
        if self.seconds_from_now is None:
            return f"block {self.block} (block time unknown)"
        at = datetime.fromtimestamp(time.time() + self.seconds_from_now, UTC).strftime("%H:%M:%S UTC")
        return f"block {self.block} (in about {max(0.0, self.seconds_from_now):.0f} s, at {at})"


def window_close(chain: Chain, last_block: int, block_seconds: float | None) -> WindowClose:
    """When ``last_block`` is mined, estimated from the current block and ``block_seconds``."""
    if block_seconds is None:
        return WindowClose(last_block, None)
    return WindowClose(last_block, (last_block - chain.block_number()) * block_seconds)


def round_zero_schedule(client: CollectiveLearningClient, block_seconds: float | None) -> str:
    """One line about round 0: the block it starts at and when its proposal window closes."""
    start = client.round_info(0).start_block
    window = client.proposal_window()
    if window == 0:
        return f"round 0 starts at block {start} and waits for its proposal (no proposal window)"
    close = window_close(client.chain, start + window, block_seconds)
    return (
        f"round 0 starts at block {start}; its proposal window closes after {close.describe()}: "
        "start every learner before then"
    )


def late_start_warning(client: CollectiveLearningClient) -> str | None:
    """A one-line warning if the current round's open window has already closed, else None.

    A learner that joins then cannot take part in that round: nobody proposed in time (it will
    be skipped), or the votes are closed (it will be finalized without this learner's vote).
    """
    if client.finished():
        return None
    round_index = client.current_round()
    info = client.round_info(round_index)
    block = client.chain.block_number()
    if info.status is RoundStatus.PROPOSING and client.proposal_window():
        closed_at = info.start_block + client.proposal_window()
        if block >= closed_at:  # the next transaction lands after the window
            return (
                f"started after round {round_index}'s proposal window closed (block {closed_at}, now {block}): "
                "the round will be skipped; deploy with --start-in to give every learner time to start"
            )
    if info.status is RoundStatus.VOTING and client.voting_window():
        closed_at = info.proposed_block + client.voting_window()
        if block >= closed_at:  # the next transaction lands after the window
            return (
                f"started after round {round_index}'s voting window closed (block {closed_at}, now {block}): "
                "the round will be finalized without this learner's vote"
            )
    return None
