"""Every error of PROTOCOL.md, raised by the deployed contract through the client, and their precedence."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from colearn_chain.chain import CollectiveLearningClient
from colearn_chain.chain import contract_errors as ce

from .contract_setup import INITIAL, Setup, reverts
from .protocol_model import ZERO_ADDRESS, ZERO_HASH, Config, ModelRevert, ProtocolModel

W1, W2 = bytes([0x11]) * 32, bytes([0x22]) * 32


# --------------------------------------------------------------------------------------------
# Constructor
# --------------------------------------------------------------------------------------------


def test_no_learners(setup: Setup) -> None:
    reverts(ce.NoLearners, lambda: setup.deploy(0))


def test_duplicate_learner(setup: Setup) -> None:
    a, b = setup.people[:2]
    call = lambda: CollectiveLearningClient.deploy(  # noqa: E731
        setup.chain, setup.deployer, [a.address, b.address, a.address], initial_model=INITIAL
    )
    reverts(ce.DuplicateLearner, call, learner=a.address)


def test_zero_address(setup: Setup) -> None:
    call = lambda: CollectiveLearningClient.deploy(  # noqa: E731
        setup.chain, setup.deployer, [setup.people[0].address, ZERO_ADDRESS], initial_model=INITIAL
    )
    reverts(ce.ZeroAddress, call)


@pytest.mark.parametrize("threshold", [0, 10001])
def test_threshold_out_of_range(setup: Setup, threshold: int) -> None:
    reverts(ce.ThresholdOutOfRange, lambda: setup.deploy(threshold_bps=threshold),
            threshold_bps=threshold)


@pytest.mark.parametrize("threshold", [1, 10000])
def test_threshold_bounds_are_accepted(setup: Setup, threshold: int) -> None:
    client, _ = setup.deploy(threshold_bps=threshold)
    assert client.threshold_bps() == threshold


def test_empty_initial_model(setup: Setup) -> None:
    reverts(ce.EmptyWeights, lambda: setup.deploy(initial_model=ZERO_HASH))


@pytest.mark.parametrize(
    ("learners", "threshold", "initial", "error", "fields"),
    [
        ("", 0, ZERO_HASH, ce.NoLearners, {}),
        ("aa", 0, ZERO_HASH, ce.DuplicateLearner, {"learner": "a"}),
        ("0a", 10001, INITIAL, ce.ZeroAddress, {}),
        ("0aa", 5000, ZERO_HASH, ce.ZeroAddress, {}),
        ("aa0", 5000, INITIAL, ce.DuplicateLearner, {"learner": "a"}),
        ("a0a", 5000, INITIAL, ce.ZeroAddress, {}),
        ("ab", 0, ZERO_HASH, ce.ThresholdOutOfRange, {"threshold_bps": 0}),
        ("ab", 10001, INITIAL, ce.ThresholdOutOfRange, {"threshold_bps": 10001}),
        ("ab", 5000, ZERO_HASH, ce.EmptyWeights, {}),
    ],
)
def test_constructor_precedence_is_the_models(
    setup: Setup,
    learners: str,
    threshold: int,
    initial: bytes,
    error: type[ce.ContractRevert],
    fields: dict[str, Any],
) -> None:
    """The constructor checks its errors in the order PROTOCOL.md lists them; contract and model agree.

    ``learners`` spells the list: ``a`` and ``b`` two accounts, ``0`` the zero address.
    """
    names = {"a": setup.people[0].address, "b": setup.people[1].address, "0": ZERO_ADDRESS}
    addresses = [names[c] for c in learners]
    fields = {k: names.get(v, v) for k, v in fields.items()}
    with pytest.raises(ModelRevert) as model_error:
        ProtocolModel(
            Config(learners=tuple(addresses), threshold_bps=threshold, initial_model=initial), 1
        )
    assert (model_error.value.name, model_error.value.fields) == (error.error_name, fields)
    call = lambda: CollectiveLearningClient.deploy(  # noqa: E731
        setup.chain, setup.deployer, addresses, threshold_bps=threshold, initial_model=initial
    )
    reverts(error, call, **fields)


# --------------------------------------------------------------------------------------------
# One test per error of each function
# --------------------------------------------------------------------------------------------


def test_every_call_reverts_experiment_finished_first(setup: Setup) -> None:
    """Once finished, every call fails with ExperimentFinished, whatever else is wrong with it."""
    client, (a,) = setup.deploy(1, max_rounds=1, proposal_window=1, voting_window=1)
    client.propose(a, 0, W1)  # n == 1: accepted at once, and that was the last round
    assert client.finished()
    o = setup.outsider
    calls: list[Callable[[], object]] = [
        lambda: client.propose(a, 1, W2),
        lambda: client.propose(o, 0, ZERO_HASH),  # also WrongRound, NotProposer, EmptyWeights
        lambda: client.contribute(a, 1, W2),
        lambda: client.contribute(o, 0, ZERO_HASH),  # also WrongRound, NotLearner
        lambda: client.vote(a, 1, True, 1),
        lambda: client.vote(o, 0, False, -1),  # also WrongRound, NotLearner
        lambda: client.finalize(o, 1),
        lambda: client.finalize(o, 0),  # also WrongRound
        lambda: client.skip(o, 1),
        lambda: client.skip(o, 7),  # also WrongRound
        lambda: client.nominate(o, 1, a.address),  # also NotSelector (no selector at all)
        lambda: client.nominate(o, 0, o.address),  # also NotSelector, WrongRound, NotLearner
    ]
    setup.chain.mine(5)  # every window is over too
    for call in calls:
        reverts(ce.ExperimentFinished, call, max_rounds=1)


def test_propose_errors(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy()
    reverts(ce.WrongRound, lambda: client.propose(a, 1, W1), current=0, given=1)
    reverts(ce.NotProposer, lambda: client.propose(b, 0, W1), sender=b.address, proposer=a.address)
    reverts(ce.NotProposer, lambda: client.propose(setup.outsider, 0, W1),
            sender=setup.outsider.address, proposer=a.address)
    reverts(ce.EmptyWeights, lambda: client.propose(a, 0, ZERO_HASH))
    client.propose(a, 0, W1)
    reverts(ce.AlreadyProposed, lambda: client.propose(a, 0, W2), round=0)
    assert client.round_info(0).weights == W1


def test_propose_before_nomination_is_not_the_proposers(setup: Setup) -> None:
    client, (a, _, _) = setup.deploy(selector=setup.selector.address)
    reverts(ce.NotProposer, lambda: client.propose(a, 0, W1), sender=a.address,
            proposer=ZERO_ADDRESS)


def test_contribute_errors(setup: Setup) -> None:
    client, (a, b, c) = setup.deploy()
    reverts(ce.WrongRound, lambda: client.contribute(b, 3, W2), current=0, given=3)
    reverts(ce.NotLearner, lambda: client.contribute(setup.outsider, 0, W2),
            account=setup.outsider.address)
    reverts(ce.EmptyWeights, lambda: client.contribute(b, 0, ZERO_HASH))
    client.contribute(b, 0, W2)
    client.contribute(a, 0, W2)  # the proposer may contribute too
    reverts(ce.AlreadyContributed, lambda: client.contribute(b, 0, W1), round=0, learner=b.address)
    client.propose(a, 0, W1)
    reverts(ce.AlreadyProposed, lambda: client.contribute(c, 0, W2), round=0)


def test_vote_errors(setup: Setup) -> None:
    client, (a, b, c) = setup.deploy()
    reverts(ce.NoProposal, lambda: client.vote(b, 0, True, 1), round=0)
    client.propose(a, 0, W1)
    reverts(ce.WrongRound, lambda: client.vote(b, 1, True, 1), current=0, given=1)
    reverts(ce.NotLearner, lambda: client.vote(setup.outsider, 0, True, 1),
            account=setup.outsider.address)
    reverts(ce.ProposerCannotVote, lambda: client.vote(a, 0, True, 1), proposer=a.address)
    client.vote(b, 0, True, 1)
    reverts(ce.AlreadyVoted, lambda: client.vote(b, 0, False, 1), round=0, voter=b.address)
    info = client.round_info(0)
    assert (info.approvals, info.rejections) == (1, 0)
    client.vote(c, 0, False, 2)  # the last vote ends round 0
    reverts(ce.WrongRound, lambda: client.vote(c, 0, False, 2), current=1, given=0)


def test_finalize_errors(setup: Setup) -> None:
    client, (a, _, _) = setup.deploy(voting_window=2)
    reverts(ce.WrongRound, lambda: client.finalize(a, 1), current=0, given=1)
    reverts(ce.NoProposal, lambda: client.finalize(a, 0), round=0)
    proposed = client.propose(a, 0, W1).block_number
    reverts(ce.VotingOpen, lambda: client.finalize(a, 0), round=0, last_block=proposed + 2)


def test_skip_errors(setup: Setup) -> None:
    client, (a, _, _) = setup.deploy(proposal_window=10)
    start = client.deployment_block
    reverts(ce.WrongRound, lambda: client.skip(a, 1), current=0, given=1)
    reverts(ce.ProposalWindowOpen, lambda: client.skip(a, 0), round=0, last_block=start + 10)
    client.propose(a, 0, W1)
    setup.past(start + 10)
    reverts(ce.AlreadyProposed, lambda: client.skip(a, 0), round=0)


def test_nominate_errors(setup: Setup) -> None:
    s, o = setup.selector, setup.outsider
    client, (a, b, _) = setup.deploy(selector=s.address)
    reverts(ce.NotSelector, lambda: client.nominate(a, 0, b.address), sender=a.address)
    reverts(ce.WrongRound, lambda: client.nominate(s, 1, b.address), current=0, given=1)
    reverts(ce.NotLearner, lambda: client.nominate(s, 0, o.address), account=o.address)
    reverts(ce.NotLearner, lambda: client.nominate(s, 0, ZERO_ADDRESS), account=ZERO_ADDRESS)
    client.nominate(s, 0, b.address)
    reverts(ce.AlreadyNominated, lambda: client.nominate(s, 0, a.address), round=0,
            proposer=b.address)
    reverts(ce.AlreadyNominated, lambda: client.nominate(s, 0, b.address), round=0,
            proposer=b.address)


def test_nominate_without_selector_is_refused_to_everyone(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy()
    for sender in (setup.deployer, a, setup.selector):
        call = functools.partial(client.nominate, sender, 0, b.address)
        reverts(ce.NotSelector, call, sender=sender.address)


def test_nominate_already_proposed_is_shadowed_by_already_nominated(setup: Setup) -> None:
    """In nominate, AlreadyProposed can never fire: a proposal needs a nominee, so a round
    with a proposal always fails the earlier AlreadyNominated check first."""
    s = setup.selector
    client, (a, b, _) = setup.deploy(selector=s.address)
    client.nominate(s, 0, b.address)
    client.propose(b, 0, W1)
    reverts(ce.AlreadyNominated, lambda: client.nominate(s, 0, a.address), round=0,
            proposer=b.address)


# --------------------------------------------------------------------------------------------
# Precedence: for each adjacent pair of the table that can fail together, the earlier wins
# --------------------------------------------------------------------------------------------


def test_propose_precedence(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy(proposal_window=10)
    start = client.deployment_block
    o = setup.outsider
    # WrongRound > NotProposer
    reverts(ce.WrongRound, lambda: client.propose(o, 1, W1), current=0, given=1)
    # NotProposer > EmptyWeights (not adjacent, but AlreadyProposed cannot hold yet)
    reverts(ce.NotProposer, lambda: client.propose(b, 0, ZERO_HASH), sender=b.address,
            proposer=a.address)
    client.propose(a, 0, W1)
    # NotProposer > AlreadyProposed
    reverts(ce.NotProposer, lambda: client.propose(b, 0, W2), sender=b.address,
            proposer=a.address)
    # AlreadyProposed > EmptyWeights
    reverts(ce.AlreadyProposed, lambda: client.propose(a, 0, ZERO_HASH), round=0)
    setup.past(start + 10)
    # AlreadyProposed > ProposalWindowClosed
    reverts(ce.AlreadyProposed, lambda: client.propose(a, 0, W2), round=0)


def test_propose_precedence_of_empty_weights_over_closed_window(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy(proposal_window=2)
    start = client.deployment_block
    setup.past(start + 2)
    # EmptyWeights > ProposalWindowClosed
    reverts(ce.EmptyWeights, lambda: client.propose(a, 0, ZERO_HASH))
    # NotProposer > ProposalWindowClosed
    reverts(ce.NotProposer, lambda: client.propose(b, 0, W1), sender=b.address,
            proposer=a.address)
    reverts(ce.ProposalWindowClosed, lambda: client.propose(a, 0, W1), round=0,
            last_block=start + 2)


def test_contribute_precedence(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy()
    o = setup.outsider
    # WrongRound > NotLearner
    reverts(ce.WrongRound, lambda: client.contribute(o, 1, W2), current=0, given=1)
    client.contribute(b, 0, W2)
    # AlreadyContributed > EmptyWeights
    reverts(ce.AlreadyContributed, lambda: client.contribute(b, 0, ZERO_HASH), round=0,
            learner=b.address)
    client.propose(a, 0, W1)
    # NotLearner > AlreadyProposed
    reverts(ce.NotLearner, lambda: client.contribute(o, 0, W2), account=o.address)
    # AlreadyProposed > AlreadyContributed (> EmptyWeights)
    reverts(ce.AlreadyProposed, lambda: client.contribute(b, 0, ZERO_HASH), round=0)


def test_vote_precedence(setup: Setup) -> None:
    client, (a, b, c) = setup.deploy(voting_window=2)
    o = setup.outsider
    # WrongRound > NotLearner
    reverts(ce.WrongRound, lambda: client.vote(o, 1, True, 0), current=0, given=1)
    # NotLearner > NoProposal
    reverts(ce.NotLearner, lambda: client.vote(o, 0, True, 0), account=o.address)
    # NoProposal > ProposerCannotVote
    reverts(ce.NoProposal, lambda: client.vote(a, 0, True, 0), round=0)
    proposed = client.propose(a, 0, W1).block_number
    client.vote(b, 0, True, 0)
    setup.past(proposed + 2)
    # ProposerCannotVote > VotingClosed (ProposerCannotVote and AlreadyVoted never co-occur)
    reverts(ce.ProposerCannotVote, lambda: client.vote(a, 0, True, 0), proposer=a.address)
    # AlreadyVoted > VotingClosed
    reverts(ce.AlreadyVoted, lambda: client.vote(b, 0, True, 0), round=0, voter=b.address)
    # NotLearner > VotingClosed
    reverts(ce.NotLearner, lambda: client.vote(o, 0, True, 0), account=o.address)
    reverts(ce.VotingClosed, lambda: client.vote(c, 0, True, 0), round=0,
            last_block=proposed + 2)


def test_finalize_precedence(setup: Setup) -> None:
    client, (a, _, _) = setup.deploy(voting_window=0)
    # WrongRound > NoProposal
    reverts(ce.WrongRound, lambda: client.finalize(a, 1), current=0, given=1)
    # NoProposal > VotingOpen (a window of 0 is always open)
    setup.chain.mine(3)
    reverts(ce.NoProposal, lambda: client.finalize(a, 0), round=0)


def test_skip_precedence(setup: Setup) -> None:
    client, (a, _, _) = setup.deploy(proposal_window=0)
    client.propose(a, 0, W1)
    # WrongRound > AlreadyProposed
    reverts(ce.WrongRound, lambda: client.skip(a, 1), current=0, given=1)
    # AlreadyProposed > ProposalWindowOpen (a window of 0 is always open)
    reverts(ce.AlreadyProposed, lambda: client.skip(a, 0), round=0)


def test_nominate_precedence(setup: Setup) -> None:
    s, o = setup.selector, setup.outsider
    client, (a, b, c) = setup.deploy(selector=s.address, proposal_window=10)
    start = client.deployment_block
    # NotSelector > WrongRound (> NotLearner)
    reverts(ce.NotSelector, lambda: client.nominate(o, 1, o.address), sender=o.address)
    # WrongRound > NotLearner
    reverts(ce.WrongRound, lambda: client.nominate(s, 1, o.address), current=0, given=1)
    client.nominate(s, 0, b.address)
    # NotLearner > AlreadyNominated
    reverts(ce.NotLearner, lambda: client.nominate(s, 0, o.address), account=o.address)
    setup.past(start + 10)
    # AlreadyNominated > ProposalWindowClosed (AlreadyProposed between them never fires)
    reverts(ce.AlreadyNominated, lambda: client.nominate(s, 0, c.address), round=0,
            proposer=b.address)
    # NotLearner > ProposalWindowClosed
    reverts(ce.NotLearner, lambda: client.nominate(s, 0, o.address), account=o.address)
    # NotSelector > ProposalWindowClosed
    reverts(ce.NotSelector, lambda: client.nominate(a, 0, c.address), sender=a.address)


def test_a_reverted_call_changes_nothing(setup: Setup) -> None:
    client, (a, b, _) = setup.deploy(voting_window=1)
    proposed = client.propose(a, 0, W1).block_number
    before = (client.round_info(0), client.current_round(), client.global_model())
    setup.past(proposed + 1)
    reverts(ce.VotingClosed, lambda: client.vote(b, 0, True, 0), round=0,
            last_block=proposed + 1)
    assert (client.round_info(0), client.current_round(), client.global_model()) == before
    assert [type(e).__name__ for e in client.events()].count("VoteCast") == 0
