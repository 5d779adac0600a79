"""The base of every aggregator: settings from parameters, the round's proposal, the recompute contract.

An aggregator is one class in one file of this folder: ``class Name(Aggregator[NameSettings])``
with

- its settings, a frozen dataclass (the type argument; ``--strategy-param`` fills it);
- :meth:`Aggregator.plan`, the proposer's side: decide each usable contribution's coefficient
  and the public recipe (whatever was measured on private data goes here as its outcome);
- :meth:`Aggregator.recompute`, the auditor's side: rebuild the weights from the parsed
  manifest and the decoded inputs alone, checking that the recipe is consistent.

Everything else is shared and written once here: fetching and checking the contributions,
excluding the unusable ones with the reason, writing the manifest, and computing the proposal
from the manifest's own bytes with the rule an auditor runs (so every proposal is by
construction recomputable). The shared rules (:func:`linear_rule`, :func:`softmax_rule`,
:func:`require_all_used`) serve the aggregators whose recipes have that shape.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from colearn_chain.errors import ColearnError, ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import MachineLearningInterface, weights_to_onnx
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.abilities import fitness_of
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.manifest import (
    SOFTMAX_TOLERANCE,
    ExcludedInput,
    Manifest,
    ManifestError,
    ManifestInput,
    apply_manifest,
    is_number,
    params_agree,
    parse_manifest,
    recipe_number,
    require,
)
from colearn_chain.strategies.settings import settings_from_params
from colearn_chain.weights.codec import WeightsSpec, decode_weights, encode_weights
from colearn_chain.weights.digest import normalize_digest
from colearn_chain.weights.store import BlobNotFound

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

__all__ = [
    "Aggregator",
    "Contribution",
    "Plan",
    "linear_rule",
    "registry_of",
    "require_all_used",
    "softmax_rule",
]

#: An aggregator's settings dataclass.
S = TypeVar("S", bound="DataclassInstance")


@dataclass(frozen=True)
class Contribution:
    """A usable contribution: whose it is, its hash (hex, no 0x) and its decoded arrays."""

    index: int
    learner: str
    digest: str
    weights: dict[str, Array]
    blob: bytes = field(repr=False)


@dataclass(frozen=True)
class Plan:
    """What a rule decided: one coefficient (and optional measured details) per input, and the recipe."""

    coefficients: list[float]
    recipe: dict[str, Any] = field(default_factory=dict)
    details: list[dict[str, Any]] | None = None


class Aggregator(ProposalStrategy, Generic[S]):
    """Every learner contributes; the proposer combines the usable contributions by :meth:`plan`'s rule.

    A subclass names its settings dataclass as the type argument, which is all it takes to be
    built from user parameters (:meth:`from_params`) with typed ``self.settings``.
    """

    #: The settings dataclass, read from the type argument (``Aggregator[FedAvgSettings]``).
    settings_type: ClassVar[type[Any]]
    settings: S

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin, arguments = typing.get_origin(base), typing.get_args(base)
            named = isinstance(origin, type) and issubclass(origin, Aggregator) and arguments
            if named and isinstance(arguments[0], type):
                cls.settings_type = arguments[0]

    def __init__(self, settings: S | None = None) -> None:
        self.settings = settings if settings is not None else self.settings_type()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Aggregator[S]:
        """The strategy from user parameters, validated into its settings dataclass."""
        return cls(settings_from_params(cls.settings_type, params, cls.name))

    def contributors(self, context: RoundContext, proposer: int) -> Sequence[int]:
        """Every learner, the proposer included (its own update is one of the inputs)."""
        return range(len(context.learners))

    @abc.abstractmethod
    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        """Decide the coefficients and recipe for ``inputs`` (the usable contributions, by learner index)."""

    @classmethod
    @abc.abstractmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        """The weights ``manifest`` describes, from its inputs (decoded, in order) and nothing else.

        Runs on the auditor's side, with no learner and no data: check that the recipe follows
        the rule (raise :class:`~colearn_chain.strategies.manifest.ManifestError`, e.g. through
        :func:`~colearn_chain.strategies.manifest.require`, saying what does not), then apply it
        in the fixed arithmetic of :mod:`colearn_chain.strategies.aggregate`. The proposer runs
        the same method on its own manifest, so what it proposes is what this returns.
        """

    def fitness(self, context: RoundContext, proposer: int) -> Callable[[Mapping[str, Array]], float]:
        """How the proposer scores a candidate model for the scoring rules (lower is better).

        ``weighted`` and ``evolutionary`` call this. By default it is the proposer's vote score
        (:func:`~colearn_chain.strategies.aggregators.abilities.fitness_of`); an aggregator that
        judges models otherwise (e.g. by an RL learner's episode return) overrides it, and the
        rest of its plan and its recompute rule stay as they are.
        """
        return fitness_of(context.learners[proposer])

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        """Fetch and check the contributions, plan, write the manifest, and compute the proposal from it."""
        learner = context.learners[proposer]
        spec = _spec_of(learner)
        inputs, excluded = _load_contributions(context, contributions, spec)
        if not inputs:
            reasons = "; ".join(e.reason for e in excluded) or "none was offered"
            raise ColearnRuntimeError(
                f"round {context.round}: no contribution could be used by {self.name} ({reasons}); "
                "check that the learners can write to the store"
            )
        plan = self.plan(context, proposer, inputs)
        details = plan.details or [{} for _ in inputs]
        manifest = Manifest(
            strategy=self.name,
            params=dataclasses.asdict(self.settings),
            round=context.round,
            proposer=context.learner_ids[proposer],
            inputs=tuple(
                ManifestInput(c.learner, "0x" + c.digest, coefficient, detail)
                for c, coefficient, detail in zip(inputs, plan.coefficients, details, strict=True)
            ),
            recipe=plan.recipe,
            excluded=tuple(excluded),
        )
        data = manifest.to_bytes()
        weights = apply_manifest(parse_manifest(data), [c.weights for c in inputs])
        return Proposal(weights=encode_weights(weights), manifest=data)


def registry_of(*classes: type[Aggregator[Any]]) -> dict[str, type[Aggregator[Any]]]:
    """The aggregators by name, each checked to be complete (a name, a settings dataclass, both sides).

    Raises
    ------
    TypeError
        If a class lacks a name or settings, leaves ``plan`` or ``recompute`` abstract, or two
        classes share a name: a programming error in the registry, found at import.
    """
    table: dict[str, type[Aggregator[Any]]] = {}
    for cls in classes:
        name = getattr(cls, "name", None)
        settings = getattr(cls, "settings_type", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"aggregator {cls.__name__} has no name (a ClassVar[str] users select it by)")
        if not (isinstance(settings, type) and dataclasses.is_dataclass(settings)):
            raise TypeError(f"aggregator {cls.__name__} names no settings dataclass: subclass Aggregator[Settings]")
        if getattr(cls, "__abstractmethods__", None):
            raise TypeError(f"aggregator {cls.__name__} leaves {sorted(cls.__abstractmethods__)} abstract")
        if name in table:
            raise TypeError(f"aggregators {table[name].__name__} and {cls.__name__} share the name {name!r}")
        table[name] = cls
    return table


# ------------------------------------------------------------- shared rules
def linear_rule(manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
    """The recorded coefficients (which must sum to 1) applied as a weighted average."""
    coefficients = manifest.coefficients
    require(
        abs(math.fsum(coefficients) - 1.0) <= 1e-9,
        f"the {manifest.strategy} manifest's coefficients sum to {math.fsum(coefficients)!r}, not 1",
    )
    return aggregate.weighted_average(models, coefficients)


def softmax_rule(manifest: Manifest, models: Sequence[Named], detail: str) -> dict[str, Array]:
    """The linear rule, once the coefficients are checked to be ``softmax(detail / temperature)``.

    ``detail`` is the per-input value the proposer measured (``reward``, ``score``); a null one
    (not finite when measured) has weight zero. The recipe's ``temperature`` must agree with
    the params'. The softmax is checked to :data:`SOFTMAX_TOLERANCE` (libm differs by ulps),
    the weights are rebuilt from the recorded coefficients.
    """
    temperature = recipe_number(manifest, "temperature")
    params_agree(manifest, "temperature", temperature)
    logits = [entry.details.get(detail, math.nan) for entry in manifest.inputs]
    require(
        all(value is None or is_number(value) for value in logits),
        f"every input of a {manifest.strategy} manifest records its {detail}",
    )
    numbers = [-math.inf if value is None else float(value) for value in logits]
    try:
        expected = aggregate.softmax_coefficients(numbers, temperature)
    except ColearnValueError as exc:
        raise ManifestError(f"the {manifest.strategy} manifest's {detail}s give no weights: {exc}") from exc
    require(
        bool(np.allclose(expected, manifest.coefficients, rtol=SOFTMAX_TOLERANCE, atol=SOFTMAX_TOLERANCE)),
        f"the {manifest.strategy} manifest's coefficients are not softmax(recorded {detail} / temperature)",
    )
    return linear_rule(manifest, models)


def require_all_used(manifest: Manifest) -> None:
    """For rules that use every input (not a linear combination): each coefficient is 1."""
    require(
        all(c == 1.0 for c in manifest.coefficients),
        f"every input of a {manifest.strategy} manifest has coefficient 1 (the rule uses them all)",
    )


# ----------------------------------------------------------- contributions
def _spec_of(learner: MachineLearningInterface) -> WeightsSpec:
    """The layout of the proposer's model, which every contribution must fit."""
    try:
        return WeightsSpec.from_weights(decode_weights(weights_to_onnx(learner.mli_get_current_weights())))
    except ColearnError as exc:
        raise ColearnValueError(
            f"aggregating strategies need learners whose weights are numpy arrays; the proposer's are not usable: {exc}"
        ) from exc


def _load_contributions(
    context: RoundContext, contributions: Mapping[int, str], spec: WeightsSpec
) -> tuple[list[Contribution], list[ExcludedInput]]:
    usable: list[Contribution] = []
    excluded: list[ExcludedInput] = []
    for index in sorted(contributions):
        digest = normalize_digest(contributions[index])
        address = context.learner_ids[index]
        try:
            blob = context.store.get(digest)
            usable.append(Contribution(index, address, digest, decode_weights(blob, spec=spec), blob))
        except BlobNotFound as exc:
            excluded.append(ExcludedInput(address, "0x" + digest, f"missing or corrupt in the store: {exc}"))
        except ColearnError as exc:
            excluded.append(ExcludedInput(address, "0x" + digest, f"not a valid model for this architecture: {exc}"))
    for entry in excluded:
        log.warning("round %d: contribution of %s excluded: %s", context.round, entry.learner, entry.reason)
    return usable, excluded
