"""Federating PPO agents end to end: ``run --task cartpole-ppo`` with the DeRL rules, named metrics, the policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from colearn_chain.cli.main import main
from learners.rl.environments import family, heldout_variants
from learners.rl.episodes import EpisodeSet


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", "--task", "cartpole-ppo", *args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.slow
def test_the_ci_sized_run_ends_with_a_policy_clearly_better_than_the_initial_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, output = _run(["--learners", "3", "--rounds", "5", "--out", str(out)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == {"name": "mean return", "higher_is_better": True}
    assert results["final_score"] > 100 and results["final_score"] > 5 * results["initial_score"]
    assert not any("accuracy" in key for key in results) and "test_accuracy" not in results["rounds"][0]
    table = output.split("results in")[0]
    assert "final mean return" in table and "accuracy" not in table and "%" not in table.split("time")[0]
    # DIR/model.onnx is the final global policy: it plays the held-out variants as the evaluator scored them
    session = ort.InferenceSession(str(out / "model.onnx"))
    name = session.get_inputs()[0].name
    episodes_variants = heldout_variants(family("cartpole"), 0, 4)
    episodes = EpisodeSet(episodes_variants, 3, 900_000)
    played = episodes.mean_return(lambda obs: session.run(None, {name: obs.astype(np.float32)})[0])
    assert played == pytest.approx(results["final_score"])
    # an auditor re-scores every global model on environment variants of its own choosing
    variants = tmp_path / "variants.json"
    spec = {"variants": [dict(v.params) for v in episodes_variants], "episodes": 3, "seed": 900_000}
    variants.write_text(json.dumps(spec))
    assert main(["audit", str(out), "--evaluate", str(variants), "--format", "json"]) == 0
    audited = json.loads(capsys.readouterr().out)
    assert audited["rounds"][-1]["accuracy"] == pytest.approx(results["final_score"])


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["weighted", "evolutionary"])
def test_derl_rules_federate_agents_with_recomputable_manifests(
    strategy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / strategy
    code, output = _run(
        ["--learners", "2", "--rounds", "1", "--strategy", strategy, "--audit", "--out", str(out)], capsys
    )
    assert code == 0, output  # --audit exits 1 on any discrepancy: the manifest recomputed
    assert "verified" in output
    results = json.loads((out / "results.json").read_text())
    digest = results["rounds"][0]["manifest"][2:]
    manifest = json.loads((out / "store" / digest[:2] / digest).read_bytes())
    assert manifest["strategy"] == strategy
    if strategy == "weighted":
        # DeRL's rule: softmax of each contribution's mean return, measured on the proposer's episodes
        rewards = [entry["reward"] for entry in manifest["inputs"]]
        assert all(isinstance(r, float) and r > 0 for r in rewards)
        coefficients = [entry["coefficient"] for entry in manifest["inputs"]]
        expected = np.exp(np.array(rewards) / 0.5 - max(rewards) / 0.5)
        assert coefficients == pytest.approx(list(expected / expected.sum()), rel=1e-6)


def test_rl_tasks_refuse_what_does_not_apply_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in (
        (
            [
                f"--dp={k}={v}"
                for k, v in (
                    ("target_epsilon", 3),
                    ("target_delta", 1e-5),
                    ("max_grad_norm", 1),
                    ("noise_multiplier", 1),
                )
            ],
            "task cartpole-ppo is an RL agent",
        ),
        (["--partition", "dirichlet:0.5"], "gives each learner its own environment variant"),
        (["--setting", "hl"], "not RL task cartpole-ppo"),
    ):
        code, output = _run([*args, "--out", str(tmp_path / args[0].strip("-=").split("=")[0])], capsys)
        assert code != 0
        assert message in output and "Traceback" not in output and "unexpected" not in output
