"""Separate participants with spent budgets: the proposal window passes, the round is skipped, they keep voting."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from colearn_chain.chain import CollectiveLearningClient, RoundStatus, connect
from colearn_chain.chain import events as ev
from colearn_chain.experiment import publish_initial_model
from colearn_chain.participant import Participant, ParticipantSettings
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.store import InMemoryStore
from tests.privacy.test_dp_experiment import DP

FAST = ParticipantSettings(poll_interval=0.01, max_outage=5.0, retry_delay=0.01, max_retry_delay=0.05)


@pytest.mark.slow
def test_a_spent_participant_lets_its_window_pass_and_keeps_voting() -> None:
    settings = make_settings(learners=3, rounds=5, seed=2, dp=DP)
    learners, _, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    chain = connect()
    accounts = chain.new_funded_accounts(3)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts], max_rounds=5,
        proposal_window=200, voting_window=200, initial_model=initial.bytes32,
    )  # fmt: skip
    participants = [
        Participant(client, account, learner, store, make_strategy("round-robin"), FAST)
        for account, learner in zip(accounts, learners, strict=True)
    ]
    errors: list[BaseException] = []

    def play(participant: Participant) -> None:
        try:
            participant.run()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    def mine_while_running() -> None:  # the node's empty blocks: deadlines pass while learners are silent
        while any(t.is_alive() for t in threads):
            chain.mine(1)
            stop.wait(0.05)

    stop = threading.Event()
    threads = [threading.Thread(target=play, args=(p,)) for p in participants]
    for thread in threads:
        thread.start()
    miner = threading.Thread(target=mine_while_running)
    miner.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    miner.join(timeout=10)
    assert errors == [] and client.finished()
    statuses = [client.round_info(r).status for r in range(5)]
    assert statuses[3:] == [RoundStatus.SKIPPED, RoundStatus.SKIPPED]
    assert all(s in (RoundStatus.ACCEPTED, RoundStatus.REJECTED) for s in statuses[:3])
    votes = [e for e in client.events() if isinstance(e, ev.VoteCast)]
    assert {v.voter for v in votes if v.round == 2} == {accounts[0].address, accounts[1].address}  # spent, voting
    proposals = [e for e in client.events() if isinstance(e, ev.WeightsProposed)]
    for proposal in proposals:  # each manifest records what its proposer had spent
        privacy = json.loads(store.get(proposal.manifest.hex()))["privacy"]
        assert 0 < privacy["epsilon"] <= DP["target_epsilon"] and privacy["delta"] == DP["target_delta"]


def test_deploy_refuses_dp_without_a_proposal_window(tmp_path: Path) -> None:
    from colearn_chain.cli.main import main

    keystore = tmp_path / "none.json"
    code = main(
        ["deploy", "--rpc", "http://127.0.0.1:9", "--account", str(keystore), "--learners",
         "0x" + "11" * 20, "--store", str(tmp_path / "store"), "--proposal-window", "0",
         "--out", str(tmp_path / "d.json"), "--dp", "target_epsilon=3", "--dp", "target_delta=1e-5",
         "--dp", "max_grad_norm=1", "--dp", "noise_multiplier=1"]
    )  # fmt: skip
    assert code == 1 and not (tmp_path / "d.json").exists()
