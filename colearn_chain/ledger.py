"""Where rounds are decided: the driver contract on a chain, or an in-memory stand-in.

Both implement one interface with the tally of PROTOCOL.md (the proposer does not vote;
accepted iff ``approvals * 10000 >= thresholdBps * (n - 1)``; the last vote closes the round),
so the same experiment gives the same votes and the same accepted hashes on both. The
in-memory ledger runs rounds synchronously in one process, as colearn's standalone driver does,
and is the baseline against which the chain's cost is measured.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from eth_account.signers.local import LocalAccount

from colearn_chain.chain import CollectiveLearningClient, score_to_fixed
from colearn_chain.chain import events as ev
from colearn_chain.chain.types import ZERO_ADDRESS, ZERO_HASH, Receipt, fixed_to_score
from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.weights.digest import Digest


@dataclass(frozen=True)
class RoundOutcome:
    """How a round ended: the tally and the global model after it.

    The fields of the contract's ``RoundFinalized`` event, without its place in the chain (the
    in-memory ledger has none): the chain ledger builds it from the event's fields by name.
    """

    round: int
    accepted: bool
    approvals: int
    rejections: int
    global_model: bytes


class Ballot(NamedTuple):
    """One learner's vote in a round's batch: who (by index), the verdict and its score."""

    learner: int
    approve: bool
    score: float


def threshold_to_bps(threshold: float) -> int:
    """A vote threshold in (0, 1] as the contract's basis points."""
    if not 0 < threshold <= 1:
        raise ColearnValueError(f"threshold must be in (0, 1], got {threshold}")
    return max(1, round(threshold * 10_000))


def fixed_point_score(score: float) -> float:
    """The score as the ledger keeps it: rounded to the contract's 6 decimals."""
    return fixed_to_score(score_to_fixed(score))


class Ledger(abc.ABC):
    """The round-deciding authority, as the experiment loop sees it."""

    #: Each learner's identity on the ledger (an address), by index.
    learner_ids: list[str]

    @property
    @abc.abstractmethod
    def contract(self) -> str | None:
        """The contract's address, or None off-chain."""

    @property
    @abc.abstractmethod
    def chain_id(self) -> int | None:
        """The chain's id, or None off-chain."""

    @abc.abstractmethod
    def proposer(self, round: int) -> int | None:
        """The index of ``round``'s proposer (None while a selector has not nominated)."""

    @abc.abstractmethod
    def nominate(self, round: int, learner: int) -> None:
        """Have the selector nominate ``learner`` for ``round``."""

    @abc.abstractmethod
    def contribute(self, learner: int, round: int, weights: bytes) -> None:
        """Record ``learner``'s update offered to ``round``'s aggregating proposer."""

    @abc.abstractmethod
    def propose(self, learner: int, round: int, weights: bytes, manifest: bytes) -> RoundOutcome | None:
        """Record the proposal; returns the outcome if that ended the round (n == 1)."""

    @abc.abstractmethod
    def vote(self, learner: int, round: int, approve: bool, score: float) -> RoundOutcome | None:
        """Record a vote; returns the outcome if it was the last eligible vote."""

    @abc.abstractmethod
    def vote_all(self, round: int, votes: Sequence[tuple[int, bool, float]]) -> RoundOutcome | None:
        """Record a round's votes at once, in learner order, as the contract's ``submitVotes``.

        ``votes`` holds ``(learner, approve, score)`` entries (:class:`Ballot`), in any order. A
        learner may appear once; the proposer may not appear. A learner who already voted is
        skipped, as the contract skips it. Returns the outcome if the batch closed the round.
        """

    @abc.abstractmethod
    def skip(self, round: int) -> RoundOutcome:
        """End ``round`` without a proposal (its proposer's privacy budget is spent)."""

    @abc.abstractmethod
    def global_model(self) -> bytes:
        """The current global model's hash."""


