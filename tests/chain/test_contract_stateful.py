"""Random call sequences against the deployed contract and the reference model side by side."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from colearn_chain.chain import Chain, CollectiveLearningClient, Receipt, connect
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain import events as ev

from .protocol_model import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Config,
    ModelEvent,
    ModelRevert,
    ProtocolModel,
    RoundInfo,
    Status,
    event_key,
)

T = TypeVar("T")
INITIAL = bytes([1]) * 32
UINT256_MAX = 2**256 - 1
_WHERE = {"block_number", "log_index", "tx_hash"}

# Reproducible in CI: the same examples on every run, no example database.
CI = settings(
    max_examples=25,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

Outcome = tuple[str, dict[str, Any]] | list[tuple[str, dict[str, Any]]]


@functools.cache
def shared_chain() -> tuple[Chain, list[LocalAccount]]:
    """One eth-tester chain for the module: a deployment per example is cheaper than a chain."""
    chain = connect()
    return chain, chain.dev_accounts()


@pytest.fixture(autouse=True, scope="module")
def _connect_before_hypothesis() -> None:
    """Connect outside Hypothesis: py-evm raises the recursion limit on import, and Hypothesis
    warns when a test changes it."""
    shared_chain()


def contract_event_keys(events: list[ev.Event]) -> list[tuple[str, dict[str, Any]]]:
    """Contract events as ``(name, fields)`` without where they happened, like ``event_key``."""
    return [
        (type(e).__name__, {f.name: getattr(e, f.name) for f in fields(e) if f.name not in _WHERE})
        for e in events
    ]


def model_outcome(call: Callable[[], list[ModelEvent]]) -> Outcome:
    """The model's verdict on a call: ``(error name, fields)``, or the events in order."""
    try:
        return [event_key(e) for e in call()]
    except ModelRevert as exc:
        return exc.name, exc.fields


def contract_outcome(call: Callable[[], Receipt], block: int) -> Outcome:
    """The contract's verdict on a call made to execute in ``block``, shaped as the model's."""
    try:
        receipt = call()
    except ce.ContractRevert as exc:
        return exc.error_name, exc.fields
    assert receipt.block_number == block, "the transaction landed in an unexpected block"
    return contract_event_keys(receipt.events)


def as_model_info(info: Any) -> RoundInfo:
    """A client ``RoundInfo`` in the model's type, so the two compare field by field."""
    return RoundInfo(
        proposer=info.proposer,
        weights=bytes(info.weights),
        manifest=bytes(info.manifest),
        approvals=info.approvals,
        rejections=info.rejections,
        status=int(info.status),
        start_block=info.start_block,
        proposed_block=info.proposed_block,
    )


WINDOWS = st.sampled_from([0, 0, 1, 2, 3, 5, 8, 13, 40])
DEPLOYMENTS = st.fixed_dictionaries(
    {
        "n": st.integers(1, 6),
        "order": st.permutations(range(9)),  # which accounts are learners, in which order
        "selector_kind": st.sampled_from(["none", "none", "outsider", "learner"]),
        "threshold": st.one_of(
            st.sampled_from([1, 3333, 5000, 6667, 10000]), st.integers(1, 10000)
        ),
        "proposal_window": WINDOWS,
        "voting_window": WINDOWS,
        "max_rounds": st.sampled_from([0, 0, 0, 1, 2, 4, 8]),
    }
)
# Half the steps make the call the protocol expects next (``ProtocolMachine.cue``), so rounds
# go on; the others call any function at any time, or mine blocks.
ACTIONS = st.sampled_from(
    ["on cue"] * 8
    + ["propose", "contribute", "vote", "finalize", "skip", "nominate"]
    + ["mine"] * 2
)
# A call comes from the right party in the current round with sound arguments, but for its
# mistake, if any.
MISTAKES = st.sampled_from([None] * 6 + ["sender", "round", "argument"])
DEADLINE_KEPT = st.sampled_from([True, True, False])
AGAIN = st.sampled_from([True, True, True, False])  # a finished experiment only reverts
BLOCKS = st.sampled_from([1, 1, 2, 3, 5, 8, 13])
WEIGHTS = st.sampled_from([bytes([i]) * 32 for i in (0x11, 0x22, 0x33, 0x44)])
MANIFESTS = st.sampled_from([ZERO_HASH, bytes([0x4D]) * 32, bytes([0x4E]) * 32])
SCORES = st.one_of(st.integers(-(10**6), 10**6), st.sampled_from([-(2**255), 2**255 - 1]))


