"""Splitting one dataset among learners: IID, Dirichlet label skew, dominant-class shards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from colearn_chain.errors import ColearnValueError
from learners.data import make_rng

#: The fewest samples a learner may get: enough to split into train, vote and test sets.
MIN_SHARD_SIZE = 10

#: How often Dirichlet proportions are redrawn before giving up on a minimum shard size.
_DIRICHLET_TRIES = 200

PartitionKind = Literal["iid", "dirichlet", "dominant"]


def _check_count(labels: np.ndarray, count: int, min_size: int) -> None:
    """Refuse a learner count that cannot give every learner ``min_size`` samples."""
    if count < 1:
        raise ColearnValueError(f"the number of learners must be at least 1 (got {count})")
    if labels.shape[0] < count * min_size:
        raise ColearnValueError(
            f"{labels.shape[0]} samples cannot give {count} learners {min_size} each: use fewer learners"
        )


def _too_small(index: int, count: int, size: int, min_size: int) -> ColearnValueError:
    """The error for a learner whose shard is too small to split into train/vote/test."""
    return ColearnValueError(
        f"learner {index} of {count} would get {size} samples (at least {min_size} are needed "
        "to split into train/vote/test): use fewer learners or another partition (e.g. iid)"
    )


def partition_iid(labels: np.ndarray, count: int, seed: int, *, min_size: int = MIN_SHARD_SIZE) -> list[np.ndarray]:
    """Shuffle all samples and deal them out in equal shares (sizes differ by at most one).

    Returns
    -------
    list of numpy.ndarray
        ``count`` disjoint, sorted index arrays covering every sample.
    """
    y = np.asarray(labels)
    _check_count(y, count, min_size)
    order = make_rng(seed, 0x11D).permutation(y.shape[0])
    return [np.sort(part) for part in np.array_split(order, count)]


def partition_dirichlet(
    labels: np.ndarray,
    count: int,
    alpha: float,
    seed: int,
    *,
    min_size: int = MIN_SHARD_SIZE,
) -> list[np.ndarray]:
    """Give each class's samples to learners in proportions drawn from Dirichlet(alpha).

    The usual label-skew benchmark of federated learning: a small ``alpha`` (0.1) gives each
    learner few classes, a large one (100) is close to IID. Proportions are redrawn (from
    the same seeded stream, so still deterministic) until every learner has ``min_size``
    samples.

    Returns
    -------
    list of numpy.ndarray
        ``count`` disjoint, sorted index arrays covering every sample.

    Raises
    ------
    ColearnValueError
        If ``alpha`` is not positive, or no draw gives every learner enough samples.
    """
    if not alpha > 0 or not np.isfinite(alpha):
        raise ColearnValueError(f"the Dirichlet alpha must be a positive number (got {alpha})")
    y = np.asarray(labels)
    _check_count(y, count, min_size)
    rng = make_rng(seed, 0xD1)
    classes = np.unique(y)
    smallest = (0, 0)
    for _ in range(_DIRICHLET_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(count)]
        for label in classes:
            members = rng.permutation(np.flatnonzero(y == label))
            shares = rng.dirichlet(np.full(count, alpha))
            cuts = (np.cumsum(shares)[:-1] * members.size).round().astype(np.int64)
            for learner, chunk in enumerate(np.split(members, cuts)):
                parts[learner].append(chunk)
        shards = [np.sort(np.concatenate(chunks)) for chunks in parts]
        sizes = [shard.size for shard in shards]
        if min(sizes) >= min_size:
            return shards
        smallest = (int(np.argmin(sizes)), min(sizes))
    raise _too_small(smallest[0], count, smallest[1], min_size)


def partition_dominant(
    labels: np.ndarray,
    count: int,
    seed: int,
    dominant_fraction: float = 0.8,
    *,
    min_size: int = MIN_SHARD_SIZE,
) -> list[np.ndarray]:
    """Homogeneous Learning's split: each learner's shard is mostly one class.

    Learner ``i`` is dominated by the ``i % k``-th class (of ``k``): ``dominant_fraction``
    of its samples come from that class, the rest uniformly from the other classes. Every
    learner gets the same number of samples, the largest the data allows; samples nobody
    needs are left out, so unlike the other partitions the shards need not cover the data.

    Raises
    ------
    ColearnValueError
        If the fraction is not in (0, 1], there is only one class, or the data cannot give
        every learner ``min_size`` samples this way.
    """
    if not 0.0 < dominant_fraction <= 1.0:
        raise ColearnValueError(f"the dominant fraction must be in (0, 1] (got {dominant_fraction})")
    y = np.asarray(labels)
    _check_count(y, count, min_size)
    classes = np.unique(y)
    if classes.size < 2:
        raise ColearnValueError("a dominant-class split needs at least two classes")
    rng = make_rng(seed, 0xD0)
    pools = {int(c): list(rng.permutation(np.flatnonzero(y == c))) for c in classes}
    dominant = [int(classes[i % classes.size]) for i in range(count)]

    # The shard size: an equal share, shrunk until every dominant class can feed its learners.
    size = y.shape[0] // count
    bottleneck = 0
    for label in sorted(set(dominant)):
        affordable = int(len(pools[label]) / (dominant.count(label) * dominant_fraction))
        if affordable < size:
            size, bottleneck = affordable, dominant.index(label)
    # Minority samples are drawn at random, so the last learners may find only their own class
    # left: then the shards shrink by one sample and the draw is made again (from the same seed,
    # so still deterministic), until it fits or the shards would be too small. The first draw
    # continues the stream above, so splits that fit the first time are unchanged.
    draw_rng = rng
    while size >= min_size:
        shards = _draw_dominant_shards(pools, dominant, classes, size, dominant_fraction, draw_rng)
        if shards is not None:
            break
        bottleneck, size, draw_rng = count - 1, size - 1, make_rng(seed, 0xD1, size)
    else:
        raise _too_small(bottleneck, count, size, min_size)
    return [np.sort(np.asarray(shard, dtype=np.int64)) for shard in shards]


def _draw_dominant_shards(
    pools: dict[int, list[int]],
    dominant: list[int],
    classes: np.ndarray,
    size: int,
    dominant_fraction: float,
    rng: np.random.Generator,
) -> list[list[int]] | None:
    """Each learner's ``size`` samples, ``dominant_fraction`` of its own class, the rest drawn
    uniformly from what the other classes have left; None if the draw runs dry."""
    left = {label: list(pool) for label, pool in pools.items()}
    n_major = round(size * dominant_fraction)
    shards: list[list[int]] = []
    for own in dominant:
        shards.append(left[own][:n_major])
        left[own] = left[own][n_major:]
    for learner, own in enumerate(dominant):
        others = [int(c) for c in classes if int(c) != own]
        while len(shards[learner]) < size:
            available = [c for c in others if left[c]]
            if not available:
                return None
            label = available[int(rng.integers(len(available)))]
            shards[learner].append(left[label].pop())
    return shards


@dataclass(frozen=True)
class PartitionSpec:
    """A parsed partition choice (``iid``, ``dirichlet:A``, ``dominant[:F]``), ready to apply."""

    kind: PartitionKind = "iid"
    alpha: float = 0.5
    dominant_fraction: float = 0.8

    def apply(self, labels: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
        """Split the samples with these ``labels`` among ``count`` learners."""
        if self.kind == "dirichlet":
            return partition_dirichlet(labels, count, self.alpha, seed)
        if self.kind == "dominant":
            return partition_dominant(labels, count, seed, self.dominant_fraction)
        return partition_iid(labels, count, seed)

    def __str__(self) -> str:
        """The canonical text form, which :func:`parse_partition` reads back."""
        if self.kind == "dirichlet":
            return f"dirichlet:{self.alpha:g}"
        if self.kind == "dominant":
            return f"dominant:{self.dominant_fraction:g}"
        return "iid"


IID = PartitionSpec()

_USAGE = "use iid, dirichlet:ALPHA (e.g. dirichlet:0.5) or dominant[:FRACTION] (e.g. dominant:0.8)"


def _number(text: str, what: str, original: str) -> float:
    """Parse the numeric argument of a partition spec."""
    try:
        value = float(text)
    except ValueError:
        raise ColearnValueError(f"partition {original!r}: {what} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise ColearnValueError(f"partition {original!r}: {what} must be finite")
    return value


def parse_partition(text: str) -> PartitionSpec:
    """Read a partition choice as the CLI spells it.

    Raises
    ------
    ColearnValueError
        For anything but ``iid``, ``dirichlet:A`` (A > 0), ``dominant`` or ``dominant:F``
        (0 < F <= 1).
    """
    name, sep, arg = text.strip().lower().partition(":")
    if name == "iid" and not sep:
        return IID
    if name == "dirichlet":
        if not arg:
            raise ColearnValueError(f"partition {text!r} needs an alpha: {_USAGE}")
        alpha = _number(arg, "alpha", text)
        if alpha <= 0:
            raise ColearnValueError(f"partition {text!r}: alpha must be greater than 0")
        return PartitionSpec("dirichlet", alpha=alpha)
    if name == "dominant":
        if not sep:
            return PartitionSpec("dominant")
        fraction = _number(arg, "fraction", text)
        if not 0 < fraction <= 1:
            raise ColearnValueError(f"partition {text!r}: fraction must be in (0, 1]")
        return PartitionSpec("dominant", dominant_fraction=fraction)
    raise ColearnValueError(f"unknown partition {text!r}: {_USAGE}")
