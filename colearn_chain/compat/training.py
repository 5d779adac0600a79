"""colearn's ``colearn.training`` driver functions, playing rounds through this platform's wire path.

``collective_learning_round`` is colearn's in-process round, with two differences that are
this platform's protocol: every blob a learner hands over becomes checked ONNX in a content
store and each voter loads it from there (so a pickle is refused, never unpickled), and the
proposer does not vote on its own proposal (accepted iff ``approvals >= threshold * (n - 1)``,
as the contract tallies it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from colearn_chain.experiment import publish_initial_model
from colearn_chain.interface import MachineLearningInterface, TrainingSummary, publishable_onnx
from colearn_chain.ledger import threshold_to_bps
from colearn_chain.rounds import adopt, decide_vote
from colearn_chain.weights.store import InMemoryStore

__all__ = ["Result", "collective_learning_round", "initial_result", "set_equal_weights"]


@dataclass
class Result:
    """One round as colearn's ``Result`` held it."""

    votes: list[bool] = field(default_factory=list)
    vote: bool = False
    test_scores: list[float] = field(default_factory=list)
    vote_scores: list[float] = field(default_factory=list)
    training_summaries: list[TrainingSummary | None] = field(default_factory=list)
    block_proposer: int | None = None
    reasons: list[str | None] = field(default_factory=list)


def set_equal_weights(learners: Sequence[MachineLearningInterface]) -> None:
    """Give every learner learner 0's weights (through the wire, as a deployment's initial model)."""
    publish_initial_model(learners, InMemoryStore())


def initial_result(learners: Sequence[MachineLearningInterface]) -> Result:
    """Every learner's scores of its own current weights, before the first round."""
    result = Result()
    for learner in learners:
        verdict = learner.mli_test_weights(learner.mli_get_current_weights())
        result.test_scores.append(float(verdict.test_score))
        result.vote_scores.append(float(verdict.vote_score))
        result.votes.append(False)
    return result


def collective_learning_round(
    learners: Sequence[MachineLearningInterface], vote_threshold: float, round_index: int
) -> Result:
    """Learner ``round_index % n`` proposes, the others vote, everyone adopts an accepted proposal.

    Raises
    ------
    UnpublishableWeights
        If the proposer's weights are not valid ONNX (e.g. a pickle), naming the learner.
    """
    store = InMemoryStore()
    proposer = round_index % len(learners)
    weights = learners[proposer].mli_propose_weights()
    digest = store.put(publishable_onnx(weights, f"learner {proposer} ({type(learners[proposer]).__name__})"))
    result = Result(block_proposer=proposer, training_summaries=[weights.training_summary])
    decisions = {}
    for index, learner in enumerate(learners):
        if index == proposer:
            continue
        decision = decide_vote(learner, store, digest, who=f"learner {index}")
        decisions[index] = decision
        result.votes.append(decision.approve)
        result.vote_scores.append(decision.score)
        result.reasons.append(decision.reason)
        if decision.weights is not None:
            result.test_scores.append(float(learner.mli_test_weights(decision.weights).test_score))
    approvals = sum(result.votes)
    result.vote = approvals * 10_000 >= threshold_to_bps(vote_threshold) * (len(learners) - 1)
    if result.vote:
        for index, learner in enumerate(learners):
            decided = decisions.get(index)
            adopt(learner, store, digest, decided.weights if decided is not None else None)
    return result
