"""The experiment's history replayed from the contract's events, once, for every reader.

The audit's per-round report, the strategies' round history on a real chain (a participant's
:class:`~colearn_chain.strategies.base.RoundContext`) and the RL selector's public state all read
the same replay, so a strategy that looks at history sees on a chain exactly what it sees in an
in-process run (:func:`round_records` gives the same :class:`~colearn_chain.records.RoundRecord`
values the experiment loop writes, minus what only a simulation knows: the holdout accuracy and a
voter's reason for rejecting).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from colearn_chain.chain import events as ev
from colearn_chain.chain.types import ZERO_ADDRESS, ZERO_HASH, fixed_to_score
from colearn_chain.records import RoundRecord, VoteRecord, hex32

#: How a round stands: ``accepted``, ``rejected``, ``skipped`` or ``in progress``.
ENDED = ("accepted", "rejected", "skipped")


@dataclass
class ChainVote:
    """One vote as ``VoteCast`` recorded it (``score`` is the raw fixed-point integer)."""

    voter: str
    approve: bool
    score: int
    block: int


@dataclass
class ChainRound:
    """One round as the events tell it; hashes as 0x hex, None where there is none."""

    round: int
    proposer: str | None = None
    nominated_by: str | None = None
    weights: str | None = None
    manifest: str | None = None
    proposed_block: int | None = None
    contributions: list[tuple[str, str]] = field(default_factory=list)
    votes: list[ChainVote] = field(default_factory=list)
    outcome: str = "in progress"  # accepted | rejected | skipped | in progress
    approvals: int = 0
    rejections: int = 0
    global_model: str | None = None  # after the round
    ended_block: int | None = None

    @property
    def ended(self) -> bool:
        """Whether the round's outcome is public (accepted, rejected or skipped)."""
        return self.outcome in ENDED


@dataclass
class ChainHistory:
    """Every learner registered and every round the events mention, by round index."""

    initial_model: str | None
    learners: list[str]
    rounds: list[ChainRound]


def replay(events: Iterable[ev.Event], initial_model: bytes | None) -> ChainHistory:
    """Replay the events, in chain order, into per-round records.

    ``initial_model`` is the contract's ``initialModel()`` (public state the events do not
    repeat): the global model after a skipped round that no finalized round precedes. None
    leaves that global model unknown (None).
    """
    learners: list[str] = []
    rounds: dict[int, ChainRound] = {}

    def at(index: int) -> ChainRound:
        return rounds.setdefault(index, ChainRound(index))

    initial = hex32(initial_model) if initial_model is not None else None
    global_model = initial
    for event in events:
        if isinstance(event, ev.LearnerRegistered):
            learners.append(event.learner)
        elif isinstance(event, ev.ProposerNominated):
            at(event.round).proposer = event.proposer
            at(event.round).nominated_by = event.selector
        elif isinstance(event, ev.UpdateContributed):
            at(event.round).contributions.append((event.learner, hex32(event.weights)))
        elif isinstance(event, ev.WeightsProposed):
            record = at(event.round)
            record.proposer, record.weights = event.proposer, hex32(event.weights)
            record.manifest = None if event.manifest == ZERO_HASH else hex32(event.manifest)
            record.proposed_block = event.block_number
            record.outcome = "in progress"
        elif isinstance(event, ev.VoteCast):
            at(event.round).votes.append(ChainVote(event.voter, event.approve, event.score, event.block_number))
        elif isinstance(event, ev.RoundFinalized):
            record = at(event.round)
            record.outcome = "accepted" if event.accepted else "rejected"
            record.approvals, record.rejections = event.approvals, event.rejections
            global_model = hex32(event.global_model)
            record.global_model, record.ended_block = global_model, event.block_number
        elif isinstance(event, ev.RoundSkipped):
            record = at(event.round)
            record.outcome = "skipped"
            record.proposer = event.proposer if event.proposer != ZERO_ADDRESS else record.proposer
            record.global_model, record.ended_block = global_model, event.block_number
    return ChainHistory(initial, learners, [rounds[i] for i in sorted(rounds)])


def to_round_record(chain_round: ChainRound) -> RoundRecord:
    """An ended round as the experiment loop records it (what strategies read as history).

    The chain does not know the holdout accuracy (``test_accuracy`` is None) nor why a voter
    rejected (no ``reason``); a skipped round has no weights (``""``), no votes and, if no
    learner was due, the zero address as its proposer.
    """
    return RoundRecord(
        round=chain_round.round,
        proposer=chain_round.proposer or ZERO_ADDRESS,
        weights=chain_round.weights or "",
        manifest=chain_round.manifest,
        accepted=chain_round.outcome == "accepted",
        approvals=chain_round.approvals,
        rejections=chain_round.rejections,
        votes=[VoteRecord(v.voter, v.approve, fixed_to_score(v.score)) for v in chain_round.votes],
        test_accuracy=None,
        global_model=chain_round.global_model or "",
    )


def round_records(events: Iterable[ev.Event], initial_model: bytes | None = None) -> list[RoundRecord]:
    """The ended rounds of an event history as round records, oldest first.

    A round still in progress is left out: its outcome is not public yet. ``initial_model``
    (see :func:`replay`) only matters for the global model after a skipped round that no
    finalized round precedes (``""`` when not given).
    """
    return [to_round_record(r) for r in replay(events, initial_model).rounds if r.ended]


def public_record(record: RoundRecord) -> RoundRecord:
    """A simulation's round record without what the chain cannot know (accuracy, reject reasons).

    ``public_record(r)`` for a run's records equals :func:`round_records` of the same run's events.
    """
    votes = [VoteRecord(v.learner, v.approve, v.score) for v in record.votes]
    return RoundRecord(
        record.round, record.proposer, record.weights, record.manifest, record.accepted,
        record.approvals, record.rejections, votes, None, record.global_model,
    )  # fmt: skip
