"""FedAvg (McMahan et al. 2017): the contributions averaged, weighted by each learner's training samples.

Manifest: each input records its ``samples`` (unless ``weighting=equal``) and its coefficient
``n_k / sum(n)``; recomputation checks the coefficients are exactly those shares, then averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.abilities import SampleCountingLearner
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, linear_rule
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import Manifest, require


@dataclass(frozen=True)
class FedAvgSettings:
    """``weighting``: ``"samples"`` (FedAvg: by each learner's training samples) or ``"equal"``."""

    weighting: str = "samples"

    def __post_init__(self) -> None:
        if self.weighting not in ("samples", "equal"):
            raise ColearnValueError(f"weighting must be 'samples' or 'equal', got {self.weighting!r}")


class FedAvg(Aggregator[FedAvgSettings]):
    """FedAvg: the contributions averaged, weighted by each learner's training samples."""

    name: ClassVar[str] = "fedavg"

    def check_distributed(self) -> None:
        """Participants keep their sample counts private: only equal weighting runs distributed."""
        if self.settings.weighting == "samples":
            raise ColearnValueError(
                "fedavg weighs by every learner's training samples, which separate participants keep "
                "private: use --strategy-param weighting=equal"
            )

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        if self.settings.weighting == "equal":
            return Plan([1.0 / len(inputs)] * len(inputs))
        counts = []
        for c in inputs:
            learner = context.learners[c.index]
            if not isinstance(learner, SampleCountingLearner):
                raise ColearnValueError(
                    f"fedavg weighs by training samples but learner {c.index} ({type(learner).__name__}) has no "
                    "train_sample_count() method: add one, or use --strategy-param weighting=equal"
                )
            counts.append(int(learner.train_sample_count()))
        return Plan(aggregate.fedavg_coefficients(counts), details=[{"samples": n} for n in counts])

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        counts = [entry.details.get("samples") for entry in manifest.inputs]
        if all(count is not None for count in counts):
            expected = aggregate.fedavg_coefficients([int(c) for c in counts if c is not None])
            require(
                expected == manifest.coefficients,
                "the fedavg manifest's coefficients are not each input's share of the recorded samples",
            )
        return linear_rule(manifest, models)
