"""Proposal strategies: the interface, the built-in strategies and a registry by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregators, selectors
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.registry import Chained, StrategyFactory
from colearn_chain.strategies.round_robin import RoundRobin

#: Strategy name -> factory. Each family of strategies lists its own in its module; read live, so a
#: strategy added to a family's table (e.g. the aggregator registry) is known here at once.
STRATEGIES: Mapping[str, StrategyFactory] = Chained(
    {RoundRobin.name: RoundRobin.from_params},
    selectors.STRATEGIES,
    aggregators.STRATEGIES,
)


def make_strategy(name: str, params: Mapping[str, Any] | None = None) -> ProposalStrategy:
    """The strategy called ``name`` with ``params``; unknown names list the known ones."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise ColearnValueError(f"unknown strategy {name!r}: choose one of {', '.join(sorted(STRATEGIES))}") from None
    return factory(params or {})


__all__ = [
    "STRATEGIES",
    "Proposal",
    "ProposalStrategy",
    "RoundContext",
    "RoundRobin",
    "StrategyFactory",
    "make_strategy",
]
