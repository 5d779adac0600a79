"""A pure-Python reference model of PROTOCOL.md v2: the oracle the contract is tested against.

Signed votes are modelled by what their signature signs (:class:`VoteClaim`), not by ECDSA: a
signature is valid iff it is the named learner's, over exactly the vote in the entry, for this
round's proposal, under this contract's domain (chain id and address), with a low ``s``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = bytes(32)
NO_DEADLINE = 2**64 - 1
"""The ``last_block`` that ``VotingOpen``/``ProposalWindowOpen`` report for a window of 0."""
BPS = 10_000
PROTOCOL_VERSION = 2


class Status(IntEnum):
    """A round's status, numbered as ``roundInfo`` returns it."""

    PROPOSING = 0
    VOTING = 1
    ACCEPTED = 2
    REJECTED = 3
    SKIPPED = 4


class ModelRevert(Exception):
    """A call the protocol rejects: the Solidity error's name and its fields (snake_case).

    Parameters
    ----------
    name
        The error's name in PROTOCOL.md, e.g. ``"WrongRound"``.
    fields
        The error's fields as the client decodes them, e.g. ``{"current": 1, "given": 0}``.
    """

    def __init__(self, name: str, fields: dict[str, Any] | None = None) -> None:
        self.name = name
        self.fields: dict[str, Any] = dict(fields or {})
        super().__init__(f"{name}({self.fields})")


# --------------------------------------------------------------------------------------------
# Events: one frozen dataclass per Solidity event, fields in snake_case as the client names them
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnerRegistered:
    """``LearnerRegistered(index, learner)``."""

    index: int
    learner: str


@dataclass(frozen=True)
class ProposerNominated:
    """``ProposerNominated(round, proposer, selector)``."""

    round: int
    proposer: str
    selector: str


@dataclass(frozen=True)
class UpdateContributed:
    """``UpdateContributed(round, learner, weights)``."""

    round: int
    learner: str
    weights: bytes


@dataclass(frozen=True)
class WeightsProposed:
    """``WeightsProposed(round, proposer, weights, manifest)``."""

    round: int
    proposer: str
    weights: bytes
    manifest: bytes


@dataclass(frozen=True)
class VoteCast:
    """``VoteCast(round, voter, approve, score)``."""

    round: int
    voter: str
    approve: bool
    score: int


@dataclass(frozen=True)
class RoundFinalized:
    """``RoundFinalized(round, accepted, approvals, rejections, global_model)``."""

    round: int
    accepted: bool
    approvals: int
    rejections: int
    global_model: bytes


@dataclass(frozen=True)
class RoundSkipped:
    """``RoundSkipped(round, proposer)``."""

    round: int
    proposer: str


ModelEvent = (
    LearnerRegistered
    | ProposerNominated
    | UpdateContributed
    | WeightsProposed
    | VoteCast
    | RoundFinalized
    | RoundSkipped
)


def event_key(event: ModelEvent) -> tuple[str, dict[str, Any]]:
    """Return ``(event name, fields)``: the shape contract events are compared in."""
    return type(event).__name__, asdict(event)


@dataclass(frozen=True)
class RoundInfo:
    """What ``roundInfo(round)`` returns, in the same order."""

    proposer: str = ZERO_ADDRESS
    weights: bytes = ZERO_HASH
    manifest: bytes = ZERO_HASH
    approvals: int = 0
    rejections: int = 0
    status: int = 0
    start_block: int = 0
    proposed_block: int = 0


@dataclass(frozen=True, kw_only=True)
class Config:
    """The constructor's arguments, named as in PROTOCOL.md (snake_case).

    Addresses are compared as given, so pass them all in one spelling (checksum, as the
    client returns them).
    """

    learners: tuple[str, ...]
    threshold_bps: int = 5000
    proposal_window: int = 0
    voting_window: int = 0
    max_rounds: int = 0
    initial_model: bytes
    selector: str = ZERO_ADDRESS
    start_block: int = 0


@dataclass(frozen=True)
class VoteClaim:
    """What a signed vote's signature really signs, and whose key made it.

    A test builds the real signature from exactly these values, so the model can judge it
    without doing any cryptography.
    """

    signer: str
    chain_id: int
    contract: str
    round: int
    weights: bytes
    approve: bool
    score: int
    low_s: bool = True


@dataclass(frozen=True)
class BatchEntry:
    """One ``SignedVote`` of a ``submitVotes`` batch: the learner index, the vote, its signature."""

    index: int
    approve: bool
    score: int
    claim: VoteClaim


@dataclass
class _Round:
    """The mutable state of one started round."""

    proposer: str
    start_block: int
    status: Status = Status.PROPOSING
    weights: bytes = ZERO_HASH
    manifest: bytes = ZERO_HASH
    approvals: int = 0
    rejections: int = 0
    proposed_block: int = 0
    voters: set[str] = field(default_factory=set)
    contributors: set[str] = field(default_factory=set)


