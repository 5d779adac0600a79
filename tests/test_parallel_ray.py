"""``run --ray ADDRESS``: the learners as actors on a Ray cluster (a local head on 127.0.0.1, started here)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from colearn_chain.parallel import RayLearnerPool
from colearn_chain.records import ExperimentResult
from colearn_chain.simulation import make_settings, run_simulation
from colearn_chain.weights.store import InMemoryStore
from tests.test_parallel import TINY, outcome

#: Ray replaces a loopback node address by the machine's own unless clusters are "disabled": with
#: this, the head, its raylet and its workers listen on 127.0.0.1 only (read when ray is imported).
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ray head on 127.0.0.1 with 2 CPUs, in its own process group; always stopped (and disconnected)."""
    if "ray" in sys.modules:
        raise RuntimeError("ray was imported before the loopback setting: this module must set it first")
    os.environ.update(LOOPBACK_ONLY)
    port = _free_port()
    log = tmp_path_factory.mktemp("ray") / "head.log"
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address=127.0.0.1",
        f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
    ]  # fmt: skip
    with log.open("w") as output:
        head = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **LOOPBACK_ONLY},
            start_new_session=True,
        )
    try:
        _wait_until_listening(port, head, log)
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        head.terminate()  # `ray start --block` stops what it started on SIGTERM
        try:
            head.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # its own process group: only what this fixture started
            head.wait()


def _wait_until_listening(port: int, head: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"the Ray head exited: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray head did not listen on 127.0.0.1:{port} within 90 s")


@pytest.mark.slow
def test_learners_as_ray_actors_give_the_serial_runs_votes_and_hashes(ray_head: str) -> None:
    settings = make_settings(TINY)
    serial: ExperimentResult = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False)
    pool = RayLearnerPool(settings, None, ray_head)
    assert pool.workers == 2  # one actor per CPU of the cluster
    on_ray = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False, pool=pool)
    assert outcome(on_ray) == outcome(serial)
    import ray

    assert not ray.is_initialized()  # the pool joined the cluster, so it left it when the run ended
