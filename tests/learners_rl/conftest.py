"""Fixtures for the RL learner tests: a tiny CartPole PPO task whose learners train in about a second."""

from __future__ import annotations

import dataclasses

import pytest

from learners.rl.agent_learner import AgentLearner, AgentSettings
from learners.rl.task import RL_TASKS, RLSource, RLTask


@pytest.fixture(scope="session")
def tiny_task() -> RLTask:
    """cartpole-ppo with 512 steps per proposal and two scoring episodes."""
    return dataclasses.replace(
        RL_TASKS["cartpole-ppo"], agent=AgentSettings(steps_per_proposal=512, vote_episodes=2, test_episodes=2)
    )


@pytest.fixture(scope="session")
def tiny_source(tiny_task: RLTask) -> RLSource:
    return RLSource(tiny_task)


@pytest.fixture
def agent(tiny_source: RLSource) -> AgentLearner:
    """Learner 0 of 3, seed 1."""
    return tiny_source.make_learner(0, 3, 1)
