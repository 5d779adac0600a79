"""A user's data is checked before any work: float32-representable features, sane labels, two classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from colearn_chain.cli.main import main
from colearn_chain.errors import ColearnFileError
from learners.data import MAX_CLASS_INDEX, load_data_file

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 3))
Y = np.arange(40) % 3


def _save(path: Path, x: np.ndarray = X, y: np.ndarray = Y) -> Path:
    np.savez(path, x=x, y=y)
    return path


def _with(values: np.ndarray, first: float) -> np.ndarray:
    changed = values.astype(np.float64).copy()
    changed.flat[0] = first
    return changed


BAD_FILES = {
    "float32 overflow": ({"x": _with(X, 1e39)}, "does not fit in float32"),
    "negative float32 overflow": ({"x": _with(X, -4e38)}, "does not fit in float32"),
    "one class": ({"y": np.zeros(40, dtype=np.int64)}, "at least two classes"),
    "label 1e9": ({"y": _with(Y, 1e9)}, "is over"),
    "label 1e15": ({"y": _with(Y, 1e15)}, "is over"),
    "label 1e20 (over int64)": ({"y": _with(Y, 1e20)}, "is over"),
    "int64 label 2**40": ({"y": np.where(np.arange(40) == 0, 2**40, Y)}, "is over"),
    "negative label": ({"y": _with(Y, -1)}, "non-negative"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_user_data_is_refused_by_the_loader(case: str, tmp_path: Path) -> None:
    arrays, message = BAD_FILES[case]
    path = _save(tmp_path / "d.npz", **arrays)
    with pytest.raises(ColearnFileError, match=message):
        load_data_file(path)


def test_the_largest_class_index_and_float32_max_are_accepted(tmp_path: Path) -> None:
    path = _save(tmp_path / "d.npz", x=_with(X, float(np.finfo(np.float32).max)), y=_with(Y, MAX_CLASS_INDEX))
    assert load_data_file(path).y.max() == MAX_CLASS_INDEX


def test_a_single_class_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,cat\n3,4,cat\n")
    with pytest.raises(ColearnFileError, match="at least two classes"):
        load_data_file(tmp_path / "d.csv")


@pytest.mark.parametrize("case", ["float32 overflow", "label 1e9", "one class"])
def test_run_refuses_bad_data_before_creating_its_results(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(tmp_path / "d.npz", **BAD_FILES[case][0])
    out = tmp_path / "out"
    assert main(["run", "--data", str(path), "--in-memory", "-n", "2", "-r", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert BAD_FILES[case][1] in err and "unexpected" not in err and err.count("\n") == 1
    assert not out.exists()


def test_learner_refuses_bad_data_before_unlocking_or_reading_the_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(tmp_path / "d.npz", **BAD_FILES["label 1e15"][0])
    missing = str(tmp_path / "missing.json")
    assert main(["learner", "--deployment", missing, "--account", missing, "--data", str(path)]) == 1
    assert "is over" in capsys.readouterr().err
