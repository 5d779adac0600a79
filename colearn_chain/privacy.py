"""The platform's view of learners' differential-privacy budgets: who may still propose, who spent what.

Learners report their budget the way colearn's do, in ``Weights.training_summary``: a
``DiffPrivBudget`` and, once the next proposal would exceed the target,
``ErrorCodes.DP_BUDGET_EXCEEDED``. A learner in that state does not propose (its turns are
skipped, a selector does not nominate it) and keeps voting. Learners without differential
privacy report nothing and are never excluded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from colearn_chain.interface import ErrorCodes, MachineLearningInterface, TrainingSummary, Weights

__all__ = ["budget_exceeded", "consumed_epsilon", "exhausted_learners", "summary_of"]

log = logging.getLogger(__name__)


def budget_exceeded(summary: TrainingSummary | None) -> bool:
    """Whether a training summary says the learner's privacy budget is spent."""
    return summary is not None and summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED


def summary_of(learner: MachineLearningInterface) -> TrainingSummary | None:
    """The training summary a learner's current weights carry (None for most learners)."""
    weights = learner.mli_get_current_weights()
    return weights.training_summary if isinstance(weights, Weights) else None


def exhausted_learners(learners: Sequence[MachineLearningInterface]) -> frozenset[int]:
    """The indices of the learners whose next proposal would exceed their privacy budget."""
    return frozenset(i for i, learner in enumerate(learners) if budget_exceeded(summary_of(learner)))


def consumed_epsilon(learner: MachineLearningInterface) -> float | None:
    """The epsilon a learner has spent so far, or None if it trains without differential privacy."""
    summary = summary_of(learner)
    if summary is None or summary.dp_budget is None:
        return None
    return float(summary.dp_budget.consumed_epsilon)
