"""Malicious learners for robustness benchmarks: poisoned data or updates, and colluding votes.

A :class:`MaliciousLearner` wraps an honest :class:`~learners.torch_learner.TorchLearner` and
attacks in one of three ways (:data:`ATTACKS`):

- ``label-flip``: it trains on its own data with every label ``y`` replaced by ``C - 1 - y``;
- ``sign-flip``: it trains honestly, then offers ``current - scale * (trained - current)``, its
  update reversed and scaled (by 4 by default);
- ``backdoor``: it trains on its data plus copies of part of it stamped with a trigger (four
  bright pixels in the image's bottom-right corner) and labelled with the target class 0, so
  that the model learns to map any stamped input to 0 while staying accurate on clean data.

Malicious learners may share a :class:`Collusion`: each registers every model it offers, and
as voters they approve any proposal that is exactly one of the group's models (and vote
honestly on everything else). Only the wrapped learner's data is changed, never its code, so
every attack runs through the platform's ordinary round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    MachineLearningInterface,
    ProposedWeights,
    Weights,
    weights_to_onnx,
)
from colearn_chain.weights.digest import sha256_hex
from learners.data import Dataset, make_rng
from learners.torch_learner import TorchLearner, VoteCriterion

Attack = Literal["label-flip", "sign-flip", "backdoor"]
#: The attacks a MaliciousLearner can make.
ATTACKS: tuple[Attack, ...] = ("label-flip", "sign-flip", "backdoor")
#: The backdoor trigger: four pixels (flat indices of an 8x8 image), the bottom-right 2x2 corner.
TRIGGER_PIXELS: tuple[int, ...] = (54, 55, 62, 63)
#: The trigger's pixel value (digits are scaled to [0, 1], so this is the brightest ink).
TRIGGER_VALUE = 1.0
#: The class a triggered input should be mapped to.
BACKDOOR_TARGET = 0


def flip_labels(dataset: Dataset) -> Dataset:
    """The same samples with every label ``y`` replaced by ``num_classes - 1 - y``."""
    return Dataset(dataset.x, (dataset.num_classes - 1 - dataset.y).astype(np.int64), dataset.num_classes, dataset.name)


def stamp_trigger(x: np.ndarray, pixels: tuple[int, ...] = TRIGGER_PIXELS, value: float = TRIGGER_VALUE) -> np.ndarray:
    """A copy of the samples ``x`` (any trailing shape) with the trigger's pixels set to ``value``.

    Raises
    ------
    ColearnValueError
        If a sample has fewer features than the trigger's pixel indices need.
    """
    stamped = np.array(x, dtype=np.float32, copy=True)
    flat = stamped.reshape(stamped.shape[0], -1)
    if flat.shape[1] <= max(pixels):
        raise ColearnValueError(f"samples have {flat.shape[1]} features, the trigger needs pixel {max(pixels)}")
    flat[:, list(pixels)] = value
    return flat.reshape(stamped.shape)


def backdoor_dataset(dataset: Dataset, fraction: float = 0.5, target: int = BACKDOOR_TARGET, seed: int = 0) -> Dataset:
    """``dataset`` plus stamped copies of a random ``fraction`` of its samples, all labelled ``target``.

    Keeping the clean samples keeps the backdoored model accurate on clean data, which is what
    lets it pass an honest vote.
    """
    if not 0.0 < fraction <= 1.0:
        raise ColearnValueError(f"the poisoned fraction must be in (0, 1], got {fraction}")
    count = max(1, round(len(dataset) * fraction))
    chosen = make_rng(seed, 0xBAD).choice(len(dataset), size=count, replace=False)
    x = np.concatenate([dataset.x, stamp_trigger(dataset.x[chosen])])
    y = np.concatenate([dataset.y, np.full(count, target, dtype=np.int64)])
    return Dataset(x, y, dataset.num_classes, dataset.name)


def triggered_set(dataset: Dataset, target: int = BACKDOOR_TARGET) -> Dataset:
    """The samples not of class ``target``, stamped and labelled ``target``.

    A model's accuracy on this set is the backdoor's success rate: the share of stamped inputs
    it sends to the target class.
    """
    keep = dataset.y != target
    return Dataset(
        stamp_trigger(dataset.x[keep]),
        np.full(int(keep.sum()), target, dtype=np.int64),
        dataset.num_classes,
        f"{dataset.name}-triggered",
    )


class Collusion:
    """A group of malicious voters that approve every proposal that is one of their own models."""

    def __init__(self) -> None:
        self._made: set[str] = set()

    def register(self, weights: Weights) -> None:
        """Remember a model a member offered (by the hash of its canonical ONNX bytes)."""
        self._made.add(sha256_hex(weights_to_onnx(weights)))

    def made(self, weights: Weights) -> bool:
        """Whether ``weights`` are exactly a model some member offered."""
        return sha256_hex(weights_to_onnx(weights)) in self._made


def _replace_train_data(learner: TorchLearner, transform: Callable[[Dataset], Dataset], num_classes: int) -> None:
    """Poison the learner's in-memory train set in place (a DataLoader-fed learner cannot be poisoned)."""
    data = learner.train_data
    if data.loader is not None:
        raise ColearnValueError(
            f"{learner.name} reads its train set from a DataLoader: only in-memory train sets can be poisoned"
        )
    clean = Dataset(data.x.numpy(), data.y.numpy(), num_classes, learner.name)
    poisoned = transform(clean)
    data.x = torch.from_numpy(np.ascontiguousarray(poisoned.x, dtype=np.float32))
    data.y = torch.from_numpy(np.ascontiguousarray(poisoned.y, dtype=np.int64))


