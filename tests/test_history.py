"""History from the chain's events: one replay, the same round records as a run writes, and what
a participant's strategy sees equals what the same strategy sees in ``run``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.chain import events as ev
from colearn_chain.chain.types import ZERO_ADDRESS
from colearn_chain.experiment import publish_initial_model
from colearn_chain.history import public_record, replay, round_records
from colearn_chain.ledger import ChainLedger, threshold_to_bps
from colearn_chain.participant import Participant, ParticipantSettings
from colearn_chain.records import RoundRecord, VoteRecord
from colearn_chain.simulation import build_learners, make_settings, prepare_simulation
from colearn_chain.strategies.base import Proposal, RoundContext
from colearn_chain.strategies.round_robin import RoundRobin
from colearn_chain.weights.store import InMemoryStore

IDS = [f"0x{i + 1:040X}" for i in range(3)]
MODEL = bytes(range(32))
INITIAL = bytes(range(1, 33))


def _event(cls: type[ev.Event], block: int, **fields: object) -> ev.Event:
    return cls(block_number=block, log_index=0, tx_hash=b"\0" * 32, **fields)


def _events() -> list[ev.Event]:
    return [
        *(_event(ev.LearnerRegistered, 0, learner=a, index=i) for i, a in enumerate(IDS)),
        _event(ev.RoundSkipped, 1, round=0, proposer=ZERO_ADDRESS),
        _event(ev.WeightsProposed, 2, round=1, proposer=IDS[1], weights=MODEL, manifest=b"\0" * 32),
        _event(ev.VoteCast, 3, round=1, voter=IDS[0], approve=True, score=1_250_000),
        _event(ev.VoteCast, 4, round=1, voter=IDS[2], approve=False, score=-500_000),
        _event(ev.RoundFinalized, 4, round=1, accepted=True, approvals=1, rejections=1, global_model=MODEL),
        _event(ev.WeightsProposed, 5, round=2, proposer=IDS[2], weights=INITIAL, manifest=MODEL),
    ]


def test_replay_tells_every_round_as_the_events_do() -> None:
    history = replay(_events(), INITIAL)
    assert history.learners == IDS
    assert history.initial_model == "0x" + INITIAL.hex()
    skipped, accepted, open_round = history.rounds
    assert (skipped.outcome, skipped.proposer, skipped.global_model) == ("skipped", None, "0x" + INITIAL.hex())
    assert (accepted.outcome, accepted.approvals, accepted.rejections) == ("accepted", 1, 1)
    assert [(v.voter, v.approve, v.score, v.block) for v in accepted.votes] == [
        (IDS[0], True, 1_250_000, 3),
        (IDS[2], False, -500_000, 4),
    ]
    assert (open_round.outcome, open_round.manifest, open_round.ended) == ("in progress", "0x" + MODEL.hex(), False)


def test_round_records_are_the_ended_rounds_as_a_run_records_them() -> None:
    records = round_records(_events(), INITIAL)
    assert records == [
        RoundRecord(0, ZERO_ADDRESS, "", None, False, 0, 0, [], None, "0x" + INITIAL.hex()),
        RoundRecord(
            1, IDS[1], "0x" + MODEL.hex(), None, True, 1, 1,
            [VoteRecord(IDS[0], True, 1.25), VoteRecord(IDS[2], False, -0.5)], None, "0x" + MODEL.hex(),
        ),
    ]  # fmt: skip
    # without the initial model, the global model after a leading skip is unknown
    assert round_records(_events())[0].global_model == ""


class HistorySpy(RoundRobin):
    """Round-robin that writes down the history it is shown when it proposes."""

    name = "history-spy"

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, tuple[RoundRecord, ...]] = {}

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        self.seen[context.round] = tuple(public_record(r) for r in context.history)
        return super().make_proposal(context, proposer, contributions)


def _step_in_round_order(client: CollectiveLearningClient, participants: Sequence[Participant]) -> None:
    """Each round: the proposer acts, then the voters in ledger order (as the in-process loop does)."""
    for _ in range(100):
        if client.finished():
            return
        proposer = client.current_round() % len(participants)
        for participant in [participants[proposer], *(p for p in participants if p.index != proposer)]:
            participant.step()
    raise AssertionError("the experiment did not finish")


@pytest.mark.slow
def test_a_strategy_sees_the_same_history_in_run_and_in_learner() -> None:
    settings = make_settings(learners=3, rounds=4, seed=3)
    in_run = HistorySpy()
    simulation = prepare_simulation(settings, InMemoryStore(), "chain", strategy=in_run)
    simulation.experiment.run(settings.rounds)
    ledger = simulation.experiment.ledger
    assert isinstance(ledger, ChainLedger)
    # the run's records are exactly what the chain's events replay to
    from_events = round_records(ledger.client.events(), ledger.client.initial_model())
    assert [public_record(r) for r in simulation.experiment.history] == from_events
    assert len(from_events) == 4 and any(r.accepted for r in from_events)

    # the same experiment played by participants on another chain, with the same accounts
    learners, _, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    chain = connect()
    accounts = chain.new_funded_accounts(3, seed=settings.seed)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts], threshold_bps=threshold_to_bps(0.5),
        max_rounds=settings.rounds, initial_model=initial.bytes32,
    )  # fmt: skip
    in_learner = HistorySpy()
    fast = ParticipantSettings(poll_interval=0.01)
    participants = [
        Participant(client, a, learner, store, in_learner, fast) for a, learner in zip(accounts, learners, strict=True)
    ]
    _step_in_round_order(client, participants)

    assert sorted(in_learner.seen) == [0, 1, 2, 3]
    assert in_learner.seen == in_run.seen
    assert in_run.seen[3] == tuple(from_events[:3])
