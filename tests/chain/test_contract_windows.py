"""Block windows to the block, and the round lifecycle: n == 1, selector mode, maxRounds, events."""

from __future__ import annotations

from typing import Any

import pytest

from colearn_chain.chain import RoundStatus
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain import events as ev

from .contract_setup import INITIAL, Setup, reverts
from .protocol_model import (
    NO_DEADLINE,
    ZERO_ADDRESS,
    ZERO_HASH,
    LearnerRegistered,
    ModelEvent,
    ProposerNominated,
    RoundFinalized,
    RoundSkipped,
    UpdateContributed,
    VoteCast,
    WeightsProposed,
    event_key,
)

W1, W2, W3 = (bytes([i]) * 32 for i in (0x11, 0x22, 0x33))
MANIFEST = bytes([0x4D]) * 32


def keys(events: list[ev.Event]) -> list[tuple[str, dict[str, Any]]]:
    """Contract events as ``(name, fields)`` without where they happened, like :func:`event_key`."""
    return [(type(e).__name__, ev.event_fields(e)) for e in events]


def expected(*events: ModelEvent) -> list[tuple[str, dict[str, Any]]]:
    return [event_key(e) for e in events]


# --------------------------------------------------------------------------------------------
# Windows: the last allowed block, and the one after
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 4])
def test_propose_until_the_last_block_of_the_proposal_window(setup: Setup, window: int) -> None:
    on_time, (a, _, _) = setup.deploy(proposal_window=window)
    start = on_time.deployment_block
    assert on_time.round_info(0).start_block == start
    setup.next_tx_in(start + window)
    assert on_time.propose(a, 0, W1).block_number == start + window

    late, _ = setup.deploy(proposal_window=window)
    start = late.deployment_block
    setup.next_tx_in(start + window + 1)
    reverts(ce.ProposalWindowClosed, lambda: late.propose(a, 0, W1), round=0,
            last_block=start + window)


@pytest.mark.parametrize("window", [1, 4])
def test_nominate_until_the_last_block_of_the_proposal_window(setup: Setup, window: int) -> None:
    s = setup.selector
    on_time, (a, b, _) = setup.deploy(proposal_window=window, selector=s.address)
    start = on_time.deployment_block
    setup.next_tx_in(start + window)
    assert on_time.nominate(s, 0, b.address).block_number == start + window

    late, _ = setup.deploy(proposal_window=window, selector=s.address)
    start = late.deployment_block
    setup.next_tx_in(start + window + 1)
    reverts(ce.ProposalWindowClosed, lambda: late.nominate(s, 0, b.address), round=0,
            last_block=start + window)
    # The nominee of an on-time nomination may still be too late to propose.
    reverts(ce.NotProposer, lambda: late.propose(a, 0, W1), sender=a.address,
            proposer=ZERO_ADDRESS)


@pytest.mark.parametrize("window", [1, 4])
def test_skip_only_after_the_proposal_window(setup: Setup, window: int) -> None:
    client, (a, _, _) = setup.deploy(proposal_window=window)
    start = client.deployment_block
    setup.next_tx_in(start + window)
    reverts(ce.ProposalWindowOpen, lambda: client.skip(setup.outsider, 0), round=0,
            last_block=start + window)
    setup.next_tx_in(start + window + 1)
    receipt = client.skip(setup.outsider, 0)
    assert receipt.block_number == start + window + 1
    assert keys(receipt.events) == expected(RoundSkipped(0, a.address))


@pytest.mark.parametrize("window", [1, 4])
def test_vote_until_the_last_block_of_the_voting_window(setup: Setup, window: int) -> None:
    client, (a, b, c) = setup.deploy(voting_window=window)
    proposed = client.propose(a, 0, W1).block_number
    assert client.round_info(0).proposed_block == proposed
    setup.next_tx_in(proposed + window)
    assert client.vote(b, 0, True, 1).block_number == proposed + window
    reverts(ce.VotingClosed, lambda: client.vote(c, 0, True, 1), round=0,
            last_block=proposed + window)


@pytest.mark.parametrize("window", [1, 4])
def test_finalize_only_after_the_voting_window(setup: Setup, window: int) -> None:
    client, (a, _, _) = setup.deploy(voting_window=window)
    proposed = client.propose(a, 0, W1).block_number
    setup.next_tx_in(proposed + window)
    reverts(ce.VotingOpen, lambda: client.finalize(setup.outsider, 0), round=0,
            last_block=proposed + window)
    receipt = client.finalize(setup.outsider, 0)
    assert receipt.block_number == proposed + window + 1
    # No vote arrived: a missing vote is no approval, so the round is rejected.
    assert keys(receipt.events) == expected(RoundFinalized(0, False, 0, 0, INITIAL))


