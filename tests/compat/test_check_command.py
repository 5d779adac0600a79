"""``colearn-chain check`` and ``run --learner``'s fast checks: a broken learner fails in seconds, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from colearn_chain.cli.main import main


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]


def test_check_passes_a_good_learner(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--learner", "tests.compat.learners_for_tests:forest"])
    out = capsys.readouterr().out
    assert code == 0 and "SklearnLearner passes check_learner" in out


def test_check_reports_the_broken_rule_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--learner", "tests.compat.learners_for_tests:nan_scores", "--fast"])
    errors = _errors(capsys.readouterr().err)
    assert code == 1 and len(errors) == 1
    assert "check_learner(NaNScores): mli_test_weights gave its current weights a vote_score of nan" in errors[0]


def test_check_names_a_missing_factory(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--learner", "tests.compat.nowhere:factory"])
    errors = _errors(capsys.readouterr().err)
    assert code == 1 and len(errors) == 1 and "no module named 'tests.compat.nowhere'" in errors[0]


def test_run_stops_a_broken_learner_before_round_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--learners", "2", "--rounds", "50", "--out", str(tmp_path / "out"),
         "--learner", "tests.compat.learners_for_tests:nan_scores"]
    )  # fmt: skip
    errors = _errors(capsys.readouterr().err)
    assert code == 1 and len(errors) == 1 and "vote_score of nan" in errors[0]
    assert not (tmp_path / "out" / "results.json").exists()  # stopped before any round
