"""The selector's state: public-ledger features, the same from round records as from chain events."""

from __future__ import annotations

import numpy as np
import pytest

from colearn_chain.chain import events as ev
from colearn_chain.errors import ColearnValueError
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.history import round_records
from colearn_chain.simulation import build_chain_ledger, build_learners, make_settings
from colearn_chain.strategies.rl.cost import cost_matrix
from colearn_chain.strategies.rl.state import (
    PublicRound,
    StateConfig,
    build_state,
    fit_projection,
    latest_scores,
    rounds_from_records,
)
from colearn_chain.strategies.selectors import RandomSelector
from colearn_chain.weights.store import InMemoryStore

N = 4


def _features(state: np.ndarray, config: StateConfig) -> tuple[np.ndarray, np.ndarray]:
    """(per-learner columns: score, since, outcome, cost), (the shared features, once)."""
    assert state.shape == config.shape
    per = config.per_learner
    assert np.all(state[:, per:] == state[0, per:])  # the same in every row
    return state[:, :per], state[0, per:]


HISTORY = [
    PublicRound(0, proposer=2, accepted=True, scores={0: 1.0, 1: 2.0, 3: 3.0}, global_model="aa"),
    PublicRound(1, proposer=0, accepted=False, scores={1: 9.0, 2: 9.0, 3: 9.0}, global_model="aa"),
    PublicRound(2, proposer=1, accepted=True, scores={0: 0.5, 2: 1.5, 3: 1.0}, global_model="bb"),
]


def test_scores_are_those_of_the_current_global_model() -> None:
    scores = latest_scores(HISTORY, N)
    # the last accepted round made the current model; learner 1 proposed it and did not score it
    assert np.isnan(scores[1]) and scores[[0, 2, 3]].tolist() == [0.5, 1.5, 1.0]
    # a rejected round's scores are of a proposal that never became the global model
    assert np.isnan(latest_scores(HISTORY[:2], N)[2]) and latest_scores(HISTORY[:2], N)[1] == 2.0
    assert np.all(np.isnan(latest_scores([], N)))


def test_state_features_from_a_hand_made_history() -> None:
    config = StateConfig(N, horizon=10, acceptance_window=2)
    cost = cost_matrix(N, seed=5)
    state = build_state(config, HISTORY, 3, cost)
    assert state.dtype == np.float32 and state.shape == config.shape == (N, 8)
    rows, glob = _features(state, config)
    scores = np.array([0.5, 1.5, 1.0])  # learner 1's is unknown: it counts as the mean
    expected = (scores - scores.mean()) / (scores.std() + 0.05)
    assert rows[:, 0] == pytest.approx([expected[0], 0.0, expected[1], expected[2]], abs=1e-6)
    assert rows[:, 1] == pytest.approx(np.array([1, 0, 2, 2 * N]) / N)  # rounds since proposing
    assert rows[:, 2].tolist() == [-1.0, 1.0, 1.0, 0.0]  # last proposal rejected / accepted / none
    assert rows[:, 3] == pytest.approx(cost[1] / 0.1)  # hand-over costs from the last proposer
    assert glob == pytest.approx([scores.mean(), 0.75, 0.5, 0.3])  # mean, known, acceptance (last 2), progress


def test_the_first_state_knows_nothing_yet() -> None:
    config = StateConfig(N)
    rows, glob = _features(build_state(config, [], 0, cost_matrix(N)), config)
    assert np.all(rows[:, 0] == 0) and np.all(rows[:, 2] == 0) and np.all(rows[:, 3] == 0)
    assert np.all(rows[:, 1] == 2)  # never proposed: the cap
    assert glob.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_state_without_costs_and_with_pca() -> None:
    config = StateConfig(N, use_costs=False, pca_components=2)
    assert config.shape == (N, 3 + 4 + 2)
    state = build_state(config, HISTORY, 3, None, np.array([0.25, -1.0]))
    _, shared = _features(state, config)
    assert shared[-2:].tolist() == [0.25, -1.0]
    assert np.all(build_state(config, [], 0)[:, -2:] == 0)
    with pytest.raises(ColearnValueError, match="cost matrix"):
        build_state(StateConfig(N), HISTORY, 3)
    with pytest.raises(ColearnValueError, match="2 PCA features"):
        build_state(config, HISTORY, 3, None, np.zeros(3))


def test_weight_projection_recovers_the_main_direction() -> None:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=50)
    direction /= np.linalg.norm(direction)
    samples = rng.normal(size=(40, 1)) * 3.0 * direction + rng.normal(scale=0.01, size=(40, 50))
    projection = fit_projection(samples, 1)
    assert abs(float(projection.components[0] @ direction)) == pytest.approx(1.0, abs=1e-3)
    projected = np.array([projection.project(s)[0] for s in samples])
    assert projected.std() == pytest.approx(1.0, rel=0.05)  # standardized
    with pytest.raises(ColearnValueError, match="fitted on 50"):
        projection.project(np.zeros(7))
    with pytest.raises(ColearnValueError, match="at least 3 models"):
        fit_projection(samples[:2], 2)


def _event(cls: type[ev.Event], block: int, **fields: object) -> ev.Event:
    return cls(block_number=block, log_index=0, tx_hash=b"\0" * 32, **fields)


def test_events_of_a_skipped_round_and_a_round_in_progress() -> None:
    ids = [f"0x{i + 1:040x}" for i in range(3)]
    model = bytes(range(32))
    events = [
        _event(ev.WeightsProposed, 1, round=0, proposer=ids[1], weights=model, manifest=b"\0" * 32),
        _event(ev.VoteCast, 2, round=0, voter=ids[0], approve=True, score=1_250_000),
        _event(ev.VoteCast, 3, round=0, voter=ids[2], approve=True, score=-500_000),
        _event(ev.RoundFinalized, 3, round=0, accepted=True, approvals=2, rejections=0, global_model=model),
        _event(ev.RoundSkipped, 9, round=1, proposer=ids[2]),
        _event(ev.WeightsProposed, 10, round=2, proposer=ids[0], weights=model, manifest=b"\0" * 32),
    ]
    rounds = rounds_from_records(round_records(events), ids)
    assert rounds == [
        PublicRound(0, 1, True, {0: 1.25, 2: -0.5}, model.hex()),
        PublicRound(1, 2, False, {}, model.hex()),
    ]


def test_records_and_chain_events_give_the_same_state() -> None:
    """The simulation's strategy and the chain-served selector must see the same state."""
    settings = make_settings(learners=3, rounds=3, partition="dominant", seed=2)
    learners, evaluate, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    ledger = build_chain_ledger(settings, initial, 3, with_selector=True)
    experiment = Experiment(learners, ledger, store, RandomSelector(), initial, evaluate, settings.seed)
    experiment.run(3)

    from_records = rounds_from_records(experiment.history, ledger.learner_ids)
    from_events = rounds_from_records(round_records(ledger.client.events()), ledger.client.learners())
    assert from_records == from_events
    assert [r.proposer for r in from_records] == [ledger.learner_ids.index(r.proposer) for r in experiment.history]
    assert all(len(r.scores) == 2 for r in from_records)
    config = StateConfig(3)
    cost = cost_matrix(3)
    assert np.array_equal(build_state(config, from_records, 3, cost), build_state(config, from_events, 3, cost))
