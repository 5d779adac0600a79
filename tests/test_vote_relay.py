"""Separate participants' votes as PROTOCOL v2 says: signed in the store, relayed, direct when late.

Participants are stepped one action at a time on the embedded chain (blocks mined by hand), so
every deadline of the voting window is hit exactly: the relayer's half, the voters' three
quarters, the end.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from colearn_chain.audit import audit_contract
from colearn_chain.chain import CollectiveLearningClient, RoundStatus, connect
from colearn_chain.chain import events as ev
from colearn_chain.experiment import publish_initial_model
from colearn_chain.participant import Participant, ParticipantSettings
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import make_strategy
from colearn_chain.vote_relay import VoteCollector, VoteEnvelope, post_vote, vote_signer
from colearn_chain.weights.store import InMemoryStore

FAST = ParticipantSettings(poll_interval=0.01, max_outage=5.0, retry_delay=0.01, max_retry_delay=0.05)
WINDOW = 8  # relayer waits until block proposed + 4, voters vote directly from proposed + 6


def _setup(rounds: int = 2) -> tuple[CollectiveLearningClient, list[LocalAccount], list[Participant], InMemoryStore]:
    settings = make_settings(learners=3, rounds=rounds, seed=5)
    learners, _, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    chain = connect()
    accounts = chain.new_funded_accounts(3)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts],
        max_rounds=rounds, initial_model=initial.bytes32, voting_window=WINDOW,
    )  # fmt: skip
    participants = [
        Participant(client, account, learner, store, make_strategy("round-robin"), FAST)
        for account, learner in zip(accounts, learners, strict=True)
    ]
    return client, accounts, participants, store


def _votes(client: CollectiveLearningClient, round_index: int) -> list[ev.VoteCast]:
    return [e for e in client.events() if isinstance(e, ev.VoteCast) and e.round == round_index]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every vote transaction sent, as (function, sender): a spy on the client's two vote calls."""
    calls: list[tuple[str, str]] = []
    vote, submit = CollectiveLearningClient.vote, CollectiveLearningClient.submit_votes

    def spy_vote(client: CollectiveLearningClient, sender: LocalAccount, *args: Any) -> Any:
        calls.append(("vote", sender.address))
        return vote(client, sender, *args)

    def spy_submit(client: CollectiveLearningClient, sender: LocalAccount, *args: Any) -> Any:
        calls.append(("submitVotes", sender.address))
        return submit(client, sender, *args)

    monkeypatch.setattr(CollectiveLearningClient, "vote", spy_vote)
    monkeypatch.setattr(CollectiveLearningClient, "submit_votes", spy_submit)
    return calls


def _audit_verifies(client: CollectiveLearningClient, store: InMemoryStore) -> None:
    report = audit_contract(client, store, check=True)
    assert report.discrepancies == []


def test_votes_travel_through_the_store_and_the_proposer_relays_them_in_one_transaction(
    sent: list[tuple[str, str]],
) -> None:
    client, accounts, (first, second, third), store = _setup()
    assert first.step()  # learner 0 proposes round 0
    block = client.chain.block_number()
    assert second.step() and third.step()  # each puts its signed vote in the store: no transaction
    assert client.chain.block_number() == block and _votes(client, 0) == []
    assert second.step() is False  # posted already: nothing more to do before the relay or 3/4
    assert first.step()  # every vote is in: the proposer relays them at once
    votes = _votes(client, 0)
    assert sorted(v.voter for v in votes) == sorted([accounts[1].address, accounts[2].address])
    assert len({v.tx_hash for v in votes}) == 1
    assert sent == [("submitVotes", accounts[0].address)]
    assert client.round_info(0).status in (RoundStatus.ACCEPTED, RoundStatus.REJECTED)
    _audit_verifies(client, store)


