"""The contract's events as typed records, decoded from raw logs the same way on every backend."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from colearn_chain.chain.abi_codec import AbiCodec


@dataclass(frozen=True)
class RawLog:
    """A log as a node stores it; ``log_index`` is its position in its block."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    log_index: int
    tx_hash: bytes


@dataclass(frozen=True)
class Event:
    """Where an event happened; every contract event record extends this."""

    block_number: int
    log_index: int
    tx_hash: bytes


@dataclass(frozen=True)
class LearnerRegistered(Event):
    index: int
    learner: str


@dataclass(frozen=True)
class ProposerNominated(Event):
    round: int
    proposer: str
    selector: str


@dataclass(frozen=True)
class UpdateContributed(Event):
    round: int
    learner: str
    weights: bytes


@dataclass(frozen=True)
class WeightsProposed(Event):
    round: int
    proposer: str
    weights: bytes
    manifest: bytes


@dataclass(frozen=True)
class VoteCast(Event):
    round: int
    voter: str
    approve: bool
    score: int


@dataclass(frozen=True)
class RoundFinalized(Event):
    round: int
    accepted: bool
    approvals: int
    rejections: int
    global_model: bytes


@dataclass(frozen=True)
class RoundSkipped(Event):
    round: int
    proposer: str


EVENT_CLASSES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        LearnerRegistered,
        ProposerNominated,
        UpdateContributed,
        WeightsProposed,
        VoteCast,
        RoundFinalized,
        RoundSkipped,
    )
}


def event_fields(event: Event) -> dict[str, Any]:
    """An event's Solidity fields (without its position), for comparisons and JSON."""
    return {k: v for k, v in vars(event).items() if k not in ("block_number", "log_index", "tx_hash")}


def decode_logs(codec: AbiCodec, logs: Iterable[RawLog]) -> list[Event]:
    """Typed events of the logs whose first topic is one of the contract's events."""
    events: list[Event] = []
    for log in logs:
        spec = codec.events_by_topic.get(log.topics[0]) if log.topics else None
        if spec is None:
            continue
        fields = spec.decode_log(log.topics, log.data)
        events.append(
            EVENT_CLASSES[spec.name](
                block_number=log.block_number, log_index=log.log_index, tx_hash=log.tx_hash, **fields
            )
        )
    return events
