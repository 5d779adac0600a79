"""Round-robin: colearn's own rule, the proposer of round r is learner r mod n and trains alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from colearn_chain.interface import weights_to_onnx
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.settings import settings_from_params


@dataclass(frozen=True)
class RoundRobinSettings:
    """Round-robin has no settings; the dataclass keeps every strategy configured alike."""


class RoundRobin(ProposalStrategy):
    """The contract rotates the proposer; the proposer's own training is the proposal."""

    name: ClassVar[str] = "round-robin"

    def __init__(self, settings: RoundRobinSettings | None = None) -> None:
        self.settings = settings or RoundRobinSettings()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RoundRobin:
        """Round-robin from user parameters (it takes none; any given is an error)."""
        return cls(settings_from_params(RoundRobinSettings, params, cls.name))

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        weights = context.learners[proposer].mli_propose_weights()
        return Proposal(weights=weights_to_onnx(weights), training_summary=weights.training_summary)
