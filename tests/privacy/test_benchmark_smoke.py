"""benchmarks/privacy.py at a tiny size: it runs, and its JSON has a row per setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.privacy import main


@pytest.mark.slow
def test_the_privacy_benchmark_writes_a_row_per_setting(tmp_path: Path) -> None:
    out = tmp_path / "privacy.json"
    code = main(["--learners", "3", "--rounds", "4", "--seeds", "1", "--epsilons", "2", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert code == 0 and [r["epsilon"] for r in rows] == [2.0, None]
    private, plain = rows
    assert private["skipped_rounds"] == 1 and private["first_skipped_round"] == 3
    assert 0 < private["max_epsilon_spent"] <= 2.0
    assert plain["skipped_rounds"] == 0 and plain["max_epsilon_spent"] is None
    assert 0 < private["final_accuracy"] < plain["final_accuracy"] <= 1
