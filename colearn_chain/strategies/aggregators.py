"""Aggregating strategies: the round's proposal combines several learners' contributed updates.

Each round every learner (the proposer included: its data counts like anyone's) trains the
current global model and offers its update (``contribute`` on the ledger); the proposer fetches
the updates from the store, combines them with one of the rules of :mod:`colearn_chain.strategies.aggregate`, writes a
manifest (:mod:`colearn_chain.strategies.manifest`) and proposes the result, which is voted on
like any proposal. The proposer builds the manifest first, parses its own bytes back and computes
the proposal from the parsed manifest with the same function an auditor runs, so every proposal
is by construction recomputable from the manifest and the store.

A contribution that is missing, corrupt, or not a model of the proposer's architecture is left
out and listed under the manifest's ``excluded`` with the reason, never a crash.

Some rules need the proposer's private judgement, recorded in the manifest as the public recipe
it led to:

- ``weighted`` and ``evolutionary`` score models with the proposer's ``mli_test_weights``: its
  ``vote_score`` oriented so that lower is better (:func:`lower_is_better` reads the learner's
  ``vote_criterion``, ``"loss"`` or ``"accuracy"``, or colearn's ``minimise_criterion``);
- ``attention`` needs the proposer to implement :class:`EmbeddingLearner`;
- ``fedavg`` needs each contributor to report its training samples (:class:`SampleCountingLearner`),
  unless ``weighting=equal``.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from colearn_chain.errors import ColearnError, ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import MachineLearningInterface, Weights, onnx_to_weights, weights_to_onnx
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.manifest import (
    ExcludedInput,
    Manifest,
    ManifestInput,
    apply_manifest,
    parse_manifest,
)
from colearn_chain.strategies.settings import settings_from_params
from colearn_chain.weights.codec import WeightsSpec, decode_weights, encode_weights
from colearn_chain.weights.digest import normalize_digest
from colearn_chain.weights.store import BlobNotFound

log = logging.getLogger(__name__)

__all__ = [
    "STRATEGIES",
    "Aggregator",
    "Attention",
    "AttentionSettings",
    "Contribution",
    "EmbeddingLearner",
    "Evolutionary",
    "EvolutionarySettings",
    "FedAvg",
    "FedAvgSettings",
    "Krum",
    "KrumSettings",
    "Median",
    "MedianSettings",
    "MultiKrum",
    "MultiKrumSettings",
    "Plan",
    "SampleCountingLearner",
    "TrimmedMean",
    "TrimmedMeanSettings",
    "Weighted",
    "WeightedSettings",
    "lower_is_better",
]


# -------------------------------------------------------------- learner protocols
@runtime_checkable
class EmbeddingLearner(Protocol):
    """A learner that can embed its own vote (validation) inputs with given weights.

    Needed by the ``attention`` aggregator (FedFormer's contextual aggregation): the proposer
    embeds its validation inputs with its own model and with each contributor's, and weighs
    each contribution by how alike the embeddings are.
    """

    def embed_vote_inputs(self, weights: Weights) -> np.ndarray:
        """``(samples, features)`` embeddings (e.g. penultimate activations) of the vote inputs."""


@runtime_checkable
class SampleCountingLearner(Protocol):
    """A learner that says how many samples it trains on (FedAvg's weights)."""

    def train_sample_count(self) -> int:
        """The number of training samples behind this learner's updates."""


def lower_is_better(learner: MachineLearningInterface) -> bool:
    """Whether the learner's ``vote_score`` is better when lower (a loss) or higher (an accuracy).

    Read from ``vote_criterion`` (``"loss"`` or ``"accuracy"``, as the built-in torch learner
    exposes it) or colearn's ``minimise_criterion`` flag.

    Raises
    ------
    ColearnValueError
        If the learner exposes neither, saying what to add.
    """
    criterion = getattr(learner, "vote_criterion", None)
    if criterion in ("loss", "accuracy"):
        return bool(criterion == "loss")
    minimise = getattr(learner, "minimise_criterion", None)
    if isinstance(minimise, bool):
        return bool(minimise)
    raise ColearnValueError(
        f"{type(learner).__name__} does not say whether its vote_score is better lower or higher: give it a "
        "vote_criterion attribute ('loss' or 'accuracy') or a minimise_criterion bool to use a scoring aggregator"
    )


# --------------------------------------------------------------------- settings
def _positive(value: float, what: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ColearnValueError(f"{what} must be a positive number, got {value}")


@dataclass(frozen=True)
class FedAvgSettings:
    """``weighting``: ``"samples"`` (FedAvg: by each learner's training samples) or ``"equal"``."""

    weighting: str = "samples"

    def __post_init__(self) -> None:
        if self.weighting not in ("samples", "equal"):
            raise ColearnValueError(f"weighting must be 'samples' or 'equal', got {self.weighting!r}")


@dataclass(frozen=True)
class WeightedSettings:
    """``temperature`` of the softmax over rewards (> 0; small favours the best, large tends to the mean)."""

    temperature: float = 0.5

    def __post_init__(self) -> None:
        _positive(self.temperature, "temperature")


@dataclass(frozen=True)
class EvolutionarySettings:
    """DE/rand/1/bin: ``F`` in (0, 2], ``CR`` in [0, 1], ``population`` (unset: one per contribution),
    ``generations`` >= 0 and a ``seed`` mixed with the experiment's seed and the round."""

    F: float = 0.5
    CR: float = 0.9
    population: int | None = None
    generations: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.F) and 0.0 < self.F <= 2.0):
            raise ColearnValueError(f"F (the mutation factor) must be in (0, 2], got {self.F}")
        if not (math.isfinite(self.CR) and 0.0 <= self.CR <= 1.0):
            raise ColearnValueError(f"CR (the crossover rate) must be in [0, 1], got {self.CR}")
        if self.population is not None and self.population < 1:
            raise ColearnValueError(
                f"population must be at least 1 (or unset for one per contribution), got {self.population}"
            )
        if self.generations < 0:
            raise ColearnValueError(f"generations must be 0 or more, got {self.generations}")


@dataclass(frozen=True)
class AttentionSettings:
    """``temperature`` of the softmax over attention scores (cosine similarities in [-1, 1])."""

    temperature: float = 0.1

    def __post_init__(self) -> None:
        _positive(self.temperature, "temperature")


@dataclass(frozen=True)
class MedianSettings:
    """The coordinate-wise median has no settings."""


@dataclass(frozen=True)
class TrimmedMeanSettings:
    """``trim``: the fraction dropped at each end of every coordinate, in [0, 0.5)."""

    trim: float = 0.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.trim) and 0.0 <= self.trim < 0.5):
            raise ColearnValueError(f"trim must be in [0, 0.5) (e.g. 0.2 drops 20% at each end), got {self.trim}")


