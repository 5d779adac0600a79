"""The federated RL benchmark at a tiny size: every rule is played and reported, with the overhead ratio."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the benchmarks are scripts beside the package, not installed
    sys.path.insert(0, str(REPO))

from benchmarks import federated_rl  # noqa: E402


@pytest.mark.slow
def test_every_rule_is_played_on_equal_budgets_and_written_with_the_overhead(tmp_path: Path) -> None:
    out, picture = tmp_path / "rl.json", tmp_path / "rl.png"
    args = ["--task", "cartpole-ppo", "--agents", "2", "--seeds", "0", "--steps-per-agent", "512", "--rounds", "1"]
    assert federated_rl.main([*args, "--json", str(out), "--plot", str(picture)]) == 0
    data = json.loads(out.read_text())
    assert set(data["summary"]) == set(federated_rl.RULES)
    for result in data["results"]:
        assert result["steps_per_agent"] == [512]  # every rule: the same steps per agent per point
        assert len(result["returns"]) == 1 and result["final"] == result["returns"][-1]
    assert data["overhead"]["ratio"] > 0 and data["overhead"]["steps"] == 512
    assert picture.read_bytes()[:4] == b"\x89PNG"
