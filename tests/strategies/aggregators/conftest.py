"""Fixtures of the aggregator tests: the built-in task's learners, built once per module."""

from __future__ import annotations

import pytest

from colearn_chain.interface import MachineLearningInterface
from colearn_chain.simulation import build_learners, make_settings

pytest.register_assert_rewrite(f"{__package__}.rounds")


@pytest.fixture(scope="module")
def four_learners() -> list[MachineLearningInterface]:
    """Four digits learners of one experiment (seed 0), untrained."""
    learners, _, _ = build_learners(make_settings(learners=4, rounds=1))
    return learners