@dataclass(frozen=True)
class KrumSettings:
    """``f``: Byzantine learners tolerated; needs n > 2f + 2 contributions (unset: the largest that fits)."""

    f: int | None = None

    def __post_init__(self) -> None:
        if self.f is not None and self.f < 0:
            raise ColearnValueError(f"f must be 0 or more (or unset for the largest n allows), got {self.f}")


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


# ------------------------------------------------------------------- the base
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


def _json_number(value: float) -> float | None:
    """A measured value as a manifest can hold it: None where it is not finite."""
    return float(value) if math.isfinite(value) else None


class Aggregator(ProposalStrategy, abc.ABC):
    """Every learner contributes; the proposer combines the usable contributions by :meth:`plan`'s rule."""

    settings: Any

    @classmethod
    @abc.abstractmethod
    def settings_type(cls) -> type[Any]:
        """The strategy's settings dataclass."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Aggregator:
        """The strategy from user parameters, validated into its settings dataclass."""
        return cls(settings_from_params(cls.settings_type(), params, cls.name))

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings if settings is not None else self.settings_type()()

    def contributors(self, context: RoundContext, proposer: int) -> Sequence[int]:
        """Every learner, the proposer included (its own update is one of the inputs)."""
        return range(len(context.learners))

    @abc.abstractmethod
    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        """Decide the coefficients and recipe for ``inputs`` (the usable contributions, by learner index)."""

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


def _fitness_of(learner: MachineLearningInterface) -> Callable[[Mapping[str, Array]], float]:
    """The proposer's fitness of a model: its vote score, oriented so that lower is better.

    A model that cannot be encoded (non-finite values) or scored gets +infinity.
    """
    sign = 1.0 if lower_is_better(learner) else -1.0
    like = learner.mli_get_current_weights()

    def fitness(weights: Mapping[str, Array]) -> float:
        try:
            candidate = onnx_to_weights(encode_weights(weights), like)
        except ColearnError:
            return math.inf
        score = float(learner.mli_test_weights(candidate).vote_score)
        return sign * score if math.isfinite(score) else math.inf

    return fitness


# ----------------------------------------------------------------- strategies
class FedAvg(Aggregator):
    """FedAvg: the contributions averaged, weighted by each learner's training samples."""

    name: ClassVar[str] = "fedavg"

    @classmethod
    def settings_type(cls) -> type[FedAvgSettings]:
        return FedAvgSettings

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