def test_later_rounds_start_at_the_block_that_ended_the_previous_one(setup: Setup) -> None:
    client, (a, b, c) = setup.deploy(proposal_window=3, voting_window=2)
    client.propose(a, 0, W1)
    client.vote(b, 0, True, 1)
    ended = client.vote(c, 0, True, 1)  # the last vote ends round 0
    assert client.round_info(1).start_block == ended.block_number
    setup.next_tx_in(ended.block_number + 3)
    reverts(ce.ProposalWindowOpen, lambda: client.skip(a, 1), round=1,
            last_block=ended.block_number + 3)
    skipped = client.skip(a, 1)  # round 1 ends by a skip
    assert client.round_info(2).start_block == skipped.block_number
    setup.next_tx_in(skipped.block_number + 4)
    reverts(ce.ProposalWindowClosed, lambda: client.propose(c, 2, W2), round=2,
            last_block=skipped.block_number + 3)
    client.skip(a, 2)
    client.propose(a, 3, W3)
    setup.next_tx_in(client.round_info(3).proposed_block + 3)
    finalized = client.finalize(a, 3)  # round 3 ends by a finalize
    assert client.round_info(4).start_block == finalized.block_number
    setup.next_tx_in(finalized.block_number + 3)
    assert client.propose(b, 4, W2).block_number == finalized.block_number + 3


