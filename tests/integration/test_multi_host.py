"""Participants on separate hosts (Linux network namespaces): nothing shared but a node and a bucket.

One host runs Anvil and an S3-compatible server (moto); a coordinator host deploys; each of the
three learners runs on a host of its own with its own folder (keystore, private data, a copy of
the deployment file) and reaches the others only through the network, the store being an
``s3://`` URL. During the experiment one learner is killed and restarted on its host, and
another host's link is cut for several seconds; afterwards an auditor host, with its own copy
of the deployment file, checks everything with ``audit --verify``. The namespaces are removed
whatever happens (the fixture's finalizer). Needs root, as CI runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, save_keystore
from colearn_chain.chain.anvil import anvil_executable
from learners.data import load_sklearn_dataset
from tests.weights.s3_server import s3_environment

from .netns import Host, NetnsUnavailable, Network, check_netns_available
from .test_participants import BLOCK_TIME, PASSWORD, _voters_are_unique

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

ROUNDS = 4
NODE_PORT = 8545
S3_PORT = 5000
BUCKET = "consortium"
#: Exits 0 once a TCP connection to argv[1]:argv[2] opens (run on a host, to see what it reaches).
PROBE = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()"
#: A learner's log line of an action: ``05:55:34 round 1: voted ...``, ``05:55:59 adopted ...``.
ACTION = re.compile(r"^\d\d:\d\d:\d\d (round \d+:|adopted )")
#: The project's checkout: every host runs this code (installed software, not shared data).
PROJECT = Path(__file__).resolve().parents[2]
#: How long the learner's link stays down: well past one poll, well under --max-outage (60 s).
CUT_SECONDS = 6.0


@pytest.fixture
def network() -> Iterator[Network]:
    """A private switch for the test's hosts; every namespace is deleted afterwards, even on failure."""
    try:
        check_netns_available()
    except NetnsUnavailable as exc:
        pytest.skip(f"no network namespaces here: {exc}")
    net = Network()
    try:
        yield net
    finally:
        net.close()
        assert net.leftovers() == []


@pytest.fixture
def aws_env(tmp_path: Path) -> Iterator[None]:
    """Fake AWS credentials in the environment (inherited by every host's processes), nothing real."""
    with s3_environment(tmp_path):
        yield


