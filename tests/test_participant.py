"""The participant loop in-process: threads on the embedded chain, outages, restarts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import ZERO_ADDRESS, CollectiveLearningClient, RoundStatus, connect
from colearn_chain.chain import events as ev
from colearn_chain.chain.backends import ChainUnavailable
from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.experiment import publish_initial_model
from colearn_chain.participant import NodeUnreachable, Participant, ParticipantSettings
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.digest import Digest
from colearn_chain.weights.store import InMemoryStore

FAST = ParticipantSettings(poll_interval=0.01, max_outage=5.0, retry_delay=0.01, max_retry_delay=0.05)


def _setup(rounds: int = 3, **deploy: int) -> tuple[CollectiveLearningClient, list[LocalAccount], list[Participant]]:
    settings = make_settings(learners=3, rounds=rounds, seed=5)
    learners, _, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    chain = connect()
    accounts = chain.new_funded_accounts(3)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts],
        max_rounds=rounds, initial_model=initial.bytes32, **deploy,  # type: ignore[arg-type]
    )  # fmt: skip
    participants = [
        Participant(client, account, learner, store, make_strategy("round-robin"), FAST)
        for account, learner in zip(accounts, learners, strict=True)
    ]
    return client, accounts, participants


def _run_all(participants: list[Participant]) -> list[BaseException]:
    errors: list[BaseException] = []

    def play(participant: Participant) -> None:
        try:
            participant.run()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=play, args=(p,)) for p in participants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_participants_play_a_whole_experiment() -> None:
    client, _, participants = _setup(rounds=3)
    assert _run_all(participants) == []
    assert client.finished()
    for round_index in range(3):
        info = client.round_info(round_index)
        assert info.status in (RoundStatus.ACCEPTED, RoundStatus.REJECTED)
        assert info.approvals + info.rejections == 2
    # everyone ended on the chain's global model
    final = Digest(client.global_model())
    assert all(p.adopted_model == final for p in participants)


def test_a_restarted_participant_does_not_vote_or_propose_again() -> None:
    client, accounts, participants = _setup(rounds=2)
    first, second, third = participants
    assert first.step()  # learner 0 proposes round 0
    assert second.step()  # learner 1 votes
    again = Participant(client, accounts[1], second.learner, second.store, second.strategy, FAST)
    assert again.step() is False  # nothing to do: it already voted in this round
    assert third.step()  # the last vote closes the round
    votes = [e for e in client.events() if isinstance(e, ev.VoteCast) and e.round == 0]
    assert sorted(v.voter for v in votes) == sorted([accounts[1].address, accounts[2].address])


def test_deadlines_move_a_silent_round_on() -> None:
    client, _, participants = _setup(rounds=2, proposal_window=3, voting_window=3)
    client.chain.mine(4)  # learner 0, round 0's proposer, stays silent past the window
    assert participants[1].step()  # so another participant skips the round
    assert client.round_info(0).status is RoundStatus.SKIPPED
    skipped = [e for e in client.events() if isinstance(e, ev.RoundSkipped)]
    assert skipped[0].proposer == client.learners()[0] != ZERO_ADDRESS


def _flaky(original: Callable[[], bool], failures: int) -> Callable[[], bool]:
    left = [failures]

    def call() -> bool:
        if left[0] > 0:
            left[0] -= 1
            raise ChainUnavailable("connection refused")
        return original()

    return call


def test_a_short_outage_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="colearn_chain")
    client, _, participants = _setup(rounds=1)
    client.finished = _flaky(client.finished, failures=3)  # type: ignore[method-assign]
    assert _run_all(participants) == []
    assert client.round_info(0).status in (RoundStatus.ACCEPTED, RoundStatus.REJECTED)
    assert "node unreachable" in caplog.text and "retrying" in caplog.text


def test_a_long_outage_is_a_clear_failure() -> None:
    client, _, participants = _setup(rounds=1)
    client.finished = _flaky(client.finished, failures=10**9)  # type: ignore[method-assign]
    participant = participants[0]
    participant.settings = ParticipantSettings(poll_interval=0.01, max_outage=0.2, retry_delay=0.02)
    with pytest.raises(NodeUnreachable, match="unreachable for"):
        participant.run()


def test_an_outsider_cannot_participate() -> None:
    client, _, participants = _setup(rounds=1)
    outsider = client.chain.new_funded_accounts(1)[0]
    with pytest.raises(ColearnRuntimeError, match="is not a learner"):
        Participant(client, outsider, participants[0].learner, participants[0].store, participants[0].strategy)


@pytest.mark.parametrize(
    ("strategy", "params"), [("fedavg", {"weighting": "equal"}), ("trimmed-mean", {}), ("weighted", {})]
)
def test_participants_aggregate_contributions_and_the_audit_recomputes(strategy: str, params: dict[str, str]) -> None:
    """The learner command's path with an aggregator: everyone contributes, the proposer waits for
    the updates, aggregates them with only its own learner, and the manifest recomputes."""
    from colearn_chain.audit import build_report, default_recompute, verify

    client, _, participants = _setup(rounds=2)
    for participant in participants:
        participant.strategy = make_strategy(strategy, params)
        participant.strategy.check_distributed()
    assert _run_all(participants) == []
    history = client.events()
    assert sum(isinstance(e, ev.UpdateContributed) for e in history) == 6  # 3 learners x 2 rounds
    report = build_report(history, client.address, client.chain.chain_id, client.initial_model())
    assert all(r.manifest is not None for r in report.rounds)
    assert verify(report, participants[0].store, default_recompute()) == []


def test_sample_weighted_fedavg_is_refused_for_separate_participants() -> None:
    from colearn_chain.errors import ColearnValueError

    with pytest.raises(ColearnValueError, match="weighting=equal"):
        make_strategy("fedavg").check_distributed()
    for name in ("round-robin", "trimmed-mean", "median", "krum", "multi-krum", "weighted", "evolutionary"):
        make_strategy(name).check_distributed()