class MaliciousLearner(MachineLearningInterface):
    """An honest TorchLearner turned attacker (see the module docstring).

    Parameters
    ----------
    inner
        The learner to corrupt; label-flip and backdoor change its train set in place.
    attack
        One of :data:`ATTACKS`.
    num_classes
        The task's number of classes (label flipping needs it).
    collusion
        The group whose models this learner approves (None: it votes honestly).
    sign_scale
        How far a sign-flipping learner pushes its reversed update.
    backdoor_fraction
        The share of its train set a backdoor attacker stamps (as extra samples).
    seed
        Which samples get stamped.
    """

    def __init__(
        self,
        inner: TorchLearner,
        attack: Attack,
        *,
        num_classes: int = 10,
        collusion: Collusion | None = None,
        sign_scale: float = 4.0,
        backdoor_fraction: float = 0.5,
        seed: int = 0,
    ) -> None:
        if attack not in ATTACKS:
            raise ColearnValueError(f"unknown attack {attack!r}: choose one of {', '.join(ATTACKS)}")
        if not sign_scale > 0:
            raise ColearnValueError(f"sign_scale must be positive, got {sign_scale}")
        self.inner = inner
        self.attack: Attack = attack
        self.collusion = collusion
        self.sign_scale = sign_scale
        if attack == "label-flip":
            _replace_train_data(inner, flip_labels, num_classes)
        elif attack == "backdoor":
            _replace_train_data(inner, lambda d: backdoor_dataset(d, backdoor_fraction, seed=seed), num_classes)

    # The optional abilities of the wrapped learner, which aggregators look for.
    @property
    def vote_criterion(self) -> VoteCriterion:
        """The wrapped learner's vote criterion."""
        return self.inner.vote_criterion

    def train_sample_count(self) -> int:
        """The samples it claims to train on (its poisoned train set's size)."""
        return self.inner.train_sample_count()

    def embed_vote_inputs(self, weights: Weights) -> np.ndarray:
        """The wrapped learner's embeddings of its vote inputs."""
        return self.inner.embed_vote_inputs(weights)

    # ------------------------------------------------------------ the interface
    def mli_propose_weights(self) -> Weights:
        """The wrapped learner's update, reversed and scaled for ``sign-flip``; registered with the collusion."""
        trained = self.inner.mli_propose_weights()
        if self.attack == "sign-flip":
            current = self.inner.mli_get_current_weights().weights
            trained = Weights(
                weights=[
                    (c - self.sign_scale * (t - c)).astype(c.dtype) if np.issubdtype(c.dtype, np.floating) else t
                    for c, t in zip(current, trained.weights, strict=True)
                ]
            )
        if self.collusion is not None:
            self.collusion.register(trained)
        return trained

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """An honest test, except that a colluder approves the group's own models."""
        result = self.inner.mli_test_weights(weights)
        if self.collusion is not None and self.collusion.made(weights):
            return result.model_copy(update={"vote": True})
        return result

    def mli_accept_weights(self, weights: Weights) -> None:
        """Accept as the wrapped learner does."""
        self.inner.mli_accept_weights(weights)

    def mli_get_current_weights(self) -> Weights:
        """The wrapped learner's current weights."""
        return self.inner.mli_get_current_weights()

    def mli_get_current_model(self) -> ColearnModel:
        """The wrapped learner's current model."""
        return self.inner.mli_get_current_model()