class ProtocolMachine(RuleBasedStateMachine):
    """Drives a fresh deployment and its model with the same calls; they must always agree.

    A single rule does everything: Hypothesis switches a random subset of the rules off in each
    example ("swarm testing"), and an example without its proposals or votes would never get
    past round 0.
    """

    def __init__(self) -> None:
        super().__init__()
        self.chain, accounts = shared_chain()
        self.deployer = accounts[0]
        self.everyone: list[LocalAccount] = list(accounts)
        self.pool = accounts[1:]
        self.learners: list[LocalAccount] = []
        self.selector_account: LocalAccount | None = None
        self.history: list[tuple[str, dict[str, Any]]] = []

    # ----------------------------------------------------------------------------------------
    # Deployment
    # ----------------------------------------------------------------------------------------

    @initialize(deployment=DEPLOYMENTS)
    def deploy(self, deployment: dict[str, Any]) -> None:
        self._deploy(**deployment)

    def _deploy(
        self,
        n: int,
        order: list[int],
        selector_kind: str,
        threshold: int,
        proposal_window: int,
        voting_window: int,
        max_rounds: int,
    ) -> None:
        self.learners = [self.pool[i] for i in order[:n]]
        self.selector_account = None
        if selector_kind == "outsider":
            self.selector_account = self.pool[order[n]]
        elif selector_kind == "learner":
            self.selector_account = self.learners[-1]
        selector = self.selector_account.address if self.selector_account else ZERO_ADDRESS
        config = Config(
            learners=tuple(a.address for a in self.learners),
            threshold_bps=threshold,
            proposal_window=proposal_window,
            voting_window=voting_window,
            max_rounds=max_rounds,
            initial_model=INITIAL,
            selector=selector,
        )
        block = self.chain.block_number() + 1
        model = ProtocolModel(config, block)
        self.client = CollectiveLearningClient.deploy(
            self.chain,
            self.deployer,
            list(config.learners),
            threshold_bps=threshold,
            proposal_window=proposal_window,
            voting_window=voting_window,
            max_rounds=max_rounds,
            initial_model=INITIAL,
            selector=selector,
        )
        assert self.client.deployment_block == block
        self.model = model
        self.history = [event_key(e) for e in model.deployment_events]
        self.all_views_agree()

    # ----------------------------------------------------------------------------------------
    # The rule
    # ----------------------------------------------------------------------------------------

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """Mine, or make one call on both sides; a finished experiment may give way to a new one."""
        if self.model.finished() and data.draw(AGAIN, label="deploy again"):
            self.all_views_agree()
            deployment: dict[str, Any] = data.draw(DEPLOYMENTS, label="deployment")
            self._deploy(**deployment)
            return
        action = data.draw(ACTIONS, label="action")
        if action == "mine":
            self.chain.mine(data.draw(BLOCKS, label="blocks"))
            return
        if action == "on cue":
            action = self.cue(data)
        mistake = data.draw(MISTAKES, label="mistake")
        round = self.model.current_round()
        if mistake == "round":
            wrong = [round + 1, UINT256_MAX, *([round - 1] if round else [])]
            round = data.draw(st.sampled_from(wrong), label="wrong round")
        {
            "propose": self.propose,
            "contribute": self.contribute,
            "vote": self.vote,
            "finalize": self.finalize,
            "skip": self.skip,
            "nominate": self.nominate,
        }[action](data, mistake, round)

    def cue(self, data: st.DataObject) -> str:
        """The call the protocol expects next: what a live experiment mostly consists of.

        Past a deadline, that is mostly the skip or finalize, and sometimes a late call.
        """
        m = self.model
        info = m.round_info(m.current_round())
        block = self.chain.block_number() + 1
        if info.status == Status.PROPOSING:
            late = m.proposal_window() and block > info.start_block + m.proposal_window()
            if late and data.draw(DEADLINE_KEPT, label="deadline kept"):
                return "skip"
            return "nominate" if m.current_proposer() == ZERO_ADDRESS else "propose"
        late = m.voting_window() and block > info.proposed_block + m.voting_window()
        if late and data.draw(DEADLINE_KEPT, label="deadline kept"):
            return "finalize"
        return "vote"

    # ----------------------------------------------------------------------------------------
    # One call each, on both sides
    # ----------------------------------------------------------------------------------------

    def propose(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        sender = self.anyone(data) if mistake == "sender" else self.proposer(data)
        weights = ZERO_HASH if mistake == "argument" else data.draw(WEIGHTS, label="weights")
        manifest = data.draw(MANIFESTS, label="manifest")
        self.check(
            sender,
            lambda b: self.model.propose(sender.address, round, weights, manifest, b),
            lambda: self.client.propose(sender, round, weights, manifest),
        )

    def contribute(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        sender = self.anyone(data) if mistake == "sender" else self.learner(data)
        weights = ZERO_HASH if mistake == "argument" else data.draw(WEIGHTS, label="weights")
        self.check(
            sender,
            lambda b: self.model.contribute(sender.address, round, weights, b),
            lambda: self.client.contribute(sender, round, weights),
        )

    def vote(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        if mistake == "sender":
            sender = self.anyone(data)
        elif mistake == "argument":  # one who voted, or the proposer
            sender = self.non_voter(data)
        else:
            sender = self.voter(data)
        approve = data.draw(st.booleans(), label="approve")
        score = data.draw(SCORES, label="score")
        self.check(
            sender,
            lambda b: self.model.vote(sender.address, round, approve, score, b),
            lambda: self.client.vote(sender, round, approve, score),
        )

    def finalize(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        sender = self.anyone(data)
        self.check(
            sender,
            lambda b: self.model.finalize(sender.address, round, b),
            lambda: self.client.finalize(sender, round),
        )

    def skip(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        sender = self.anyone(data)
        self.check(
            sender,
            lambda b: self.model.skip(sender.address, round, b),
            lambda: self.client.skip(sender, round),
        )

    def nominate(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        sender = self.selector_account
        if mistake == "sender" or sender is None:  # nobody may nominate without a selector
            sender = self.anyone(data)
        if mistake == "argument":  # anyone, maybe a learner, or the zero address
            addresses = [*(a.address for a in self.everyone), ZERO_ADDRESS]
            proposer = self.pick(data, addresses, "nominee")
        else:
            proposer = self.learner(data).address
        self.check(
            sender,
            lambda b: self.model.nominate(sender.address, round, proposer, b),
            lambda: self.client.nominate(sender, round, proposer),
        )

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    @staticmethod
    def pick(data: st.DataObject, options: Sequence[T], label: str) -> T:
        """One of ``options``, drawn by index so that a failing example prints readably."""
        return options[data.draw(st.integers(0, len(options) - 1), label=label)]

    def anyone(self, data: st.DataObject) -> LocalAccount:
        """Any account: a learner, an outsider, the selector or the deployer."""
        return self.pick(data, self.everyone, "sender (any account)")

    def learner(self, data: st.DataObject) -> LocalAccount:
        return self.pick(data, self.learners, "learner")

    def proposer(self, data: st.DataObject) -> LocalAccount:
        """The current proposer, or any learner while there is none (selector mode)."""
        found = [a for a in self.learners if a.address == self.model.current_proposer()]
        return found[0] if found else self.learner(data)

    def voter(self, data: st.DataObject) -> LocalAccount:
        """A learner still to vote in the current round, or any learner if none is."""
        done = self.model.voters(self.model.current_round()) | {self.model.current_proposer()}
        pending = [a for a in self.learners if a.address not in done]
        return self.pick(data, pending, "voter") if pending else self.learner(data)

    def non_voter(self, data: st.DataObject) -> LocalAccount:
        """A learner who already voted in the current round, else the proposer, else anyone."""
        voted = self.model.voters(self.model.current_round())
        if voted:
            return self.pick(data, [a for a in self.learners if a.address in voted], "voted")
        return self.proposer(data)

    def check(
        self,
        sender: LocalAccount,
        model_call: Callable[[int], list[ModelEvent]],
        contract_call: Callable[[], Receipt],
    ) -> None:
        """Run one call on both sides (in the same block) and compare the verdicts.

        The sender's registration is compared too: a vote or a contribution rewrites the
        contract's word for its sender, which also holds what ``isLearner`` reads.
        """
        block = self.chain.block_number() + 1  # eth-tester mines each transaction in a new block
        expected = model_outcome(lambda: model_call(block))
        actual = contract_outcome(contract_call, block)
        assert actual == expected
        if isinstance(expected, list):
            self.history.extend(expected)
        assert self.client.is_learner(sender.address) == self.model.is_learner(sender.address)

    # ----------------------------------------------------------------------------------------
    # After every step: the views a call can change, and the event history, agree; after each
    # deployment and at the end of each experiment: every view
    # ----------------------------------------------------------------------------------------

    @invariant()
    def round_views_agree(self) -> None:
        """Everything a call can change: the round, proposer, model, and every round so far."""
        m, c = self.model, self.client
        assert c.current_round() == m.current_round()
        assert c.current_proposer() == m.current_proposer()
        assert c.global_model() == m.global_model()
        assert c.finished() == m.finished()
        for r in range(m.current_round() + 2):
            assert as_model_info(c.round_info(r)) == m.round_info(r), f"round {r}"

    @invariant()
    def history_agrees(self) -> None:
        """The contract's whole event log is exactly the model's successful calls' events."""
        assert contract_event_keys(self.client.events()) == self.history

    def all_views_agree(self) -> None:
        """Every view, including those only the constructor sets (immutables, learner words)."""
        m, c = self.model, self.client
        self.round_views_agree()
        assert c.learners() == m.learners()
        assert c.learner_count() == m.learner_count()
        for account in [*(a.address for a in self.everyone), ZERO_ADDRESS]:
            assert c.is_learner(account) == m.is_learner(account), account
        assert (c.initial_model(), c.threshold_bps(), c.selector()) == (
            m.initial_model(), m.threshold_bps(), m.selector())
        assert (c.proposal_window(), c.voting_window(), c.max_rounds()) == (
            m.proposal_window(), m.voting_window(), m.max_rounds())

    def teardown(self) -> None:
        if hasattr(self, "model"):  # not when the deployment itself failed
            self.all_views_agree()


ProtocolMachine.TestCase.settings = CI
TestProtocolMachine = ProtocolMachine.TestCase


# --------------------------------------------------------------------------------------------
# The constructor, with random (often invalid) arguments
# --------------------------------------------------------------------------------------------


@CI
@given(
    slots=st.lists(st.integers(0, 6), max_size=6),
    threshold=st.one_of(st.sampled_from([0, 1, 10000, 10001]), st.integers(0, 2**16 - 1)),
    initial=st.sampled_from([ZERO_HASH, INITIAL]),
)
def test_constructor_agrees_with_the_model(
    slots: list[int], threshold: int, initial: bytes
) -> None:
    """Empty lists, duplicates, the zero address (slot 0), thresholds out of range, no model."""
    chain, accounts = shared_chain()
    learners = [ZERO_ADDRESS if s == 0 else accounts[s].address for s in slots]
    config = Config(learners=tuple(learners), threshold_bps=threshold, initial_model=initial)
    block = chain.block_number() + 1

    def deploy_model() -> list[ModelEvent]:
        return ProtocolModel(config, block).deployment_events

    def deploy_contract() -> Receipt:
        client = CollectiveLearningClient.deploy(
            chain, accounts[0], learners, threshold_bps=threshold, initial_model=initial
        )
        assert client.deployment_block == block
        assert (client.threshold_bps(), client.learners()) == (threshold, learners)
        return Receipt(b"", client.deployment_block, 0, client.events())

    assert contract_outcome(deploy_contract, block) == model_outcome(deploy_model)
