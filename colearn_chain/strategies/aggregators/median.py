"""The coordinate-wise median of the contributions (Yin et al. 2018; robust to a minority of outliers).

Manifest: every input has coefficient 1 and there is no recipe; recomputation takes the median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, require_all_used
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import Manifest


@dataclass(frozen=True)
class MedianSettings:
    """The coordinate-wise median has no settings."""


class Median(Aggregator[MedianSettings]):
    """The coordinate-wise median of the contributions (robust to a minority of outliers)."""

    name: ClassVar[str] = "median"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return Plan([1.0] * len(inputs))

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        require_all_used(manifest)
        return aggregate.coordinate_median(models)
