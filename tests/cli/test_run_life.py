"""A `run` directory's life: audited later, no debris, interrupted and resumed, failed and retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from colearn_chain.cli.main import main
from colearn_chain.experiment import Experiment
from colearn_chain.records import RoundRecord
from colearn_chain.simulation import make_settings

SMALL = ["--learners", "3", "--seed", "2"]
REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", *args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def _results(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "results.json").read_text())
    return data


def _error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert len(errors) == 1, output
    return errors[0]


def _after_round(monkeypatch: pytest.MonkeyPatch, round_index: int, act: Callable[[], None]) -> None:
    """Make ``act`` happen right after round ``round_index`` has been played (a hook in the experiment)."""
    original = Experiment.run_round

    def run_round(self: Experiment) -> RoundRecord:
        record = original(self)
        if record.round == round_index:
            act()
        return record

    monkeypatch.setattr(Experiment, "run_round", run_round)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``colearn-chain ARGS`` in a fresh process (nothing of the run's process survives)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "colearn_chain.cli.main", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


# -- 1. every run auditable later -------------------------------------------------------------


@pytest.mark.slow
def test_an_embedded_run_is_audited_later_from_its_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``audit DIR --verify`` in a fresh process agrees with ``run --audit``'s report, chain and all."""
    out = tmp_path / "run"
    code, output = _run([*SMALL, "--rounds", "2", "--audit", "--out", str(out)], capsys)
    assert code == 0, output
    deployment = json.loads((out / "deployment.json").read_text())
    results = _results(out)
    assert deployment["contract"] == results["contract"] and deployment["rpc_url"] == "embedded"
    assert deployment["learners"] == results["learners"] and deployment["max_rounds"] == 2
    assert results["status"] == "complete" and results["error"] is None
    later = _cli("audit", str(out), "--verify", "--format", "json")
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout) == json.loads((out / "audit.json").read_text())
    assert json.loads(later.stdout)["verified"] is True


def _embedded_deployment(store: Path) -> dict[str, Any]:
    """A deployment file's contents for a contract on a run's embedded chain."""
    from colearn_chain.chain import ZERO_ADDRESS

    return {
        "version": 1, "chain_id": 131277322940537, "rpc_url": "embedded", "contract": ZERO_ADDRESS,
        "deployment_block": 1, "artifact_sha256": "0" * 64, "store": str(store),
        "learner": {"task": "digits-mlp", "factory": None, "seed": 0, "count": 2},
        "learners": ["0x" + "22" * 20, "0x" + "33" * 20],
        "threshold": 0.5, "threshold_bps": 5000, "proposal_window": 0, "voting_window": 0, "max_rounds": 1,
        "selector": ZERO_ADDRESS, "initial_model": "0" * 64,
    }  # fmt: skip


def test_audit_names_a_missing_chain_journal_and_a_directory_without_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["audit", str(empty)]) == 1
    assert "has no deployment.json" in _error_line(capsys.readouterr().err)
    (tmp_path / "store").mkdir()
    (empty / "deployment.json").write_text(json.dumps(_embedded_deployment(tmp_path / "store")))
    assert main(["audit", "--deployment", str(empty)]) == 1
    assert "chain.jsonl: that file is missing" in _error_line(capsys.readouterr().err)
    assert main(["audit", str(empty), "--deployment", str(empty)]) == 1
    assert "give the deployment file or run directory once" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.anvil
def test_a_run_on_a_node_writes_its_deployment_and_resumes_on_it(
    anvil_node: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = anvil_node.url  # type: ignore[attr-defined]
    out = tmp_path / "rpc"
    with monkeypatch.context() as patch:
        _after_round(patch, 0, lambda: os.kill(os.getpid(), signal.SIGINT))
        code, output = _run(["--rpc", url, "--learners", "2", "--rounds", "2", "--out", str(out)], capsys)
    assert code == 128 + signal.SIGINT, output
    assert json.loads((out / "deployment.json").read_text())["rpc_url"] == url
    assert _results(out)["status"] == "interrupted" and len(_results(out)["rounds"]) == 1
    code, output = _run(["--resume", str(out)], capsys)
    assert code == 0, output
    assert _results(out)["status"] == "complete" and len(_results(out)["rounds"]) == 2
    assert main(["audit", str(out), "--verify", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["outcome"] for r in report["rounds"]] == ["accepted" if r["accepted"] else "rejected"
                                                        for r in _results(out)["rounds"]]  # fmt: skip


# -- 2. no debris ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/no/such/data.npz"], "/no/such/data.npz"),
        (["--learner", "no_such_module_xyz:factory"], "no_such_module_xyz"),
        (["--task", "no-such-task"], "no-such-task"),
        (["--config", "/no/such/exp.toml"], "does not exist"),
        (["--threshold", "2"], "threshold"),
        (["--strategy", "no-such-strategy"], "no-such-strategy"),
    ],
)
def test_bad_input_creates_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code, output = _run([*args, "--rounds", "1", "--out", str(out)], capsys)
    assert code == 1 and message in _error_line(output)
    code, output = _run([*args, "--rounds", "1"], capsys)  # the default runs/run-DATE-TIME
    assert code == 1 and message in _error_line(output)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_node_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from colearn_chain.chain.anvil import free_port

    out, url = tmp_path / "out", f"http://127.0.0.1:{free_port()}"
    code, output = _run([*SMALL, "--rpc", url, "--rounds", "1", "--out", str(out)], capsys)
    assert code == 1 and "cannot reach a JSON-RPC node" in _error_line(output)
    assert not out.exists()


