"""What a task's score is called and which way is better, so no table calls a return "accuracy %".

A learner source may declare ``metric`` (a :class:`Metric`); sources that do not are classifiers
scored by accuracy, as every built-in supervised task is. Results files, the run table, the
audit and the plots name the metric through :func:`metric_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ACCURACY", "MEAN_RETURN", "Metric", "declared_metric", "metric_of", "vote_metric"]


@dataclass(frozen=True)
class Metric:
    """A score's name and direction, and how to print it.

    Attributes
    ----------
    name
        What it is (``accuracy``, ``mean return``).
    higher_is_better
        The direction: a loss is lower-is-better.
    percent
        Print as a percentage (a share in [0, 1]).
    """

    name: str
    higher_is_better: bool = True
    percent: bool = False

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return f"{'higher' if self.higher_is_better else 'lower'} is better"

    @property
    def label(self) -> str:
        """``mean return (higher is better)``: for axis labels and table headers."""
        return f"{self.name} ({self.direction})"

    def format(self, value: float | None) -> str:
        """A value as tables print it (``n/a`` when unknown)."""
        if value is None:
            return "n/a"
        return f"{100 * value:.1f}%" if self.percent else f"{value:.4g}"

    def to_json(self) -> dict[str, Any]:
        """As ``results.json`` records it."""
        return {"name": self.name, "higher_is_better": self.higher_is_better}


#: The supervised tasks' metric: share of held-out samples classified right.
ACCURACY = Metric("accuracy", higher_is_better=True, percent=True)
#: The RL tasks' metric: mean undiscounted episode return on held-out environment variants.
MEAN_RETURN = Metric("mean return", higher_is_better=True)


def metric_of(source: object) -> Metric:
    """The metric a learner source declares (its ``metric`` attribute), accuracy if none."""
    metric = getattr(source, "metric", None)
    return metric if isinstance(metric, Metric) else ACCURACY


def _lower_is_better(learner: object) -> bool | None:
    """The direction a learner declares: ``minimise_criterion`` (colearn's flag) or ``vote_criterion``."""
    minimise = getattr(learner, "minimise_criterion", None)
    if isinstance(minimise, bool):
        return minimise
    criterion = getattr(learner, "vote_criterion", None)
    if criterion in ("loss", "approve-all"):
        return True
    if criterion == "accuracy":
        return False
    return None


def declared_metric(learner: object) -> Metric | None:
    """The metric a learner declares for its scores: ``score_name`` (as colearn named it) and its direction.

    ``higher_is_better`` comes from ``score_higher_is_better`` if the learner has it, else from
    ``minimise_criterion``/``vote_criterion``; a learner that names no score declares nothing.
    """
    name = getattr(learner, "score_name", None)
    if not isinstance(name, str) or not name.strip():
        return None
    higher = getattr(learner, "score_higher_is_better", None)
    if not isinstance(higher, bool):
        lower = _lower_is_better(learner)
        higher = True if lower is None else not lower
    return Metric(name.strip(), higher, percent=name.strip() == "accuracy")


def vote_metric(learner: object) -> Metric:
    """What a learner's ``vote_score`` is (the vote log says it): declared, or read from its vote criterion."""
    declared = declared_metric(learner)
    if declared is not None:
        return declared
    criterion = getattr(learner, "vote_criterion", None)
    if criterion in ("loss", "approve-all"):
        return Metric("vote loss", higher_is_better=False)
    if criterion == "accuracy":
        return Metric("vote accuracy", higher_is_better=True, percent=True)
    lower = _lower_is_better(learner)
    return Metric("vote score", higher_is_better=True if lower is None else not lower)