def test_zero_windows_never_close(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy(proposal_window=0, voting_window=0)
    setup.chain.mine(60)
    reverts(ce.ProposalWindowOpen, lambda: client.skip(b, 0), round=0, last_block=NO_DEADLINE)
    client.propose(a, 0, W1)
    setup.chain.mine(60)
    reverts(ce.VotingOpen, lambda: client.finalize(b, 0), round=0, last_block=NO_DEADLINE)
    client.vote(b, 0, True, 1)
    assert client.round_info(0).status == RoundStatus.VOTING

    s = setup.selector
    nominated, _ = setup.deploy(selector=s.address)
    setup.chain.mine(60)
    assert nominated.nominate(s, 0, b.address).events


# --------------------------------------------------------------------------------------------
# The lifecycle
# --------------------------------------------------------------------------------------------


def test_deployment_registers_learners_in_order_and_sets_every_view(setup: Setup) -> None:
    client, learners = setup.deploy(
        4, threshold_bps=6000, proposal_window=7, voting_window=8, max_rounds=9
    )
    addresses = [a.address for a in learners]
    assert keys(client.events()) == expected(
        *(LearnerRegistered(i, address) for i, address in enumerate(addresses))
    )
    assert (client.learners(), client.learner_count()) == (addresses, 4)
    assert all(client.is_learner(x) for x in addresses)
    assert not client.is_learner(setup.outsider.address)
    assert not client.is_learner(ZERO_ADDRESS)
    assert (client.threshold_bps(), client.proposal_window(), client.voting_window()) == (
        6000, 7, 8)
    assert (client.max_rounds(), client.selector(), client.finished()) == (9, ZERO_ADDRESS, False)
    assert (client.global_model(), client.initial_model()) == (INITIAL, INITIAL)
    assert (client.current_round(), client.current_proposer()) == (0, addresses[0])
    unstarted = client.round_info(1)  # not started: all zeros
    assert (unstarted.proposer, unstarted.weights, unstarted.status, unstarted.start_block) == (
        ZERO_ADDRESS, ZERO_HASH, RoundStatus.PROPOSING, 0)


def test_a_round_emits_its_events_in_order(setup: Setup) -> None:
    client, (a, b, c) = setup.deploy()
    A, B, C = a.address, b.address, c.address  # noqa: N806
    receipts = [
        client.contribute(c, 0, W3),
        client.propose(a, 0, W1, MANIFEST),
        client.vote(c, 0, False, -250000),
    ]
    closing = client.vote(b, 0, True, 973000)
    assert keys(receipts[0].events) == expected(UpdateContributed(0, C, W3))
    assert keys(receipts[1].events) == expected(WeightsProposed(0, A, W1, MANIFEST))
    assert keys(receipts[2].events) == expected(VoteCast(0, C, False, -250000))
    # The closing vote emits VoteCast, then RoundFinalized (1 of 2 approvals at 50%: accepted).
    assert keys(closing.events) == expected(
        VoteCast(0, B, True, 973000), RoundFinalized(0, True, 1, 1, W1)
    )
    assert [e.log_index for e in closing.events] == [0, 1]
    assert all(e.block_number == closing.block_number for e in closing.events)
    everything = client.events()
    assert keys(everything)[3:] == keys([e for r in [*receipts, closing] for e in r.events])
    info = client.round_info(0)
    assert (info.proposer, info.weights, info.manifest) == (A, W1, MANIFEST)
    assert (info.approvals, info.rejections, info.status) == (1, 1, RoundStatus.ACCEPTED)
    assert (client.current_round(), client.current_proposer()) == (1, B)


def test_global_model_changes_only_on_acceptance(setup: Setup) -> None:
    client, (a, b, c) = setup.deploy(threshold_bps=10000, proposal_window=1, voting_window=2)
    models = []
    # Round 0: one approval of two at 100%: rejected.
    client.propose(a, 0, W1)
    client.vote(b, 0, True, 1)
    client.vote(c, 0, False, 1)
    models.append(client.global_model())
    # Round 1: both approve: accepted.
    client.propose(b, 1, W2)
    client.vote(a, 1, True, 1)
    client.vote(c, 1, True, 1)
    models.append(client.global_model())
    # Round 2: skipped.
    setup.chain.mine(1)
    client.skip(a, 2)
    models.append(client.global_model())
    # Round 3: finalized with one approval missing: rejected.
    client.propose(a, 3, W3)
    client.vote(b, 3, True, 1)
    setup.chain.mine(1)
    assert keys(client.finalize(b, 3).events) == expected(RoundFinalized(3, False, 1, 0, W2))
    models.append(client.global_model())
    assert models == [INITIAL, W2, W2, W2]
    statuses = [client.round_info(r).status for r in range(4)]
    assert statuses == [RoundStatus.REJECTED, RoundStatus.ACCEPTED, RoundStatus.SKIPPED,
                        RoundStatus.REJECTED]
    assert client.round_info(2).weights == ZERO_HASH


def test_single_learner_is_accepted_on_proposal(setup: Setup) -> None:
    client, (a,) = setup.deploy(1, threshold_bps=10000)
    receipt = client.propose(a, 0, W1, MANIFEST)
    assert keys(receipt.events) == expected(
        WeightsProposed(0, a.address, W1, MANIFEST), RoundFinalized(0, True, 0, 0, W1)
    )
    assert (client.global_model(), client.current_round()) == (W1, 1)
    assert client.current_proposer() == a.address
    info = client.round_info(0)
    assert (info.status, info.proposed_block) == (RoundStatus.ACCEPTED, receipt.block_number)
    assert client.round_info(1).start_block == receipt.block_number


def test_selector_mode(setup: Setup) -> None:
    s = setup.selector
    client, (a, b, c) = setup.deploy(selector=s.address)
    assert client.selector() == s.address
    assert client.current_proposer() == ZERO_ADDRESS
    assert client.round_info(0).proposer == ZERO_ADDRESS
    receipt = client.nominate(s, 0, c.address)
    assert keys(receipt.events) == expected(ProposerNominated(0, c.address, s.address))
    assert client.current_proposer() == c.address
    assert client.round_info(0).proposer == c.address
    reverts(ce.NotProposer, lambda: client.propose(a, 0, W1), sender=a.address,
            proposer=c.address)
    client.propose(c, 0, W1)
    reverts(ce.ProposerCannotVote, lambda: client.vote(c, 0, True, 1), proposer=c.address)
    client.vote(a, 0, True, 1)
    client.vote(b, 0, True, 1)
    # The next round has no proposer until the selector names one, the same learner or not.
    assert (client.current_round(), client.current_proposer()) == (1, ZERO_ADDRESS)
    client.nominate(s, 1, c.address)
    assert client.current_proposer() == c.address
    assert client.round_info(0).proposer == c.address


def test_selector_may_be_a_learner_and_nominate_itself(setup: Setup) -> None:
    client, (a, b) = setup.deploy(2, selector=setup.people[1].address)
    client.nominate(b, 0, b.address)
    client.propose(b, 0, W1)
    assert keys(client.vote(a, 0, True, 1).events)[-1] == event_key(
        RoundFinalized(0, True, 1, 0, W1)
    )


def test_skip_names_the_silent_nominee(setup: Setup) -> None:
    s = setup.selector
    client, (_, b, _) = setup.deploy(selector=s.address, proposal_window=2)
    client.nominate(s, 0, b.address)
    setup.chain.mine(2)
    assert keys(client.skip(s, 0).events) == expected(RoundSkipped(0, b.address))
    setup.chain.mine(3)
    assert keys(client.skip(s, 1).events) == expected(RoundSkipped(1, ZERO_ADDRESS))


def test_max_rounds_finishes_the_experiment(setup: Setup) -> None:
    client, (a, b) = setup.deploy(2, max_rounds=2, proposal_window=1)
    client.propose(a, 0, W1)
    assert not client.finished()
    client.vote(b, 0, True, 1)
    setup.chain.mine(1)
    last = client.skip(a, 1)
    assert keys(last.events) == expected(RoundSkipped(1, b.address))
    assert client.finished()
    assert (client.current_round(), client.current_proposer()) == (2, ZERO_ADDRESS)
    assert client.global_model() == W1
    unstarted = client.round_info(2)
    assert (unstarted.proposer, unstarted.start_block, unstarted.status) == (
        ZERO_ADDRESS, 0, RoundStatus.PROPOSING)
    assert client.round_info(1).status == RoundStatus.SKIPPED
    for call in (
        lambda: client.propose(a, 2, W2),
        lambda: client.contribute(b, 2, W2),
        lambda: client.vote(b, 2, True, 1),
        lambda: client.finalize(a, 2),
        lambda: client.skip(a, 2),
        lambda: client.nominate(a, 2, b.address),
    ):
        reverts(ce.ExperimentFinished, call, max_rounds=2)
    assert len(client.events()) == 2 + 4  # registrations, then the two rounds' events


def test_zero_max_rounds_is_unlimited(setup: Setup) -> None:
    client, (a,) = setup.deploy(1, max_rounds=0)
    for round in range(12):
        client.propose(a, round, bytes([round + 1]) * 32)
    assert (client.current_round(), client.finished()) == (12, False)
    assert client.global_model() == bytes([12]) * 32


# --------------------------------------------------------------------------------------------
# startBlock (PROTOCOL.md v2): round 0 starts at max(deployment block, startBlock)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 4])
def test_a_later_start_block_moves_round_zeros_proposal_window(setup: Setup, window: int) -> None:
    start = setup.chain.block_number() + 20
    client, _ = setup.deploy(proposal_window=window, start_block=start)
    late, (la, _, _) = setup.deploy(proposal_window=window, start_block=start)
    assert client.round_info(0).start_block == start
    assert client.deployment_block < start
    # skip waits for the start block's window, and so does the deadline of a proposal
    setup.next_tx_in(start + window)
    reverts(ce.ProposalWindowOpen, lambda: client.skip(setup.outsider, 0), round=0,
            last_block=start + window)
    setup.next_tx_in(start + window + 1)
    assert client.skip(setup.outsider, 0).block_number == start + window + 1
    reverts(ce.ProposalWindowClosed, lambda: late.propose(la, 0, W1), round=0,
            last_block=start + window)


def test_a_proposal_before_the_start_block_is_on_time(setup: Setup) -> None:
    start = setup.chain.block_number() + 30
    client, (a, b, c) = setup.deploy(proposal_window=2, start_block=start)
    proposed = client.propose(a, 0, W1)
    assert proposed.block_number < start
    client.vote(b, 0, True, 1)
    ended = client.vote(c, 0, True, 1)
    # round 1 starts where round 0 ended, even before round 0's start block
    assert client.round_info(1).start_block == ended.block_number < start
    assert client.round_info(0).start_block == start


def test_nominate_until_the_last_block_after_the_start_block(setup: Setup) -> None:
    start = setup.chain.block_number() + 10
    client, (a, _, _) = setup.deploy(proposal_window=3, start_block=start, selector=setup.selector.address)
    setup.next_tx_in(start + 3)
    assert client.nominate(setup.selector, 0, a.address).block_number == start + 3
    setup.next_tx_in(start + 4)
    reverts(ce.ProposalWindowClosed, lambda: client.propose(a, 0, W1), round=0, last_block=start + 3)


@pytest.mark.parametrize("offset", [-1_000_000, -1, 0])
def test_a_start_block_not_after_the_deployment_block_is_the_deployment_block(
    setup: Setup, offset: int
) -> None:
    start = max(0, setup.chain.block_number() + 1 + offset)
    client, _ = setup.deploy(proposal_window=2, start_block=start)
    assert client.round_info(0).start_block == client.deployment_block


def test_the_largest_start_block_is_kept_exactly(setup: Setup) -> None:
    """2**64 - 1 does not fit the packed words' 48-bit block fields: round 0's start is kept apart."""
    client, (a, _, _) = setup.deploy(proposal_window=5, start_block=NO_DEADLINE)
    assert client.round_info(0).start_block == NO_DEADLINE
    reverts(ce.ProposalWindowOpen, lambda: client.skip(a, 0), round=0, last_block=NO_DEADLINE + 5)
    assert client.propose(a, 0, W1).events[0].round == 0  # type: ignore[attr-defined]


def test_the_client_refuses_a_start_block_outside_uint64(setup: Setup) -> None:
    from colearn_chain.errors import ColearnValueError

    for start in (-1, 2**64):
        with pytest.raises(ColearnValueError, match="start_block"):
            setup.deploy(start_block=start)