class InMemoryLedger(Ledger):
    """PROTOCOL.md's rules and tally in memory: no chain, no gas, no signatures, no deadlines.

    Every call the contract would revert is refused with :class:`ColearnRuntimeError` (a test
    checks each call against the protocol's reference model, so ``run --in-memory`` cannot drift
    from the contract).

    ``initial_model`` is the starting model's digest in any spelling (hex or ``bytes32``).

    Without a clock there are no deadlines, so :meth:`skip` stands for "the proposal window
    has passed": it is allowed on the round in progress as long as nobody has proposed (the
    contract's remaining ``skip`` conditions), and refused otherwise. The simulation calls it
    only when the proposer's privacy budget is spent.
    """

    def __init__(
        self,
        learner_ids: Sequence[str],
        threshold: float,
        initial_model: bytes | str,
        selector_mode: bool = False,
    ) -> None:
        if not learner_ids:
            raise ColearnValueError("an experiment needs at least one learner")
        self.learner_ids = list(learner_ids)
        self.threshold_bps = threshold_to_bps(threshold)
        self._global = Digest(initial_model).bytes32
        self._selector_mode = selector_mode
        self._nominee: int | None = None
        self._round = 0
        self._proposal: bytes | None = None
        self._voted: set[int] = set()
        self._contributed: set[int] = set()
        self._approvals = 0

    @property
    def contract(self) -> str | None:
        return None

    @property
    def chain_id(self) -> int | None:
        return None

    def proposer(self, round: int) -> int | None:
        if self._selector_mode:
            return self._nominee
        return round % len(self.learner_ids)

    def nominate(self, round: int, learner: int) -> None:
        if not self._selector_mode:
            raise ColearnRuntimeError("this experiment has no selector: nobody may nominate")
        self._check_round(round)
        self._check_learner(learner)
        if self._nominee is not None or self._proposal is not None:
            raise ColearnRuntimeError(f"round {round} already has its proposer")
        self._nominee = learner

    def contribute(self, learner: int, round: int, weights: bytes) -> None:
        self._check_round(round)
        self._check_learner(learner)
        if self._proposal is not None or learner in self._contributed or weights == ZERO_HASH:
            raise ColearnRuntimeError(f"learner {learner} may not contribute in round {round}")
        self._contributed.add(learner)

    def propose(self, learner: int, round: int, weights: bytes, manifest: bytes) -> RoundOutcome | None:
        self._check_round(round)
        if learner != self.proposer(round) or self._proposal is not None or weights == ZERO_HASH:
            raise ColearnRuntimeError(f"learner {learner} may not propose in round {round}")
        self._proposal = weights
        if len(self.learner_ids) == 1:
            return self._end()
        return None

    def vote(self, learner: int, round: int, approve: bool, score: float) -> RoundOutcome | None:
        self._check_round(round)
        self._check_learner(learner)
        if self._proposal is None or learner == self.proposer(round) or learner in self._voted:
            raise ColearnRuntimeError(f"learner {learner} may not vote in round {round}")
        self._voted.add(learner)
        self._approvals += int(approve)
        if len(self._voted) == len(self.learner_ids) - 1:
            return self._end()
        return None

    def vote_all(self, round: int, votes: Sequence[tuple[int, bool, float]]) -> RoundOutcome | None:
        self._check_round(round)
        ballots = sorted((Ballot(*vote) for vote in votes), key=lambda ballot: ballot.learner)
        if self._proposal is None or not ballots:
            raise ColearnRuntimeError(f"round {round} has no proposal or the batch is empty")
        learners = [ballot.learner for ballot in ballots]
        for position, ballot in enumerate(ballots):
            self._check_learner(ballot.learner)
            if ballot.learner in learners[:position] or ballot.learner == self.proposer(round):
                raise ColearnRuntimeError(f"learner {ballot.learner} may not vote in round {round}'s batch")
        outcome = None
        for ballot in ballots:
            if ballot.learner not in self._voted:
                outcome = self.vote(ballot.learner, round, ballot.approve, ballot.score)
        return outcome

    def skip(self, round: int) -> RoundOutcome:
        self._check_round(round)
        if self._proposal is not None:
            raise ColearnRuntimeError(f"round {round} has a proposal: it cannot be skipped")
        outcome = RoundOutcome(self._round, False, 0, 0, self._global)
        self._round += 1
        self._nominee, self._contributed = None, set()
        return outcome

    def global_model(self) -> bytes:
        return self._global

    def _check_round(self, round: int) -> None:
        if round != self._round:
            raise ColearnRuntimeError(f"round {round} is not the round in progress ({self._round})")

    def _check_learner(self, learner: int) -> None:
        if not 0 <= learner < len(self.learner_ids):
            raise ColearnRuntimeError(f"{learner} is not a learner's index")

    def _end(self) -> RoundOutcome:
        voters = len(self.learner_ids) - 1
        accepted = self._approvals * 10_000 >= self.threshold_bps * voters
        assert self._proposal is not None
        if accepted:
            self._global = self._proposal
        outcome = RoundOutcome(self._round, accepted, self._approvals, len(self._voted) - self._approvals, self._global)
        self._round += 1
        self._proposal, self._nominee, self._voted, self._contributed, self._approvals = None, None, set(), set(), 0
        return outcome


