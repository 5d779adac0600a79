"""The simulated episodes: real rounds of the experiment loop, the paper's reward, public state only."""

from __future__ import annotations

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.selector_training.environment import EnvironmentSettings, SelectionEnvironment, step_reward
from colearn_chain.strategies.rl.state import StateConfig, build_state, rounds_from_records


def test_reward_is_homogeneous_learnings() -> None:
    assert step_reward(0.8, 0.8, 0.0) == 0.0
    assert step_reward(0.6, 0.8, 0.05) == pytest.approx(32 ** (-0.2) - 0.05 - 1)
    assert step_reward(0.9, 0.8, 0.0) > 0  # over the goal: a positive last reward


def test_an_episode_plays_real_rounds_with_the_nominees() -> None:
    env = SelectionEnvironment(EnvironmentSettings(learners=3, horizon=3, goal=0.99))
    state = env.reset(seed=7)
    assert state.shape == env.config.shape and len(env.experiment.history) == 0
    steps = [env.step(action) for action in (2, 0, 0)]
    history = env.experiment.history
    assert [h.proposer for h in history] == [env.learner_ids[a] for a in (2, 0, 0)]
    assert [len(h.votes) for h in history] == [2, 2, 2]  # everyone but the nominee voted
    assert [s.cost for s in steps] == [0.0, env.cost[2, 0], 0.0]  # the first hand-over is free, so is staying
    for step, record in zip(steps, history, strict=True):
        assert step.accuracy == record.test_accuracy
        assert step.accepted == record.accepted
        assert step.reward == pytest.approx(step_reward(step.accuracy, 0.99, step.cost))
    assert [s.truncated for s in steps] == [False, False, True]
    assert not any(s.done for s in steps)
    # the state is built from the public record alone
    rounds = rounds_from_records(history, env.learner_ids)
    assert np.array_equal(steps[-1].state, build_state(env.config, rounds, 3, env.cost))


def test_reaching_the_goal_ends_the_episode_and_seeds_repeat() -> None:
    env = SelectionEnvironment(EnvironmentSettings(learners=3, horizon=5, goal=0.05))
    env.reset(seed=1)
    first = env.step(1)
    assert first.done and not first.truncated
    env.reset(seed=1)
    again = env.step(1)
    assert again.accuracy == first.accuracy and np.array_equal(again.state, first.state)


def test_context_is_what_the_experiment_gives_a_strategy() -> None:
    env = SelectionEnvironment(EnvironmentSettings(learners=3, horizon=2))
    env.reset(seed=3)
    env.step(1)
    context = env.context()
    assert context.round == 1 and context.seed == 3
    assert list(context.learner_ids) == env.learner_ids and len(context.history) == 1


def test_unusable_seeds_are_skipped_and_bad_input_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    env = SelectionEnvironment(EnvironmentSettings(learners=10, horizon=2))
    reset = env.reset

    def split_fails_for_49(seed: int) -> np.ndarray:
        if seed == 49:  # stands for a seed whose data split cannot work
            raise ColearnValueError("learner 9 of 10 would get too few samples")
        return reset(seed)

    monkeypatch.setattr(env, "reset", split_fails_for_49)
    seed, _ = env.reset_usable(iter([49, 50]))
    assert seed == 50
    with pytest.raises(ColearnValueError, match="no seeds left"):
        env.reset_usable(iter([]))
    with pytest.raises(ColearnValueError, match="not a learner index"):
        env.step(10)
    with pytest.raises(ColearnValueError, match="goal accuracy"):
        EnvironmentSettings(goal=1.5)
    with pytest.raises(ColearnValueError, match="state is for 4 learners"):
        SelectionEnvironment(EnvironmentSettings(learners=3), StateConfig(4))
    with pytest.raises(ColearnValueError, match="reset"):
        SelectionEnvironment(EnvironmentSettings(learners=3)).step(0)