def test_a_previous_run_blocks_a_new_one_with_the_two_ways_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = tmp_path / "previous"
    (previous / "store").mkdir(parents=True)
    (previous / "results.json").write_text(json.dumps({"status": "failed", "rounds": [{}, {}]}))
    code, output = _run([*SMALL, "--rounds", "1", "--out", str(previous)], capsys)
    line = _error_line(output)
    assert code == 1 and "failed after 2 rounds" in line
    assert f"run --resume {previous}" in line and f"--out {previous} --force" in line
    others = tmp_path / "others"
    others.mkdir()
    (others / "notes.txt").write_text("precious")
    code, output = _run([*SMALL, "--rounds", "1", "--force", "--out", str(others)], capsys)
    assert code == 1 and "--force replaces only a run directory" in _error_line(output)
    assert (others / "notes.txt").read_text() == "precious"


@pytest.mark.slow
def test_a_failed_run_records_its_rounds_and_resumes_or_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "failing"

    def fail() -> None:
        raise RuntimeError("the disk caught fire")

    with monkeypatch.context() as patch:
        _after_round(patch, 0, fail)
        code, output = _run([*SMALL, "--rounds", "2", "--out", str(out)], capsys)
    line = _error_line(output)
    assert code == 1 and "RuntimeError: the disk caught fire" in line
    assert f"run --resume {out}" in line and f"--out {out} --force" in line
    results = _results(out)
    assert results["status"] == "failed" and results["error"] == "RuntimeError: the disk caught fire"
    assert [r["round"] for r in results["rounds"]] == [0]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # written atomically, nothing left over
    code, output = _run([*SMALL, "--rounds", "2", "--out", str(out)], capsys)
    assert code == 1 and "--resume" in _error_line(output)
    code, output = _run(["--resume", str(out)], capsys)  # the failure was after round 0 ended on the chain
    assert code == 0, output
    assert _results(out)["status"] == "complete" and len(_results(out)["rounds"]) == 2
    code, output = _run([*SMALL, "--rounds", "1", "--in-memory", "--force", "--out", str(out)], capsys)
    assert code == 0, output
    assert len(_results(out)["rounds"]) == 1 and sorted(p.name for p in out.iterdir()) == [
        "accuracy.png", "model.onnx", "results.json", "store", "votes.png",
    ]  # fmt: skip


# -- 3. interrupted and resumed -------------------------------------------------------------------


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 rounds of 3 learners (learner 0 trains twice), interrupted by SIGINT after round 1, resumed."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    code, output = _run([*SMALL, "--rounds", "4", "--out", str(whole)], capsys)
    assert code == 0, output
    with monkeypatch.context() as patch:
        _after_round(patch, 1, lambda: os.kill(os.getpid(), signal.SIGINT))
        code, output = _run([*SMALL, "--rounds", "4", "--out", str(parts)], capsys)
    assert code == 128 + signal.SIGINT, output
    assert f"run --resume {parts}" in output
    stopped = _results(parts)
    assert stopped["status"] == "interrupted" and [r["round"] for r in stopped["rounds"]] == [0, 1]
    assert stopped["rounds"] == _results(whole)["rounds"][:2]
    code, output = _run(["--resume", str(parts)], capsys)
    assert code == 0, output
    assert _results(parts) == _results(whole)  # the same chain, models, votes, accuracies and baseline
    code, output = _run(["--resume", str(parts)], capsys)
    assert code == 1 and "complete (4 rounds): there is nothing to resume" in _error_line(output)


@pytest.mark.slow
def test_sigterm_from_another_process_stops_after_the_round(tmp_path: Path) -> None:
    out = tmp_path / "long"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "colearn_chain.cli.main", "run", *SMALL, "--rounds", "40", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if _results(out)["rounds"]:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM, err
    results = _results(out)
    assert results["status"] == "interrupted" and 1 <= len(results["rounds"]) < 40
    assert [r["round"] for r in results["rounds"]] == list(range(len(results["rounds"])))
    assert "Traceback" not in err and f"run --resume {out}" in err


def _saved_run(directory: Path, deployed: bool, **changes: Any) -> Path:
    settings = make_settings(learners=3, rounds=4, seed=2).model_dump(mode="json")
    results = {"status": "interrupted", "contract": "0x" + "11" * 20, "rounds": [], "settings": settings}
    directory.mkdir()
    (directory / "results.json").write_text(json.dumps({**results, **changes}))
    if deployed:
        (directory / "store").mkdir()
        (directory / "deployment.json").write_text(json.dumps(_embedded_deployment(directory / "store")))
    return directory


@pytest.mark.parametrize(
    ("changes", "deployed", "args", "message"),
    [
        ({}, False, ["--rounds", "9"], "rounds 9 differs from the run's 4 (drop the option)"),
        ({}, False, ["--out", "elsewhere"], "cannot be combined with --out"),
        ({"contract": None}, False, [], "has no chain to continue on"),
        ({"status": "complete"}, False, [], "there is nothing to resume"),
        ({}, False, [], "has no deployment.json"),
        ({}, True, ["--rpc", "http://127.0.0.1:1"], "was played on the embedded chain, kept in DIR: drop --rpc"),
        ({}, True, [], "chain.jsonl does not exist: the embedded chain's state is lost"),
    ],
)
def test_resume_says_why_it_cannot(
    changes: dict[str, Any],
    deployed: bool,
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = _saved_run(tmp_path / "saved", deployed, **changes)
    before = sorted(p.name for p in directory.iterdir())
    code, output = _run(["--resume", str(directory), *args], capsys)
    assert code == 1 and message in _error_line(output)
    assert sorted(p.name for p in directory.iterdir()) == before