class ProtocolModel:
    """The protocol as a state machine: one method per contract function, one per view.

    Every state-changing method takes the sender, the call's arguments and the number of the
    block the call executes in, and returns the events the call emits, in order, or raises
    :class:`ModelRevert` with the first failing check in PROTOCOL.md's table order (a raising
    call changes nothing). It is written for obviousness, not speed: it is the oracle.

    Parameters
    ----------
    config
        The constructor's arguments.
    block_number
        The deployment block: round 0 starts at ``max(block_number, config.start_block)``.
    chain_id, address
        Where the contract lives: the EIP-712 domain its signed votes must name.

    Raises
    ------
    ModelRevert
        In the order PROTOCOL.md lists them: ``NoLearners``, then per learner in order
        ``DuplicateLearner`` or ``ZeroAddress``, then ``ThresholdOutOfRange``, then
        ``EmptyWeights``.
    """

    def __init__(
        self, config: Config, block_number: int, chain_id: int = 0, address: str = ZERO_ADDRESS
    ) -> None:
        if not config.learners:
            raise ModelRevert("NoLearners")
        seen: set[str] = set()
        for learner in config.learners:
            if learner in seen:
                raise ModelRevert("DuplicateLearner", {"learner": learner})
            if learner == ZERO_ADDRESS:
                raise ModelRevert("ZeroAddress")
            seen.add(learner)
        if not 1 <= config.threshold_bps <= BPS:
            raise ModelRevert("ThresholdOutOfRange", {"threshold_bps": config.threshold_bps})
        if config.initial_model == ZERO_HASH:
            raise ModelRevert("EmptyWeights")
        self.config = config
        self.chain_id = chain_id
        self.address = address
        self.deployment_events: list[ModelEvent] = [
            LearnerRegistered(index=i, learner=a) for i, a in enumerate(config.learners)
        ]
        self._global_model = config.initial_model
        self._current_round = 0
        self._rounds: list[_Round] = [self._start_round(0, max(block_number, config.start_block))]

    # ----------------------------------------------------------------------------------------
    # Views
    # ----------------------------------------------------------------------------------------

    def learners(self) -> list[str]:
        """The registered learners, in order."""
        return list(self.config.learners)

    def learner_count(self) -> int:
        """The number of learners, ``n``."""
        return len(self.config.learners)

    def is_learner(self, account: str) -> bool:
        """Whether ``account`` is registered."""
        return account in self.config.learners

    def current_round(self) -> int:
        """The round in progress (``max_rounds`` once finished)."""
        return self._current_round

    def current_proposer(self) -> str:
        """The current round's proposer: zero before a nomination and once finished."""
        if self.finished():
            return ZERO_ADDRESS
        return self._rounds[self._current_round].proposer

    def global_model(self) -> bytes:
        """The initial model, or the weights of the last accepted proposal."""
        return self._global_model

    def initial_model(self) -> bytes:
        """The constructor's initial model."""
        return self.config.initial_model

    def threshold_bps(self) -> int:
        """The vote threshold, in basis points of the ``n - 1`` voters."""
        return self.config.threshold_bps

    def proposal_window(self) -> int:
        """Blocks a round waits for its proposal (0: forever)."""
        return self.config.proposal_window

    def voting_window(self) -> int:
        """Blocks a proposal waits for its votes (0: forever)."""
        return self.config.voting_window

    def max_rounds(self) -> int:
        """Rounds the experiment lasts (0: unlimited)."""
        return self.config.max_rounds

    def selector(self) -> str:
        """The selector, or zero in round-robin mode."""
        return self.config.selector

    def finished(self) -> bool:
        """Whether ``max_rounds`` rounds have ended."""
        return self.config.max_rounds != 0 and self._current_round >= self.config.max_rounds

    def round_info(self, round: int) -> RoundInfo:
        """Everything about ``round``: all zeros for a round that has not started."""
        if not 0 <= round < len(self._rounds):
            return RoundInfo()
        r = self._rounds[round]
        return RoundInfo(
            proposer=r.proposer,
            weights=r.weights,
            manifest=r.manifest,
            approvals=r.approvals,
            rejections=r.rejections,
            status=int(r.status),
            start_block=r.start_block,
            proposed_block=r.proposed_block,
        )

    def protocol_version(self) -> int:
        """The protocol version, 2."""
        return PROTOCOL_VERSION

    def has_voted(self, round: int, voter: str) -> bool:
        """Whether ``voter`` voted in ``round``, the round in progress (False for any other)."""
        if self.finished() or round != self._current_round:
            return False
        return voter in self._rounds[round].voters

    def voters(self, round: int) -> frozenset[str]:
        """Who has voted in ``round`` (not a contract view: it lets tests pick likely voters)."""
        if not 0 <= round < len(self._rounds):
            return frozenset()
        return frozenset(self._rounds[round].voters)

    # ----------------------------------------------------------------------------------------
    # State-changing calls
    # ----------------------------------------------------------------------------------------

    def propose(
        self, sender: str, round: int, weights: bytes, manifest: bytes, block_number: int
    ) -> list[ModelEvent]:
        """The proposer proposes ``weights``; with ``n == 1`` the round is accepted at once."""
        r = self._check_round(round)
        if r.proposer == ZERO_ADDRESS or sender != r.proposer:
            raise ModelRevert("NotProposer", {"sender": sender, "proposer": r.proposer})
        if r.status != Status.PROPOSING:
            raise ModelRevert("AlreadyProposed", {"round": round})
        if weights == ZERO_HASH:
            raise ModelRevert("EmptyWeights")
        self._check_proposal_window(r, round, block_number)
        r.weights, r.manifest = weights, manifest
        r.proposed_block, r.status = block_number, Status.VOTING
        events: list[ModelEvent] = [WeightsProposed(round, sender, weights, manifest)]
        if self.learner_count() == 1:
            events.append(self._end_round(block_number))
        return events

    def contribute(
        self, sender: str, round: int, weights: bytes, block_number: int
    ) -> list[ModelEvent]:
        """A learner offers an update to the proposer, once a round, before the proposal.

        ``block_number`` is unused (contributions have no window) but kept so that every
        call has the same shape.
        """
        r = self._check_round(round)
        if not self.is_learner(sender):
            raise ModelRevert("NotLearner", {"account": sender})
        if r.status != Status.PROPOSING:
            raise ModelRevert("AlreadyProposed", {"round": round})
        if sender in r.contributors:
            raise ModelRevert("AlreadyContributed", {"round": round, "learner": sender})
        if weights == ZERO_HASH:
            raise ModelRevert("EmptyWeights")
        r.contributors.add(sender)
        return [UpdateContributed(round, sender, weights)]

    def vote(
        self, sender: str, round: int, approve: bool, score: int, block_number: int
    ) -> list[ModelEvent]:
        """A voter votes once; the last of the ``n - 1`` votes finalizes the round."""
        r = self._check_round(round)
        if not self.is_learner(sender):
            raise ModelRevert("NotLearner", {"account": sender})
        if r.status != Status.VOTING:
            raise ModelRevert("NoProposal", {"round": round})
        if sender == r.proposer:
            raise ModelRevert("ProposerCannotVote", {"proposer": sender})
        if sender in r.voters:
            raise ModelRevert("AlreadyVoted", {"round": round, "voter": sender})
        window = self.config.voting_window
        if window != 0 and block_number > r.proposed_block + window:
            raise ModelRevert(
                "VotingClosed", {"round": round, "last_block": r.proposed_block + window}
            )
        r.voters.add(sender)
        if approve:
            r.approvals += 1
        else:
            r.rejections += 1
        events: list[ModelEvent] = [VoteCast(round, sender, approve, score)]
        if len(r.voters) == self.learner_count() - 1:
            events.append(self._end_round(block_number))
        return events

    def submit_votes(
        self, sender: str, round: int, entries: list[BatchEntry], block_number: int
    ) -> list[ModelEvent]:
        """Anyone relays signed votes; each counted entry is exactly that voter's ``vote``.

        The whole batch is checked before anything is counted (a revert changes nothing).
        Entries of voters who have already voted are skipped; once the batch's last eligible
        vote has ended the round, every voter has voted, so the remaining entries (still
        checked against the round's proposal) are all skipped.
        """
        r = self._check_round(round)
        if r.status != Status.VOTING:
            raise ModelRevert("NoProposal", {"round": round})
        window = self.config.voting_window
        if window != 0 and block_number > r.proposed_block + window:
            raise ModelRevert(
                "VotingClosed", {"round": round, "last_block": r.proposed_block + window}
            )
        if not entries:
            raise ModelRevert("EmptyBatch")
        learners = self.config.learners
        for position, entry in enumerate(entries):
            if position and entry.index <= entries[position - 1].index:
                raise ModelRevert("UnsortedVotes", {"position": position})
            if not self._signed_by_its_learner(entry, round, r.weights):
                raise ModelRevert("BadVoteSignature", {"index": entry.index})
            if learners[entry.index] == r.proposer:
                raise ModelRevert("ProposerCannotVote", {"proposer": r.proposer})
        events: list[ModelEvent] = []
        for entry in entries:
            if learners[entry.index] not in r.voters:
                events += self.vote(learners[entry.index], round, entry.approve, entry.score, block_number)
        return events

    def _signed_by_its_learner(self, entry: BatchEntry, round: int, weights: bytes) -> bool:
        """Whether ``entry``'s signature is valid for this round's proposal (PROTOCOL.md v2)."""
        learners = self.config.learners
        if not 0 <= entry.index < len(learners):
            return False
        signed = entry.claim
        expected = VoteClaim(
            signer=learners[entry.index],
            chain_id=self.chain_id,
            contract=self.address,
            round=round,
            weights=weights,
            approve=entry.approve,
            score=entry.score,
            low_s=True,
        )
        return signed == expected

    def finalize(self, sender: str, round: int, block_number: int) -> list[ModelEvent]:
        """Anyone ends a round with the votes it has, once its voting window has passed."""
        r = self._check_round(round)
        if r.status != Status.VOTING:
            raise ModelRevert("NoProposal", {"round": round})
        window = self.config.voting_window
        last_block = NO_DEADLINE if window == 0 else r.proposed_block + window
        if window == 0 or block_number <= last_block:
            raise ModelRevert("VotingOpen", {"round": round, "last_block": last_block})
        return [self._end_round(block_number)]

    def skip(self, sender: str, round: int, block_number: int) -> list[ModelEvent]:
        """Anyone ends a round without a proposal, once its proposal window has passed."""
        r = self._check_round(round)
        if r.status != Status.PROPOSING:
            raise ModelRevert("AlreadyProposed", {"round": round})
        window = self.config.proposal_window
        last_block = NO_DEADLINE if window == 0 else r.start_block + window
        if window == 0 or block_number <= last_block:
            raise ModelRevert("ProposalWindowOpen", {"round": round, "last_block": last_block})
        r.status = Status.SKIPPED
        self._next_round(block_number)
        return [RoundSkipped(round, r.proposer)]

    def nominate(
        self, sender: str, round: int, proposer: str, block_number: int
    ) -> list[ModelEvent]:
        """The selector names the round's proposer, once, before the proposal, in the window."""
        if self.finished():
            raise ModelRevert("ExperimentFinished", {"max_rounds": self.config.max_rounds})
        if sender != self.config.selector:  # never true for the zero selector
            raise ModelRevert("NotSelector", {"sender": sender})
        if round != self._current_round:
            raise ModelRevert("WrongRound", {"current": self._current_round, "given": round})
        r = self._rounds[round]
        if not self.is_learner(proposer):
            raise ModelRevert("NotLearner", {"account": proposer})
        if r.proposer != ZERO_ADDRESS:
            raise ModelRevert("AlreadyNominated", {"round": round, "proposer": r.proposer})
        if r.status != Status.PROPOSING:
            raise ModelRevert("AlreadyProposed", {"round": round})
        self._check_proposal_window(r, round, block_number)
        r.proposer = proposer
        return [ProposerNominated(round, proposer, sender)]

    # ----------------------------------------------------------------------------------------
    # Internals
    # ----------------------------------------------------------------------------------------

    def _start_round(self, round: int, start_block: int) -> _Round:
        selector_mode = self.config.selector != ZERO_ADDRESS
        learners = self.config.learners
        proposer = ZERO_ADDRESS if selector_mode else learners[round % len(learners)]
        return _Round(proposer=proposer, start_block=start_block)

    def _check_round(self, round: int) -> _Round:
        if self.finished():
            raise ModelRevert("ExperimentFinished", {"max_rounds": self.config.max_rounds})
        if round != self._current_round:
            raise ModelRevert("WrongRound", {"current": self._current_round, "given": round})
        return self._rounds[round]

    def _check_proposal_window(self, r: _Round, round: int, block_number: int) -> None:
        window = self.config.proposal_window
        if window != 0 and block_number > r.start_block + window:
            raise ModelRevert(
                "ProposalWindowClosed", {"round": round, "last_block": r.start_block + window}
            )

    def _end_round(self, block_number: int) -> RoundFinalized:
        """Tally the current round (a missing vote is no approval) and open the next."""
        round = self._current_round
        r = self._rounds[round]
        accepted = r.approvals * BPS >= self.config.threshold_bps * (self.learner_count() - 1)
        r.status = Status.ACCEPTED if accepted else Status.REJECTED
        if accepted:
            self._global_model = r.weights
        self._next_round(block_number)
        return RoundFinalized(round, accepted, r.approvals, r.rejections, self._global_model)

    def _next_round(self, block_number: int) -> None:
        """Move on; the new round starts at ``block_number`` unless the experiment is over."""
        self._current_round += 1
        if not self.finished():
            self._rounds.append(self._start_round(self._current_round, block_number))
