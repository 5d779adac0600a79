"""Aggregating strategies: the round's proposal combines several learners' contributed updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from colearn_chain.strategies.base import ProposalStrategy

#: This module's strategies by name (merged into colearn_chain.strategies.STRATEGIES).
STRATEGIES: dict[str, Callable[[Mapping[str, Any]], ProposalStrategy]] = {}