def test_a_killed_relayer_leaves_each_voter_to_vote_directly_at_three_quarters(sent: list[tuple[str, str]]) -> None:
    client, accounts, (first, second, third), store = _setup()
    assert first.step()  # learner 0 proposes, then is killed: it never relays
    proposed = client.round_info(0).proposed_block
    assert second.step() and third.step()  # signed votes in the store, waiting for a relayer
    client.chain.mine(proposed + (3 * WINDOW) // 4 - 1 - client.chain.block_number())
    assert second.step() is False  # block + 1 is at the three-quarter mark, not past it
    client.chain.mine(1)
    assert second.step() and third.step()  # past it: each sends its vote with `vote`
    votes = _votes(client, 0)
    assert sent == [("vote", accounts[1].address), ("vote", accounts[2].address)]
    assert len(votes) == 2 and len({v.tx_hash for v in votes}) == 2
    assert client.round_info(0).status in (RoundStatus.ACCEPTED, RoundStatus.REJECTED)
    _audit_verifies(client, store)


def test_a_voter_that_also_votes_directly_does_not_break_the_relayers_batch(sent: list[tuple[str, str]]) -> None:
    client, accounts, (first, second, third), store = _setup()
    assert first.step()
    assert second.step() and third.step()  # both signed votes are in the store
    decision = second._decision(0, client.round_info(0))
    client.vote(accounts[1], 0, decision.approve, 0)  # learner 1 votes directly as well
    assert first.step()  # the relayer sends what is still missing: learner 2's vote
    assert sent == [("vote", accounts[1].address), ("submitVotes", accounts[0].address)]
    votes = _votes(client, 0)
    assert Counter(v.voter for v in votes) == Counter([accounts[1].address, accounts[2].address])
    info = client.round_info(0)
    assert info.approvals + info.rejections == 2 and info.status is not RoundStatus.VOTING
    _audit_verifies(client, store)


def test_forged_and_replayed_signatures_are_dropped_and_never_sink_the_batch() -> None:
    client, accounts, participants, store = _setup(rounds=2)
    first, second, third = participants
    contract, chain_id = client.address, client.chain.chain_id
    # round 0, relayed normally; keep learner 2's signed vote to replay it later
    assert first.step() and second.step() and third.step() and first.step()
    round0 = client.round_info(0)
    envelopes = [VoteEnvelope.from_bytes(store.get(digest)) for digest in store.list()]
    replayed = next(e for e in envelopes if e is not None and e.vote.voter == accounts[2].address)
    assert replayed.vote.round == 0
    # round 1: learner 1 proposes and relays
    assert second.step()
    round1 = client.round_info(1)
    assert round1.status is RoundStatus.VOTING and round1.weights != round0.weights
    # learner 2's round-0 signature offered for round 1 (same vote, new round), and a forgery in
    # learner 0's name signed by an outsider
    moved = dataclasses.replace(replayed.vote, round=1, weights=round1.weights)
    outsider = Account.create()
    forged = client.sign_vote(outsider, 1, round1.weights, True, 10**6)
    forged = dataclasses.replace(forged, voter=accounts[0].address)
    for vote in (moved, forged):
        post_vote(store, contract, chain_id, vote)
        assert vote_signer(contract, chain_id, vote) != vote.voter
    collector = VoteCollector(store, contract, chain_id, client.learners())
    assert collector.votes(1, round1.weights) == {}  # neither counts as anyone's vote
    assert second.step() is False  # so the relayer has nothing to send yet
    assert first.step() and third.step()  # the real votes arrive
    assert second.step()  # and the batch of the two real ones goes through
    votes = _votes(client, 1)
    assert sorted(v.voter for v in votes) == sorted([accounts[0].address, accounts[2].address])
    expected = {p.account.address: p._decision(1, round1).approve for p in (first, third)}
    assert {v.voter: v.approve for v in votes} == expected
    assert client.finished()
    _audit_verifies(client, store)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"{}",
        b'{"kind": "colearn-chain/signed-vote/v2"}',
        b'{"kind": "colearn-chain/signed-vote/v2", "contract": "0x0", "chainId": true}',
        b"\x08\x01onnx-ish bytes",
    ],
)
def test_anything_else_in_the_store_is_not_a_vote(blob: bytes) -> None:
    assert VoteEnvelope.from_bytes(blob) is None
