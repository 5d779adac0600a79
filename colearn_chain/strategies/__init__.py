"""Proposal strategies: the interface, the built-in strategies and a registry by name."""

from __future__ import annotations

from collections.abc import Callable

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.round_robin import RoundRobin

#: Strategy name -> factory; later strategies register here.
STRATEGIES: dict[str, Callable[[], ProposalStrategy]] = {
    RoundRobin.name: RoundRobin,
}


def make_strategy(name: str) -> ProposalStrategy:
    """The strategy called ``name``, with its default settings; unknown names list the known ones."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise ColearnValueError(
            f"unknown strategy {name!r}: choose one of {', '.join(sorted(STRATEGIES))}"
        ) from None
    return factory()


__all__ = ["STRATEGIES", "Proposal", "ProposalStrategy", "RoundContext", "RoundRobin", "make_strategy"]
