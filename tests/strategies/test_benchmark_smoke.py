"""benchmarks/strategies.py at a tiny size: it runs every part, and its figures mean what they say."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the benchmarks are scripts beside the package, not installed
    sys.path.insert(0, str(REPO))

from benchmarks import strategies as bench  # noqa: E402

TINY = bench.BenchConfig(learners=4, rounds=2, malicious=1)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, object], Path]:
    out = tmp_path_factory.mktemp("strategies")
    code = bench.main(
        ["--learners", "4", "--rounds", "2", "--malicious", "1", "--strategies", "round-robin", "krum",
         "--attacks", "backdoor", "--out", str(out)]
    )  # fmt: skip
    return code, json.loads((out / "strategies.json").read_text()), out


def test_main_writes_a_plot_and_every_figure(tiny_run: tuple[int, dict[str, object], Path]) -> None:
    code, figures, out = tiny_run
    assert code == 0
    plot = out / "strategies.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size < 200_000
    results = figures["results"]
    assert isinstance(results, list)
    assert [(r["strategy"], r["attack"]) for r in results] == [
        ("round-robin", None), ("krum", None),
        ("round-robin", "backdoor"), ("krum", "backdoor"),
    ]  # fmt: skip
    for r in results:
        assert len(r["accuracy"]) == 2 and all(0 <= a <= 1 for a in r["accuracy"])
        assert r["final_accuracy"] == r["accuracy"][-1]
        assert 0 <= r["backdoor_success"] <= 1
        assert len(r["backdoor_per_round"]) == 2 and r["backdoor_per_round"][-1] == r["backdoor_success"]
        assert r["malicious_accepted"] <= r["malicious_proposals"] <= 2
        assert len(r["malicious_ids"]) == (0 if r["attack"] is None else 1)
    # learner 3 is the attacker; with round-robin it proposes in round 3 only, so not within 2 rounds
    assert all(r["malicious_proposals"] == 0 for r in results)


def test_tables_render_every_strategy_and_attack(tiny_run: tuple[int, dict[str, object], Path]) -> None:
    _, figures, _ = tiny_run
    results = [bench.RunResult(**r) for r in figures["results"]]  # type: ignore[attr-defined]
    console = Console(width=200, record=True)
    console.print(bench.accuracy_table(results))
    console.print(bench.robustness_table(results, TINY))
    text = console.export_text()
    for word in (
        "round-robin",
        "krum",
        "backdoor success: final",
        "mean per round",
        "r=1",
        "r=2",
        "1 of 4 learners malicious",
    ):
        assert word in text


def test_bad_arguments_are_refused() -> None:
    assert bench.malicious_indices(bench.BenchConfig(learners=10, malicious=2)) == [8, 9]
    assert bench.main(["--strategies", "bogus", "--rounds", "1", "--learners", "3"]) == 2
    with pytest.raises(ValueError, match="malicious"):
        bench.run_one(bench.BenchConfig(learners=3, malicious=3, rounds=1), "krum", "backdoor")
    with pytest.raises(ValueError, match="unknown attack"):
        bench.run_one(bench.BenchConfig(learners=3, malicious=1, rounds=1), "krum", "bribe")
