"""benchmarks/selector.py at a tiny size: what its table and JSON report, and how they are computed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the benchmarks are scripts beside the package, not installed
    sys.path.insert(0, str(REPO))

from benchmarks import selector  # noqa: E402
from colearn_chain.selector_training.train import EVALUATION_SEED_BASE  # noqa: E402
from colearn_chain.strategies.rl.cost import communication_cost, cost_matrix  # noqa: E402


def test_benchmark_trains_evaluates_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy, figures, picture = tmp_path / "policy.onnx", tmp_path / "figures.json", tmp_path / "plot.png"
    args = ["--policy", str(policy), "--train-episodes", "1", "--eval-seeds", "2", "--max-rounds", "3"]
    args += ["--learners", "3", "--goal", "0.95", "--json", str(figures), "--plot", str(picture)]
    assert selector.main(args) == 0
    output = capsys.readouterr().out
    assert "training the shared policy" in output and "RL vs random" in output and "paper 50.8%" in output
    assert policy.is_file() and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "policy-learning-curve.png").is_file()

    data = json.loads(figures.read_text())
    assert set(data["summaries"]) == {"rl", "random", "round-robin"}
    assert len(data["seeds"]) == 2 and min(data["seeds"]) >= EVALUATION_SEED_BASE
    cost = cost_matrix(3)
    for name, runs in data["runs"].items():
        assert [r["seed"] for r in runs] == data["seeds"]
        for run in runs:
            assert run["rounds"] == len(run["proposers"]) <= 3
            assert run["cost"] == pytest.approx(communication_cost(cost, run["proposers"]))
            assert run["reached_goal"] == (run["final_accuracy"] >= 0.95)
        summary = data["summaries"][name]
        assert summary["rounds_mean"] == pytest.approx(np.mean([r["rounds"] for r in runs]))
        assert summary["cost_mean"] == pytest.approx(np.mean([r["cost"] for r in runs]))
    assert all(r["proposers"] == [0, 1, 2][: r["rounds"]] for r in data["runs"]["round-robin"])
    rl, random = data["summaries"]["rl"], data["summaries"]["random"]
    versus = data["rl_vs_random"]
    assert versus["rounds_reduction"] == pytest.approx(100 * (1 - rl["rounds_mean"] / random["rounds_mean"]))
    assert versus["cost_reduction"] == pytest.approx(100 * (1 - rl["cost_mean"] / random["cost_mean"]))

    pairs = data["paired_rl_minus_random"]
    diffs = [a["rounds"] - b["rounds"] for a, b in zip(data["runs"]["rl"], data["runs"]["random"], strict=True)]
    assert pairs["rounds_diff_mean"] == pytest.approx(np.mean(diffs))
    assert pairs["fewer_rounds"] == sum(d < 0 for d in diffs) and pairs["seeds"] == 2

    # a second run reads the policy it wrote instead of training again
    assert selector.main([*args[2:], "--policy", str(policy)]) == 0
    assert "training the" not in capsys.readouterr().out


def test_benchmark_refuses_a_policy_for_other_learners(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.onnx"
    base = ["--policy", str(policy), "--eval-seeds", "1", "--max-rounds", "1", "--plot", str(tmp_path / "p.png")]
    assert selector.main([*base, "--train-episodes", "1", "--learners", "3"]) == 0
    assert selector.main([*base, "--learners", "4"]) == 2
    assert "chooses among 3 learners" in capsys.readouterr().out


def test_retrain_rebuilds_a_policy_byte_for_byte_and_seeds_pick_the_evaluation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = ["--train-episodes", "2", "--learners", "3", "--max-rounds", "2", "--goal", "0.95", "--retrain"]
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    figures = tmp_path / "figures.json"
    for policy in (first, second):
        args = [*tiny, "--policy", str(policy), "--seeds", "3:5", "--plot", str(tmp_path / "p.png")]
        assert selector.main([*args, "--json", str(figures)]) == 0
    assert first.read_bytes() == second.read_bytes()
    data = json.loads(figures.read_text())
    assert data["setting"] == "hl"
    assert data["seeds"] == [EVALUATION_SEED_BASE + 3, EVALUATION_SEED_BASE + 4]
    assert set(data["summaries"]["rl"]) >= {"rounds_mean", "cost_mean"}
    for baseline in ("random", "round_robin"):
        pairs = data[f"paired_rl_minus_{baseline}"]
        low, high = pairs["rounds_ci95"]
        assert low <= pairs["rounds_diff_mean"] <= high
    assert "paired by seed, RL minus round-robin" in capsys.readouterr().out


def test_only_the_committed_training_is_held_to_the_committed_hash() -> None:
    defaults = {"train_setting": selector.COMMITTED_SETTING, "epsilon_decay": selector.COMMITTED_EPSILON_DECAY}
    args = argparse.Namespace(**selector.COMMITTED_TRAINING, **defaults)
    assert selector.is_committed_training(args)
    assert not selector.is_committed_training(argparse.Namespace(**{**vars(args), "train_episodes": 2}))


@pytest.mark.parametrize("seeds", ["5", "5:5", "a:b", "3:1"])
def test_bad_seed_ranges_are_one_error(seeds: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--seeds", seeds, "--learners", "3", "--policy", "/no/such.onnx", "--train-episodes", "1"]
    assert selector.main(args) == 2
    assert "expected A:B with 0 <= A < B" in capsys.readouterr().out