class Weighted(Aggregator):
    """DeRL's reward-weighted average: softmax(reward / temperature), the reward being the proposer's score."""

    name: ClassVar[str] = "weighted"

    @classmethod
    def settings_type(cls) -> type[WeightedSettings]:
        return WeightedSettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        fitness = _fitness_of(context.learners[proposer])
        rewards = [-fitness(c.weights) for c in inputs]
        temperature = self.settings.temperature
        return Plan(
            aggregate.softmax_coefficients(rewards, temperature),
            recipe={"temperature": temperature},
            details=[{"reward": _json_number(r)} for r in rewards],
        )


class Evolutionary(Aggregator):
    """Differential evolution (DE/rand/1/bin) over the contributions, fitness on the proposer's vote data."""

    name: ClassVar[str] = "evolutionary"

    @classmethod
    def settings_type(cls) -> type[EvolutionarySettings]:
        return EvolutionarySettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        s: EvolutionarySettings = self.settings
        entropy = [s.seed % 2**64, context.seed % 2**64, context.round]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]) % 2**63
        evolution = aggregate.differential_evolution(
            [c.weights for c in inputs],
            _fitness_of(context.learners[proposer]),
            mutation=s.F,
            crossover=s.CR,
            generations=s.generations,
            population=s.population,
            seed=seed,
        )
        used = {p for d in evolution.lineage for p in (d.target, d.base, d.plus, d.minus) if p < len(inputs)}
        if evolution.winner < len(inputs):
            used.add(evolution.winner)
        recipe = {
            "F": s.F,
            "CR": s.CR,
            "seed": seed,
            "winner": evolution.winner,
            "derivations": [d.to_json() for d in evolution.lineage],
            "trials": evolution.trials,
            "fitness": _json_number(evolution.fitness),
            "input_fitness": [_json_number(v) for v in evolution.input_fitness],
        }
        return Plan([1.0 if i in used else 0.0 for i in range(len(inputs))], recipe=recipe)


class Attention(Aggregator):
    """FedFormer-style contextual aggregation: weights from attention between the proposer's model and each
    contributor's, on their embeddings of the proposer's validation inputs."""

    name: ClassVar[str] = "attention"

    @classmethod
    def settings_type(cls) -> type[AttentionSettings]:
        return AttentionSettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        learner = context.learners[proposer]
        if not isinstance(learner, EmbeddingLearner):
            raise ColearnValueError(
                f"the attention aggregator needs the proposer (learner {proposer}, {type(learner).__name__}) to embed "
                "its validation inputs: give it an embed_vote_inputs(weights) -> (samples, features) array method"
            )
        like = learner.mli_get_current_weights()
        own = next((c for c in inputs if c.index == proposer), None)
        query_weights = onnx_to_weights(own.blob, like) if own is not None else like
        query = np.asarray(learner.embed_vote_inputs(query_weights))
        keys = [np.asarray(learner.embed_vote_inputs(onnx_to_weights(c.blob, like))) for c in inputs]
        scores = aggregate.attention_scores(query, keys)
        temperature = self.settings.temperature
        return Plan(
            aggregate.softmax_coefficients(scores, temperature),
            recipe={"temperature": temperature, "query": "own update" if own is not None else "current model"},
            details=[{"score": _json_number(v)} for v in scores],
        )


