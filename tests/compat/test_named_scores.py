"""Named scores: a learner's declared score name and direction reach results.json, the table and the vote log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colearn_chain.cli.main import main
from colearn_chain.metrics import declared_metric, vote_metric
from learners.rl.agent_learner import AgentLearner
from learners.torch_learner import TorchLearner
from tests.compat.learners_for_tests import HalvingLoss


def test_a_learner_declares_its_score_and_direction_as_colearn_did() -> None:
    metric = declared_metric(HalvingLoss(1.0))
    assert metric is not None and metric.label == "test loss (lower is better)"
    assert vote_metric(HalvingLoss(1.0)).name == "test loss"
    assert declared_metric(object()) is None


def test_the_built_in_learners_say_what_their_vote_scores_are() -> None:
    torch_like = TorchLearner.__new__(TorchLearner)
    torch_like.vote_criterion = "loss"
    assert vote_metric(torch_like).label == "vote loss (lower is better)"
    agent = AgentLearner.__new__(AgentLearner)
    assert vote_metric(agent).label == "mean return (higher is better)"


def test_a_run_of_a_loss_scored_learner_never_calls_it_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(["run", "--learner", "tests.compat.learners_for_tests:halving_loss", "--learners", "2",
                 "--rounds", "2", "--in-memory", "--out", str(out)])  # fmt: skip
    output = capsys.readouterr().err
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == {"name": "test loss", "higher_is_better": False}
    assert results["vote_score"] == {"name": "test loss", "higher_is_better": False}
    assert results["initial_score"] == 8.0 and results["final_score"] == 2.0  # halved, accepted twice
    assert "final_accuracy" not in results
    table = output.split("results in")[0]
    assert "final test loss" in table and "lower is better" in table and "accuracy" not in table
