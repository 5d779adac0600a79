"""Datasets: scikit-learn's bundled sets, a user's .npz/.csv files, stratified holdouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from colearn_chain.errors import ColearnFileError, ColearnValueError
from learners.data import Dataset, load_data_file, load_sklearn_dataset, split_holdout


@pytest.mark.parametrize(
    ("name", "features", "classes"),
    [("digits", 64, 10), ("breast_cancer", 30, 2), ("wine", 13, 3), ("iris", 4, 3)],
)
def test_sklearn_datasets_load_scaled_float32(name: str, features: int, classes: int) -> None:
    data = load_sklearn_dataset(name)
    assert data.x.dtype == np.float32
    assert data.y.dtype == np.int64
    assert data.x.shape == (len(data), features)
    assert data.num_classes == classes
    assert set(np.unique(data.y)) == set(range(classes))
    if name == "digits":
        assert data.x.min() == 0.0
        assert data.x.max() == 1.0
    else:
        np.testing.assert_allclose(data.x.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(data.x.std(axis=0), 1.0, atol=1e-4)


def test_digits_as_images_hold_the_same_pixels() -> None:
    flat = load_sklearn_dataset("digits")
    images = load_sklearn_dataset("digits", as_images=True)
    assert images.x.shape == (len(flat), 1, 8, 8)
    np.testing.assert_array_equal(images.x.reshape(len(flat), 64), flat.x)


def test_unknown_dataset_and_images_of_tabular_data_are_refused() -> None:
    with pytest.raises(ColearnValueError, match="unknown dataset 'mnist'"):
        load_sklearn_dataset("mnist")
    with pytest.raises(ColearnValueError, match="digits only"):
        load_sklearn_dataset("wine", as_images=True)


def test_subset_keeps_the_task_class_count() -> None:
    data = load_sklearn_dataset("digits")
    only_zeros = data.subset(np.flatnonzero(data.y == 0))
    assert set(only_zeros.y) == {0}
    assert only_zeros.num_classes == 10


# ---------------------------------------------------------------- .npz files
def test_npz_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 1, 4, 4))
    y = np.arange(20) % 4
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y)
    data = load_data_file(path)
    assert data.x.shape == (20, 1, 4, 4)
    assert data.x.dtype == np.float32
    np.testing.assert_allclose(data.x, x.astype(np.float32))
    np.testing.assert_array_equal(data.y, y)
    assert data.num_classes == 4
    assert data.name == "mine"


def test_npz_string_labels_are_encoded_in_sorted_order(tmp_path: Path) -> None:
    path = tmp_path / "named.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.array(["dog", "cat", "dog"]))
    data = load_data_file(path)
    np.testing.assert_array_equal(data.y, [1, 0, 1])
    assert data.num_classes == 2


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"features": np.zeros((3, 2)), "y": np.zeros(3)}, "missing array"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(4)}, "3 feature rows but 4 labels"),
        ({"x": np.zeros(3), "y": np.zeros(3)}, "one row per sample"),
        ({"x": np.full((2, 2), np.nan), "y": np.zeros(2)}, "NaN"),
        ({"x": np.zeros((2, 2)), "y": np.array([0.5, 1.0])}, "integers or names"),
        ({"x": np.zeros((2, 2)), "y": np.array([-1, 0])}, "non-negative"),
        ({"x": np.zeros((0, 2)), "y": np.zeros(0)}, "no samples"),
        ({"x": np.array([["a", "b"]]), "y": np.zeros(1)}, "must be numbers"),
    ],
)
def test_malformed_npz_gives_a_one_line_file_error(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ColearnFileError, match=message) as info:
        load_data_file(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_corrupt_npz_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ColearnFileError, match=r"not a readable \.npz"):
        load_data_file(path)


# ---------------------------------------------------------------- .csv files
def test_csv_without_header(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("0.5,1.5,0\n2.0,3.0,1\n\n4,5,2\n", encoding="utf-8")
    data = load_data_file(path)
    np.testing.assert_allclose(data.x, [[0.5, 1.5], [2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_array_equal(data.y, [0, 1, 2])
    assert data.num_classes == 3


def test_csv_with_header_and_named_labels(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("height,width,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n", encoding="utf-8")
    data = load_data_file(path)
    assert data.x.shape == (3, 2)
    np.testing.assert_array_equal(data.y, [0, 1, 0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,0\n3,0\n", "row 2 has 2 columns, expected 3"),
        ("1,2,0\n3,x,1\n", "not a number"),
        ("a,b,label\n", "no samples"),
        ("", "no samples"),
        ("0\n1\n", "at least one feature column"),
    ],
)
def test_malformed_csv_gives_a_one_line_file_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ColearnFileError, match=message) as info:
        load_data_file(path)
    assert "\n" not in str(info.value)


def test_unreadable_csv_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ColearnFileError, match="not a readable CSV"):
        load_data_file(path)


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ColearnFileError, match="no such data file"):
        load_data_file(tmp_path / "absent.npz")
    other = tmp_path / "data.parquet"
    other.write_bytes(b"x")
    with pytest.raises(ColearnFileError, match=r"use \.npz or \.csv"):
        load_data_file(other)
    # ColearnFileError is also an OSError, as the error hierarchy promises
    with pytest.raises(OSError):
        load_data_file(tmp_path / "absent.csv")


# ---------------------------------------------------------------- holdout
def test_split_holdout_is_stratified_disjoint_and_deterministic() -> None:
    data = load_sklearn_dataset("digits")
    rest, holdout = split_holdout(data, 0.2, seed=3)
    assert len(rest) + len(holdout) == len(data)
    assert len(holdout) == round(0.2 * len(data))
    rest_rows = {row.tobytes() for row in rest.x}
    assert not any(row.tobytes() in rest_rows for row in holdout.x)
    overall = np.bincount(data.y) / len(data)
    held_share = np.bincount(holdout.y, minlength=10) / len(holdout)
    np.testing.assert_allclose(held_share, overall, atol=0.01)
    again_rest, again_holdout = split_holdout(data, 0.2, seed=3)
    np.testing.assert_array_equal(again_holdout.x, holdout.x)
    np.testing.assert_array_equal(again_rest.y, rest.y)
    _, other = split_holdout(data, 0.2, seed=4)
    assert not np.array_equal(other.x, holdout.x)


def test_split_holdout_handles_a_class_with_one_sample() -> None:
    data = Dataset(np.arange(20, dtype=np.float32).reshape(10, 2), np.array([0] * 9 + [1]), 2, "tiny")
    rest, holdout = split_holdout(data, 0.3, seed=0)
    assert (len(rest), len(holdout)) == (7, 3)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, 0.001])
def test_split_holdout_refuses_degenerate_fractions(fraction: float) -> None:
    data = Dataset(np.zeros((10, 2), np.float32), np.zeros(10, np.int64), 1, "tiny")
    with pytest.raises(ColearnValueError):
        split_holdout(data, fraction, seed=0)