class ChainLedger(Ledger):
    """The driver contract: every proposal and vote is signed by its learner's own account.

    A proposal is its proposer's transaction; a round's votes are each voter's EIP-712
    signature, relayed by the proposer in one ``submitVotes`` transaction (:meth:`vote_all`),
    or a voter's own ``vote`` transaction (:meth:`vote`).
    """

    def __init__(
        self,
        client: CollectiveLearningClient,
        accounts: Sequence[LocalAccount],
        selector: LocalAccount | None = None,
    ) -> None:
        self.client = client
        self.accounts = list(accounts)
        self.learner_ids = [a.address for a in accounts]
        self.selector = selector
        self._index = {address: i for i, address in enumerate(self.learner_ids)}
        #: What this ledger proposed, by round: the hash voters sign and the relaying proposer.
        self._proposals: dict[int, tuple[int, bytes]] = {}
        self._nominees: dict[int, int] = {}
        self._rotates: bool | None = None

    @property
    def contract(self) -> str | None:
        return self.client.address

    @property
    def chain_id(self) -> int | None:
        return self.client.chain.chain_id

    def proposer(self, round: int) -> int | None:
        """The proposer, from what this ledger knows where it can (no view call per round).

        Without a selector the contract rotates (``round mod n``, PROTOCOL.md); with one, the
        learner this ledger nominated. Only a round nominated elsewhere asks ``roundInfo``.
        """
        if self._rotates is None:  # read once: a deployment's selector never changes
            self._rotates = self.client.selector() == ZERO_ADDRESS
        if self._rotates:
            return round % len(self.learner_ids)
        if round in self._nominees:
            return self._nominees[round]
        address = self.client.round_info(round).proposer
        return self._index.get(address)

    def nominate(self, round: int, learner: int) -> None:
        if self.selector is None:
            raise ColearnValueError("this experiment was deployed without a selector: it cannot nominate")
        self.client.nominate(self.selector, round, self.learner_ids[learner])
        self._nominees = {round: learner}

    def contribute(self, learner: int, round: int, weights: bytes) -> None:
        self.client.contribute(self.accounts[learner], round, weights)

    def propose(self, learner: int, round: int, weights: bytes, manifest: bytes) -> RoundOutcome | None:
        receipt = self.client.propose(self.accounts[learner], round, weights, manifest or ZERO_HASH)
        self._proposals = {round: (learner, weights)}
        return _outcome(receipt)

    def vote(self, learner: int, round: int, approve: bool, score: float) -> RoundOutcome | None:
        receipt = self.client.vote(self.accounts[learner], round, approve, score_to_fixed(score))
        return _outcome(receipt)

    def vote_all(self, round: int, votes: Sequence[tuple[int, bool, float]]) -> RoundOutcome | None:
        if round in self._proposals:
            proposer, weights = self._proposals[round]
        else:  # proposed by someone else: the chain says what was proposed, and by whom
            info = self.client.round_info(round)
            proposer, weights = self._index.get(info.proposer, 0), info.weights
        signed = [
            self.client.sign_vote(self.accounts[learner], round, weights, approve, score_to_fixed(score))
            for learner, approve, score in votes
        ]
        receipt = self.client.submit_votes(self.accounts[proposer], round, signed)
        return _outcome(receipt)

    def skip(self, round: int) -> RoundOutcome:
        """Let the proposal window pass (mining empty blocks) and ``skip`` the round on chain."""
        window = self.client.proposal_window()
        if window == 0:
            raise ColearnRuntimeError("the contract was deployed without a proposal window: no round can be skipped")
        chain = self.client.chain
        last_open = self.client.round_info(round).start_block + window
        if chain.block_number() < last_open:
            chain.mine(last_open - chain.block_number())  # the skip lands in the block after these
        self.client.skip(self.accounts[0], round)
        return RoundOutcome(round, False, 0, 0, self.client.global_model())

    def global_model(self) -> bytes:
        return self.client.global_model()


def _outcome(receipt: Receipt) -> RoundOutcome | None:
    for event in receipt.events:
        if isinstance(event, ev.RoundFinalized):
            return RoundOutcome(**ev.event_fields(event))
    return None
