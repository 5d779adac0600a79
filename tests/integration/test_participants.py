"""Participants as separate OS processes against Anvil: deploy, learn, survive failures, audit.

Each test starts its own Anvil (127.0.0.1, a free port, an empty block every 0.25 s so that
deadlines pass while participants are silent), makes keystores, deploys with the CLI, runs
each learner as its own ``python -m colearn_chain.cli.main learner`` process, and audits the
result with ``audit --verify --format json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.chain import events as ev
from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, save_keystore
from colearn_chain.chain.anvil import AnvilNode, start_anvil
from colearn_chain.deployment import Deployment
from colearn_chain.weights.digest import Digest

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

PASSWORD = "integration-test"
BLOCK_TIME = 0.25


@dataclass
class Experiment:
    """A deployed experiment and the learner processes run against it."""

    folder: Path
    node: AnvilNode
    deployment: Path
    keystores: list[Path]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "COLEARN_CHAIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}

    def log(self, index: int) -> Path:
        return self.folder / f"learner{index}.log"

    def start(self, index: int) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "colearn_chain.cli.main", "learner",
            "--deployment", str(self.deployment), "--account", str(self.keystores[index]), "--poll", "0.1",
        ]  # fmt: skip
        with self.log(index).open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        self.processes[index] = process
        return process

    def wait_all(self, timeout: float = 240.0) -> dict[int, int]:
        deadline = time.monotonic() + timeout
        codes = {}
        for index, process in self.processes.items():
            try:
                codes[index] = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"learner {index} did not finish; its log:\n{self.log(index).read_text()}")
        return codes

    def client(self) -> CollectiveLearningClient:
        info = Deployment.load(self.deployment)
        return CollectiveLearningClient.at(connect(self.node.url), info.contract, info.deployment_block)

    def audit(self, *extra: str) -> tuple[int, dict[str, Any]]:
        command = [
            sys.executable, "-m", "colearn_chain.cli.main", "audit",
            "--deployment", str(self.deployment), "--format", "json", *extra,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, env=self.env(), timeout=120)
        return done.returncode, json.loads(done.stdout)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        self.node.stop()


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Experiment]]:
    """Deploy an experiment of 3 learners with the CLI on a fresh Anvil; everything is stopped after."""
    made: list[Experiment] = []

    def make(rounds: int = 3, proposal_window: int = 0, voting_window: int = 0) -> Experiment:
        """Windows of 0 never close: only the test about silent peers needs deadlines, and a
        loaded machine may take long enough to start a learner that any fixed window is missed."""
        node = start_anvil(extra_args=["--block-time", str(BLOCK_TIME), "--mixed-mining"])
        keystores = []
        for index, account in enumerate(generated_accounts(3)):
            keystores.append(save_keystore(account, tmp_path / f"learner{index}.json", PASSWORD, light=True))
        deployer = save_keystore(anvil_dev_accounts(1)[0], tmp_path / "deployer.json", PASSWORD, light=True)
        addresses = ",".join(json.loads(k.read_text())["address"] for k in keystores)
        deployment = tmp_path / "deployment.json"
        experiment = Experiment(tmp_path, node, deployment, keystores)
        made.append(experiment)
        command = [
            sys.executable, "-m", "colearn_chain.cli.main", "deploy", "--rpc", node.url,
            "--account", str(deployer), "--learners", addresses, "--store", str(tmp_path / "store"),
            "--rounds", str(rounds), "--proposal-window", str(proposal_window),
            "--voting-window", str(voting_window), "--fund", "1", "--out", str(deployment),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, env=experiment.env(), timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        return experiment

    yield make
    for experiment in made:
        experiment.stop()


def _voters_are_unique(report: dict[str, Any]) -> None:
    for record in report["rounds"]:
        voters = [v["voter"] for v in record["votes"]]
        assert len(voters) == len(set(voters)), f"round {record['round']} has a double vote"


def test_three_learner_processes_finish_and_the_audit_verifies(deploy: Callable[..., Experiment]) -> None:
    experiment = deploy(rounds=3)
    for index in range(3):
        experiment.start(index)
    assert experiment.wait_all() == {0: 0, 1: 0, 2: 0}
    code, report = experiment.audit("--verify")
    assert code == 0, report["discrepancies"]
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    for record in rounds:
        assert record["weights"] is not None  # no deadlines: every round was proposed...
        assert record["outcome"] in ("accepted", "rejected")
        assert len(record["votes"]) == 2  # ...and voted on by both others
    _voters_are_unique(report)
    log = experiment.log(1).read_text()
    assert "voted" in log and "experiment finished" in log


def test_a_learner_killed_mid_experiment_and_restarted(deploy: Callable[..., Experiment]) -> None:
    experiment = deploy(rounds=4)
    for index in range(3):
        experiment.start(index)
    client = experiment.client()
    victim = Deployment.load(experiment.deployment).learners[2]
    _wait_for(
        lambda: any(isinstance(e, ev.VoteCast) and e.voter == victim for e in client.events()),
        timeout=120,
        what="the victim's first vote",
    )
    experiment.processes[2].send_signal(signal.SIGKILL)
    experiment.processes[2].wait(timeout=10)
    experiment.start(2)  # restarted: rebuilds its state from the chain and the store
    codes = experiment.wait_all()
    assert codes[0] == 0 and codes[1] == 0 and codes[2] == 0
    assert client.finished()
    code, report = experiment.audit("--verify")
    assert code == 0, report["discrepancies"]
    _voters_are_unique(report)
    # the restarted learner rebuilt its state from the chain: it never even tried to vote or
    # propose again where it already had (the contract would have refused with these errors)
    log = experiment.log(2).read_text()
    assert log.count("joined") == 2
    assert "AlreadyVoted" not in log and "AlreadyProposed" not in log


def test_a_learner_that_never_starts_is_skipped_and_finalized_past(deploy: Callable[..., Experiment]) -> None:
    experiment = deploy(rounds=3, proposal_window=60, voting_window=24)
    experiment.start(0)
    experiment.start(1)  # learner 2 never starts
    assert experiment.wait_all() == {0: 0, 1: 0}
    code, report = experiment.audit("--verify")
    assert code == 0, report["discrepancies"]
    by_round = {r["round"]: r for r in report["rounds"]}
    assert by_round[2]["outcome"] == "skipped"  # learner 2 was round 2's proposer
    silent = Deployment.load(experiment.deployment).learners[2]
    summary = {s["learner"]: s for s in report["learner_summaries"]}
    assert summary[silent]["votes_cast"] == 0
    assert summary[silent]["missed_votes"] >= 1
    for record in by_round.values():
        if record["weights"] is not None:
            assert record["outcome"] in ("accepted", "rejected")  # finalized after the voting window


def test_a_corrupted_blob_is_rejected_with_the_reason_and_reported(deploy: Callable[..., Experiment]) -> None:
    experiment = deploy(rounds=2)
    experiment.start(0)  # round 0's proposer, alone at first
    client = experiment.client()
    _wait_for(
        lambda: any(isinstance(e, ev.WeightsProposed) and e.round == 0 for e in client.events()),
        timeout=120,
        what="round 0's proposal",
    )
    digest = Digest(client.round_info(0).weights)
    blob = experiment.folder / "store" / digest[:2] / digest
    blob.write_bytes(b"corrupted " + blob.read_bytes()[10:])
    experiment.start(1)
    experiment.start(2)
    assert experiment.wait_all() == {0: 0, 1: 0, 2: 0}
    code, report = experiment.audit("--verify")
    assert code == 1
    first = report["rounds"][0]
    assert first["outcome"] == "rejected"
    assert all(not v["approve"] for v in first["votes"])
    assert any(d["round"] == 0 and d["kind"] == "missing-blob" for d in report["discrepancies"])
    assert "missing or corrupt" in experiment.log(1).read_text()
