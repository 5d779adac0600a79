"""Hand-computed scenarios proving the reference model says what PROTOCOL.md says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .protocol_model import (
    NO_DEADLINE,
    ZERO_ADDRESS,
    ZERO_HASH,
    BatchEntry,
    Config,
    LearnerRegistered,
    ModelEvent,
    ModelRevert,
    ProposerNominated,
    ProtocolModel,
    RoundFinalized,
    RoundInfo,
    RoundSkipped,
    Status,
    UpdateContributed,
    VoteCast,
    VoteClaim,
    WeightsProposed,
    event_key,
)

A, B, C, D = (f"0x{c * 40}" for c in "abcd")
OUTSIDER = "0x" + "e" * 40
SELECTOR = "0x" + "5" * 40
INITIAL = bytes([1]) * 32
W1, W2, W3 = (bytes([i]) * 32 for i in (0x11, 0x22, 0x33))
MANIFEST = bytes([0x4D]) * 32


def model(block: int = 100, **overrides: Any) -> ProtocolModel:
    """A model of three round-robin learners deployed at ``block``, unless overridden."""
    settings: dict[str, Any] = {"learners": (A, B, C), "initial_model": INITIAL}
    settings.update(overrides)
    return ProtocolModel(Config(**settings), block)


def reverts(call: Callable[[], object], name: str, **fields: Any) -> None:
    """Assert that ``call`` raises ``name`` with exactly ``fields``."""
    with pytest.raises(ModelRevert) as info:
        call()
    assert (info.value.name, info.value.fields) == (name, fields)


# --------------------------------------------------------------------------------------------
# Constructor
# --------------------------------------------------------------------------------------------


def test_constructor_registers_learners_in_order_and_starts_round_zero() -> None:
    m = model(block=7, threshold_bps=6000, proposal_window=3, voting_window=4, max_rounds=9)
    assert m.deployment_events == [LearnerRegistered(0, A), LearnerRegistered(1, B),
                                   LearnerRegistered(2, C)]
    assert (m.learners(), m.learner_count(), m.current_round()) == ([A, B, C], 3, 0)
    assert (m.threshold_bps(), m.proposal_window(), m.voting_window(), m.max_rounds()) == (
        6000, 3, 4, 9)
    assert (m.global_model(), m.initial_model(), m.selector()) == (INITIAL, INITIAL, ZERO_ADDRESS)
    assert m.is_learner(B) and not m.is_learner(OUTSIDER) and not m.finished()
    assert m.current_proposer() == A
    assert m.round_info(0) == RoundInfo(proposer=A, start_block=7)
    assert m.round_info(1) == RoundInfo()


@pytest.mark.parametrize(
    ("overrides", "name", "fields"),
    [
        ({"learners": ()}, "NoLearners", {}),
        ({"learners": (A, B, A)}, "DuplicateLearner", {"learner": A}),
        ({"learners": (A, ZERO_ADDRESS)}, "ZeroAddress", {}),
        ({"threshold_bps": 0}, "ThresholdOutOfRange", {"threshold_bps": 0}),
        ({"threshold_bps": 10001}, "ThresholdOutOfRange", {"threshold_bps": 10001}),
        ({"initial_model": ZERO_HASH}, "EmptyWeights", {}),
        # Precedence: the order in which PROTOCOL.md lists the constructor's errors.
        ({"learners": (), "threshold_bps": 0, "initial_model": ZERO_HASH}, "NoLearners", {}),
        ({"learners": (A, A), "threshold_bps": 0}, "DuplicateLearner", {"learner": A}),
        ({"learners": (ZERO_ADDRESS,), "initial_model": ZERO_HASH}, "ZeroAddress", {}),
        ({"threshold_bps": 0, "initial_model": ZERO_HASH}, "ThresholdOutOfRange", {"threshold_bps": 0}),
        ({"learners": (A, A, ZERO_ADDRESS)}, "DuplicateLearner", {"learner": A}),
        ({"learners": (A, ZERO_ADDRESS, A)}, "ZeroAddress", {}),
    ],
)
def test_constructor_rejects(overrides: dict[str, Any], name: str, fields: dict[str, Any]) -> None:
    reverts(lambda: model(**overrides), name, **fields)


@pytest.mark.parametrize("threshold", [1, 10000])
def test_constructor_accepts_threshold_bounds(threshold: int) -> None:
    assert model(threshold_bps=threshold).threshold_bps() == threshold


# --------------------------------------------------------------------------------------------
# Round-robin rounds and the acceptance rule
# --------------------------------------------------------------------------------------------


def test_round_with_one_approval_of_two_is_accepted_at_half_threshold() -> None:
    m = model(block=100)
    assert m.contribute(B, 0, W2, 101) == [UpdateContributed(0, B, W2)]
    assert m.propose(A, 0, W1, MANIFEST, 102) == [WeightsProposed(0, A, W1, MANIFEST)]
    assert m.round_info(0) == RoundInfo(A, W1, MANIFEST, 0, 0, Status.VOTING, 100, 102)
    assert m.vote(B, 0, True, 973000, 103) == [VoteCast(0, B, True, 973000)]
    # 1 * 10000 >= 5000 * 2: the last vote closes the round, accepted.
    assert m.vote(C, 0, False, -5, 104) == [
        VoteCast(0, C, False, -5),
        RoundFinalized(0, True, 1, 1, W1),
    ]
    assert (m.global_model(), m.current_round(), m.current_proposer()) == (W1, 1, B)
    assert m.round_info(0) == RoundInfo(A, W1, MANIFEST, 1, 1, Status.ACCEPTED, 100, 102)
    assert m.round_info(1) == RoundInfo(proposer=B, start_block=104)


def test_round_short_of_threshold_is_rejected_and_keeps_global_model() -> None:
    m = model(block=0, threshold_bps=5001)  # 1 * 10000 < 5001 * 2
    m.propose(A, 0, W1, ZERO_HASH, 1)
    m.vote(C, 0, True, 1, 2)
    assert m.vote(B, 0, False, 1, 3)[-1] == RoundFinalized(0, False, 1, 1, INITIAL)
    assert m.global_model() == INITIAL
    assert m.round_info(0).status == Status.REJECTED
    # The rotation moves on regardless: round 1 is B's, round 2 C's, round 3 A's again.
    assert m.current_proposer() == B


def test_rotation_wraps_around() -> None:
    m = model(block=0, learners=(A, B))
    for round, (proposer, voter) in enumerate([(A, B), (B, A), (A, B)]):
        assert m.current_proposer() == proposer
        m.propose(proposer, round, W1, ZERO_HASH, 10 * round + 1)
        m.vote(voter, round, True, 0, 10 * round + 2)
    assert m.current_round() == 3


def test_single_learner_is_accepted_on_proposal() -> None:
    m = model(block=5, learners=(A,), threshold_bps=10000)
    assert m.propose(A, 0, W1, ZERO_HASH, 6) == [
        WeightsProposed(0, A, W1, ZERO_HASH),
        RoundFinalized(0, True, 0, 0, W1),
    ]
    assert m.round_info(0) == RoundInfo(A, W1, ZERO_HASH, 0, 0, Status.ACCEPTED, 5, 6)
    assert (m.current_round(), m.current_proposer(), m.global_model()) == (1, A, W1)


def test_call_checks_follow_the_table_order() -> None:
    m = model(block=0, max_rounds=5)
    m.propose(A, 0, W1, ZERO_HASH, 1)
    # Each call fails several checks at once; the first in PROTOCOL.md's table wins.
    reverts(lambda: m.propose(OUTSIDER, 1, ZERO_HASH, ZERO_HASH, 2), "WrongRound",
            current=0, given=1)
    reverts(lambda: m.propose(B, 0, ZERO_HASH, ZERO_HASH, 2), "NotProposer", sender=B, proposer=A)
    reverts(lambda: m.propose(A, 0, ZERO_HASH, ZERO_HASH, 2), "AlreadyProposed", round=0)
    reverts(lambda: m.contribute(OUTSIDER, 0, ZERO_HASH, 2), "NotLearner", account=OUTSIDER)
    reverts(lambda: m.contribute(B, 0, ZERO_HASH, 2), "AlreadyProposed", round=0)
    reverts(lambda: m.vote(A, 0, True, 0, 2), "ProposerCannotVote", proposer=A)
    reverts(lambda: m.finalize(A, 0, 2), "VotingOpen", round=0, last_block=NO_DEADLINE)
    reverts(lambda: m.skip(A, 0, 2), "AlreadyProposed", round=0)
    reverts(lambda: m.nominate(OUTSIDER, 3, OUTSIDER, 2), "NotSelector", sender=OUTSIDER)
    m.vote(B, 0, True, 0, 3)
    reverts(lambda: m.vote(B, 0, True, 0, 4), "AlreadyVoted", round=0, voter=B)
    reverts(lambda: m.vote(OUTSIDER, 0, True, 0, 4), "NotLearner", account=OUTSIDER)
    m.vote(C, 0, True, 0, 4)
    reverts(lambda: m.vote(B, 0, True, 0, 5), "WrongRound", current=1, given=0)
    reverts(lambda: m.vote(C, 1, True, 0, 5), "NoProposal", round=1)
    reverts(lambda: m.vote(B, 1, True, 0, 5), "NoProposal", round=1)
    reverts(lambda: m.finalize(A, 1, 5), "NoProposal", round=1)
    m.contribute(C, 1, W3, 5)
    reverts(lambda: m.contribute(C, 1, ZERO_HASH, 6), "AlreadyContributed", round=1, learner=C)
    reverts(lambda: m.contribute(A, 1, ZERO_HASH, 6), "EmptyWeights")
    reverts(lambda: m.propose(B, 1, ZERO_HASH, ZERO_HASH, 6), "EmptyWeights")


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


def test_proposal_window_boundaries() -> None:
    early, late = model(block=10, proposal_window=5), model(block=10, proposal_window=5)
    assert early.propose(A, 0, W1, ZERO_HASH, 15)  # 15 == 10 + 5: the last allowed block
    reverts(lambda: late.propose(A, 0, W1, ZERO_HASH, 16), "ProposalWindowClosed",
            round=0, last_block=15)
    reverts(lambda: late.skip(D, 0, 15), "ProposalWindowOpen", round=0, last_block=15)
    # An empty proposal is reported before the closed window.
    reverts(lambda: late.propose(A, 0, ZERO_HASH, ZERO_HASH, 16), "EmptyWeights")
    assert late.skip(D, 0, 16) == [RoundSkipped(0, A)]
    assert late.round_info(0) == RoundInfo(proposer=A, status=Status.SKIPPED, start_block=10)
    # Round 1 starts at the block that skipped round 0.
    assert late.round_info(1) == RoundInfo(proposer=B, start_block=16)
    reverts(lambda: late.skip(D, 1, 21), "ProposalWindowOpen", round=1, last_block=21)
    reverts(lambda: late.propose(B, 1, W1, ZERO_HASH, 22), "ProposalWindowClosed",
            round=1, last_block=21)


def test_voting_window_boundaries_and_missing_votes() -> None:
    m = model(block=0, learners=(A, B, C, D), voting_window=3, threshold_bps=3333)
    m.propose(A, 0, W1, ZERO_HASH, 10)
    reverts(lambda: m.finalize(B, 0, 13), "VotingOpen", round=0, last_block=13)
    assert m.vote(B, 0, True, 1, 13) == [VoteCast(0, B, True, 1)]
    reverts(lambda: m.vote(C, 0, True, 1, 14), "VotingClosed", round=0, last_block=13)
    reverts(lambda: m.vote(B, 0, True, 1, 14), "AlreadyVoted", round=0, voter=B)
    # 1 approval of 3 voters: 10000 >= 3333 * 3 = 9999, accepted; missing votes are no approval.
    assert m.finalize(OUTSIDER, 0, 14) == [RoundFinalized(0, True, 1, 0, W1)]
    assert m.round_info(1) == RoundInfo(proposer=B, start_block=14)


def test_zero_windows_never_close() -> None:
    m = model(block=0)
    far = 10**12
    reverts(lambda: m.skip(A, 0, far), "ProposalWindowOpen", round=0, last_block=NO_DEADLINE)
    m.propose(A, 0, W1, ZERO_HASH, far)
    reverts(lambda: m.finalize(A, 0, 2 * far), "VotingOpen", round=0, last_block=NO_DEADLINE)
    assert m.vote(B, 0, True, 0, 2 * far)


# --------------------------------------------------------------------------------------------
# Selector mode and the end of the experiment
# --------------------------------------------------------------------------------------------


def test_selector_mode() -> None:
    m = model(block=0, selector=SELECTOR, proposal_window=4)
    assert m.current_proposer() == ZERO_ADDRESS
    assert m.round_info(0).proposer == ZERO_ADDRESS
    reverts(lambda: m.propose(A, 0, W1, ZERO_HASH, 1), "NotProposer",
            sender=A, proposer=ZERO_ADDRESS)
    reverts(lambda: m.nominate(A, 0, B, 1), "NotSelector", sender=A)
    reverts(lambda: m.nominate(SELECTOR, 1, OUTSIDER, 1), "WrongRound", current=0, given=1)
    reverts(lambda: m.nominate(SELECTOR, 0, OUTSIDER, 1), "NotLearner", account=OUTSIDER)
    reverts(lambda: m.nominate(SELECTOR, 0, C, 5), "ProposalWindowClosed", round=0, last_block=4)
    assert m.nominate(SELECTOR, 0, C, 4) == [ProposerNominated(0, C, SELECTOR)]
    assert m.current_proposer() == C
    reverts(lambda: m.nominate(SELECTOR, 0, OUTSIDER, 5), "NotLearner", account=OUTSIDER)
    reverts(lambda: m.nominate(SELECTOR, 0, A, 5), "AlreadyNominated", round=0, proposer=C)
    reverts(lambda: m.propose(A, 0, W1, ZERO_HASH, 4), "NotProposer", sender=A, proposer=C)
    # The nominee missed the window: the skip names it.
    assert m.skip(A, 0, 5) == [RoundSkipped(0, C)]
    assert m.current_proposer() == ZERO_ADDRESS
    reverts(lambda: m.skip(A, 1, 9), "ProposalWindowOpen", round=1, last_block=9)
    assert m.nominate(SELECTOR, 1, A, 6) == [ProposerNominated(1, A, SELECTOR)]
    m.propose(A, 1, W2, ZERO_HASH, 7)
    reverts(lambda: m.nominate(SELECTOR, 1, B, 8), "AlreadyNominated", round=1, proposer=A)
    assert m.round_info(1) == RoundInfo(A, W2, ZERO_HASH, 0, 0, Status.VOTING, 5, 7)


def test_max_rounds_finishes_the_experiment() -> None:
    m = model(block=0, learners=(A, B), max_rounds=2, proposal_window=1, selector=SELECTOR)
    m.nominate(SELECTOR, 0, B, 1)
    m.propose(B, 0, W1, ZERO_HASH, 1)
    m.vote(A, 0, False, 0, 2)
    assert m.skip(A, 1, 4) == [RoundSkipped(1, ZERO_ADDRESS)]
    assert (m.finished(), m.current_round(), m.current_proposer()) == (True, 2, ZERO_ADDRESS)
    assert m.round_info(2) == RoundInfo()
    assert m.round_info(1) == RoundInfo(status=Status.SKIPPED, start_block=2)
    calls: list[Callable[[], list[ModelEvent]]] = [
        lambda: m.propose(A, 2, W1, ZERO_HASH, 5),
        lambda: m.contribute(A, 2, W1, 5),
        lambda: m.vote(A, 2, True, 0, 5),
        lambda: m.finalize(A, 2, 5),
        lambda: m.skip(A, 2, 5),
        lambda: m.nominate(SELECTOR, 2, A, 5),
        lambda: m.nominate(OUTSIDER, 0, OUTSIDER, 5),  # finished is checked before all else
        lambda: m.vote(OUTSIDER, 0, True, 0, 5),
    ]
    for call in calls:
        reverts(call, "ExperimentFinished", max_rounds=2)


def test_a_failed_call_changes_nothing() -> None:
    m = model(block=0, voting_window=2)
    m.propose(A, 0, W1, ZERO_HASH, 1)
    before = [m.round_info(0), m.current_round(), m.global_model()]
    reverts(lambda: m.vote(B, 0, True, 0, 4), "VotingClosed", round=0, last_block=3)
    assert [m.round_info(0), m.current_round(), m.global_model()] == before
    # No vote arrived: 0 approvals of 2 is short of any threshold.
    assert m.finalize(B, 0, 4) == [RoundFinalized(0, False, 0, 0, INITIAL)]


def test_event_key_names_the_event_and_its_fields() -> None:
    assert event_key(VoteCast(3, A, False, -1)) == (
        "VoteCast", {"round": 3, "voter": A, "approve": False, "score": -1})


# --------------------------------------------------------------------------------------------
# v2: startBlock, submitVotes, hasVoted
# --------------------------------------------------------------------------------------------

CONTRACT = "0x" + "c0" * 20
CHAIN = 31337


def signed(index: int, by: str, approve: bool = True, weights: bytes = W1,
           instead: dict[str, Any] | None = None) -> BatchEntry:  # fmt: skip
    """``by``'s vote in round 0 on ``weights`` at ``index``, its signature signing exactly it
    (``instead``: what was signed instead)."""
    score = 5
    claim = {"signer": by, "chain_id": CHAIN, "contract": CONTRACT, "round": 0,
             "weights": weights, "approve": approve, "score": score, **(instead or {})}  # fmt: skip
    return BatchEntry(index, approve, score, VoteClaim(**claim))


def v2(block: int = 100, **overrides: Any) -> ProtocolModel:
    settings: dict[str, Any] = {"learners": (A, B, C, D), "initial_model": INITIAL}
    settings.update(overrides)
    return ProtocolModel(Config(**settings), block, CHAIN, CONTRACT)


def test_round_zero_starts_at_the_later_of_deployment_and_start_block() -> None:
    assert v2(block=100, start_block=150).round_info(0).start_block == 150
    assert v2(block=100, start_block=50).round_info(0).start_block == 100
    m = v2(block=100, start_block=150, proposal_window=5)
    reverts(lambda: m.skip(A, 0, 155), "ProposalWindowOpen", round=0, last_block=155)
    assert m.propose(A, 0, W1, ZERO_HASH, 101) == [WeightsProposed(0, A, W1, ZERO_HASH)]


def test_a_batch_is_the_same_votes_and_ends_the_round_on_the_last() -> None:
    m = v2()
    m.propose(A, 0, W1, ZERO_HASH, 101)
    assert m.vote(C, 0, False, 1, 102) == [VoteCast(0, C, False, 1)]
    assert m.has_voted(0, C) and not m.has_voted(1, C)
    events = m.submit_votes(OUTSIDER, 0, [signed(1, B), signed(2, C), signed(3, D, approve=False)], 103)
    assert events == [VoteCast(0, B, True, 5), VoteCast(0, D, False, 5), RoundFinalized(0, False, 1, 2, INITIAL)]
    assert not m.has_voted(0, B)  # round 0 is over


def test_batch_checks_follow_the_protocols_order() -> None:
    m = v2(voting_window=2)
    reverts(lambda: m.submit_votes(A, 0, [], 101), "NoProposal", round=0)
    m.propose(A, 0, W1, ZERO_HASH, 101)
    reverts(lambda: m.submit_votes(A, 1, [], 102), "WrongRound", current=0, given=1)
    reverts(lambda: m.submit_votes(A, 0, [], 104), "VotingClosed", round=0, last_block=103)
    reverts(lambda: m.submit_votes(A, 0, [], 103), "EmptyBatch")
    reverts(lambda: m.submit_votes(A, 0, [signed(2, C), signed(1, B)], 102), "UnsortedVotes", position=1)
    reverts(lambda: m.submit_votes(A, 0, [signed(1, B), signed(1, B)], 102), "UnsortedVotes", position=1)
    reverts(lambda: m.submit_votes(A, 0, [signed(4, A)], 102), "BadVoteSignature", index=4)
    for fault in ({"signer": C}, {"round": 1}, {"weights": W2}, {"contract": OUTSIDER}, {"chain_id": 1},
                  {"approve": False}, {"score": 6}, {"low_s": False}):  # fmt: skip
        batch = [signed(1, B, instead=fault)]
        reverts(lambda b=batch: m.submit_votes(A, 0, b, 102), "BadVoteSignature", index=1)  # type: ignore[misc]
    reverts(lambda: m.submit_votes(A, 0, [signed(0, A), signed(1, B)], 102), "ProposerCannotVote", proposer=A)
    assert m.voters(0) == frozenset()  # a reverted batch counts nothing


def test_entries_after_the_round_ended_are_checked_then_skipped() -> None:
    m = v2()
    m.propose(A, 0, W1, ZERO_HASH, 101)
    m.vote(D, 0, True, 1, 102)
    reverts(lambda: m.submit_votes(A, 0, [signed(1, B), signed(2, C), signed(3, D, instead={"weights": W2})], 103),
            "BadVoteSignature", index=3)  # fmt: skip
    events = m.submit_votes(A, 0, [signed(1, B), signed(2, C), signed(3, D)], 103)
    assert [type(e).__name__ for e in events] == ["VoteCast", "VoteCast", "RoundFinalized"]
    assert m.protocol_version() == 2
