"""The deployment file is one validated model: every corruption is one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from colearn_chain.cli.main import main
from colearn_chain.deployment import Deployment
from colearn_chain.errors import ColearnFileError

GOOD: dict[str, Any] = {
    "chain_id": 31337, "rpc_url": "http://127.0.0.1:1", "contract": "0x" + "11" * 20, "deployment_block": 3,
    "artifact_sha256": "ab" * 32, "store": "store", "genesis_hash": "cd" * 32,
    "learner": {"task": "digits-mlp", "factory": None, "seed": 0, "count": 2},
    "learners": ["0x" + "22" * 20, "0x" + "33" * 20], "threshold": 0.5, "threshold_bps": 5000,
    "proposal_window": 20, "voting_window": 20, "max_rounds": 2, "selector": "0x" + "00" * 20,
    "initial_model": "ef" * 32, "strategy": "round-robin", "strategy_params": {}, "version": 1,
}  # fmt: skip

#: (what is changed, the field the error must name): the red team's 18 variants and more.
CORRUPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"contract": "0xdead"}, "contract"),
    ({"contract": 5}, "contract"),
    ({"learner": "x"}, "learner"),
    ({"learner": {"task": "digits-mlp", "seed": 0, "count": "x"}}, "learner"),
    ({"learner": {"task": "digits-mlp", "seed": 0, "count": 3}}, "learner.count"),
    ({"learner": {"seed": 0, "count": 2}}, "learner"),
    ({"learners": 5}, "learners"),
    ({"learners": ["zz", "0x" + "33" * 20]}, "learners"),
    ({"learners": ["0x" + "22" * 20, "0x" + "22" * 20]}, "learners"),
    ({"learners": []}, "learners"),
    ({"chain_id": "x"}, "chain_id"),
    ({"chain_id": True}, "chain_id"),
    ({"deployment_block": -5}, "deployment_block"),
    ({"deployment_block": "abc"}, "deployment_block"),
    ({"deployment_block": 1.5}, "deployment_block"),
    ({"store": 5}, "store"),
    ({"store": ""}, "store"),
    ({"initial_model": "zz"}, "initial_model"),
    ({"artifact_sha256": None}, "artifact_sha256"),
    ({"threshold": "x"}, "threshold"),
    ({"threshold": float("nan")}, "threshold"),
    ({"threshold": 2}, "threshold"),
    ({"threshold_bps": 0}, "threshold_bps"),
    ({"proposal_window": -1}, "proposal_window"),
    ({"voting_window": 2**70}, "voting_window"),
    ({"max_rounds": "10"}, "max_rounds"),
    ({"rpc_url": 3}, "rpc_url"),
    ({"rpc_url": "ftp://x"}, "rpc_url"),
    ({"strategy_params": [1]}, "strategy_params"),
    ({"selector": "nope"}, "selector"),
    ({"genesis_hash": "0x12"}, "genesis_hash"),
    ({"extra": 1}, "extra"),
]


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_a_good_file_round_trips_with_checksummed_addresses(tmp_path: Path) -> None:
    loaded = Deployment.load(_write(tmp_path / "d.json", GOOD))
    assert loaded.contract == "0x" + "11" * 20 and loaded.genesis_hash == "cd" * 32
    loaded.save(tmp_path / "again.json")
    assert Deployment.load(tmp_path / "again.json") == loaded


def test_a_file_without_genesis_hash_still_loads(tmp_path: Path) -> None:
    older = {k: v for k, v in GOOD.items() if k != "genesis_hash"}
    assert Deployment.load(_write(tmp_path / "d.json", older)).genesis_hash is None


@pytest.mark.parametrize(("change", "field"), CORRUPTIONS, ids=[f for _, f in CORRUPTIONS])
def test_each_corruption_names_its_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = _write(tmp_path / "d.json", {**GOOD, **change})
    with pytest.raises(ColearnFileError) as caught:
        Deployment.load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert f"'{field.split('.')[0]}'" in message or field in message, message


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '"x"', "null", '{"version": 2}'])
def test_not_a_deployment_at_all_is_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "d.json").write_text(text)
    with pytest.raises(ColearnFileError):
        Deployment.load(tmp_path / "d.json")


@pytest.mark.parametrize("command", ["audit", "learner"])
def test_the_commands_report_a_bad_field_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", "x")
    path = _write(tmp_path / "d.json", {**GOOD, "contract": "0xdead"})
    extra = ["--account", str(tmp_path / "k.json")] if command == "learner" else []
    assert main([command, "--deployment", str(path), *extra]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'contract'" in err and "unexpected" not in err
