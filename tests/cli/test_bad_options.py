"""Regression tests of issue 16's bad options: each is one line, before the command prints or acts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, save_keystore
from colearn_chain.chain.anvil import AnvilNode
from colearn_chain.cli.main import main

PASSWORD = "bad-options"


def _only_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output and "unexpected" not in output and "Aborted" not in output, output
    assert len(output.strip().splitlines()) == 1, output  # nothing printed before the error
    assert output.startswith("colearn-chain: error: "), output
    return output


def test_no_password_and_no_terminal_says_to_set_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLEARN_CHAIN_PASSWORD", raising=False)
    assert main(["account", "new", str(tmp_path / "k.json")]) == 1  # pytest's stdin is no terminal
    assert "set COLEARN_CHAIN_PASSWORD" in _only_error(capsys)
    assert not (tmp_path / "k.json").exists()


def test_a_keystore_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", PASSWORD)
    (tmp_path / "file").write_text("not a folder")
    assert main(["account", "new", str(tmp_path / "file" / "k.json")]) == 1
    assert "cannot write the keystore" in _only_error(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--block-time", "-1"], "--block-time"),
        (["--block-time", "nan"], "--block-time"),
        (["--block-time", "inf"], "--block-time"),
        (["--port", "70000"], "--port"),
        (["--port", "-3"], "--port"),
        (["--state", "/nonexistent-folder/state.json"], "does not exist"),
    ],
)
def test_node_refuses_bad_options_before_printing(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["node", "--port", "0", *args]) == 1
    assert message in _only_error(capsys)


def test_node_refuses_a_port_in_use_before_printing_keys(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["node", "--port", str(taken.getsockname()[1])]) == 1
    assert "in use" in _only_error(capsys)


def test_node_refuses_a_folder_as_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "--port", "0", "--state", str(tmp_path)]) == 1
    assert "not a regular file" in _only_error(capsys)


@pytest.mark.parametrize("poll", ["-1", "nan", "0", "inf"])
def test_learner_poll_is_checked_before_the_chain_is_touched(
    poll: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.json")  # the check comes before the files are even read
    assert main(["learner", "--deployment", missing, "--account", missing, "--poll", poll]) == 1
    assert "--poll" in _only_error(capsys)


def test_learner_max_outage_must_be_finite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.json")
    assert main(["learner", "--deployment", missing, "--account", missing, "--max-outage", "nan"]) == 1
    assert "--max-outage" in _only_error(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--round", "-1"], "--round"),
        (["--plot", "{tmp}/no-folder/votes.png"], "does not exist"),
        (["--plot", "{tmp}/votes.txt"], ".png"),
        (["--plot", "{tmp}"], ".png"),
    ],
)
def test_audit_checks_its_options_first(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["audit", "--deployment", str(tmp_path / "missing.json"), *shown]) == 1
    assert message in _only_error(capsys)


@pytest.mark.parametrize("fund", ["nan", "inf", "-inf", "snan", "-1", "0", "lots"])
def test_deploy_refuses_a_fund_that_is_no_amount(fund: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    learners = ",".join(a.address for a in generated_accounts(2, seed=1))
    assert main(["deploy", "--rpc", "http://127.0.0.1:1", "--account", str(tmp_path / "k.json"), "--learners",
                 learners, "--store", str(tmp_path / "s"), "--fund", fund]) == 1  # fmt: skip
    assert "--fund" in _only_error(capsys)


@pytest.mark.anvil
def test_deploy_refuses_a_fund_beyond_the_balance_before_deploying(
    anvil_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", PASSWORD)
    deployer = save_keystore(anvil_dev_accounts(1)[0], tmp_path / "d.json", PASSWORD, light=True)
    learners = ",".join(a.address for a in generated_accounts(2, seed=1))
    from colearn_chain.chain import connect

    chain = connect(anvil_node.url)
    nonce = chain.backend.nonce(anvil_dev_accounts(1)[0].address)
    out = tmp_path / "out.json"
    assert main(["deploy", "--rpc", anvil_node.url, "--account", str(deployer), "--learners", learners,
                 "--store", str(tmp_path / "s"), "--fund", "1e30", "--out", str(out)]) == 1  # fmt: skip
    assert "--fund" in _only_error(capsys)
    assert chain.backend.nonce(anvil_dev_accounts(1)[0].address) == nonce  # nothing was sent
    assert not out.exists()


@pytest.mark.parametrize("line", ["learners = true", 'rounds = "5"', "seed = 1.5", "threshold = true"])
def test_a_config_value_of_the_wrong_type_is_refused(
    line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.toml").write_text(line + "\n")
    assert main(["run", "--config", str(tmp_path / "c.toml"), "--in-memory", "--out", str(tmp_path / "r")]) == 1
    assert line.split(" ")[0] in _only_error(capsys)
    assert not (tmp_path / "r").exists()
