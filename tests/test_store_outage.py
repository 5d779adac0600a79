"""A remote store that stops answering for a while (a host's link is down) is waited out, not voted on."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from colearn_chain.chain import RoundStatus
from colearn_chain.participant import NodeUnreachable, ParticipantSettings
from colearn_chain.weights.errors import StoreUnavailable
from tests.test_participant import _run_all, _setup


def _unreachable_for(original: Callable[[str | bytes], bytes], failures: int) -> Callable[[str | bytes], bytes]:
    left = [failures]

    def get(digest: str | bytes) -> bytes:
        if left[0] > 0:
            left[0] -= 1
            raise StoreUnavailable("cannot reach the content store s3://bucket/exp after 5 attempts")
        return original(digest)

    return get


def test_votes_wait_for_the_store_instead_of_rejecting(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="colearn_chain")
    client, _, participants = _setup(rounds=2)
    store = participants[0].store  # shared by the three participants
    participants[0].step()  # learner 0 adopts the initial model and proposes round 0
    monkeypatch.setattr(store, "get", _unreachable_for(store.get, failures=4))
    assert _run_all(participants) == []
    for round_index in range(2):
        info = client.round_info(round_index)
        assert info.status in (RoundStatus.ACCEPTED, RoundStatus.REJECTED)
        assert info.approvals + info.rejections == 2
    assert "store unreachable" in caplog.text
    assert "rejects" not in caplog.text  # an outage is no reason to reject a proposal


def test_a_store_that_never_comes_back_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, participants = _setup(rounds=1)
    participant = participants[1]
    participant.step()  # adopts the initial model while the store still answers
    participants[0].step()  # round 0's proposal, for participant 1 to fetch
    monkeypatch.setattr(participant.store, "get", _unreachable_for(participant.store.get, failures=10**9))
    participant.settings = ParticipantSettings(poll_interval=0.01, max_outage=0.2, retry_delay=0.02)
    with pytest.raises(NodeUnreachable, match="the store has been unreachable for"):
        participant.run()


def test_a_signed_vote_unread_during_an_outage_is_read_once_the_store_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from colearn_chain.vote_relay import VoteCollector
    from tests.test_vote_relay import _setup as _relay_setup

    client, accounts, participants, store = _relay_setup(rounds=1)
    first, second, third = participants
    assert first.step() and second.step() and third.step()  # a proposal and two signed votes posted
    proposal = client.round_info(0).weights
    collector = VoteCollector(store, client.address, client.chain.chain_id, client.learners())
    monkeypatch.setattr(store, "get", _unreachable_for(store.get, failures=1))
    with pytest.raises(StoreUnavailable):
        collector.votes(0, proposal)  # the relayer's step fails, and run() waits the outage out
    assert set(collector.votes(0, proposal)) == {accounts[1].address, accounts[2].address}  # none lost
