"""FedFormer (Hebert et al. 2022): the proposal is the set of every agent's encoder, not an average.

Each round every agent trains its own agent and contributes its (state, action) encoder. The
proposer puts them side by side, one slot per agent (slot = learner index), as
``encoders.<slot>.<param>``; voters attend to the set with their own Transformers and approve
iff their own return improves; on acceptance each agent holds the others' encoders as frozen
copies (see :mod:`learners.rl.fedformer_agent`). Nothing is weighed, so there are no hidden
coefficients: the manifest names each slot's encoder by its hash and owner (every coefficient
is 1, each input's ``slot`` in its details, the recipe the ``slots`` count), and
:meth:`FedFormer.recompute` rebuilds the set from the inputs alone.

A slot whose contribution is unusable (missing, corrupt, an encoder of another shape) is
listed under ``excluded`` with the reason and keeps the encoder the proposer currently holds
for it, stored as its own input with ``"kept": true``, so the set stays recomputable.

The learners must implement :class:`EncoderSharingLearner`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from colearn_chain.errors import ColearnError, ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import MachineLearningInterface, Weights
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan, require_all_used
from colearn_chain.strategies.base import Proposal, RoundContext
from colearn_chain.strategies.manifest import (
    ExcludedInput,
    Manifest,
    ManifestInput,
    apply_manifest,
    is_int,
    parse_manifest,
    recipe_int,
    require,
)
from colearn_chain.weights.codec import WeightsSpec, decode_weights, encode_weights
from colearn_chain.weights.digest import normalize_digest
from colearn_chain.weights.store import BlobNotFound

__all__ = ["SET_PREFIX", "EncoderSharingLearner", "FedFormer", "FedFormerSettings"]

#: A proposal's tensor names: ``encoders.<slot>.<param>``; a contribution's: ``encoder.<param>``.
SET_PREFIX = "encoders."
CONTRIBUTION_PREFIX = "encoder."


@runtime_checkable
class EncoderSharingLearner(Protocol):
    """A learner that contributes its encoder and votes on encoder sets (a FedFormer agent)."""

    def encoder_spec(self) -> WeightsSpec:
        """The layout of one contribution (``encoder.<param>`` arrays)."""

    def encoder_slots(self) -> int:
        """How many encoders a set holds (one per agent)."""

    def mli_get_current_weights(self) -> Weights:
        """The accepted set, ``encoders.<slot>.<param>``."""


@dataclass(frozen=True)
class FedFormerSettings:
    """No settings: the critic's shape and ``from_saved`` belong to the agents (the task)."""


class FedFormer(Aggregator[FedFormerSettings]):
    """FedFormer: every agent's encoder, one slot each; voters attend to the set with their own Transformers."""

    name: ClassVar[str] = "fedformer"

    def check_learners(self, learners: Sequence[MachineLearningInterface]) -> None:
        """Every learner must be a FedFormer agent (``run`` asks before it creates anything)."""
        for index, learner in enumerate(learners):
            if not isinstance(learner, EncoderSharingLearner):
                raise ColearnValueError(
                    f"the fedformer strategy needs FedFormer agents, but learner {index} is a "
                    f"{type(learner).__name__}: use a FedFormer task (e.g. --task pendulum-fedformer)"
                )

    def contributors(self, context: RoundContext, proposer: int) -> Sequence[int]:
        """Every agent, checked to be a FedFormer agent before anyone trains."""
        self.check_learners(context.learners)
        return range(len(context.learners))

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return Plan([1.0] * len(inputs), recipe={"slots": len(inputs)})

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        require_all_used(manifest)
        slots = recipe_int(manifest, "slots")
        numbers = [entry.details.get("slot") for entry in manifest.inputs]
        require(
            all(is_int(n) for n in numbers) and sorted(int(n) for n in numbers if n is not None) == list(range(slots)),
            f"a fedformer manifest's inputs fill slots 0..{slots - 1} once each (got {numbers})",
        )
        result: dict[str, Array] = {}
        for number, model in zip(numbers, models, strict=True):
            for key, value in model.items():
                require(key.startswith(CONTRIBUTION_PREFIX), f"fedformer input tensor {key} is not an encoder's")
                result[f"{SET_PREFIX}{number}.{key[len(CONTRIBUTION_PREFIX) :]}"] = value
        return result

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        """Every slot's encoder (the contributed one, or the held one with the reason it was not usable)."""
        learner = context.learners[proposer]
        if not isinstance(learner, EncoderSharingLearner):
            raise ColearnValueError(f"the fedformer strategy needs FedFormer agents, learner {proposer} is not one")
        spec = learner.encoder_spec()
        slots = learner.encoder_slots()
        held = learner.mli_get_current_weights().weights
        assert isinstance(held, Mapping)
        entries: list[ManifestInput] = []
        models: list[dict[str, Array]] = []
        excluded: list[ExcludedInput] = []
        for slot in range(slots):
            address = context.learner_ids[slot]
            arrays: dict[str, Array] | None = None
            digest = normalize_digest(contributions[slot]) if slot in contributions else None
            if digest is not None:
                try:
                    arrays = decode_weights(context.store.get(digest), spec=spec)
                except BlobNotFound as exc:
                    excluded.append(ExcludedInput(address, "0x" + digest, f"missing or corrupt in the store: {exc}"))
                except ColearnError as exc:
                    excluded.append(ExcludedInput(address, "0x" + digest, f"not an encoder of this shape: {exc}"))
            details: dict[str, object] = {"slot": slot}
            if arrays is None:
                prefix = f"{SET_PREFIX}{slot}."
                arrays = {
                    CONTRIBUTION_PREFIX + k[len(prefix) :]: np.asarray(v)
                    for k, v in held.items()
                    if k.startswith(prefix)
                }
                digest = normalize_digest(context.store.put(encode_weights(arrays)))
                details["kept"] = True
            assert digest is not None
            entries.append(ManifestInput(address, "0x" + digest, 1.0, details))
            models.append(arrays)
        if all(entry.details.get("kept") for entry in entries):
            reasons = "; ".join(e.reason for e in excluded) or "none was offered"
            raise ColearnRuntimeError(f"round {context.round}: no agent's encoder could be used ({reasons})")
        manifest = Manifest(
            strategy=self.name,
            params=dataclasses.asdict(self.settings),
            round=context.round,
            proposer=context.learner_ids[proposer],
            inputs=tuple(entries),
            recipe={"slots": slots},
            excluded=tuple(excluded),
        )
        data = manifest.to_bytes()
        weights = apply_manifest(parse_manifest(data), models)
        return Proposal(weights=encode_weights(weights), manifest=data)
