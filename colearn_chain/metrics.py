"""What a task's score is called and which way is better, so no table calls a return "accuracy %".

A learner source may declare ``metric`` (a :class:`Metric`); sources that do not are classifiers
scored by accuracy, as every built-in supervised task is. Results files, the run table, the
audit and the plots name the metric through :func:`metric_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ACCURACY", "MEAN_RETURN", "Metric", "metric_of"]


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
