"""The communication cost matrix: Homogeneous Learning's random symmetric costs in [0, 0.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.strategies.rl.cost import check_cost_matrix, communication_cost, cost_matrix, read_cost_csv


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
        (-np.ones((3, 3)) + np.eye(3), "must not be negative"),
        (np.array([[0, np.inf, 1], [np.inf, 0, 1], [1, 1, 0]]), r"must be finite: cost\[0\]\[1\] is inf"),
        (np.array([[0, np.nan, 1], [np.nan, 0, 1], [1, 1, 0]]), "must be finite"),
    ],
)
def test_bad_cost_matrices_are_refused(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        check_cost_matrix(matrix, 3)
    with pytest.raises(ColearnValueError, match="at least 1 learner"):
        cost_matrix(0)


def test_a_cost_csv_is_read_in_ledger_order(tmp_path: Path) -> None:
    path = tmp_path / "cost.csv"
    path.write_text("0,0.5,2\n0.5,0,1\n2,1,0\n")
    matrix = read_cost_csv(path, 3)
    assert matrix.tolist() == [[0.0, 0.5, 2.0], [0.5, 0.0, 1.0], [2.0, 1.0, 0.0]]
    assert communication_cost(matrix, [0, 2, 1]) == 3.0


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("0,1\n1,0\n", ColearnValueError, "must be 3x3, got shape"),
        ("0,1,1\n1,0\n1,1,0\n", ColearnValueError, "different lengths"),
        ("0,-1,1\n-1,0,1\n1,1,0\n", ColearnValueError, "must not be negative"),
        ("0,nan,1\nnan,0,1\n1,1,0\n", ColearnValueError, "must be finite"),
        ("0,x,1\n1,0,1\n1,1,0\n", ColearnFileError, "not a number"),
    ],
)
def test_a_bad_cost_csv_is_one_error_naming_the_problem(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    path = tmp_path / "cost.csv"
    path.write_text(text)
    with pytest.raises(error, match=message):
        read_cost_csv(path, 3)


def test_a_missing_cost_csv_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(ColearnFileError, match="does not exist"):
        read_cost_csv(tmp_path / "none.csv", 3)
