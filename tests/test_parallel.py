"""Learners in worker processes (``run --workers N``): the serial run's votes and hashes, clear failures."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from colearn_chain.cli.main import main
from colearn_chain.parallel import ProcessLearnerPool, RemoteLearner, WorkerLost
from colearn_chain.records import ExperimentResult
from colearn_chain.simulation import build_learners, make_settings, open_pool, run_simulation
from colearn_chain.weights.store import InMemoryStore

#: An aggregating strategy: every learner trains every round, so the workers share real work.
TINY = {"learners": 3, "rounds": 2, "seed": 5, "task": "breast-cancer-mlp", "strategy": "fedavg"}


def outcome(result: ExperimentResult) -> list[tuple[Any, ...]]:
    """Everything a run decided: each round's proposal, manifest, verdict, votes with scores, accuracy."""
    return [
        (r.proposer, r.weights, r.manifest, r.accepted, [(v.learner, v.approve, v.score, v.reason) for v in r.votes],
         r.test_accuracy)
        for r in result.rounds
    ]  # fmt: skip


@pytest.fixture(scope="module")
def serial() -> ExperimentResult:
    return run_simulation(make_settings(TINY), InMemoryStore(), "memory", with_centralized=False)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_serial_runs_votes_and_hashes(serial: ExperimentResult, workers: int) -> None:
    settings = make_settings(TINY)
    pool = open_pool(settings, workers)
    assert isinstance(pool, ProcessLearnerPool) and pool.workers == workers
    parallel = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False, pool=pool)
    assert len(serial.rounds) == 2 and all(r.manifest is not None for r in serial.rounds)  # fedavg aggregated
    assert outcome(parallel) == outcome(serial)
    assert parallel.final_accuracy == serial.final_accuracy


@pytest.mark.slow
def test_a_proxy_forwards_abilities_and_a_dead_worker_is_a_clear_error() -> None:
    settings = make_settings({**TINY, "learners": 2})
    local, _, _ = build_learners(settings)
    with ProcessLearnerPool(settings, 2) as pool:
        remote = pool.start()
        assert all(isinstance(r, RemoteLearner) for r in remote)
        # the aggregators' abilities and plain attributes answer as the learner in this process does
        assert [r.train_sample_count() for r in remote] == [lo.train_sample_count() for lo in local]  # type: ignore[attr-defined]
        assert remote[1].vote_criterion == local[1].vote_criterion  # type: ignore[attr-defined]
        assert not hasattr(remote[0], "no_such_ability")
        # a changing attribute is read and set where the learner lives (run --resume sets it back)
        remote[0].mli_propose_weights()
        assert remote[0].training_count == 1
        remote[0].training_count = 0
        assert remote[0].training_count == 0 and remote[1].training_count == 0
        pid = pool._executors[1].submit(os.getpid).result()  # learner 1's worker process
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerLost, match="worker process 1 holding learners stopped"):
            remote[1].mli_get_current_weights()
        assert len(remote[0].mli_get_current_weights().weights) > 0  # the other worker still serves


@pytest.mark.slow
def test_run_with_workers_on_the_chain_matches_the_serial_run(
    serial: ExperimentResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [f"--{key}={value}" for key, value in TINY.items()]
    code = main(["run", *args, "--workers", "2", "--audit", "--out", str(tmp_path / "run")])
    output = capsys.readouterr()
    assert code == 0, output.err + output.out
    rounds = json.loads((tmp_path / "run" / "results.json").read_text())["rounds"]
    assert [(r["weights"], r["accepted"], [v["approve"] for v in r["votes"]]) for r in rounds] == [
        (r.weights, r.accepted, [v.approve for v in r.votes]) for r in serial.rounds
    ]
    assert json.loads((tmp_path / "run" / "audit.json").read_text())["verified"] is True


def test_workers_below_one_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--workers", "0", "--rounds", "1", "--out", str(tmp_path / "out")])
    output = capsys.readouterr()
    assert code != 0 and "Traceback" not in output.err
    assert "colearn-chain: error: --workers must be at least 1 (got 0)" in output.err
    assert not (tmp_path / "out").exists()
