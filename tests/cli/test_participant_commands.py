"""``account``, ``deploy``, ``learner`` and ``audit``: what they write, and one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, load_keystore, save_keystore
from colearn_chain.chain.anvil import AnvilNode
from colearn_chain.cli.main import main
from colearn_chain.deployment import Deployment
from colearn_chain.experiment import Experiment
from colearn_chain.ledger import ChainLedger
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.store import LocalDirectoryStore
from learners.tasks import get_task

PASSWORD = "cli-test"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", PASSWORD)


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    output = captured.err + captured.out
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_account_new_import_address_list(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    assert main(["account", "new", str(tmp_path / "a.json")]) == 0
    created = capsys.readouterr().out.strip()
    assert load_keystore(tmp_path / "a.json", PASSWORD).address == created
    key = "0x" + "11" * 32
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert main(["account", "import", str(tmp_path / "b.json")]) == 0
    imported = capsys.readouterr().out.strip()
    assert load_keystore(tmp_path / "b.json", PASSWORD).key.hex().removeprefix("0x") == "11" * 32
    assert main(["account", "address", str(tmp_path / "b.json")]) == 0
    assert capsys.readouterr().out.strip() == imported
    assert main(["account", "list", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert created in listing and imported in listing


def test_account_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not a key\n"))
    assert main(["account", "import", str(tmp_path / "c.json")]) == 1
    assert "valid private key" in _one_line_error(capsys)
    (tmp_path / "d.json").write_text("{}")
    assert main(["account", "new", str(tmp_path / "d.json")]) == 1
    assert "already exists" in _one_line_error(capsys)
    assert main(["account", "address", str(tmp_path / "missing.json")]) == 1
    assert "does not exist" in _one_line_error(capsys)


def _deployer(tmp_path: Path) -> Path:
    return save_keystore(anvil_dev_accounts(1)[0], tmp_path / "deployer.json", PASSWORD, light=True)


@pytest.mark.anvil
def test_deploy_twice_gives_two_experiments_and_audit_reads_them(
    anvil_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learners = ",".join(a.address for a in generated_accounts(2, seed=8))
    base = ["deploy", "--rpc", anvil_node.url, "--account", str(_deployer(tmp_path)), "--learners", learners,
            "--store", str(tmp_path / "store"), "--rounds", "2", "--fund", "0.5"]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "one.json")]) == 0
    assert main([*base, "--out", str(tmp_path / "two.json"), "--threshold", "1"]) == 0
    one, two = Deployment.load(tmp_path / "one.json"), Deployment.load(tmp_path / "two.json")
    assert one.contract != two.contract and one.chain_id == two.chain_id == 31337
    assert one.learners == learners.split(",")
    assert (one.threshold_bps, two.threshold_bps) == (5000, 10000)
    assert one.initial_model == two.initial_model  # same task, same seed
    assert (tmp_path / "store" / one.initial_model[:2] / one.initial_model).is_file()
    assert one.learner == {"task": "digits-mlp", "factory": None, "seed": 0, "count": 2}
    capsys.readouterr()
    assert main(["audit", "--deployment", str(tmp_path / "one.json"), "--format", "json", "--verify"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["contract"] == one.contract and report["rounds"] == []
    assert report["verified"] is True and report["discrepancies"] == []
    assert "communication_cost" not in report  # only with a cost matrix
    assert main(["audit", "--deployment", str(tmp_path / "one.json"), "--format", "json", "--cost-seed", "3"]) == 0
    costed = json.loads(capsys.readouterr().out)
    assert costed["communication_cost"] == 0.0 and costed["hand_over_costs"] == []  # no round played yet


@pytest.mark.slow
@pytest.mark.anvil
def test_audit_evaluate_rescores_every_global_model_on_the_auditors_data(
    anvil_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # room for every column of the rounds table
    accounts = generated_accounts(2, seed=9)
    assert main(["deploy", "--rpc", anvil_node.url, "--account", str(_deployer(tmp_path)), "--rounds", "2",
                 "--learners", ",".join(a.address for a in accounts), "--store", str(tmp_path / "store"),
                 "--fund", "1", "--out", str(tmp_path / "d.json")]) == 0  # fmt: skip
    info = Deployment.load(tmp_path / "d.json")
    # the participants play both rounds (in this process); the run scores each global model itself
    built, evaluate, _ = build_learners(make_settings(learners=2, rounds=2, seed=0))
    client = CollectiveLearningClient.at(connect(anvil_node.url), info.contract, info.deployment_block)
    store = LocalDirectoryStore(info.store)
    played = Experiment(built, ChainLedger(client, accounts), store, make_strategy("round-robin"),
                        info.initial_model, evaluate).run(2)  # fmt: skip
    holdout = get_task("digits-mlp").holdout(0)  # the data the run scored on, now the auditor's
    np.savez(tmp_path / "auditor.npz", x=holdout.x, y=holdout.y)
    capsys.readouterr()

    deployment = ["--deployment", str(tmp_path / "d.json")]
    assert main(["audit", *deployment, "--evaluate", str(tmp_path / "auditor.npz"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["global_model"] for r in report["rounds"]] == [r.global_model for r in played]
    assert [r["accuracy"] for r in report["rounds"]] == pytest.approx([r.test_accuracy for r in played], abs=1e-9)
    assert all(0 < r["accuracy"] <= 1 for r in report["rounds"])
    shown = {f"{100 * r['accuracy']:.1f}%" for r in report["rounds"]}  # the table's accuracy column
    assert main(["audit", *deployment]) == 0
    plain = capsys.readouterr().out
    assert not any(cell in plain for cell in shown)  # the column is there only with --evaluate
    assert main(["audit", *deployment, "--evaluate", str(tmp_path / "auditor.npz")]) == 0
    evaluated = capsys.readouterr().out
    assert all(cell in evaluated for cell in shown)


@pytest.mark.anvil
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--learners", "0x123"], "not an Ethereum address"),
        (["--fund", "lots"], "amount of ether"),
        (["--threshold", "0"], "threshold"),
        (["--strategy", "nope"], "unknown strategy"),
        (["--selector", "me"], "--selector"),
    ],
)
def test_deploy_bad_input(anvil_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          extra: list[str], message: str) -> None:  # fmt: skip
    args = ["deploy", "--rpc", anvil_node.url, "--account", str(_deployer(tmp_path)),
            "--learners", generated_accounts(1, seed=3)[0].address, "--store", str(tmp_path / "s"),
            "--out", str(tmp_path / "d.json")]  # fmt: skip
    overridden = dict(zip(args[1::2], args[2::2], strict=True)) | dict(zip(extra[::2], extra[1::2], strict=True))
    flat = ["deploy", *[item for pair in overridden.items() for item in pair]]
    assert main(flat) == 1
    assert message in _one_line_error(capsys)
    assert not (tmp_path / "d.json").exists()


def test_learner_and_audit_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keystore = save_keystore(generated_accounts(1, seed=4)[0], tmp_path / "k.json", PASSWORD, light=True)
    assert main(["learner", "--deployment", str(tmp_path / "none.json"), "--account", str(keystore)]) == 1
    assert "does not exist" in _one_line_error(capsys)
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["audit", "--deployment", str(tmp_path / "bad.json")]) == 1
    assert "not a JSON object" in _one_line_error(capsys)
