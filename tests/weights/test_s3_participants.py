"""Participants that share nothing but an S3 bucket play a whole experiment (one store each)."""

from __future__ import annotations

import threading

import pytest

from colearn_chain.chain import CollectiveLearningClient, RoundStatus, connect
from colearn_chain.experiment import publish_initial_model
from colearn_chain.participant import Participant, ParticipantSettings
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.s3_store import S3Store

from .s3_server import MotoServer

FAST = ParticipantSettings(poll_interval=0.01, max_outage=5.0, retry_delay=0.01, max_retry_delay=0.05)


@pytest.mark.slow
def test_participants_with_their_own_s3_clients_play_a_whole_experiment(s3_server: MotoServer) -> None:
    bucket = s3_server.new_bucket()
    settings = make_settings(learners=3, rounds=2, seed=5)
    learners, _, _ = build_learners(settings)
    initial = publish_initial_model(learners, S3Store(bucket, "exp", endpoint_url=s3_server.endpoint))
    chain = connect()
    accounts = chain.new_funded_accounts(3)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts], max_rounds=2,
        initial_model=initial.bytes32,
    )  # fmt: skip
    # One store object (one boto3 client) per participant, as on separate hosts.
    stores = [S3Store(bucket, "exp", endpoint_url=s3_server.endpoint) for _ in accounts]
    participants = [
        Participant(client, account, learner, store, make_strategy("round-robin"), FAST)
        for account, learner, store in zip(accounts, learners, stores, strict=True)
    ]
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
    assert errors == []
    assert client.finished()
    auditor = S3Store(bucket, "exp", endpoint_url=s3_server.endpoint)
    for round_index in range(2):
        info = client.round_info(round_index)
        assert info.status in (RoundStatus.ACCEPTED, RoundStatus.REJECTED)
        assert info.approvals + info.rejections == 2  # both voters fetched and tested the proposal
        assert auditor.has(info.weights)  # every proposal is in the bucket, intact