class Median(Aggregator):
    """The coordinate-wise median of the contributions (robust to a minority of outliers)."""

    name: ClassVar[str] = "median"

    @classmethod
    def settings_type(cls) -> type[MedianSettings]:
        return MedianSettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return Plan([1.0] * len(inputs))


class TrimmedMean(Aggregator):
    """The coordinate-wise trimmed mean: drop ``floor(trim * n)`` values at each end, average the rest."""

    name: ClassVar[str] = "trimmed-mean"

    @classmethod
    def settings_type(cls) -> type[TrimmedMeanSettings]:
        return TrimmedMeanSettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        trim = self.settings.trim
        return Plan([1.0] * len(inputs), recipe={"trim": trim, "dropped": aggregate.trim_count(len(inputs), trim)})


def _krum_f(name: str, wanted: int | None, offered: int, usable: int) -> int:
    """Krum's f: as set (checked against the contributions offered), or the largest the usable ones allow.

    An f that the offered contributions cannot support is a configuration error; one that only
    fails because contributions were excluded is lowered to what the usable ones support.
    """
    if wanted is None:
        return aggregate.default_krum_f(usable)
    if offered <= 2 * wanted + 2:
        raise ColearnValueError(
            f"{name} with f={wanted} needs more than {2 * wanted + 2} learners (n > 2f + 2), this experiment has "
            f"{offered}: set f to at most {aggregate.default_krum_f(offered)}, leave it unset, or add learners"
        )
    return min(wanted, aggregate.default_krum_f(usable))


def _krum_plan(name: str, context: RoundContext, inputs: Sequence[Contribution], f: int | None, m: int | None) -> Plan:
    """Select by Krum scores among ``inputs`` and average the selected (``m = 1``: Krum itself)."""
    count = len(inputs)
    used_f = _krum_f(name, f, len(context.learners), count)
    used_m = count - used_f if m is None else min(m, count)
    models = [c.weights for c in inputs]
    scores = aggregate.krum_scores(models, used_f)
    selected = aggregate.krum_select(models, used_f, used_m)
    recipe = {"f": used_f, "m": used_m, "selected": selected, "scores": scores}
    return Plan([1.0 / used_m if i in selected else 0.0 for i in range(count)], recipe=recipe)


class Krum(Aggregator):
    """Krum: the one contribution closest to its ``n - f - 2`` nearest neighbours."""

    name: ClassVar[str] = "krum"

    @classmethod
    def settings_type(cls) -> type[KrumSettings]:
        return KrumSettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return _krum_plan(self.name, context, inputs, self.settings.f, 1)


class MultiKrum(Aggregator):
    """Multi-Krum: average the ``m`` contributions with the lowest Krum scores."""

    name: ClassVar[str] = "multi-krum"

    @classmethod
    def settings_type(cls) -> type[MultiKrumSettings]:
        return MultiKrumSettings

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return _krum_plan(self.name, context, inputs, self.settings.f, self.settings.m)


_ALL: tuple[type[Aggregator], ...] = (FedAvg, Weighted, Evolutionary, Attention, Median, TrimmedMean, Krum, MultiKrum)

#: This module's strategies by name (merged into colearn_chain.strategies.STRATEGIES).
STRATEGIES: dict[str, Callable[[Mapping[str, Any]], ProposalStrategy]] = {cls.name: cls.from_params for cls in _ALL}
