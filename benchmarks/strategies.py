"""Proposal strategies compared: accuracy per round, and robustness to malicious learners, in one run.

Every strategy (round-robin voting and each aggregator) plays the same experiment: the same
task, learners, partition and seed. First with everyone honest, for the accuracy per round of
each strategy (one plot, one table); then with some learners malicious (the last ones, by
default 2 of 10), once per attack: label flipping, sign flipping of the update scaled by 4, and
a 4-pixel backdoor trigger mapping to class 0, the malicious learners colluding as voters
(they approve each other's models). For each it reports the clean accuracy of the final
global model on held-out data and the backdoor's success rate (the share of held-out inputs
not of class 0 that, stamped with the trigger, the final model sends to class 0).

The rounds are decided by the in-memory ledger, which has the chain's exact semantics (the
same votes and accepted hashes for the same seed: ``tests/test_experiment.py`` proves it), so
the figures hold on the chain; only the time differs.

    python benchmarks/strategies.py                          # 10 learners, Dirichlet(0.3), 30 rounds
    python benchmarks/strategies.py --workers 2 --out /tmp/strategies
    python benchmarks/strategies.py --learners 4 --rounds 2 --malicious 1 --strategies fedavg median
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from colearn_chain.chain.accounts import generated_accounts
from colearn_chain.errors import ColearnValueError
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.interface import MachineLearningInterface, Weights
from colearn_chain.ledger import InMemoryLedger
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import STRATEGIES, make_strategy
from colearn_chain.weights.store import InMemoryStore

#: Every strategy the benchmark compares, round-robin voting first.
ALL_STRATEGIES: tuple[str, ...] = (
    "round-robin", "fedavg", "weighted", "evolutionary", "attention", "median", "trimmed-mean", "krum", "multi-krum",
)  # fmt: skip
#: The attacks of the robustness table (see learners.malicious).
ALL_ATTACKS: tuple[str, ...] = ("label-flip", "sign-flip", "backdoor")


@dataclass(frozen=True)
class BenchConfig:
    """The experiment every strategy plays."""

    learners: int = 10
    rounds: int = 30
    partition: str = "dirichlet:0.3"
    seed: int = 0
    malicious: int = 2
    task: str = "digits-mlp"
    threshold: float = 0.5


@dataclass
class RunResult:
    """One strategy under one attack (``attack`` None: everyone honest).

    ``backdoor_success`` is the final global model's; ``backdoor_per_round`` the global model's
    after each round, so its mean is the share of the experiment the backdoor was live.
    ``malicious_proposals`` counts rounds proposed by a malicious learner (under an aggregator
    such a proposer still aggregates honestly: a dishonest aggregate fails ``audit --verify``).
    """

    strategy: str
    attack: str | None
    accuracy: list[float]
    final_accuracy: float
    backdoor_success: float
    accepted: int
    malicious_proposals: int
    malicious_accepted: int
    seconds: float
    backdoor_per_round: list[float] = field(default_factory=list)
    malicious_ids: list[str] = field(default_factory=list)


def malicious_indices(config: BenchConfig) -> list[int]:
    """Which learners attack: the last ``config.malicious`` ones."""
    return list(range(config.learners - config.malicious, config.learners))


def run_one(config: BenchConfig, strategy: str, attack: str | None) -> RunResult:
    """Play one experiment to the end and measure it.

    Raises
    ------
    ColearnValueError
        For an unknown strategy or attack, or more malicious learners than learners.
    """
    from learners.malicious import ATTACKS, Collusion, MaliciousLearner, triggered_set
    from learners.tasks import get_task
    from learners.torch_learner import TorchLearner

    if attack is not None and attack not in ATTACKS:
        raise ColearnValueError(f"unknown attack {attack!r}: choose from {', '.join(ATTACKS)}")
    if not 0 <= config.malicious < config.learners:
        raise ColearnValueError(f"--malicious must be in [0, {config.learners}), got {config.malicious}")
    started = time.perf_counter()
    settings = make_settings(
        learners=config.learners, rounds=config.rounds, partition=config.partition, seed=config.seed,
        task=config.task, strategy=strategy, threshold=config.threshold,
    )  # fmt: skip
    built, evaluate, _ = build_learners(settings)
    task = get_task(config.task)
    learners: list[MachineLearningInterface] = list(built)
    bad = malicious_indices(config) if attack is not None else []
    collusion = Collusion()
    for index in bad:
        honest = built[index]
        if not isinstance(honest, TorchLearner):
            raise ColearnValueError(f"the attacks poison built-in torch learners; learner {index} is {type(honest)}")
        learners[index] = MaliciousLearner(
            honest,
            attack,  # type: ignore[arg-type]
            num_classes=task.load().num_classes,
            collusion=collusion,
            seed=config.seed + index,
        )
    store = InMemoryStore()
    strategy_obj = make_strategy(strategy, {})
    initial = publish_initial_model(learners, store)
    ids = [a.address for a in generated_accounts(len(learners), seed=config.seed)]
    ledger = InMemoryLedger(ids, config.threshold, initial, selector_mode=strategy_obj.nominates)
    experiment = Experiment(learners, ledger, store, strategy_obj, initial, evaluate, config.seed)
    triggered = triggered_set(task.holdout(config.seed))
    success: dict[str, float] = {}

    def backdoor_success() -> float:
        digest = experiment.global_digest
        if digest not in success:
            success[digest] = task.evaluate(Weights(weights=store.get(digest)), triggered)
        return success[digest]

    per_round: list[float] = []
    history = experiment.run(config.rounds, lambda _record: per_round.append(backdoor_success()))
    bad_ids = {ids[i] for i in bad}
    return RunResult(
        strategy=strategy,
        attack=attack,
        accuracy=[float(r.test_accuracy or 0.0) for r in history],
        final_accuracy=float(experiment.global_accuracy() or 0.0),
        backdoor_success=backdoor_success(),
        backdoor_per_round=per_round,
        accepted=sum(r.accepted for r in history),
        malicious_proposals=sum(r.proposer in bad_ids for r in history),
        malicious_accepted=sum(r.proposer in bad_ids and r.accepted for r in history),
        seconds=time.perf_counter() - started,
        malicious_ids=sorted(bad_ids),
    )


def _run_job(job: tuple[BenchConfig, str, str | None]) -> RunResult:
    return run_one(*job)


def run_all(
    config: BenchConfig,
    strategies: Sequence[str] = ALL_STRATEGIES,
    attacks: Sequence[str] = ALL_ATTACKS,
    workers: int = 1,
) -> list[RunResult]:
    """Every strategy honest, then under every attack; ``workers`` processes play them in parallel."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ColearnValueError(f"unknown strategies {unknown}: choose from {', '.join(ALL_STRATEGIES)}")
    jobs: list[tuple[BenchConfig, str, str | None]] = [(config, s, None) for s in strategies]
    jobs += [(config, s, a) for a in attacks for s in strategies]
    if workers <= 1:
        return [_run_job(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_run_job, jobs))


