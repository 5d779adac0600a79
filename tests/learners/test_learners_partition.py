"""Partitioners: disjoint, covering, deterministic by seed, and skewed as their parameters say."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colearn_chain.errors import ColearnValueError
from learners.data import load_sklearn_dataset
from learners.partition import (
    IID,
    MIN_SHARD_SIZE,
    PartitionSpec,
    parse_partition,
    partition_dirichlet,
    partition_dominant,
    partition_iid,
)

LABELS = load_sklearn_dataset("digits").y


def _check_disjoint(shards: list[np.ndarray], n: int) -> np.ndarray:
    """All indices of all shards, checked to be valid and used at most once."""
    everything = np.concatenate(shards)
    assert everything.min() >= 0
    assert everything.max() < n
    assert np.unique(everything).size == everything.size, "shards overlap"
    return everything


def _skew(labels: np.ndarray, shards: list[np.ndarray]) -> float:
    """Mean share of each shard's most common class (1.0 = single-class shards)."""
    return float(np.mean([np.bincount(labels[s]).max() / s.size for s in shards]))


@pytest.mark.parametrize(
    "split",
    [
        lambda labels, count, seed: partition_iid(labels, count, seed),
        lambda labels, count, seed: partition_dirichlet(labels, count, 0.5, seed),
    ],
    ids=["iid", "dirichlet"],
)
def test_iid_and_dirichlet_are_disjoint_and_cover(split) -> None:  # type: ignore[no-untyped-def]
    shards = split(LABELS, 10, 0)
    assert len(shards) == 10
    everything = _check_disjoint(shards, LABELS.size)
    assert np.array_equal(np.sort(everything), np.arange(LABELS.size))
    assert min(s.size for s in shards) >= MIN_SHARD_SIZE


def test_iid_shards_are_equal_sized_and_balanced() -> None:
    shards = partition_iid(LABELS, 7, seed=1)
    sizes = [s.size for s in shards]
    assert max(sizes) - min(sizes) <= 1
    assert _skew(LABELS, shards) < 0.25


@pytest.mark.parametrize(
    "split",
    [
        lambda seed: partition_iid(LABELS, 5, seed),
        lambda seed: partition_dirichlet(LABELS, 5, 0.3, seed),
        lambda seed: partition_dominant(LABELS, 5, seed),
    ],
    ids=["iid", "dirichlet", "dominant"],
)
def test_partitions_are_deterministic_by_seed(split) -> None:  # type: ignore[no-untyped-def]
    first, again, other = split(11), split(11), split(12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_dirichlet_skew_grows_as_alpha_shrinks() -> None:
    skews = [
        np.mean([_skew(LABELS, partition_dirichlet(LABELS, 10, alpha, seed)) for seed in range(3)])
        for alpha in (100.0, 1.0, 0.1)
    ]
    assert skews[0] < skews[1] < skews[2]
    assert skews[0] < 0.2  # near IID
    assert skews[2] > 0.5  # a few classes per learner


def test_dominant_split_gives_each_learner_about_80_percent_of_one_class() -> None:
    shards = partition_dominant(LABELS, 10, seed=0)
    _check_disjoint(shards, LABELS.size)
    assert len({s.size for s in shards}) == 1
    for index, shard in enumerate(shards):
        counts = np.bincount(LABELS[shard], minlength=10)
        assert counts.argmax() == index  # learner i is dominated by class i
        assert counts.max() / shard.size == pytest.approx(0.8, abs=0.01)
        assert np.count_nonzero(counts) > 2  # the rest comes from other classes


def test_dominant_split_with_more_learners_than_classes_and_a_custom_fraction() -> None:
    shards = partition_dominant(LABELS, 15, seed=2, dominant_fraction=0.6)
    _check_disjoint(shards, LABELS.size)
    for index, shard in enumerate(shards):
        counts = np.bincount(LABELS[shard], minlength=10)
        assert counts.argmax() == index % 10
        assert counts.max() / shard.size == pytest.approx(0.6, abs=0.02)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (lambda: partition_iid(LABELS, 500, 0), "use fewer learners"),
        (lambda: partition_dirichlet(LABELS, 100, 0.05, 0), r"learner \d+ of 100 would get \d+ samples"),
        (lambda: partition_dominant(np.array([0] * 50 + [1] * 12), 4, 0), r"learner \d+ of 4 would get"),
        (lambda: partition_dominant(np.zeros(100, dtype=np.int64), 2, 0), "at least two classes"),
        (lambda: partition_iid(LABELS, 0, 0), "at least 1"),
        (lambda: partition_dirichlet(LABELS, 3, 0.0, 0), "positive"),
        (lambda: partition_dominant(LABELS, 3, 0, dominant_fraction=1.5), r"\(0, 1\]"),
    ],
)
def test_partitions_refuse_what_cannot_work(split, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ColearnValueError, match=message) as info:
        split()
    if "would get" in message:
        assert "fewer learners or another partition" in str(info.value)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=40, max_value=300),
    classes=st.integers(min_value=2, max_value=6),
    count=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_iid_property_disjoint_cover_and_sized(n: int, classes: int, count: int, seed: int) -> None:
    labels = np.arange(n) % classes
    shards = partition_iid(labels, count, seed)
    everything = _check_disjoint(shards, n)
    assert everything.size == n
    assert all(abs(s.size - n / count) < 1 for s in shards)


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("iid", IID),
        (" IID ", IID),
        ("dirichlet:0.5", PartitionSpec("dirichlet", alpha=0.5)),
        ("dirichlet:10", PartitionSpec("dirichlet", alpha=10.0)),
        ("dominant", PartitionSpec("dominant", dominant_fraction=0.8)),
        ("dominant:0.6", PartitionSpec("dominant", dominant_fraction=0.6)),
    ],
)
def test_parse_partition(text: str, expected: PartitionSpec) -> None:
    spec = parse_partition(text)
    assert spec == expected
    assert parse_partition(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("random", "unknown partition 'random'"),
        ("iid:3", "unknown partition"),
        ("dirichlet", "needs an alpha"),
        ("dirichlet:0", "greater than 0"),
        ("dirichlet:-1", "greater than 0"),
        ("dirichlet:abc", "not a number"),
        ("dirichlet:inf", "finite"),
        ("dominant:0", r"\(0, 1\]"),
        ("dominant:1.2", r"\(0, 1\]"),
    ],
)
def test_parse_partition_errors(text: str, message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        parse_partition(text)


def test_spec_apply_matches_the_functions() -> None:
    for spec, direct in [
        (IID, partition_iid(LABELS, 4, 9)),
        (parse_partition("dirichlet:2"), partition_dirichlet(LABELS, 4, 2.0, 9)),
        (parse_partition("dominant:0.7"), partition_dominant(LABELS, 4, 9, 0.7)),
    ]:
        applied = spec.apply(LABELS, 4, 9)
        assert all(np.array_equal(a, b) for a, b in zip(applied, direct, strict=True))


def test_dominant_split_never_runs_dry_on_digits() -> None:
    """Seeds whose random minority draw used to leave a learner only its own class (e.g. 49)."""
    from learners.tasks import get_task

    pool, _ = get_task("digits-mlp").split(0)
    for seed in (49, 117, 139, 181, 2**32 + 48):
        shards = partition_dominant(pool.y, 10, seed)
        assert len(shards) == 10
        merged = np.concatenate(shards)
        assert len(merged) == len(set(merged.tolist()))
        for index, shard in enumerate(shards):
            assert abs(np.mean(pool.y[shard] == index % 10) - 0.8) < 0.02
