"""``deploy --start-in`` sets round 0's start block and says when its window closes; ``learner`` warns if late."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, save_keystore
from colearn_chain.chain.anvil import AnvilNode, start_anvil
from colearn_chain.cli.main import main
from colearn_chain.deployment import Deployment
from colearn_chain.schedule import BLOCK_TIME_SAMPLE, estimate_block_seconds

pytestmark = pytest.mark.anvil

PASSWORD = "start-in-test"
BLOCK_TIME = 0.25


@pytest.fixture(scope="module")
def ticking_node() -> Iterator[AnvilNode]:
    """Anvil mining an empty block every 0.25 s (as `colearn-chain node` does every second)."""
    node = start_anvil(extra_args=["--block-time", str(BLOCK_TIME), "--mixed-mining"])
    try:
        while connect(node.url).block_number() < 4:  # a few blocks to measure the block time on
            time.sleep(BLOCK_TIME)
        yield node
    finally:
        node.stop()


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", PASSWORD)


def _deploy(node: AnvilNode, folder: Path, *extra: str) -> tuple[int, Path]:
    accounts = generated_accounts(2)
    keys = [save_keystore(a, folder / f"learner{i}.json", PASSWORD, light=True) for i, a in enumerate(accounts)]
    deployer = save_keystore(anvil_dev_accounts(1)[0], folder / "deployer.json", PASSWORD, light=True)
    addresses = ",".join(json.loads(k.read_text())["address"] for k in keys)
    out = folder / "deployment.json"
    code = main(["deploy", "--rpc", node.url, "--account", str(deployer), "--learners", addresses, "--rounds", "1",
                 "--store", str(folder / "store"), "--fund", "1", "--out", str(out), *extra])  # fmt: skip
    return code, keys[1]


def test_start_in_blocks_sets_round_zero_start_and_prints_when_its_window_closes(
    ticking_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _deploy(ticking_node, tmp_path, "--start-in", "40", "--proposal-window", "20")
    assert code == 0
    info = Deployment.load(tmp_path / "deployment.json")
    client = CollectiveLearningClient.at(connect(ticking_node.url), info.contract, info.deployment_block)
    assert info.start_block == client.round_info(0).start_block
    # counted from the block after the initial model was published, so at most the deployment's + 40
    assert info.deployment_block < info.start_block <= info.deployment_block + 40
    out = capsys.readouterr().out
    closes = re.search(
        r"round 0 starts at block (\d+); its proposal window closes after block (\d+) \(in about (\d+) s", out
    )
    assert closes is not None, out
    assert (int(closes.group(1)), int(closes.group(2))) == (info.start_block, info.start_block + 20)
    assert 0 < int(closes.group(3)) <= 60 * BLOCK_TIME * 2  # about 60 blocks of a quarter second


def test_start_in_a_duration_uses_the_measured_block_time(
    ticking_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[float | None] = []

    def measure(chain: Any, sample: int = BLOCK_TIME_SAMPLE) -> float | None:
        measured.append(estimate_block_seconds(chain, sample))  # the node's real block time, as deploy measures it
        return 0.25  # what the rest of the command does with it, independent of this machine's load

    monkeypatch.setattr("colearn_chain.schedule.estimate_block_seconds", measure)
    code, _ = _deploy(ticking_node, tmp_path, "--start-in", "5s", "--proposal-window", "8")
    assert code == 0
    assert measured and measured[0] is not None and measured[0] > 0  # the node was measured
    info = Deployment.load(tmp_path / "deployment.json")
    # 5 s of quarter-second blocks: 20 blocks, counted from the block after the initial model's
    assert 20 <= info.start_block - info.deployment_block <= 22
    assert "in about" in capsys.readouterr().out


def test_a_learner_started_after_round_zeros_window_warns_once(
    ticking_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, late_key = _deploy(ticking_node, tmp_path, "--proposal-window", "2")
    assert code == 0
    info = Deployment.load(tmp_path / "deployment.json")
    chain = connect(ticking_node.url)
    while chain.block_number() < info.start_block + 3:
        time.sleep(BLOCK_TIME)
    capsys.readouterr()
    monkeypatch.setattr("colearn_chain.participant.Participant.run", lambda self: None)  # only its start
    assert main(["learner", "--deployment", str(tmp_path / "deployment.json"), "--account", str(late_key)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "window closed" in line]
    assert len(warnings) == 1
    assert f"round 0's proposal window closed (block {info.start_block + 2}" in warnings[0]


def test_a_learner_started_in_time_is_not_warned(
    ticking_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, key = _deploy(ticking_node, tmp_path, "--start-in", "400", "--proposal-window", "2")
    assert code == 0
    capsys.readouterr()
    monkeypatch.setattr("colearn_chain.participant.Participant.run", lambda self: None)
    assert main(["learner", "--deployment", str(tmp_path / "deployment.json"), "--account", str(key)]) == 0
    assert "window closed" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start-in", "soon"], "blocks (120) or a duration"),
        (["--rpc-header", "no colon here"], "'Name: value'"),
    ],
)
def test_bad_start_in_and_headers_are_one_line_errors_before_deploying(
    ticking_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, _ = _deploy(ticking_node, tmp_path, *extra)
    assert code == 1
    captured = capsys.readouterr()
    errors = [line for line in (captured.err + captured.out).splitlines() if line.startswith("colearn-chain: error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in captured.err
    assert not (tmp_path / "deployment.json").exists()
