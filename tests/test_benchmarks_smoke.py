"""Smoke tests of the benchmarks: each script's main at tiny sizes, and what its figures show."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks are scripts beside the package, not installed
    sys.path.insert(0, str(REPO))

from benchmarks import gas, overhead, throughput  # noqa: E402
from colearn_chain.errors import ColearnValueError  # noqa: E402

GAS_KEYS = {
    "n",
    "deploy",
    "deploy_per_learner",
    "marginal_per_learner",
    "propose_manifest",
    "propose_zero_manifest",
    "contribute",
    "vote_first",
    "vote_typical",
    "vote_closing",
    "vote_mean",
    "finalize",
    "skip",
    "nominate",
    "round",
    "rounds",
    "later_rounds_equal",
    "first_round_delta",
    "batch_propose",
    "batch",
    "batch_one_fewer",
    "batch_vote_marginal",
    "batch_vote_calldata",
    "batch_slope_per_learner",
    "batch_round",
    "batch_rounds",
}


@pytest.fixture(scope="module")
def gas_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    """gas.py's main at n = 3 and 10 with 2 rounds: its exit code and its JSON."""
    out = tmp_path_factory.mktemp("gas") / "gas.json"
    code = gas.main(["--sizes", "10", "3", "--rounds", "2", "--json", str(out)])
    return code, json.loads(out.read_text())


