"""An in-process collective learning experiment: N learners, R rounds, one ledger, one store.

The loop is written once against the :class:`~colearn_chain.strategies.ProposalStrategy`
interface and the :class:`~colearn_chain.ledger.Ledger` interface, so round-robin, selectors and
aggregators, on the chain or in memory, all run through :meth:`Experiment.run_round`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from colearn_chain.interface import MachineLearningInterface, Weights, publishable_onnx
from colearn_chain.ledger import Ballot, Ledger, RoundOutcome, fixed_point_score
from colearn_chain.parallel import call_each
from colearn_chain.privacy import budget_exceeded, consumed_epsilon, exhausted_learners
from colearn_chain.records import RoundRecord, VoteRecord
from colearn_chain.rounds import (
    SharedProposals,
    VoteDecision,
    judge_test,
    load_for_vote,
    load_proposal,
    make_checked_proposal,
    publish_proposal,
    publish_update,
)
from colearn_chain.strategies.base import ProposalStrategy, RoundContext
from colearn_chain.weights.digest import Digest
from colearn_chain.weights.store import ContentStore

log = logging.getLogger(__name__)

#: Scores a global model: its accuracy on held-out data (None where none can be computed).
Evaluator = Callable[[Weights], float | None]


def publish_initial_model(learners: Sequence[MachineLearningInterface], store: ContentStore) -> Digest:
    """Put learner 0's current model in the store and make it every learner's starting point.

    Everyone must start from the same global model, whose hash the contract records as
    ``initialModel``; learners built with one seed already agree, a user's may not.
    """
    digest = Digest(store.put(publishable_onnx(learners[0].mli_get_current_weights(), "learner 0")))
    _adopt_all(learners, digest, SharedProposals(store), {})
    return digest


def _adopt_all(
    learners: Sequence[MachineLearningInterface],
    digest: str,
    shared: SharedProposals,
    decoded: dict[int, Weights | None],
) -> None:
    """Every learner adopts ``digest`` (decoded once; learners in workers adopt at the same time)."""
    everyone = range(len(learners))
    likes = call_each(learners, "mli_get_current_weights", {i: () for i in everyone if decoded.get(i) is None})
    weights = {i: decoded.get(i) or shared.load_like(likes[i], digest) for i in everyone}
    call_each(learners, "mli_accept_weights", {i: (weights[i],) for i in everyone})


def mean_test_score(learners: Sequence[MachineLearningInterface]) -> Evaluator:
    """For learners the platform knows nothing about: the mean of their own ``test_score``."""

    def evaluate(weights: Weights) -> float | None:
        scores = [learner.mli_test_weights(weights).test_score for learner in learners]
        return sum(scores) / len(scores)

    return evaluate


@dataclass
class Experiment:
    """Plays rounds: the strategy proposes, the learners vote, the ledger decides, all adopt.

    Parameters
    ----------
    learners:
        The participants, in ledger order.
    ledger:
        The chain (or the in-memory stand-in) that decides each round.
    store:
        The content store every blob goes through.
    strategy:
        How the proposer is chosen and the proposal made.
    initial_model:
        The hex digest of the model every learner starts from (see :func:`publish_initial_model`).
    evaluate:
        Scores the global model after each round, for ``test_accuracy``.
    seed:
        The experiment's seed, passed on to the strategy.
    """

    learners: Sequence[MachineLearningInterface]
    ledger: Ledger
    store: ContentStore
    strategy: ProposalStrategy
    initial_model: str
    evaluate: Evaluator | None = None
    seed: int = 0
    history: list[RoundRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._global_digest = self.initial_model
        self._accuracy_cache: dict[str, float | None] = {}
        self._shared = SharedProposals(self.store)

    @property
    def global_digest(self) -> str:
        """The hex digest of the current global model."""
        return self._global_digest

    def global_accuracy(self) -> float | None:
        """The evaluator's score of the current global model (cached per model)."""
        if self.evaluate is None:
            return None
        digest = self._global_digest
        if digest not in self._accuracy_cache:
            weights = load_proposal(self.learners[0], self.store, digest, self._shared)
            self._accuracy_cache[digest] = self.evaluate(weights)
        return self._accuracy_cache[digest]

    def run(
        self,
        rounds: int,
        on_round: Callable[[RoundRecord], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[RoundRecord]:
        """Play rounds until ``rounds`` are in the history, calling ``on_round`` after each.

        ``should_stop`` is asked before each round: a run told to stop (SIGINT, SIGTERM) ends
        between rounds, never inside one, so the chain and the history agree. An experiment
        :meth:`restore`-d after ``k`` rounds plays only the ``rounds - k`` left.
        """
        while len(self.history) < rounds:
            if should_stop is not None and should_stop():
                break
            record = self.run_round()
            if on_round is not None:
                on_round(record)
        return self.history

    def restore(self, history: Sequence[RoundRecord], global_digest: str) -> None:
        """Continue after ``history`` (the rounds already played) from the global model ``global_digest``.

        Every learner adopts that model from the store, as it had at the end of the last round.
        """
        self.history = list(history)
        self._global_digest = Digest(global_digest)
        _adopt_all(self.learners, self._global_digest, SharedProposals(self.store), {})

    def run_round(self) -> RoundRecord:
        """Play the next round to its end and record it."""
        round_index = len(self.history)
        ids = self.ledger.learner_ids
        self._shared = SharedProposals(self.store)  # this round's proposal, fetched and decoded once
        exhausted = exhausted_learners(self.learners)
        context = RoundContext(round_index, self.learners, ids, self.store, tuple(self.history), self.seed, exhausted)
        nominee = self.strategy.nominate(context)
        if nominee is not None:
            self.ledger.nominate(round_index, nominee)
        proposer = self.ledger.proposer(round_index)
        if proposer is None:
            raise RuntimeError(f"round {round_index} has no proposer")  # a strategy bug, not user input
        if proposer in exhausted:
            return self._skip(round_index, proposer)

        contributions: dict[int, str] = {}
        training = [c for c in self.strategy.contributors(context, proposer) if c not in exhausted]
        # a spent privacy budget: no update from it; learners in workers train at the same time
        updates = call_each(self.learners, "mli_propose_weights", {c: () for c in training})
        for contributor in training:
            record_update = partial(self.ledger.contribute, contributor, round_index)
            published_update = publish_update(updates[contributor], self.store, record_update, f"learner {contributor}")
            if published_update is not None:
                contributions[contributor] = published_update
        proposal = make_checked_proposal(self.strategy, context, proposer, contributions, f"learner {proposer}")
        if budget_exceeded(proposal.training_summary):
            return self._skip(round_index, proposer)
        published = publish_proposal(self.store, proposal, partial(self.ledger.propose, proposer, round_index))
        digest, manifest, outcome = published.weights, published.manifest, published.recorded
        log.info("round %d: learner %d proposed %s", round_index, proposer, digest[:12])

        votes: list[VoteRecord] = []
        ballots: list[Ballot] = []
        decoded: dict[int, Weights | None] = {}
        for voter, decision in self._decide_votes(digest, proposer).items():
            decoded[voter] = decision.weights
            ballots.append(Ballot(voter, decision.approve, decision.score))
            votes.append(VoteRecord(ids[voter], decision.approve, fixed_point_score(decision.score), decision.reason))
        if ballots:  # every vote of the round in one batch: one submitVotes transaction on a chain
            outcome = self.ledger.vote_all(round_index, ballots) or outcome
        if outcome is None:
            raise RuntimeError(f"round {round_index} did not end after every vote")  # ledger bug

        if outcome.accepted:
            _adopt_all(self.learners, digest, self._shared, decoded)
            self._global_digest = digest
        record = self._record(round_index, ids[proposer], digest, manifest, outcome, votes)
        self.history.append(record)
        return record

    def _decide_votes(self, digest: str, proposer: int) -> dict[int, VoteDecision]:
        """Every voter's decision on ``digest``, in learner order (the proposal decoded once for all).

        Learners in workers test at the same time; an unusable proposal is a reject with its reason.
        """
        voters = [voter for voter in range(len(self.learners)) if voter != proposer]
        likes = call_each(self.learners, "mli_get_current_weights", {voter: () for voter in voters})
        learners, shared = self.learners, self._shared
        loaded = {v: load_for_vote(learners[v], self.store, digest, f"learner {v}", shared, likes[v]) for v in voters}
        to_test = {voter: (weights,) for voter, weights in loaded.items() if not isinstance(weights, VoteDecision)}
        tested = call_each(self.learners, "mli_test_weights", to_test)
        decisions: dict[int, VoteDecision] = {}
        for voter, weights in loaded.items():
            decisions[voter] = (
                weights if isinstance(weights, VoteDecision) else judge_test(tested[voter], digest, f"learner {voter}")
            )
        return decisions

    def _skip(self, round_index: int, proposer: int) -> RoundRecord:
        """End the round without a proposal: the proposer's privacy budget is spent."""
        log.warning(
            "round %d: learner %d's privacy budget is spent (DP_BUDGET_EXCEEDED): no proposal, the round is skipped",
            round_index, proposer,
        )  # fmt: skip
        outcome = self.ledger.skip(round_index)
        record = self._record(round_index, self.ledger.learner_ids[proposer], None, None, outcome, [], skipped=True)
        self.history.append(record)
        return record

    def _dp_epsilon(self) -> dict[str, float] | None:
        """Each DP learner's spent epsilon (None when no learner trains with differential privacy)."""
        spent = {self.ledger.learner_ids[i]: consumed_epsilon(learner) for i, learner in enumerate(self.learners)}
        known = {address: value for address, value in spent.items() if value is not None}
        return known or None

    def _record(
        self,
        round_index: int,
        proposer: str,
        digest: Digest | None,
        manifest: Digest | None,
        outcome: RoundOutcome,
        votes: list[VoteRecord],
        skipped: bool = False,
    ) -> RoundRecord:
        return RoundRecord(
            round=round_index,
            proposer=proposer,
            weights=digest.prefixed if digest is not None else None,
            manifest=manifest.prefixed if manifest else None,
            accepted=outcome.accepted,
            approvals=outcome.approvals,
            rejections=outcome.rejections,
            votes=votes,
            test_accuracy=self.global_accuracy(),
            global_model=Digest(outcome.global_model).prefixed,
            skipped=skipped,
            dp_epsilon=self._dp_epsilon(),
        )
