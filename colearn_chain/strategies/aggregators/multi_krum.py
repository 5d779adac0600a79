"""Multi-Krum: average the ``m`` contributions with the lowest Krum scores (``m`` unset: ``n - f``).

The selection, the manifest's recipe and the recompute rule are Krum's
(:mod:`~colearn_chain.strategies.aggregators.krum`), with any ``m``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan
from colearn_chain.strategies.aggregators.krum import krum_plan, recompute_selection
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import Manifest


@dataclass(frozen=True)
class MultiKrumSettings:
    """``f`` as for Krum; ``m``: how many of the best-scored models to average (unset: n - f)."""

    f: int | None = None
    m: int | None = None

    def __post_init__(self) -> None:
        if self.f is not None and self.f < 0:
            raise ColearnValueError(f"f must be 0 or more (or unset for the largest n allows), got {self.f}")
        if self.m is not None and self.m < 1:
            raise ColearnValueError(f"m must be at least 1 (or unset for n - f), got {self.m}")


class MultiKrum(Aggregator[MultiKrumSettings]):
    """Multi-Krum: average the ``m`` contributions with the lowest Krum scores."""

    name: ClassVar[str] = "multi-krum"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return krum_plan(self.name, context, inputs, self.settings.f, self.settings.m)

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        return recompute_selection(manifest, models, single=False)
