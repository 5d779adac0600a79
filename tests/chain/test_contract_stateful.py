"""Random call sequences against the deployed contract and the reference model side by side.

The machine runs on the embedded chain (the full example budget) and on Anvil (a few examples:
every call is an HTTP round trip), so both backends are held to the same protocol.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields, replace
from typing import Any, TypeVar

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from colearn_chain.chain import Chain, CollectiveLearningClient, Receipt, connect
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain import events as ev

from .contract_setup import entry_tuple
from .protocol_model import (
    ZERO_ADDRESS,
    ZERO_HASH,
    BatchEntry,
    Config,
    ModelEvent,
    ModelRevert,
    ProtocolModel,
    RoundInfo,
    Status,
    VoteClaim,
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
#: On Anvil every call is an HTTP round trip: a few examples hold it to the same protocol.
ON_ANVIL = settings(CI, max_examples=4, stateful_step_count=30)

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
        # round 0 starts at max(deployment block, start): 0, an earlier block, or later ones
        "start_offset": st.sampled_from([None, None, None, -1, 0, 1, 3, 10]),
    }
)
# Half the steps make the call the protocol expects next (``ProtocolMachine.cue``), so rounds
# go on; the others call any function at any time, or mine blocks.
ACTIONS = st.sampled_from(
    ["on cue"] * 8
    + ["propose", "contribute", "vote", "submit_votes", "finalize", "skip", "nominate"]
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
INT64_SCORES = st.one_of(st.integers(-(10**6), 10**6), st.sampled_from([-(2**63), 2**63 - 1]))
#: What may be wrong with one signed vote of a batch (mostly nothing).
SIGNATURE_FAULTS = st.sampled_from(
    [None] * 24 + ["signer", "round", "weights", "contract", "chain", "high s", "approve", "score"]
)
#: What may be wrong with a batch's order (mostly nothing).
ORDER_FAULTS = st.sampled_from([None] * 9 + ["swap", "duplicate", "past the learners", "empty"])


class ProtocolMachine(RuleBasedStateMachine):
    """Drives a fresh deployment and its model with the same calls; they must always agree.

    A single rule does everything: Hypothesis switches a random subset of the rules off in each
    example ("swarm testing"), and an example without its proposals or votes would never get
    past round 0.
    """

    #: The chain the machine runs on, and its development accounts (set by the test).
    chain_and_accounts: tuple[Chain, list[LocalAccount]] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.chain, accounts = self.chain_and_accounts or shared_chain()
        self.key_of: dict[str, LocalAccount] = {str(a.address): a for a in accounts}
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
        start_offset: int | None,
    ) -> None:
        self.learners = [self.pool[i] for i in order[:n]]
        self.selector_account = None
        if selector_kind == "outsider":
            self.selector_account = self.pool[order[n]]
        elif selector_kind == "learner":
            self.selector_account = self.learners[-1]
        selector = self.selector_account.address if self.selector_account else ZERO_ADDRESS
        block = self.chain.block_number() + 1
        start_block = 0 if start_offset is None else max(0, block + start_offset)
        config = Config(
            learners=tuple(a.address for a in self.learners),
            threshold_bps=threshold,
            proposal_window=proposal_window,
            voting_window=voting_window,
            max_rounds=max_rounds,
            initial_model=INITIAL,
            selector=selector,
            start_block=start_block,
        )
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
            start_block=start_block,
        )
        assert self.client.deployment_block == block
        self.model = ProtocolModel(config, block, self.chain.chain_id, self.client.address)
        self.history = [event_key(e) for e in self.model.deployment_events]
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
            "submit_votes": self.submit_votes,
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
        return data.draw(st.sampled_from(["vote", "submit_votes"]), label="how votes travel")

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

    def submit_votes(self, data: st.DataObject, mistake: str | None, round: int) -> None:
        """A relayer (anyone) submits a batch: mostly pending voters' honest votes, sorted.

        ``mistake == "argument"`` puts the proposer or already-counted voters in; each entry
        may carry a signature fault, and the batch an order fault. The model decides.
        """
        sender = self.anyone(data)
        n = len(self.learners)
        current = self.model.current_round()
        weights = self.model.round_info(current).weights
        done = self.model.voters(current) | {self.model.current_proposer()}
        candidates = [i for i, a in enumerate(self.learners) if a.address not in done]
        if mistake == "argument" or not candidates:
            candidates = list(range(n))
        chosen = data.draw(
            st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True),
            label="voters",
        )
        indices = sorted(chosen)
        fault = data.draw(ORDER_FAULTS, label="order fault")
        if fault == "swap" and len(indices) > 1:
            indices[0], indices[-1] = indices[-1], indices[0]
        elif fault == "duplicate":
            indices.insert(data.draw(st.integers(0, len(indices) - 1), label="at"), indices[-1])
        elif fault == "past the learners":
            indices.append(data.draw(st.sampled_from([n, n + 1, 2**32 - 1]), label="index"))
        elif fault == "empty":
            indices = []
        entries = [self.signed_entry(data, index, current, weights) for index in indices]
        self.check(
            sender,
            lambda b: self.model.submit_votes(sender.address, round, entries, b),
            lambda: self.client.submit_vote_entries(sender, round, [entry_tuple(e, self.key_of) for e in entries]),
        )

    def signed_entry(self, data: st.DataObject, index: int, round: int, weights: bytes) -> BatchEntry:
        """Learner ``index``'s signed vote in ``round`` on ``weights``, maybe with one fault."""
        approve = data.draw(st.booleans(), label="approve")
        score = data.draw(INT64_SCORES, label="score")
        # an index past the learners is signed by someone: the deployer
        signer = self.learners[index].address if index < len(self.learners) else self.deployer.address
        claim = VoteClaim(signer, self.chain.chain_id, self.client.address, round, weights, approve, score)
        fault = data.draw(SIGNATURE_FAULTS, label="signature fault")
        if fault == "signer":
            claim = replace(claim, signer=self.anyone(data).address)
        elif fault == "round":  # a replay from another round
            claim = replace(claim, round=data.draw(st.sampled_from([round + 1, max(0, round - 1)]), label="r"))
        elif fault == "weights":  # a vote on another proposal
            claim = replace(claim, weights=data.draw(WEIGHTS, label="other weights"))
        elif fault == "contract":  # a replay from another experiment
            claim = replace(claim, contract=self.deployer.address)
        elif fault == "chain":  # a replay from another chain
            claim = replace(claim, chain_id=claim.chain_id + 1)
        elif fault == "high s":
            claim = replace(claim, low_s=False)
        elif fault == "approve":
            claim = replace(claim, approve=not approve)
        elif fault == "score":
            claim = replace(claim, score=score - 1 if score > -(2**63) else score + 1)
        return BatchEntry(index, approve, score, claim)

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
        for learner in self.learners:
            assert c.has_voted(m.current_round(), learner.address) == m.has_voted(
                m.current_round(), learner.address)

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
        assert c.protocol_version() == m.protocol_version()
        assert c.eip712_domain() == c.expected_domain()

    def teardown(self) -> None:
        if hasattr(self, "model"):  # not when the deployment itself failed
            self.all_views_agree()


@pytest.fixture
def anvil_chain(anvil_node: Any) -> Iterator[tuple[Chain, list[LocalAccount]]]:
    """A connection to the session's Anvil node and its development accounts."""
    chain = connect(anvil_node.url)
    try:
        yield chain, chain.dev_accounts()
    finally:
        chain.close()


def test_protocol_machine_on_eth_tester() -> None:
    ProtocolMachine.chain_and_accounts = None
    run_state_machine_as_test(ProtocolMachine, settings=CI)  # type: ignore[no-untyped-call]


def test_protocol_machine_on_anvil(anvil_chain: tuple[Chain, list[LocalAccount]]) -> None:
    ProtocolMachine.chain_and_accounts = anvil_chain
    try:
        run_state_machine_as_test(ProtocolMachine, settings=ON_ANVIL)  # type: ignore[no-untyped-call]
    finally:
        ProtocolMachine.chain_and_accounts = None


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
