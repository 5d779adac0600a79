"""The selector served on a deployed contract: state from events, one nomination per round, races survived."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
import torch
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import ZERO_ADDRESS, Chain, CollectiveLearningClient
from colearn_chain.chain import events as ev
from colearn_chain.chain.types import score_to_fixed
from colearn_chain.errors import ColearnValueError
from colearn_chain.history import round_records
from colearn_chain.selector_service import Nomination, check_selector, nominate_round, serve_selector
from colearn_chain.selector_training.dqn import QNetwork
from colearn_chain.strategies.rl.cost import cost_matrix
from colearn_chain.strategies.rl.policy import PolicyInfo, SelectorPolicy
from colearn_chain.strategies.rl.state import build_state, rounds_from_records

LEARNERS = 3
ROUNDS = 4


def _policy(learners: int = LEARNERS) -> SelectorPolicy:
    from colearn_chain.strategies.rl.state import StateConfig

    config = StateConfig(learners)
    torch.manual_seed(3)
    network = QNetwork(learners, config.features, (8,))
    return SelectorPolicy.from_layers(network.linear_layers(), PolicyInfo(config, cost_matrix(learners), 0.8))


def _deploy(
    chain: Chain, with_selector: bool = True
) -> tuple[CollectiveLearningClient, list[LocalAccount], LocalAccount]:
    accounts = chain.new_funded_accounts(LEARNERS + 1, seed=11)
    selector = accounts.pop()
    client = CollectiveLearningClient.deploy(
        chain,
        chain.dev_accounts()[0],
        [a.address for a in accounts],
        max_rounds=ROUNDS,
        initial_model=b"\1" * 32,
        selector=selector.address if with_selector else ZERO_ADDRESS,
    )
    return client, accounts, selector


def _play_round(client: CollectiveLearningClient, learners: list[LocalAccount], round_index: int) -> None:
    """What the learners do once a proposer is nominated: propose, then everyone else votes."""
    proposer = client.current_proposer()
    index = [str(a.address) for a in learners].index(proposer)
    client.propose(learners[index], round_index, bytes([round_index + 2]) * 32)
    for voter, account in enumerate(learners):
        if voter != index:
            score = score_to_fixed(1.0 / (1 + round_index + voter))
            client.vote(account, round_index, approve=(voter + round_index) % 3 != 0, score=score)


def test_serve_nominates_every_round_from_the_events(chain: Chain) -> None:
    client, learners, selector = _deploy(chain)
    policy = _policy()
    seen: list[Nomination] = []
    result: list[list[Nomination]] = []
    thread = threading.Thread(
        target=lambda: result.append(
            serve_selector(client, selector, policy, poll_seconds=0.01, on_nomination=seen.append)
        ),
        daemon=True,
    )
    thread.start()
    for round_index in range(ROUNDS):
        deadline = time.monotonic() + 30
        while client.current_proposer() == ZERO_ADDRESS:
            assert time.monotonic() < deadline, f"no nomination for round {round_index}"
            time.sleep(0.01)
        _play_round(client, learners, round_index)
    thread.join(timeout=30)
    assert not thread.is_alive() and client.finished()

    nominations = result[0]
    assert nominations == seen and [n.round for n in nominations] == list(range(ROUNDS))
    assert all(n.sent for n in nominations)
    events = client.events()
    nominated = [e for e in events if isinstance(e, ev.ProposerNominated)]
    assert [(e.round, e.proposer, e.selector) for e in nominated] == [
        (n.round, n.address, selector.address) for n in nominations
    ]
    # each choice is the policy's argmax on the state rebuilt from the events before the round
    addresses = client.learners()
    for nomination in nominations:
        first_block = next(e.block_number for e in nominated if e.round == nomination.round)
        rounds = rounds_from_records(round_records([e for e in events if e.block_number < first_block]), addresses)
        state = build_state(policy.info.config, rounds, nomination.round, policy.info.cost)
        assert nomination.learner == int(np.argmax(policy.q_values(state)))


def test_a_lost_race_is_logged_not_raised(chain: Chain, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="colearn_chain")
    client, _, selector = _deploy(chain)
    policy = _policy()
    addresses = check_selector(client, selector, policy)
    client.nominate(selector, 0, addresses[0])  # someone (a previous run) nominated already
    nomination = nominate_round(client, selector, policy, addresses, 0)
    assert not nomination.sent and "AlreadyNominated" in (nomination.reason or "")
    assert "not taken" in caplog.text
    late = nominate_round(client, selector, policy, addresses, 3)
    assert not late.sent and "WrongRound" in (late.reason or "")
    # serving skips a round whose proposer is already set, and stops when asked
    polls = iter([False, True])
    assert serve_selector(client, selector, policy, poll_seconds=0.0, should_stop=lambda: next(polls)) == []


def test_serve_refuses_a_wrong_account_or_policy(chain: Chain) -> None:
    client, learners, selector = _deploy(chain)
    with pytest.raises(ColearnValueError, match="is not the selector"):
        check_selector(client, learners[0], _policy())
    with pytest.raises(ColearnValueError, match="chooses among 5 learners but the experiment has 3"):
        check_selector(client, selector, _policy(5))
    plain, _, _ = _deploy(chain, with_selector=False)
    with pytest.raises(ColearnValueError, match="has no selector"):
        check_selector(plain, selector, _policy())
