"""The communication cost matrix: Homogeneous Learning's random symmetric costs in [0, 0.1)."""

from __future__ import annotations

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies.rl.cost import check_cost_matrix, communication_cost, cost_matrix


def test_cost_matrix_is_symmetric_in_range_with_zero_diagonal() -> None:
    cost = cost_matrix(10, seed=3)
    assert cost.shape == (10, 10)
    assert np.array_equal(cost, cost.T)
    assert np.all(np.diag(cost) == 0)
    off = cost[~np.eye(10, dtype=bool)]
    assert off.min() >= 0 and off.max() < 0.1
    assert np.unique(off).size == 45  # every pair drawn once, mirrored
    assert check_cost_matrix(cost, 10) is not None


def test_cost_matrix_depends_on_the_seed_only() -> None:
    assert np.array_equal(cost_matrix(6, seed=1), cost_matrix(6, seed=1))
    assert not np.array_equal(cost_matrix(6, seed=1), cost_matrix(6, seed=2))


def test_communication_cost_sums_consecutive_hand_overs() -> None:
    cost = cost_matrix(4, seed=0)
    assert communication_cost(cost, [2, 0, 0, 3]) == pytest.approx(cost[2, 0] + 0.0 + cost[0, 3])
    assert communication_cost(cost, [1]) == 0.0
    assert communication_cost(cost, []) == 0.0


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.zeros((2, 3)), "must be 3x3"),
        (np.array([[0, 1, 2], [1, 0, 3], [2, 4, 0]]), "symmetric"),
        (np.eye(3), "zero diagonal"),
        (-np.ones((3, 3)) + np.eye(3), "non-negative"),
    ],
)
def test_bad_cost_matrices_are_refused(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        check_cost_matrix(matrix, 3)
    with pytest.raises(ColearnValueError, match="at least 1 learner"):
        cost_matrix(0)
