"""Strategy tables by name, read live: a strategy registered after import is seen everywhere at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

from colearn_chain.strategies.base import ProposalStrategy

#: A strategy factory takes the user's parameters (validated into its settings dataclass).
StrategyFactory = Callable[[Mapping[str, Any]], ProposalStrategy]


class Configurable(Protocol):
    """A strategy class built from user parameters (every built-in strategy is one)."""

    name: ClassVar[str]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ProposalStrategy:
        """The strategy from user parameters, validated into its settings."""


class Factories(Mapping[str, StrategyFactory]):
    """Name -> ``from_params`` of a table of strategy classes, read at each lookup.

    The table (e.g. the aggregator registry) stays the one list; this view only turns its
    classes into factories, so adding a class to the table adds its name here too.
    """

    def __init__(self, classes: Mapping[str, type[Configurable]]) -> None:
        self._classes = classes

    def __getitem__(self, name: str) -> StrategyFactory:
        return self._classes[name].from_params

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._classes))

    def __len__(self) -> int:
        return len(self._classes)


class Chained(Mapping[str, StrategyFactory]):
    """Several families' tables as one, in order (the first table naming a strategy wins)."""

    def __init__(self, *tables: Mapping[str, StrategyFactory]) -> None:
        self._tables = tables

    def __getitem__(self, name: str) -> StrategyFactory:
        for table in self._tables:
            if name in table:
                return table[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for table in self._tables:
            for name in list(table):
                if name not in seen:
                    seen.add(name)
                    yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)
