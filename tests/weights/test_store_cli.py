"""``--store`` at the command line: a path, file:// or s3:// alike, and bad stores in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, save_keystore
from colearn_chain.chain.anvil import AnvilNode
from colearn_chain.cli.main import main
from colearn_chain.deployment import Deployment
from colearn_chain.weights.s3_store import S3Store

from .s3_server import MotoServer, free_port

PASSWORD = "store-cli-test"


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


def _deploy_args(tmp_path: Path, rpc: str, store: str) -> list[str]:
    deployer = save_keystore(anvil_dev_accounts(1)[0], tmp_path / "deployer.json", PASSWORD, light=True)
    learners = ",".join(a.address for a in generated_accounts(2, seed=8))
    return ["deploy", "--rpc", rpc, "--account", str(deployer), "--learners", learners, "--store", store,
            "--rounds", "1", "--out", str(tmp_path / "deployment.json")]  # fmt: skip


@pytest.mark.anvil
def test_deploy_and_audit_on_an_s3_store(
    anvil_node: AnvilNode, s3_server: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    location = f"s3://{bucket}/experiment"
    args = _deploy_args(tmp_path, anvil_node.url, location)
    assert main([*args, "--store-endpoint", s3_server.endpoint]) == 0
    deployment = Deployment.load(tmp_path / "deployment.json")
    assert deployment.store == location  # the URL, never a local path, so every host can use it
    store = S3Store(bucket, "experiment", endpoint_url=s3_server.endpoint)
    assert store.list() == [deployment.initial_model]
    capsys.readouterr()
    audit = ["audit", "--deployment", str(tmp_path / "deployment.json"), "--format", "json", "--verify"]
    assert main([*audit, "--store-endpoint", s3_server.endpoint]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] is True and report["discrepancies"] == []


@pytest.mark.anvil
@pytest.mark.parametrize(
    ("store", "endpoint", "message"),
    [
        ("ftp://host/x", None, "unsupported scheme ftp://"),
        ("s3://Not_A_Bucket/x", None, "not an S3 bucket name"),
        ("s3://bucket/x", "localhost:9000", "--store-endpoint"),
        ("DIR", "http://127.0.0.1:9000", "only applies to an s3:// store"),
    ],
)
def test_a_bad_store_is_one_line_before_anything_is_deployed(
    anvil_node: AnvilNode,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    store: str,
    endpoint: str | None,
    message: str,
) -> None:
    args = _deploy_args(tmp_path, anvil_node.url, store.replace("DIR", str(tmp_path / "s")))
    assert main([*args, *(["--store-endpoint", endpoint] if endpoint else [])]) == 1
    assert message in _one_line_error(capsys)
    assert not (tmp_path / "deployment.json").exists()
    assert not (tmp_path / "s").exists()


@pytest.mark.anvil
def test_a_missing_bucket_and_an_unreachable_store_are_one_line(
    anvil_node: AnvilNode, s3_server: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    args = _deploy_args(tmp_path, anvil_node.url, "s3://never-created/x")
    assert main([*args, "--store-endpoint", s3_server.endpoint]) == 1
    assert "'never-created'" in _one_line_error(capsys)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # boto3's standard setting, honoured by the store
    assert main([*args, "--store-endpoint", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot reach the content store s3://never-created/x" in _one_line_error(capsys)
    assert not (tmp_path / "deployment.json").exists()


def test_audit_never_creates_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment = Deployment(
        chain_id=31337, rpc_url="http://127.0.0.1:1", contract="0x" + "11" * 20, deployment_block=0,
        artifact_sha256="00" * 32, store=str(tmp_path / "nowhere"),
        learner={"task": "digits-mlp", "seed": 0, "count": 1}, learners=["0x" + "22" * 20], threshold=0.5,
        threshold_bps=5000, proposal_window=20, voting_window=20, max_rounds=1,
        selector="0x" + "00" * 20, initial_model="00" * 32,
    )  # fmt: skip
    deployment.save(tmp_path / "d.json")
    for store in ([], ["--store", str(tmp_path / "typo" / "x")]):
        assert main(["audit", "--deployment", str(tmp_path / "d.json"), *store]) == 1
        assert "there is no content store at" in _one_line_error(capsys)
    assert not (tmp_path / "typo").exists()
    assert not (tmp_path / "nowhere").exists()
