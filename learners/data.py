"""Datasets for learners: scikit-learn's bundled sets, a user's .npz/.csv files, holdout splits."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn import datasets as sk_datasets

from colearn_chain.errors import ColearnFileError, ColearnValueError

SklearnName = Literal["digits", "breast_cancer", "wine", "iris"]
SKLEARN_DATASETS: tuple[str, ...] = ("digits", "breast_cancer", "wine", "iris")


@dataclass(frozen=True)
class Dataset:
    """Features and integer labels of a classification task.

    Attributes
    ----------
    x
        Features, float32, one sample per row (any trailing shape, e.g. ``(n, 1, 8, 8)``).
    y
        Labels, int64 in ``[0, num_classes)``.
    num_classes
        The number of classes of the *task*, which a subset keeps even when it lacks some
        classes (a model's output size must not depend on which shard it saw).
    name
        A label for messages and reports.
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str

    def __len__(self) -> int:
        """The number of samples."""
        return int(self.y.shape[0])

    def subset(self, indices: np.ndarray, name: str | None = None) -> Dataset:
        """The samples at ``indices``, keeping the task's number of classes."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(self.x[idx], self.y[idx], self.num_classes, name or self.name)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one sample's features."""
        return tuple(int(d) for d in self.x.shape[1:])


def _make_dataset(x: np.ndarray, y: np.ndarray, name: str) -> Dataset:
    """Build a Dataset with the canonical dtypes and the number of classes read off ``y``."""
    labels = np.asarray(y, dtype=np.int64)
    return Dataset(np.ascontiguousarray(x, dtype=np.float32), labels, int(labels.max()) + 1, name)


def _standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per feature (constant features are left at zero)."""
    std = x.std(axis=0)
    std[std == 0] = 1.0
    scaled: np.ndarray = (x - x.mean(axis=0)) / std
    return scaled


def load_sklearn_dataset(name: str, *, as_images: bool = False) -> Dataset:
    """Load one of scikit-learn's bundled datasets, scaled for a small neural network.

    Nothing is downloaded: these four ship inside scikit-learn. Digits' pixels (0..16) are
    divided by 16; the tabular sets are standardized per feature, a fixed public
    preprocessing that every learner would apply in the same way.

    Parameters
    ----------
    name
        ``"digits"``, ``"breast_cancer"``, ``"wine"`` or ``"iris"``.
    as_images
        Digits only: shape the features ``(n, 1, 8, 8)`` instead of ``(n, 64)``.

    Raises
    ------
    ColearnValueError
        For an unknown name, or ``as_images`` on a set that is not images.
    """
    if name not in SKLEARN_DATASETS:
        raise ColearnValueError(f"unknown dataset {name!r}: choose one of {', '.join(SKLEARN_DATASETS)}")
    if as_images and name != "digits":
        raise ColearnValueError(f"dataset {name!r} is not images: as_images works for digits only")
    if name == "digits":
        bunch = sk_datasets.load_digits()
        x = np.asarray(bunch.data, dtype=np.float64) / 16.0
        if as_images:
            x = x.reshape(-1, 1, 8, 8)
    else:
        loader = {
            "breast_cancer": sk_datasets.load_breast_cancer,
            "wine": sk_datasets.load_wine,
            "iris": sk_datasets.load_iris,
        }[name]
        bunch = loader()
        x = _standardize(np.asarray(bunch.data, dtype=np.float64))
    return _make_dataset(x, np.asarray(bunch.target), name)


#: Integer labels are class indices, and the model gets one output per index up to the largest:
#: a label of 1e9 would ask for a billion outputs (gigabytes) before training even started.
MAX_CLASS_INDEX = 9_999
#: The largest feature a float32 model can hold; anything bigger becomes infinity in training.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _checked_labels(raw: np.ndarray, path: Path) -> np.ndarray:
    """Integer class labels from ``raw``: integers as given, any other values encoded in order.

    Non-negative integer labels keep their values (so class 3 stays class 3 in every file);
    strings or other values are mapped to 0..k-1 in sorted order.
    """
    values = np.asarray(raw).reshape(-1)
    if values.size == 0:
        raise ColearnFileError(f"{path}: the file holds no samples")
    if values.dtype.kind in "iu" or (
        values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values))
    ):
        lowest, highest = values.min(), values.max()
        if lowest < 0:
            raise ColearnFileError(f"{path}: labels must be non-negative integers (found {lowest:g})")
        if highest > MAX_CLASS_INDEX:
            raise ColearnFileError(
                f"{path}: label {highest:g} is over {MAX_CLASS_INDEX}: integer labels are class indices "
                "0, 1, 2, ... (one model output each); renumber them, or give them as names"
            )
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        raise ColearnFileError(f"{path}: labels must be integers or names, found non-integer numbers")
    _, encoded = np.unique(values.astype(str), return_inverse=True)
    return encoded.astype(np.int64)


def _finish(x: np.ndarray, y: np.ndarray, path: Path) -> Dataset:
    """Validate loaded features and labels and wrap them as a Dataset."""
    if x.ndim < 2:
        raise ColearnFileError(f"{path}: features must have one row per sample (got shape {x.shape})")
    if x.shape[0] != y.shape[0]:
        raise ColearnFileError(f"{path}: {x.shape[0]} feature rows but {y.shape[0]} labels: they must match")
    if x.shape[0] == 0:
        raise ColearnFileError(f"{path}: the file holds no samples")
    if not np.all(np.isfinite(x)):
        raise ColearnFileError(f"{path}: features contain NaN or infinity: clean the data first")
    largest = float(np.abs(x).max(initial=0.0))
    if largest > _FLOAT32_MAX:
        raise ColearnFileError(
            f"{path}: a feature of magnitude {largest:.3g} does not fit in float32 (max {_FLOAT32_MAX:.3g}), "
            "which the models train in: rescale the data"
        )
    classes = np.unique(y)
    if classes.size < 2:
        raise ColearnFileError(
            f"{path}: every sample has label {classes[0]}: a classifier needs at least two classes"
        )
    return _make_dataset(x, y, path.stem)


def _load_npz(path: Path) -> Dataset:
    """Read an ``.npz`` archive with arrays ``x`` and ``y``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("x", "y") if key not in archive.files]
            if missing:
                raise ColearnFileError(
                    f"{path}: missing array(s) {', '.join(missing)}: save features as 'x' and "
                    f"labels as 'y' (found {', '.join(archive.files) or 'none'})"
                )
            x_raw, y_raw = archive["x"], archive["y"]
    except ColearnFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ColearnFileError(f"{path}: not a readable .npz archive ({exc})") from exc
    if x_raw.dtype.kind not in "biuf":
        raise ColearnFileError(f"{path}: features 'x' must be numbers (dtype {x_raw.dtype})")
    return _finish(np.asarray(x_raw, dtype=np.float64), _checked_labels(y_raw, path), path)