def _host_env(folder: Path, **extra: str) -> dict[str, str]:
    """A participant's environment: its own home and AWS config files, nothing in a shared folder."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "aws-config"
    empty.write_text("")
    return {
        **os.environ, "HOME": str(folder), "TMPDIR": str(folder), "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty), "COLEARN_CHAIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT), **extra,
    }  # fmt: skip


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "colearn_chain.cli.main", *args]


def _wait_showing_logs(
    condition: Callable[[], bool], timeout: float, what: str, processes: dict[int, subprocess.Popen[bytes]],
    logs: list[Path],
) -> None:
    """Until ``condition``; fails at once (with the learners' logs) if a learner exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if any(process.poll() is not None for process in processes.values()):
            break
        time.sleep(0.2)
    shown = "\n".join(f"--- {log.parent.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"gave up waiting for {what}\n{shown}")


def _wait_listening(prober: Host, address: str, port: int, env: dict[str, str], timeout: float = 60.0) -> None:
    """Until ``prober`` can open a TCP connection to ``address:port`` (a service has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prober.run([sys.executable, "-S", "-c", PROBE, address, str(port)], env, timeout=10).returncode == 0:
            return
        time.sleep(0.2)
    pytest.fail(f"nothing listened on {address}:{port} within {timeout:.0f} s")


def _private_shards(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Disjoint shards of the digits data: each learner's own, never seen by another."""
    digits = load_sklearn_dataset("digits")
    order = np.random.default_rng(11).permutation(len(digits.y))
    return [(digits.x[part], digits.y[part]) for part in np.array_split(order, count)]


def _log_has(log: Path, text: str, times: int = 1) -> bool:
    return log.exists() and log.read_text().count(text) >= times


def _actions(log: Path) -> int:
    """The rounds' actions a learner has logged so far (proposals, votes, adoptions...)."""
    return sum(bool(ACTION.match(line)) for line in log.read_text().splitlines())


def test_learners_on_separate_hosts_survive_a_restart_and_a_cut_link_and_the_audit_agrees(
    network: Network, aws_env: None, tmp_path: Path
) -> None:
    hub = network.add_host("hub")
    coordinator = network.add_host("coord")
    learner_hosts = [network.add_host(f"learner{i}") for i in range(3)]
    auditor = network.add_host("auditor")
    node_url = f"http://{hub.address}:{NODE_PORT}"
    s3_url = f"http://{hub.address}:{S3_PORT}"

    # the hub: a node (an empty block every 0.25 s, as `colearn-chain node` does every second) and S3
    hub_env = _host_env(tmp_path / "hub")
    hub.popen([str(anvil_executable()), "--host", hub.address, "--port", str(NODE_PORT), "--block-time",
               str(BLOCK_TIME), "--mixed-mining", "--silent"], tmp_path / "hub" / "anvil.log", hub_env)  # fmt: skip
    hub.popen([sys.executable, "-m", "moto.server", "-H", hub.address, "-p", str(S3_PORT)],
              tmp_path / "hub" / "moto.log", hub_env)  # fmt: skip

    # the coordinator makes the bucket and deploys; learners only ever get a copy of its file
    coord_dir = tmp_path / "coordinator"
    coord_env = _host_env(coord_dir)
    _wait_listening(coordinator, hub.address, NODE_PORT, coord_env)
    _wait_listening(coordinator, hub.address, S3_PORT, coord_env)
    make_bucket = (
        "import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1')"
        ".create_bucket(Bucket=sys.argv[2])"
    )
    made = coordinator.run([sys.executable, "-c", make_bucket, s3_url, BUCKET], coord_env)
    assert made.returncode == 0, made.stderr.decode()

    folders = [tmp_path / f"learner{i}" for i in range(3)]
    keystores = []
    for folder, account, (x, y) in zip(folders, generated_accounts(3, seed=21), _private_shards(3), strict=True):
        folder.mkdir()
        keystores.append(save_keystore(account, folder / "key.json", PASSWORD, light=True))
        np.savez(folder / "data.npz", x=x, y=y)
    deployer = save_keystore(anvil_dev_accounts(1)[0], coord_dir / "deployer.json", PASSWORD, light=True)
    addresses = ",".join(json.loads(k.read_text())["address"] for k in keystores)
    deployed = coordinator.run(_cli(
        "deploy", "--rpc", node_url, "--account", str(deployer), "--learners", addresses,
        "--store", f"s3://{BUCKET}/exp", "--store-endpoint", s3_url, "--rounds", str(ROUNDS),
        "--proposal-window", "0", "--voting-window", "0", "--fund", "1", "--out", str(coord_dir / "deployment.json"),
    ), coord_env)  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr.decode()
    for folder in folders:
        shutil.copy(coord_dir / "deployment.json", folder / "deployment.json")

    logs = [folder / "learner.log" for folder in folders]
    envs = [_host_env(folder) for folder in folders]
    processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(index: int) -> None:
        command = _cli("learner", "--deployment", "deployment.json", "--account", "key.json", "--data", "data.npz",
                       "--store-endpoint", s3_url, "--poll", "0.1")  # fmt: skip
        processes[index] = learner_hosts[index].popen(command, logs[index], envs[index], cwd=folders[index])

    for index in range(3):
        start(index)

    # learner 2's host: the process dies after its first vote and is started again
    _wait_showing_logs(lambda: _log_has(logs[2], ": voted"), 150, "learner 2's first vote", processes, logs)
    processes[2].send_signal(signal.SIGKILL)
    processes[2].wait(timeout=10)
    start(2)
    _wait_showing_logs(lambda: _log_has(logs[2], "joined", times=2), 60, "learner 2's restart", processes, logs)

    # learner 1's host loses its link while rounds are still to be played (learner 2 proposes round 2)
    assert not _log_has(logs[1], "experiment finished")
    learner_hosts[1].cut_link()
    cut_at = time.monotonic()
    unplugged = learner_hosts[1].run([sys.executable, "-S", "-c", PROBE, hub.address, str(NODE_PORT)], envs[1])
    assert unplugged.returncode != 0  # the hub really is out of reach from there
    time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
    learner_hosts[1].restore_link()
    actions_before = _actions(logs[1])

    deadline = time.monotonic() + 150
    for index, process in processes.items():
        try:
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"learner {index} did not finish; its log:\n{logs[index].read_text()[-3000:]}")
        assert code == 0, logs[index].read_text()[-3000:]

    # the cut learner carried on once plugged back in (TCP retransmits over a short cut; a longer
    # one fails requests, retried with "node unreachable" up to --max-outage)
    assert _actions(logs[1]) > actions_before
    restarted_log = logs[2].read_text()
    assert "AlreadyVoted" not in restarted_log and "AlreadyProposed" not in restarted_log

    # an auditor elsewhere, with its own copy of the file and the endpoint from AWS's own setting
    audit_dir = tmp_path / "auditor"
    audit_env = _host_env(audit_dir, AWS_ENDPOINT_URL=s3_url)
    shutil.copy(coord_dir / "deployment.json", audit_dir / "deployment.json")
    audited = auditor.run(_cli("audit", "--deployment", str(audit_dir / "deployment.json"), "--verify",
                               "--format", "json"), audit_env)  # fmt: skip
    report = json.loads(audited.stdout)
    assert audited.returncode == 0, report["discrepancies"]
    assert report["verified"] is True and report["discrepancies"] == []
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == list(range(ROUNDS))
    for record in rounds:
        assert record["weights"] is not None  # no deadlines: every round was proposed...
        assert record["outcome"] in ("accepted", "rejected")
        assert len(record["votes"]) == 2  # ...and voted on by both others, the restarted and the cut one too
    _voters_are_unique(report)