# ----------------------------------------------------------------- reporting
def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def accuracy_table(results: Sequence[RunResult]) -> Table:
    """Held-out accuracy after rounds 1, 5, 10, ..., and accepted rounds, everyone honest."""
    honest = [r for r in results if r.attack is None]
    rounds = len(honest[0].accuracy) if honest else 0
    marks = sorted({1, *range(5, rounds + 1, 5), rounds} - {0})
    table = Table(title="accuracy (%) on held-out data after round r, everyone honest")
    table.add_column("strategy")
    for mark in marks:
        table.add_column(f"r={mark}", justify="right")
    table.add_column("accepted", justify="right")
    for r in honest:
        table.add_row(r.strategy, *(_pct(r.accuracy[m - 1]) for m in marks), f"{r.accepted}/{len(r.accuracy)}")
    return table


def robustness_table(results: Sequence[RunResult], config: BenchConfig) -> Table:
    """Final clean accuracy per attack, and the backdoor's success rate, per strategy."""
    by_key = {(r.strategy, r.attack): r for r in results}
    strategies = list(dict.fromkeys(r.strategy for r in results))
    attacks = list(dict.fromkeys(r.attack for r in results if r.attack is not None))
    title = f"robustness: {config.malicious} of {config.learners} learners malicious (clean accuracy %, backdoor %)"
    table = Table(title=title)
    table.add_column("strategy")
    table.add_column("honest", justify="right")
    for attack in attacks:
        table.add_column(attack, justify="right")
    if "backdoor" in attacks:
        table.add_column("backdoor success: final", justify="right")
        table.add_column("mean per round", justify="right")
        table.add_column("honest baseline", justify="right")
    for strategy in strategies:
        honest = by_key.get((strategy, None))
        row = [strategy, _pct(honest.final_accuracy if honest else None)]
        row += [_pct(by_key[(strategy, a)].final_accuracy if (strategy, a) in by_key else None) for a in attacks]
        if "backdoor" in attacks:
            backdoor = by_key.get((strategy, "backdoor"))
            row.append(_pct(backdoor.backdoor_success if backdoor else None))
            row.append(_pct(_mean(backdoor.backdoor_per_round) if backdoor else None))
            row.append(_pct(honest.backdoor_success if honest else None))
        table.add_row(*row)
    return table


def plot_accuracy(results: Sequence[RunResult], path: Path, config: BenchConfig) -> Path:
    """One plot: held-out accuracy per round for every strategy, everyone honest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for r in (r for r in results if r.attack is None):
        style = "--" if r.strategy == "round-robin" else "-"
        ax.plot(range(1, len(r.accuracy) + 1), r.accuracy, style, label=r.strategy, linewidth=1.4)
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy on held-out data")
    ax.set_title(f"{config.task}, {config.learners} learners, {config.partition}: strategies compared")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3, loc="center right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = BenchConfig()
    parser.add_argument("--learners", type=int, default=defaults.learners)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--partition", default=defaults.partition)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--malicious", type=int, default=defaults.malicious)
    parser.add_argument("--task", default=defaults.task)
    parser.add_argument("--strategies", nargs="+", default=list(ALL_STRATEGIES))
    parser.add_argument("--attacks", nargs="*", default=list(ALL_ATTACKS))
    parser.add_argument("--workers", type=int, default=1, help="processes playing experiments in parallel")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where the plot and JSON go")
    args = parser.parse_args(argv)
    config = replace(
        defaults, learners=args.learners, rounds=args.rounds, partition=args.partition, seed=args.seed,
        malicious=args.malicious, task=args.task,
    )  # fmt: skip
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        results = run_all(config, args.strategies, args.attacks, args.workers)
    except ColearnValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    console.print(accuracy_table(results))
    if args.attacks:
        console.print(robustness_table(results, config))
    plot = plot_accuracy(results, args.out / "strategies.png", config)
    data = {"config": asdict(config), "results": [asdict(r) for r in results]}
    (args.out / "strategies.json").write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"plot: {plot}; figures: {args.out / 'strategies.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
