"""Spent budgets in an experiment: the proposer's round is skipped, it keeps voting, epsilon is on the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colearn_chain.cli.main import main
from colearn_chain.errors import ColearnValueError
from colearn_chain.simulation import make_settings, prepare_simulation, run_simulation
from colearn_chain.strategies import make_strategy
from colearn_chain.strategies.base import RoundContext
from colearn_chain.weights.store import InMemoryStore

# Three digits learners, noise 4: one proposal costs each about 1.1 epsilon, so a budget of 2
# pays for exactly one proposal per learner and rounds 3 and 4 are skipped.
DP = {"target_epsilon": 2.0, "target_delta": 1e-5, "max_grad_norm": 1.0, "noise_multiplier": 4.0}


def _check_budget_run(result_rounds: list[dict[str, object]], learners: list[str]) -> None:
    skipped = [r for r in result_rounds if r["skipped"]]
    played = [r for r in result_rounds if not r["skipped"]]
    assert [r["round"] for r in played] == [0, 1, 2]
    assert [r["round"] for r in skipped] == [3, 4]
    for record in skipped:
        assert record["weights"] is None and record["votes"] == [] and not record["accepted"]
    for record in result_rounds:
        spent = record["dp_epsilon"]
        assert isinstance(spent, dict) and set(spent) == set(learners)
        assert all(0 <= value <= DP["target_epsilon"] for value in spent.values())
    first = result_rounds[0]["dp_epsilon"]
    assert isinstance(first, dict)
    assert first[learners[0]] > 0 and first[learners[1]] == 0.0  # only the proposer has spent anything
    assert result_rounds[-1]["dp_epsilon"] == result_rounds[2]["dp_epsilon"]  # nothing spent once skipped
    for record in played[1:]:  # spent learners keep voting
        assert len(record["votes"]) == len(learners) - 1  # type: ignore[arg-type]


@pytest.mark.slow
def test_in_memory_spent_proposers_are_skipped_and_keep_voting() -> None:
    settings = make_settings(learners=3, rounds=5, seed=2, dp=DP)
    result = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False)
    data = result.to_json()
    _check_budget_run(data["rounds"], data["learners"])


@pytest.mark.slow
def test_run_on_the_chain_skips_the_rounds_and_audits_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "--learners", "3", "--rounds", "5", "--seed", "2", "--out", str(out), "--audit"]
    for key, value in DP.items():
        args += ["--dp", f"{key}={value}"]
    code = main(args)
    output = capsys.readouterr()
    assert code == 0, output.err
    results = json.loads((out / "results.json").read_text())
    _check_budget_run(results["rounds"], results["learners"])
    assert results["settings"]["dp"] == DP
    audit = json.loads((out / "audit.json").read_text())
    assert [r["outcome"] for r in audit["rounds"]][3:] == ["skipped", "skipped"]
    assert audit["verified"] and not audit["discrepancies"]
    for played, audited in zip(results["rounds"][:3], audit["rounds"][:3], strict=True):
        # each proposal's manifest records the (epsilon, delta) its proposer had spent with it
        proposer = played["proposer"]
        assert played["manifest"] is not None and audited["manifest"] == played["manifest"]
        assert audited["privacy"] == {"epsilon": pytest.approx(played["dp_epsilon"][proposer]), "delta": 1e-5}
    assert audit["rounds"][-1]["dp_epsilon"] == pytest.approx(results["rounds"][-1]["dp_epsilon"])
    assert "privacy budget" in output.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dp", "target_epsilon=0", "--dp", "target_delta=1e-5", "--dp", "max_grad_norm=1", "--dp",
             "noise_multiplier=1"],
            "target_epsilon = 0.0 must be a positive",
        ),
        (["--dp", "target_epsilon"], "--dp takes KEY=VALUE"),
        (["--dp", "target_epsilon=3"], "needs target_delta"),
        (["--dp", "eps=3"], "unknown setting 'eps'"),
    ],
)
def test_run_refuses_bad_dp_settings_in_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_dp_with_a_users_learner_is_refused() -> None:
    settings = make_settings(learners=2, rounds=1, learner="learners.tasks:digits_mlp", dp=DP)
    with pytest.raises(ColearnValueError, match="DiffPrivConfig"):
        prepare_simulation(settings, InMemoryStore(), "memory")


def test_config_file_takes_a_dp_table(tmp_path: Path) -> None:
    from colearn_chain.simulation import load_config

    config = tmp_path / "experiment.toml"
    config.write_text("learners = 2\n[dp]\n" + "".join(f"{k} = {v}\n" for k, v in DP.items()))
    assert make_settings(load_config(config)).dp == DP


def test_a_random_selector_does_not_nominate_a_spent_learner() -> None:
    strategy = make_strategy("random", {})
    store = InMemoryStore()
    learners = [object()] * 4
    for round_index in range(30):
        context = RoundContext(round_index, learners, ["a", "b", "c", "d"], store, (), 0, frozenset({1, 3}))  # type: ignore[arg-type]
        assert strategy.nominate(context) in (0, 2)


def test_the_rl_selector_does_not_nominate_a_spent_learner() -> None:
    policy = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "selector_policy.onnx"
    strategy = make_strategy("rl", {"policy": str(policy)})
    ids = [f"0x{i:040x}" for i in range(10)]
    learners = [object()] * 10
    everyone = frozenset(range(10))
    for unspent in range(10):  # whoever the policy prefers, only the learner with budget left is nominated
        spent = everyone - {unspent}
        context = RoundContext(0, learners, ids, InMemoryStore(), (), 0, spent)  # type: ignore[arg-type]
        assert strategy.nominate(context) == unspent
