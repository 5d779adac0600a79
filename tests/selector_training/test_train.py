"""Training: a few tiny episodes give a loadable ONNX policy, a learning curve, and repeat by seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.selector_training.dqn import DQNSettings
from colearn_chain.selector_training.environment import EnvironmentSettings
from colearn_chain.selector_training.plots import moving_average, plot_learning_curve
from colearn_chain.selector_training.train import (
    EVALUATION_SEED_BASE,
    TrainingResult,
    TrainSettings,
    evaluation_seeds,
    train_selector,
    training_seeds,
)
from colearn_chain.strategies.rl.policy import SelectorPolicy

TINY = TrainSettings(
    episodes=3,
    seed=4,
    environment=EnvironmentSettings(learners=3, horizon=3),
    dqn=DQNSettings(hidden=(16,), batch_size=4, updates_per_step=2),
)


@pytest.fixture(scope="module")
def trained() -> TrainingResult:
    return train_selector(TINY)


def test_training_gives_a_policy_and_a_curve(trained: TrainingResult, tmp_path: Path) -> None:
    assert [e.episode for e in trained.episodes] == [0, 1, 2]
    assert [e.seed for e in trained.episodes] == training_seeds(4, 3)
    for stats in trained.episodes:
        assert 1 <= stats.rounds <= 3 and 0 <= stats.final_accuracy <= 1
        assert stats.reached_goal == (stats.final_accuracy >= 0.8)
        assert stats.epsilon == pytest.approx(np.exp(-0.02 * stats.episode))
    assert trained.episodes[-1].loss is not None  # the replay filled a batch and the net learned

    policy = SelectorPolicy.load(trained.policy.save(tmp_path / "policy.onnx"))
    assert policy.learners == 3 and policy.info.config == TINY.state_config
    assert np.array_equal(policy.info.cost, trained.policy.info.cost)
    curve = json.loads(trained.write_curve(tmp_path / "curve.json").read_text())
    assert [e["rounds"] for e in curve["episodes"]] == [e.rounds for e in trained.episodes]
    assert curve["settings"]["environment"]["learners"] == 3
    picture = plot_learning_curve(trained.episodes, tmp_path / "curve.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_policy(trained: TrainingResult) -> None:
    again = train_selector(TINY)
    assert again.policy.to_bytes() == trained.policy.to_bytes()
    assert again.episodes == trained.episodes


def test_pca_features_are_fitted_and_stored() -> None:
    settings = TrainSettings(
        episodes=1,
        environment=EnvironmentSettings(learners=3, horizon=3),
        dqn=DQNSettings(hidden=(8,), batch_size=2),
        pca_components=2,
    )
    result = train_selector(settings)
    projection = result.policy.info.projection
    assert projection is not None and projection.size == 2
    assert projection.mean.size == 64 * 64 + 64 + 64 * 10 + 10  # the digits MLP's weights
    assert SelectorPolicy.from_bytes(result.policy.to_bytes()).info.config.pca_components == 2


def test_training_and_evaluation_seeds_never_meet() -> None:
    train = training_seeds(0, 500)
    assert len(set(train)) == 500 and max(train) < EVALUATION_SEED_BASE
    assert not set(train) & set(evaluation_seeds(100))
    assert training_seeds(0, 5) == train[:5] and training_seeds(1, 5) != train[:5]
    with pytest.raises(ColearnValueError, match="at least 1 episode"):
        TrainSettings(episodes=0)


def test_moving_average() -> None:
    assert moving_average([1, 2, 3, 4], 2).tolist() == [1.0, 1.5, 2.5, 3.5]
