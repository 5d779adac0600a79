"""One participant's loop against a real chain: driven by the chain's state, safe to restart.

Each step reads what the chain says now (round, status, proposer, who voted, the deadlines) and
takes at most one action: adopt the global model, contribute, propose, vote, skip or finalize.
Nothing is remembered that the chain and the store cannot give back, so a participant killed at
any point and started again never votes twice, never proposes twice, and picks up the current
global model. Expected races with other participants (someone else finalized first) are logged
and ignored; an unreachable node is retried with backoff, then reported as a clear failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, overload

from eth_account.signers.local import LocalAccount

from colearn_chain.chain import CollectiveLearningClient, RoundInfo, RoundStatus, score_to_fixed
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain import events as ev
from colearn_chain.chain.backends import ChainUnavailable
from colearn_chain.chain.types import ZERO_ADDRESS
from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.history import round_records
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.privacy import budget_exceeded, summary_of
from colearn_chain.records import RoundRecord
from colearn_chain.rounds import (
    VoteDecision,
    adopt,
    decide_vote,
    make_checked_proposal,
    publish_contribution,
    publish_proposal,
)
from colearn_chain.strategies.base import ProposalStrategy, RoundContext
from colearn_chain.vote_relay import VoteCollector, post_vote
from colearn_chain.weights.digest import Digest
from colearn_chain.weights.errors import StoreUnavailable
from colearn_chain.weights.store import BlobNotFound, ContentStore

if TYPE_CHECKING:
    from colearn_chain.chain.endpoint import RpcEndpoint
    from colearn_chain.deployment import Deployment

log = logging.getLogger("colearn_chain.participant")

#: Reverts that only mean another participant (or a deadline) got there first.
RACES = (
    ce.WrongRound,
    ce.AlreadyVoted,
    ce.AlreadyProposed,
    ce.AlreadyContributed,
    ce.NoProposal,
    ce.VotingOpen,
    ce.VotingClosed,
    ce.ProposalWindowOpen,
    ce.ProposalWindowClosed,
    ce.ExperimentFinished,
)


class NodeUnreachable(ColearnRuntimeError):
    """The node stayed unreachable for longer than the participant was told to wait."""


@dataclass(frozen=True)
class ParticipantSettings:
    """How a participant paces itself."""

    poll_interval: float = 0.2
    #: How long to keep retrying an unreachable node (seconds) before giving up.
    max_outage: float = 60.0
    #: First retry delay after a failed call; doubles up to ``max_retry_delay``.
    retry_delay: float = 0.5
    max_retry_delay: float = 8.0


class _OnlyMine(Sequence[MachineLearningInterface]):
    """The learner list a strategy sees in a participant: only this participant's own learner.

    A strategy running inside one participant can use its own learner (the proposer's private
    data); asking for another participant's learner is a bug, reported clearly.
    """

    def __init__(self, mine: int, learner: MachineLearningInterface, count: int) -> None:
        self._mine, self._learner, self._count = mine, learner, count

    @overload
    def __getitem__(self, index: int) -> MachineLearningInterface: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[MachineLearningInterface]: ...
    def __getitem__(self, index: int | slice) -> MachineLearningInterface | Sequence[MachineLearningInterface]:
        if isinstance(index, int) and index % self._count == self._mine:
            return self._learner
        raise ColearnRuntimeError(f"a participant can only use its own learner (#{self._mine}), not #{index}")

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[MachineLearningInterface]:
        raise ColearnRuntimeError("a participant cannot iterate over the other participants' learners")


class Participant:
    """Plays one learner's part in a deployed experiment until it finishes.

    Parameters
    ----------
    client:
        The contract, through a connection to a node.
    account:
        This participant's key (a registered learner).
    learner:
        This participant's learner (its private data inside).
    store:
        The shared content store.
    strategy:
        How this participant makes proposals (the deployment's strategy).
    """

    def __init__(
        self,
        client: CollectiveLearningClient,
        account: LocalAccount,
        learner: MachineLearningInterface,
        store: ContentStore,
        strategy: ProposalStrategy,
        settings: ParticipantSettings | None = None,
        seed: int = 0,
    ) -> None:
        self.client = client
        self.account = account
        self.learner = learner
        self.store = store
        self.strategy = strategy
        self.settings = settings or ParticipantSettings()
        self.seed = seed
        self.learners = client.learners()
        if account.address not in self.learners:
            raise ColearnRuntimeError(f"{account.address} is not a learner of the contract at {client.address}")
        self.index = self.learners.index(account.address)
        self.window_proposal = client.proposal_window()
        self.window_voting = client.voting_window()
        self.last_round = client.max_rounds() - 1  # -1: unlimited
        self._adopted: Digest | None = None
        self._spent_logged = False
        self._history_of: tuple[int, tuple[RoundRecord, ...]] | None = None
        #: The round whose signed vote this participant has put in the store, and for which proposal.
        self._posted: dict[int, bytes] = {}
        self._decided: tuple[tuple[int, bytes], VoteDecision] | None = None
        self._votes: VoteCollector | None = None

    @property
    def adopted_model(self) -> Digest | None:
        """The global model this participant's learner holds now (None before its first step)."""
        return self._adopted

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Step until the experiment is finished; raises NodeUnreachable after a long outage.

        An outage of the node or of a remote store (a host whose link is down) is retried
        with backoff for up to ``max_outage`` seconds: nothing is voted while it lasts.
        """
        log.info("learner %d (%s) joined %s", self.index, self.account.address, self.client.address)
        outage_started: float | None = None
        delay = self.settings.retry_delay
        while True:
            try:
                if self.client.finished():
                    self._adopt_global_model()
                    log.info("experiment finished at round %d", self.client.current_round())
                    return
                acted = self.step()
                outage_started, delay = None, self.settings.retry_delay
            except (ChainUnavailable, StoreUnavailable) as exc:
                what = "node" if isinstance(exc, ChainUnavailable) else "store"
                now = time.monotonic()
                outage_started = outage_started or now
                if now - outage_started > self.settings.max_outage:
                    raise NodeUnreachable(
                        f"the {what} has been unreachable for {now - outage_started:.0f} s, giving up: {exc}"
                    ) from exc
                log.warning("%s unreachable (%s); retrying in %.1f s", what, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.settings.max_retry_delay)
                continue
            if not acted:
                time.sleep(self.settings.poll_interval)

    def step(self) -> bool:
        """Take the one action the chain's state calls for now, if any; True if one was taken."""
        self._adopt_global_model()
        round_index = self.client.current_round()
        if 0 <= self.last_round < round_index:
            return False  # the last round just ended: run() sees the experiment finished next
        info = self.client.round_info(round_index)
        try:
            if info.status is RoundStatus.PROPOSING:
                return self._while_proposing(round_index, info)
            if info.status is RoundStatus.VOTING:
                return self._while_voting(round_index, info)
        except RACES as race:
            log.info("round %d: %s (another participant or a deadline got there first)", round_index, race)
            return True
        return False

    # -- phases ---------------------------------------------------------------------------
    def _while_proposing(self, round_index: int, info: RoundInfo) -> bool:
        block = self.client.chain.block_number()
        proposer = self.learners.index(info.proposer) if info.proposer != ZERO_ADDRESS else None
        history = self.client.events(from_block=info.start_block)
        contributed = {
            e.learner: e.weights for e in history if isinstance(e, ev.UpdateContributed) and e.round == round_index
        }
        context = self._context(round_index)
        expected = set(self.strategy.contributors(context, proposer)) if proposer is not None else set()
        proposal_open = not self.window_proposal or block + 1 <= info.start_block + self.window_proposal
        budget_spent = (self.index in expected or proposer == self.index) and budget_exceeded(summary_of(self.learner))
        if budget_spent and proposal_open:
            if not self._spent_logged:
                log.warning(
                    "round %d: privacy budget spent (DP_BUDGET_EXCEEDED): this learner no longer proposes or "
                    "contributes, and keeps voting", round_index,
                )  # fmt: skip
                self._spent_logged = True
            return False  # the proposal window passes and the round is skipped
        if self.index in expected and self.account.address not in contributed and proposal_open:
            record_update = partial(self.client.contribute, self.account, round_index)
            digest = publish_contribution(self.learner, self.store, record_update, who=f"learner {self.index}")
            if digest is None:
                return False  # spent while training: the window passes and the round is skipped
            log.info("round %d: contributed update %s", round_index, digest[:12])
            return True
        if proposer == self.index and proposal_open:
            have = {self.learners.index(address) for address in contributed}
            waiting = expected - have
            if waiting and not self._window_half_gone(block, info.start_block):
                return False
            contributions: dict[int, str] = {self.learners.index(a): Digest(w) for a, w in contributed.items()}
            who = f"learner {self.index}"
            proposal = make_checked_proposal(self.strategy, context, self.index, contributions, who)
            if budget_exceeded(proposal.training_summary):
                return False  # spent while proposing: the window passes and the round is skipped
            record_proposal = partial(self.client.propose, self.account, round_index)
            digest = publish_proposal(self.store, proposal, record_proposal).weights
            log.info("round %d: proposed %s", round_index, digest[:12])
            return True
        if not proposal_open:
            self.client.skip(self.account, round_index)
            log.info("round %d: skipped (no proposal within %d blocks)", round_index, self.window_proposal)
            return True
        return False

    def _while_voting(self, round_index: int, info: RoundInfo) -> bool:
        """Vote as PROTOCOL v2 says: signed vote in the store, the proposer relays, direct vote late.

        Without a voting window there is no deadline to pace the relay by: votes go directly.
        """
        block = self.client.chain.block_number()
        window = self.window_voting
        voting_open = not window or block + 1 <= info.proposed_block + window
        if not voting_open:
            self.client.finalize(self.account, round_index)
            log.info("round %d: finalized after the voting window", round_index)
            return True
        if info.proposer == self.account.address:
            return self._relay(round_index, info, block)
        if self.client.has_voted(round_index, self.account.address):
            return False
        decision = self._decision(round_index, info)
        late = block + 1 > info.proposed_block + (3 * window) // 4
        if window and not late:
            if self._posted.get(round_index) == info.weights:
                return False  # posted: the relayer has it, or the three-quarter mark will come
            signed = self.client.sign_vote(
                self.account, round_index, info.weights, decision.approve, score_to_fixed(decision.score)
            )
            envelope = post_vote(self.store, self.client.address, self.client.chain.chain_id, signed)
            self._posted = {round_index: info.weights}
            log.info("round %d: signed vote %s put in the store for the relayer", round_index, envelope[:12])
            return True
        self.client.vote(self.account, round_index, decision.approve, score_to_fixed(decision.score))
        verdict = "approve" if decision.approve else "reject"
        reason = f" ({decision.reason})" if decision.reason else ""
        how = "directly: no relayer counted it by 3/4 of the window" if window else "directly"
        log.info("round %d: voted %s %s, score %.6f%s", round_index, verdict, how, decision.score, reason)
        return True

    def _decision(self, round_index: int, info: RoundInfo) -> VoteDecision:
        """This learner's verdict on the round's proposal (tested once, kept for the direct fallback)."""
        key = (round_index, info.weights)
        if self._decided is None or self._decided[0] != key:
            digest = Digest(info.weights)
            self._decided = (key, decide_vote(self.learner, self.store, digest, who=f"learner {self.index}"))
        return self._decided[1]

    def _relay(self, round_index: int, info: RoundInfo, block: int) -> bool:
        """The proposer relays the signed votes it found once all are in or half the window has passed."""
        counted = {
            e.voter
            for e in self.client.events(from_block=info.proposed_block)
            if isinstance(e, ev.VoteCast) and e.round == round_index
        }
        voters = {a for a in self.learners if a != self.account.address}
        collector = self._collector()
        collector.ignore(d.hex() for d in (info.weights, info.manifest) if d != bytes(32))  # its proposal
        found = collector.votes(round_index, info.weights)
        waiting = [vote for voter, vote in found.items() if voter not in counted]
        if not waiting:
            return False
        everyone_in = voters <= counted | set(found)
        half_gone = block + 1 > info.proposed_block + self.window_voting // 2
        if not (everyone_in or half_gone):
            return False
        self.client.submit_votes(self.account, round_index, waiting)  # the client sorts them by learner
        log.info("round %d: relayed %d signed votes in one submitVotes", round_index, len(waiting))
        return True

    def _collector(self) -> VoteCollector:
        if self._votes is None:
            self._votes = VoteCollector(self.store, self.client.address, self.client.chain.chain_id, self.learners)
        return self._votes

    # -- helpers --------------------------------------------------------------------------
    def _adopt_global_model(self) -> None:
        """Make the chain's global model this learner's current model (once per model)."""
        model = Digest(self.client.global_model())
        if model == self._adopted:
            return
        try:
            adopt(self.learner, self.store, model)
        except BlobNotFound as exc:
            raise ColearnRuntimeError(
                f"the global model {model.prefixed} is not in the store {self.store!r}: is this the experiment's store?"
            ) from exc
        if self._adopted is not None:
            log.info("adopted global model %s", model[:12])
        self._adopted = model

    def _window_half_gone(self, block: int, start: int) -> bool:
        return bool(self.window_proposal) and block + 1 > start + self.window_proposal // 2

    def _history(self, round_index: int) -> tuple[RoundRecord, ...]:
        """The rounds before ``round_index`` as the chain's events tell them (read once per round).

        The same records the in-process loop hands its strategy (:mod:`colearn_chain.history`),
        so a strategy that reads history behaves the same here as in ``run``.
        """
        if self._history_of is None or self._history_of[0] != round_index:
            records = round_records(self.client.events(), self.client.initial_model())
            self._history_of = (round_index, tuple(r for r in records if r.round < round_index))
        return self._history_of[1]

    def _context(self, round_index: int) -> RoundContext:
        return RoundContext(
            round=round_index,
            learners=_OnlyMine(self.index, self.learner, len(self.learners)),
            learner_ids=self.learners,
            store=self.store,
            history=self._history(round_index),
            seed=self.seed,
        )


def join_experiment(
    deployment: Deployment,
    account: LocalAccount,
    store: ContentStore,
    *,
    rpc: str | RpcEndpoint | None = None,
    data: Path | None = None,
    partition: str = "iid",
    index: int | None = None,
    settings: ParticipantSettings | None = None,
) -> Participant:
    """``account``'s participant in a deployed experiment (``colearn-chain learner``), ready to run.

    Its learner is the deployment's: its shard ``index`` of the task under ``partition`` (by
    default its position among the learners), or the task's model on its own ``data`` file.

    Parameters
    ----------
    store:
        The content store, already open: the deployment's, or one given instead (the CLI opens
        and checks ``--store`` or the deployment's store before it unlocks the keystore).
    rpc:
        A node to use instead of the deployment's (a URL, or an endpoint with credentials).

    Raises
    ------
    ColearnValueError
        ``account`` is not one of the deployment's learners, the node is on another chain, or the
        deployment's strategy cannot run with one participant per process.
    """
    from colearn_chain.chain import connect
    from colearn_chain.errors import ColearnValueError
    from colearn_chain.learner_spec import LearnerSpec
    from colearn_chain.strategies import make_strategy

    if account.address not in deployment.learners:
        raise ColearnValueError(f"{account.address} is not one of this deployment's learners")
    position = deployment.learners.index(account.address)
    spec = LearnerSpec.from_json(deployment.learner)
    learner = spec.build(position if index is None else index, partition=partition, data_file=data)
    client = deployment.attach(connect(rpc or deployment.rpc_url))
    strategy = make_strategy(deployment.strategy, deployment.strategy_params)
    strategy.check_distributed()
    return Participant(client, account, learner, store, strategy, settings, seed=spec.seed)
