"""The optional learner abilities aggregators read: the vote criterion's orientation."""

from __future__ import annotations

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.strategies.aggregators import lower_is_better

from .rounds import Plain


def test_lower_is_better_reads_the_learner_criterion(four_learners: list[MachineLearningInterface]) -> None:
    assert lower_is_better(four_learners[0]) is True  # the built-in learners vote on loss

    class Colearn(Plain):
        minimise_criterion = False

    assert lower_is_better(Colearn(four_learners[0])) is False
    with pytest.raises(ColearnValueError, match="minimise_criterion"):
        lower_is_better(Plain(four_learners[0]))