def _is_number(text: str) -> bool:
    """Whether a CSV cell parses as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_csv(path: Path) -> Dataset:
    """Read a ``.csv`` file: numeric features, the label in the last column, header optional."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ColearnFileError(f"{path}: not a readable CSV file ({exc})") from exc
    if rows and not all(_is_number(cell) for cell in rows[0][:-1]):
        rows = rows[1:]  # a header: its feature cells are names, not numbers
    if not rows:
        raise ColearnFileError(f"{path}: the file holds no samples")
    width = len(rows[0])
    if width < 2:
        raise ColearnFileError(f"{path}: need at least one feature column and a label column")
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ColearnFileError(f"{path}: data row {number} has {len(row)} columns, expected {width}")
    try:
        x = np.array([[float(cell) for cell in row[:-1]] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise ColearnFileError(f"{path}: a feature is not a number ({exc})") from exc
    labels = np.array([row[-1].strip() for row in rows])
    if all(_is_number(cell) for cell in labels):
        labels = labels.astype(np.float64)
    return _finish(x, _checked_labels(labels, path), path)


def load_data_file(path: str | Path) -> Dataset:
    """Load a user's own classification data from a ``.npz`` or ``.csv`` file.

    ``.npz``: arrays ``x`` (features, one row per sample, any trailing shape) and ``y``
    (labels). ``.csv``: numeric feature columns then the label column, with or without a
    header row. Labels may be non-negative integers or names.

    Raises
    ------
    ColearnFileError
        If the file is missing, unreadable or malformed; the message says what to fix.
    """
    file = Path(path)
    if not file.is_file():
        raise ColearnFileError(f"{file}: no such data file")
    suffix = file.suffix.lower()
    if suffix == ".npz":
        return _load_npz(file)
    if suffix == ".csv":
        return _load_csv(file)
    raise ColearnFileError(f"{file}: unsupported data file type {suffix!r}: use .npz or .csv")


def make_rng(*keys: int) -> np.random.Generator:
    """A numpy generator determined by ``keys`` (e.g. the experiment seed, a learner index).

    Mixing several integers through a SeedSequence gives independent streams for different
    purposes from one experiment seed; any integer (even negative) is accepted.
    """
    return np.random.default_rng(np.random.SeedSequence([k % 2**64 for k in keys]))


def stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of the indices of ``labels`` in which every prefix is near-stratified.

    Each class is shuffled, and its r-th sample gets the key ``(r + 0.5) / n_class``; sorting
    by key interleaves the classes in proportion, so cutting the order anywhere gives every
    class about its share on both sides, even when a class has one sample.
    """
    y = np.asarray(labels)
    keys = np.empty(y.shape[0], dtype=np.float64)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        shuffled = rng.permutation(members)
        keys[shuffled] = (np.arange(members.size) + 0.5) / members.size
    tie_break = np.asarray(rng.random(size=(y.shape[0],)), dtype=np.float64)
    return np.lexsort((tie_break, keys))


def split_holdout(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split ``dataset`` into (rest, holdout), stratified by label and deterministic by seed.

    Stratification keeps every class's share about the same on both sides, so that
    accuracy on the holdout is comparable across seeds.

    Raises
    ------
    ColearnValueError
        If ``fraction`` is not strictly between 0 and 1 or either side would be empty.
    """
    if not 0.0 < fraction < 1.0:
        raise ColearnValueError(f"holdout fraction must be between 0 and 1 (got {fraction})")
    n = len(dataset)
    n_holdout = round(n * fraction)
    if n_holdout < 1 or n_holdout >= n:
        raise ColearnValueError(f"cannot hold out {fraction:.0%} of {n} samples: both sides need at least one")
    order = stratified_order(dataset.y, make_rng(seed, 0x401D))
    return (
        dataset.subset(np.sort(order[n_holdout:]), f"{dataset.name}-rest"),
        dataset.subset(np.sort(order[:n_holdout]), f"{dataset.name}-holdout"),
    )
