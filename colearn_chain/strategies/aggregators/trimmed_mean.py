"""The coordinate-wise trimmed mean (Yin et al. 2018): drop ``floor(trim * n)`` values at each end, average.

Manifest: every input has coefficient 1; recipe ``{"trim", "dropped"}``, and recomputation
requires ``dropped == floor(trim * n)`` (and ``trim`` to agree with the params).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, require_all_used
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import (
    Manifest,
    ManifestError,
    params_agree,
    recipe_int,
    recipe_number,
    require,
)


@dataclass(frozen=True)
class TrimmedMeanSettings:
    """``trim``: the fraction dropped at each end of every coordinate, in [0, 0.5)."""

    trim: float = 0.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.trim) and 0.0 <= self.trim < 0.5):
            raise ColearnValueError(f"trim must be in [0, 0.5) (e.g. 0.2 drops 20% at each end), got {self.trim}")


class TrimmedMean(Aggregator[TrimmedMeanSettings]):
    """The coordinate-wise trimmed mean: drop ``floor(trim * n)`` values at each end, average the rest."""

    name: ClassVar[str] = "trimmed-mean"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        trim = self.settings.trim
        return Plan([1.0] * len(inputs), recipe={"trim": trim, "dropped": aggregate.trim_count(len(inputs), trim)})

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        require_all_used(manifest)
        trim = recipe_number(manifest, "trim")
        params_agree(manifest, "trim", trim)
        dropped = recipe_int(manifest, "dropped")
        try:
            expected = aggregate.trim_count(len(models), trim)
        except ColearnValueError as exc:
            raise ManifestError(f"the trimmed-mean manifest cannot be recomputed: {exc}") from exc
        require(
            dropped == expected, f"trimming {trim} of {len(models)} inputs drops {expected} each side, not {dropped}"
        )
        return aggregate.trimmed_mean(models, trim)
