"""``colearn-chain compile``: the committed artifact is current, and a rebuild reproduces it."""

from __future__ import annotations

from pathlib import Path

import pytest

from colearn_chain.cli.main import main
from colearn_chain.paths import ARTIFACT_PATH


def test_check_passes_on_the_committed_artifact(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--check"]) == 0
    assert "up to date" in capsys.readouterr().err


def test_compile_writes_the_same_artifact(tmp_path: Path) -> None:
    out = tmp_path / "CollectiveLearning.json"
    assert main(["compile", "--out", str(out)]) == 0
    assert out.read_bytes() == ARTIFACT_PATH.read_bytes()


def test_check_fails_on_a_stale_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "stale.json"
    stale.write_text("{}")
    assert main(["compile", "--check", "--out", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_a_missing_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--source", str(tmp_path / "nope.sol"), "--out", str(tmp_path / "a.json")]) == 1
    err = capsys.readouterr().err
    assert "cannot read the contract source" in err and "Traceback" not in err