def _by_n(figures: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {size["n"]: size for size in figures["sizes"]}


def test_gas_json_has_every_figure_per_size(gas_run: tuple[int, dict[str, Any]]) -> None:
    _, figures = gas_run
    assert figures["backend"] == "eth-tester"
    assert figures["rounds"] == 2
    assert [size["n"] for size in figures["sizes"]] == [3, 10]
    for size in figures["sizes"]:
        assert set(size) == GAS_KEYS
        assert [r["round"] for r in size["rounds"]] == [0, 1]
        assert all(len(r["votes"]) == size["n"] - 1 for r in size["rounds"])
    assert {t["name"] for t in figures["targets"]} and all(
        set(t) == {"name", "measured", "limit", "passed"} for t in figures["targets"]
    )


def test_gas_targets_hold_at_ten_learners(gas_run: tuple[int, dict[str, Any]]) -> None:
    code, figures = gas_run
    ten = _by_n(figures)[10]
    assert ten["vote_mean"] <= gas.MEAN_VOTE_LIMIT == 45_000
    assert ten["propose_manifest"] <= gas.PROPOSE_LIMIT == 80_000
    assert ten["round"] <= gas.ROUND_LIMIT == 450_000
    steady = ten["rounds"][-1]
    assert ten["round"] == steady["propose"] + sum(steady["votes"])
    assert ten["vote_mean"] == pytest.approx(sum(steady["votes"]) / 9)
    assert len(figures["targets"]) == 7 and all(t["passed"] for t in figures["targets"])
    assert code == 0


def test_signed_votes_meet_their_gas_targets_and_are_flat_in_n(gas_run: tuple[int, dict[str, Any]]) -> None:
    _, figures = gas_run
    three, ten = _by_n(figures)[3], _by_n(figures)[10]
    assert ten["batch_round"] <= gas.BATCH_ROUND_LIMITS[10] == 220_000
    assert ten["batch_round"] == ten["batch_propose"] + ten["batch"]
    for size in (three, ten):
        assert size["batch_vote_marginal"] <= gas.BATCH_VOTE_LIMIT == 9_000
    assert three["batch_vote_marginal"] == ten["batch_vote_marginal"]  # calldata-normalized: exact
    # seven more entries, seven more marginal votes (within the signatures' zero bytes)
    assert abs(ten["batch_slope_per_learner"] - ten["batch_vote_marginal"]) <= 0.01 * ten["batch_vote_marginal"]
    # a batch of n - 1 votes is far cheaper than n - 1 votes one by one
    assert ten["batch_round"] < 0.55 * ten["round"]


def test_per_vote_gas_does_not_grow_with_n(gas_run: tuple[int, dict[str, Any]]) -> None:
    _, figures = gas_run
    three, ten = _by_n(figures)[3], _by_n(figures)[10]
    for key in ("vote_first", "vote_typical", "vote_closing"):
        assert abs(ten[key] - three[key]) <= 0.01 * three[key], key
    # the closing vote ends the round (summary, global model, next round), so it costs more
    assert ten["vote_closing"] > ten["vote_typical"]
    # the mean falls as n grows: one closing vote is shared by more cheap votes
    assert ten["vote_mean"] < three["vote_mean"]


def test_later_rounds_cost_the_same_and_deploy_grows_per_learner(
    gas_run: tuple[int, dict[str, Any]],
) -> None:
    _, figures = gas_run
    three, ten = _by_n(figures)[3], _by_n(figures)[10]
    for size in (three, ten):
        assert size["later_rounds_equal"] is True
        first, second = size["rounds"][0]["total"], size["rounds"][1]["total"]
        # round 0 writes the vote word for the first time (zero to non-zero: 20,000 gas instead of
        # 2,900) and saves a little calldata on its all-zero round number; nothing else differs
        assert size["first_round_delta"] == first - second
        assert 20_000 - 2_900 - 20 * size["n"] <= first - second <= 20_000 - 2_900
        assert size["deploy_per_learner"] == pytest.approx(size["deploy"] / size["n"])
        assert size["propose_zero_manifest"] < size["propose_manifest"]
    assert three["marginal_per_learner"] is None
    assert ten["marginal_per_learner"] == pytest.approx((ten["deploy"] - three["deploy"]) / 7)
    assert ten["marginal_per_learner"] > 0


def test_check_targets_fails_a_figure_over_its_limit(gas_run: tuple[int, dict[str, Any]]) -> None:
    _, figures = gas_run
    worse = copy.deepcopy(figures)
    _by_n(worse)[10]["vote_mean"] = gas.MEAN_VOTE_LIMIT + 1
    _by_n(worse)[10]["vote_typical"] = int(_by_n(worse)[3]["vote_typical"] * 1.02)
    failed = {t.name for t in gas.check_targets(worse) if not t.passed}
    assert len(failed) == 2
    assert any(name.startswith("mean vote") for name in failed)
    assert any(name.startswith("per-vote gas growth") for name in failed)
    assert gas.vote_growth(worse) == pytest.approx(0.02, abs=1e-4)


def test_gas_refuses_sizes_it_cannot_measure() -> None:
    with pytest.raises(ColearnValueError, match="at least 3"):
        gas.measure_gas([2, 10], rounds=2)
    with pytest.raises(ColearnValueError, match="at least 2"):
        gas.measure_gas([3], rounds=1)
    assert gas.main(["--sizes", "3", "--rounds", "1"]) == 2


@pytest.mark.anvil
def test_throughput_reports_both_backends_and_history(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    code = throughput.main(
        [
            "--rounds", "2", "--view-calls", "20",
            "--history-rounds", "20", "--compare-rounds", "10",
            "--json", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    figures = json.loads(out.read_text())

    measured = figures["throughput"]
    assert measured["eth_tester"]["backend"] == "eth-tester"
    assert measured["anvil"]["backend"] == "rpc"
    for backend in ("eth_tester", "anvil"):
        run = measured[backend]
        assert run["transactions"] == 2 * 10
        assert run["tx_per_second"] == pytest.approx(run["transactions"] / run["tx_seconds"])
        assert run["views_per_second"] == pytest.approx(20 / run["view_seconds"])
        assert run["events"] == 10 + 2 * (1 + 9 + 1)
    for key, ratio in measured["ratios"].items():
        assert ratio == pytest.approx(measured["anvil"][key] / measured["eth_tester"][key])

    history = figures["history"]
    assert history["transactions"] == 20 * 3
    assert history["prefix"]["events"] == 3 + 10 * 4
    assert history["full"]["events"] == 3 + 20 * 4
    # the client reads py-evm's blocks once; eth-tester's get_logs re-finds every receipt
    assert history["prefix"]["speedup"] > 1


def test_throughput_refuses_a_prefix_longer_than_the_history() -> None:
    with pytest.raises(ColearnValueError, match="compare-rounds"):
        throughput.measure_history(history_rounds=5, compare_rounds=10)
    assert throughput.main(["--history-rounds", "5", "--compare-rounds", "10"]) == 2


def test_overhead_compares_three_drivers_that_cast_the_same_votes(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    code = overhead.main(["--learners", "3", "--rounds", "2", "--repeats", "2", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert code == 0 and figures["identical_outcomes"] and figures["seed_loop_same_votes"]
    assert figures["repeats"] == 2
    for key in ("seed_loop_seconds", "memory_seconds", "chain_seconds"):
        assert figures[key] > 0
    assert figures["chain_vs_seed_loop"] == pytest.approx(figures["chain_seconds"] / figures["seed_loop_seconds"])
    assert figures["memory_vs_seed_loop"] == pytest.approx(figures["memory_seconds"] / figures["seed_loop_seconds"])


@pytest.mark.slow
def test_overhead_workers_mode_casts_the_serial_runs_votes(tmp_path: Path) -> None:
    out = tmp_path / "workers.json"
    args = ["--workers", "2", "--learners", "2", "--rounds", "1", "--task", "breast-cancer-mlp", "--strategy", "fedavg"]
    code = overhead.main([*args, "--json", str(out)])
    figures = json.loads(out.read_text())
    assert code == 0 and figures["identical_outcomes"] and figures["workers"] == 2
    assert figures["speedup"] == pytest.approx(figures["serial_seconds"] / figures["workers_seconds"])
    assert figures["workers_play_seconds"] <= figures["workers_seconds"]


@pytest.mark.slow
@pytest.mark.anvil
def test_overhead_on_anvil_casts_the_same_votes(tmp_path: Path) -> None:
    out = tmp_path / "anvil.json"
    code = overhead.main(["--learners", "3", "--rounds", "1", "--anvil", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert code == 0 and figures["anvil_same_outcomes"] is True
    assert figures["anvil_vs_seed_loop"] == pytest.approx(figures["anvil_seconds"] / figures["seed_loop_seconds"])
