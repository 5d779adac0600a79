"""``colearn-chain run`` end to end, and its one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colearn_chain.cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", *args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.slow
def test_run_writes_results_plots_and_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, output = _run(["--learners", "3", "--rounds", "3", "--seed", "1", "--out", str(out)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"contract", "chain_id", "final_accuracy", "centralized_accuracy", "rounds"}
    assert results["contract"].startswith("0x") and len(results["contract"]) == 42
    assert isinstance(results["chain_id"], int)
    assert 0 < results["centralized_accuracy"] <= 1
    assert 0 < results["final_accuracy"] <= 1
    assert [r["round"] for r in results["rounds"]] == [0, 1, 2]
    for record in results["rounds"]:
        assert set(record) >= {
            "round", "proposer", "weights", "manifest", "accepted", "approvals",
            "rejections", "votes", "test_accuracy",
        }  # fmt: skip
        assert record["weights"].startswith("0x") and len(record["weights"]) == 66
        assert len(record["votes"]) == 2
        for vote in record["votes"]:
            assert set(vote) >= {"learner", "approve", "score"}
            assert isinstance(vote["score"], float)
        digest = record["weights"][2:]
        assert (out / "store" / digest[:2] / digest).is_file()
    assert results["rounds"][-1]["test_accuracy"] == results["final_accuracy"]
    for picture in ("accuracy.png", "votes.png"):
        assert (out / picture).read_bytes()[:8] == PNG_MAGIC
    assert "final accuracy" in output


@pytest.mark.slow
def test_run_audit_verifies_the_runs_chain_and_writes_audit_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audited"
    code, output = _run(["--learners", "3", "--rounds", "2", "--seed", "4", "--audit", "--out", str(out)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    audit = json.loads((out / "audit.json").read_text())
    assert audit["verified"] is True and audit["discrepancies"] == []
    assert (audit["contract"], audit["chain_id"]) == (results["contract"], results["chain_id"])
    assert audit["learners"] == results["learners"]
    # the history rebuilt from the chain's events alone is the one the run recorded
    for recorded, audited in zip(results["rounds"], audit["rounds"], strict=True):
        assert audited["round"] == recorded["round"] and audited["proposer"] == recorded["proposer"]
        assert audited["weights"] == recorded["weights"] and audited["global_model"] == recorded["global_model"]
        assert audited["outcome"] == ("accepted" if recorded["accepted"] else "rejected")
        assert (audited["approvals"], audited["rejections"]) == (recorded["approvals"], recorded["rejections"])
        assert [(v["voter"], v["approve"], v["score_float"]) for v in audited["votes"]] == [
            (v["learner"], v["approve"], v["score"]) for v in recorded["votes"]
        ]
    assert "verified" in output and f"rounds of {results['contract']}" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--learners", "0"], "at least 1 learner"),
        (["--threshold", "0"], "threshold must be in (0, 1]"),
        (["--threshold", "1.5"], "threshold must be in (0, 1]"),
        (["--learner", "no_such_module_xyz:factory"], "no_such_module_xyz"),
        (["--learner", "colearn_chain.errors:ColearnError"], "ColearnError"),
        (["--learners", "400"], "400"),
        (["--data", "/no/such/file.csv"], "/no/such/file.csv"),
        (["--partition", "zipf"], "zipf"),
        (["--strategy", "nope"], "round-robin"),
        (["--setting", "paper"], "unknown setting 'paper'"),
        (["--cost", "/no/such/cost.csv"], "/no/such/cost.csv does not exist"),
        (["--audit", "--in-memory"], "--audit needs a chain"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = _run([*args, "--rounds", "1", "--out", str(tmp_path / "out")], capsys)
    assert code != 0
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert len(errors) == 1, output
    assert message in errors[0]


def test_an_occupied_out_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    code, output = _run(["--out", str(tmp_path)], capsys)
    assert code == 1
    assert "occupied" in output
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_config_file_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "exp.toml"
    config.write_text('learners = 3\nrounds = 1\nvoting = "fast"\n')
    code, output = _run(["--config", str(config), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert "voting: unknown key" in output
    config.write_text("learners = [\n")
    code, output = _run(["--config", str(config), "--out", str(tmp_path / "o2")], capsys)
    assert code == 1 and "not valid TOML" in output
    code, output = _run(["--config", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o3")], capsys)
    assert code == 1 and "does not exist" in output


@pytest.mark.slow
@pytest.mark.anvil
def test_run_on_a_json_rpc_node(anvil_node: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = anvil_node.url  # type: ignore[attr-defined]
    out = tmp_path / "rpc"
    code, output = _run(["--rpc", url, "--learners", "2", "--rounds", "2", "--out", str(out)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert results["chain_id"] == 31337  # Anvil's
    assert len(results["rounds"]) == 2


def test_an_unreachable_rpc_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from colearn_chain.chain.anvil import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code, output = _run(["--rpc", url, "--rounds", "1", "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert "cannot reach a JSON-RPC node" in output and "Traceback" not in output


@pytest.mark.slow
def test_run_with_a_users_own_learner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user's factory: no centralized bound (null), accuracy is the learners' mean test score."""
    out = tmp_path / "user"
    code, output = _run(["--learner", "learners.tasks:digits_mlp", "--learners", "2", "--rounds", "2",
                         "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert results["centralized_accuracy"] is None
    assert all(0 <= r["test_accuracy"] <= 1 for r in results["rounds"])
    assert results["settings"]["learner"] == "learners.tasks:digits_mlp"


def test_run_on_a_users_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    path = tmp_path / "mine.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,c,d,label", comments="")
    out = tmp_path / "csv"
    code, output = _run(["--data", str(path), "--learners", "2", "--rounds", "2", "--out", str(out)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert results["centralized_accuracy"] is not None and results["final_accuracy"] > 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,1\n1,0\n", "must be 3x3, got shape (2, 2)"),
        ("0,-1,1\n-1,0,1\n1,1,0\n", "must not be negative"),
        ("0,inf,1\ninf,0,1\n1,1,0\n", "must be finite"),
    ],
)
def test_a_bad_cost_matrix_is_one_line(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = tmp_path / "cost.csv"
    matrix.write_text(text)
    args = ["--learners", "3", "--rounds", "1", "--cost", str(matrix), "--out", str(tmp_path / "out")]
    code, output = _run(args, capsys)
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert code != 0 and len(errors) == 1 and message in errors[0], output
    assert not (tmp_path / "out").exists()  # refused before any work


def test_run_records_each_hand_over_cost_from_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matrix = tmp_path / "cost.csv"
    matrix.write_text("0,1,5\n1,0,2\n5,2,0\n")
    out = tmp_path / "run"
    args = ["--learners", "3", "--rounds", "4", "--setting", "hl", "--in-memory", "--cost", str(matrix)]
    code, output = _run([*args, "--out", str(out)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    # round-robin: 0 -> 1 -> 2 -> 0; the first round hands nothing over
    assert [r["hand_over_cost"] for r in results["rounds"]] == [0.0, 1.0, 2.0, 5.0]
    assert results["communication_cost"] == 8.0
    assert results["settings"]["setting"] == "hl" and results["settings"]["partition"] == "dominant"
    assert all(r["accepted"] for r in results["rounds"])  # HL has no vote: every valid proposal passes
    assert "communication cost" in output and "8.0000" in output
