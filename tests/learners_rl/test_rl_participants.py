"""RL agents as separate participants: the participant loop federates them on the chain like classifiers."""

from __future__ import annotations

import pytest

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.experiment import publish_initial_model
from colearn_chain.participant import Participant
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.store import InMemoryStore
from learners.rl.task import RLSource
from tests.test_participant import FAST, _run_all


@pytest.mark.slow
def test_agents_in_participant_loops_propose_vote_and_adopt_the_same_policy(tiny_source: RLSource) -> None:
    learners = [tiny_source.make_learner(i, 2, 1) for i in range(2)]
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    chain = connect()
    accounts = chain.new_funded_accounts(2)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts], max_rounds=2, initial_model=initial.bytes32
    )
    participants = [
        Participant(client, account, learner, store, make_strategy("round-robin"), FAST)
        for account, learner in zip(accounts, learners, strict=True)
    ]
    errors = _run_all(participants)
    assert not errors
    assert client.current_round() == 2
    votes = [e for e in client.events() if type(e).__name__ == "VoteCast"]
    assert len(votes) == 2  # each round, the other agent scored the proposal by its mean return
    held = [learner.mli_get_current_weights().weights for learner in learners]
    assert all((held[0][k] == held[1][k]).all() for k in held[0])  # both adopted the same global policy
