"""The communication cost matrix of Homogeneous Learning: random, symmetric, in [0, 0.1), seeded."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from colearn_chain.errors import ColearnFileError, ColearnValueError

#: Costs are drawn uniformly from [0, COST_SCALE), as in the paper.
COST_SCALE = 0.1


def cost_matrix(learners: int, seed: int = 0) -> np.ndarray:
    """The cost of handing the model from learner ``i`` to learner ``j``, for every pair.

    Homogeneous Learning (Sun and Ochiai, 2022) stands for communication cost with a random
    symmetric matrix in [0, 0.1), fixed for an experiment; the selector learns to prefer cheap
    hand-overs. The diagonal is zero: a learner that proposes twice in a row sends nothing.

    Parameters
    ----------
    learners
        The number of learners (the matrix is ``learners x learners``).
    seed
        The same seed gives the same matrix, so a policy and its evaluation share one.
    """
    if learners < 1:
        raise ColearnValueError(f"a cost matrix needs at least 1 learner, got {learners}")
    rng = np.random.default_rng([seed % 2**63, 0xC057])
    upper = np.triu(rng.uniform(0.0, COST_SCALE, size=(learners, learners)), k=1)
    matrix: np.ndarray = (upper + upper.T).astype(np.float64)
    return matrix


def check_cost_matrix(matrix: np.ndarray, learners: int) -> np.ndarray:
    """``matrix`` as float64 if it is a finite, symmetric, non-negative ``learners`` square.

    Raises
    ------
    ColearnValueError
        Saying which property fails, for matrices read from a policy file or given by a caller.
    """
    cost = np.asarray(matrix, dtype=np.float64)
    if cost.shape != (learners, learners):
        raise ColearnValueError(f"the cost matrix must be {learners}x{learners}, got shape {cost.shape}")
    if not np.all(np.isfinite(cost)):
        row, col = np.argwhere(~np.isfinite(cost))[0]
        raise ColearnValueError(f"the cost matrix must be finite: cost[{row}][{col}] is {cost[row, col]}")
    if np.any(cost < 0):
        row, col = np.argwhere(cost < 0)[0]
        raise ColearnValueError(f"the cost matrix must not be negative: cost[{row}][{col}] is {cost[row, col]}")
    if not np.allclose(cost, cost.T) or np.any(np.diag(cost) != 0):
        raise ColearnValueError("the cost matrix must be symmetric with a zero diagonal")
    return cost


def hand_over_costs(matrix: np.ndarray, proposers: Sequence[int | None]) -> list[float]:
    """Each round's hand-over cost: ``matrix[prev][next]`` from the previous round's proposer.

    The first round costs nothing (the initial model is everyone's), and so does a round
    whose proposer, or its predecessor's, is unknown (None).
    """
    costs = [0.0] * len(proposers)
    for i in range(1, len(proposers)):
        prev, nxt = proposers[i - 1], proposers[i]
        if prev is not None and nxt is not None:
            costs[i] = float(matrix[prev, nxt])
    return costs


def communication_cost(matrix: np.ndarray, proposers: Sequence[int]) -> float:
    """The sum of ``matrix[prev][next]`` over consecutive proposers: an episode's communication cost."""
    return float(sum(matrix[a, b] for a, b in itertools.pairwise(proposers)))


def read_cost_csv(path: str | Path, learners: int) -> np.ndarray:
    """A cost matrix from a CSV file: ``learners`` rows of ``learners`` numbers, in ledger order.

    For real costs between the participants (e.g. measured latencies or prices per transfer):
    row ``i``, column ``j`` is the cost of handing the model from learner ``i`` to learner ``j``.
    The matrix must be symmetric with a zero diagonal, finite and non-negative.

    Raises
    ------
    ColearnFileError
        If the file is missing or not numbers.
    ColearnValueError
        If the matrix has the wrong shape or invalid costs (see :func:`check_cost_matrix`).
    """
    file = Path(path)
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise ColearnFileError(f"cost matrix file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ColearnFileError(f"cannot read cost matrix file {file}: {exc}") from None
    rows = [line for line in text.splitlines() if line.strip()]
    try:
        values = [[float(cell) for cell in line.split(",")] for line in rows]
    except ValueError as exc:
        raise ColearnFileError(f"cost matrix file {file} holds something that is not a number ({exc})") from None
    if not values:
        raise ColearnFileError(f"cost matrix file {file} is empty: it needs {learners} rows of {learners} costs")
    if len({len(row) for row in values}) > 1:
        raise ColearnValueError(f"cost matrix file {file}: the rows have different lengths")
    try:
        return check_cost_matrix(np.array(values, dtype=np.float64).reshape(len(values), -1), learners)
    except ColearnValueError as exc:
        raise ColearnValueError(f"cost matrix file {file}: {exc}") from None
