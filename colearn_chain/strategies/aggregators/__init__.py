"""Aggregating strategies, one file each: the round's proposal combines several learners' contributed updates.

Each round every learner (the proposer included: its data counts like anyone's) trains the
current global model and offers its update (``contribute`` on the ledger); the proposer fetches
the updates from the store, combines them by its aggregator's rule, writes a manifest
(:mod:`colearn_chain.strategies.manifest`) and proposes the result, which is voted on like any
proposal. Anyone holding the manifest and the store recomputes the proposal with the same
aggregator's ``recompute`` (:func:`~colearn_chain.strategies.manifest.recompute_proposal`).

A contribution that is missing, corrupt, or not a model of the proposer's architecture is left
out and listed under the manifest's ``excluded`` with the reason, never a crash.

Some rules need the proposer's private judgement, recorded in the manifest as the public recipe
it led to:

- ``weighted`` and ``evolutionary`` score models with the proposer's ``mli_test_weights``: its
  ``vote_score`` oriented so that lower is better (:func:`lower_is_better` reads the learner's
  ``vote_criterion``, ``"loss"``, ``"accuracy"`` or ``"approve-all"``, or colearn's
  ``minimise_criterion``);
- ``attention`` needs the proposer to implement :class:`EmbeddingLearner`;
- ``fedformer`` needs FedFormer agents (:class:`EncoderSharingLearner`): its proposal is the set of
  their encoders, not a combination;
- ``fedavg`` needs each contributor to report its training samples (:class:`SampleCountingLearner`),
  unless ``weighting=equal``.

Adding an aggregator: a file here with its settings dataclass and an ``Aggregator[Settings]``
subclass (``name``, ``plan``, ``recompute``), and one line in :data:`AGGREGATORS` below. The
strategy names (``--strategy``), :func:`colearn_chain.strategies.make_strategy` and the
manifest's rule table (:data:`colearn_chain.strategies.manifest.RULES`) all read this registry.
"""

from __future__ import annotations

from typing import Any

from colearn_chain.strategies.aggregators.abilities import EmbeddingLearner, SampleCountingLearner, lower_is_better
from colearn_chain.strategies.aggregators.attention import Attention, AttentionSettings
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, registry_of
from colearn_chain.strategies.aggregators.evolutionary import Evolutionary, EvolutionarySettings
from colearn_chain.strategies.aggregators.fedavg import FedAvg, FedAvgSettings
from colearn_chain.strategies.aggregators.fedformer import EncoderSharingLearner, FedFormer, FedFormerSettings
from colearn_chain.strategies.aggregators.krum import Krum, KrumSettings
from colearn_chain.strategies.aggregators.median import Median, MedianSettings
from colearn_chain.strategies.aggregators.multi_krum import MultiKrum, MultiKrumSettings
from colearn_chain.strategies.aggregators.trimmed_mean import TrimmedMean, TrimmedMeanSettings
from colearn_chain.strategies.aggregators.weighted import Weighted, WeightedSettings
from colearn_chain.strategies.registry import Factories

__all__ = [
    "AGGREGATORS",
    "STRATEGIES",
    "Aggregator",
    "Attention",
    "AttentionSettings",
    "Contribution",
    "EmbeddingLearner",
    "EncoderSharingLearner",
    "Evolutionary",
    "EvolutionarySettings",
    "FedAvg",
    "FedAvgSettings",
    "FedFormer",
    "FedFormerSettings",
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

#: Every aggregator by name, one line each: the one list of them (strategy names and manifest rules read it).
AGGREGATORS: dict[str, type[Aggregator[Any]]] = registry_of(
    FedAvg,
    Weighted,
    Evolutionary,
    Attention,
    Median,
    TrimmedMean,
    Krum,
    MultiKrum,
    FedFormer,
)

#: The aggregators' factories by name (merged into colearn_chain.strategies.STRATEGIES), read live.
STRATEGIES = Factories(AGGREGATORS)
