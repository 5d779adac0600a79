"""Homogeneous Learning's table on digits: rounds and communication cost to the goal, RL vs random.

Ten learners hold the dominant-class split (80% of one class each); every round one of them
is nominated and trains the global model on its own data. In Homogeneous Learning's setting
(``--setting hl``, the default) its update becomes the global model (plain local training, no
damping, every valid proposal approved); in the platform's (``--setting platform``) the
update is damped, trained with a class-balanced loss and put to the others' vote. Three selectors
nominate: the trained RL policy, uniformly random selection (the paper's baseline) and
round-robin. Each plays the same evaluation experiments (seeds no training episode used)
until the global model reaches the goal accuracy on the holdout, and we count the rounds
and the communication cost (the sum of ``cost[prev][next]`` over the nominations, with the
policy's random symmetric cost matrix in [0, 0.1)). The paper reports 50.8% fewer rounds
and 74.6% less cost than random; this prints what we measure, met or not.

The policy is read from ``--policy`` (default ``benchmarks/results/selector_policy.onnx``) or,
with ``--retrain`` or when the file is missing, trained first and written there, its learning
curve beside it.

    python benchmarks/selector.py                                  # HL setting, evaluation seeds 0:50
    python benchmarks/selector.py --setting platform               # the platform's voting setting
    python benchmarks/selector.py --seeds 50:100 --json out.json   # any other evaluation seeds
    python benchmarks/selector.py --retrain                        # rebuild the committed policy (hash checked)
    python benchmarks/selector.py --eval-seeds 3 --train-episodes 2 --policy /tmp/p.onnx --retrain  # quick

Evaluation seed ``k`` is experiment seed ``2**32 + k``: no training episode uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

from colearn_chain.errors import ColearnValueError
from colearn_chain.selector_training.dqn import DQNSettings
from colearn_chain.selector_training.environment import EnvironmentSettings, SelectionEnvironment
from colearn_chain.selector_training.train import (
    EpisodeStats,
    TrainSettings,
    evaluation_seeds,
    train_selector,
    training_seeds,
)
from colearn_chain.strategies.rl.policy import SelectorPolicy
from colearn_chain.strategies.selectors import RandomSelector, RLSelector

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POLICY = RESULTS / "selector_policy.onnx"
#: The paper's reductions against random selection, in percent.
PAPER_ROUNDS_REDUCTION = 50.8
PAPER_COST_REDUCTION = 74.6
#: The committed policy's training: ``--retrain`` with these settings must rebuild it byte for byte.
COMMITTED_TRAINING = {"train_episodes": 120, "train_seed": 0, "network": "shared", "learners": 10, "goal": 0.8}
#: sha256 of ``benchmarks/results/selector_policy.onnx``.
COMMITTED_POLICY_SHA256 = "662db8042f781c841a3728b934eb40e68c16e168fa851c11070b3ee735fb3931"
#: The setting the committed policy is trained in, and its exploration schedule.
COMMITTED_SETTING = "hl"
COMMITTED_EPSILON_DECAY = 0.04

#: A selector: given the environment (its next round's public context), the learner to nominate.
Chooser = Callable[[SelectionEnvironment], int]


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation experiment under one selector."""

    seed: int
    rounds: int
    reached_goal: bool
    cost: float
    final_accuracy: float
    proposers: list[int]


@dataclass(frozen=True)
class Summary:
    """A selector's results over every evaluation seed (rounds of unfinished runs count as the cap)."""

    selector: str
    runs: int
    reached_goal: int
    rounds_mean: float
    rounds_std: float
    rounds_median: float
    cost_mean: float
    cost_std: float
    cost_per_round: float


def choosers(policy: SelectorPolicy) -> dict[str, Chooser]:
    """The three selectors, each through the code path a real run uses."""
    rl, random = RLSelector(policy=policy), RandomSelector()
    return {
        "rl": lambda env: rl.nominate(env.context()),
        "random": lambda env: random.nominate(env.context()),
        # round-robin leaves the nomination to the ledger, which picks round mod n
        "round-robin": lambda env: env.context().round % env.settings.learners,
    }


def play(env: SelectionEnvironment, choose: Chooser, seed: int, max_rounds: int) -> EpisodeResult:
    """One experiment from ``seed`` until the goal or ``max_rounds`` rounds."""
    env.reset(seed)
    step = None
    for _ in range(max_rounds):
        step = env.step(choose(env))
        if step.done:
            break
    assert step is not None
    return EpisodeResult(seed, len(env.proposers), step.done, sum(_costs(env)), step.accuracy, list(env.proposers))


def _costs(env: SelectionEnvironment) -> Iterator[float]:
    for prev, nxt in zip(env.proposers[:-1], env.proposers[1:], strict=True):
        yield float(env.cost[prev, nxt])


def usable_evaluation_seeds(env: SelectionEnvironment, chosen: range, excluded: set[int]) -> list[int]:
    """The experiment seeds of evaluation seeds ``chosen`` that the data split can serve.

    Evaluation seed ``k`` is experiment seed ``EVALUATION_SEED_BASE + k``, never a training seed.
    """
    seeds: list[int] = []
    for seed in evaluation_seeds(chosen.stop)[chosen.start :]:
        if seed in excluded:
            raise ColearnValueError(f"evaluation seed {seed} was a training seed")
        try:
            env.reset(seed)
        except ColearnValueError:
            continue  # the split cannot serve this seed (skipped alike for every selector)
        seeds.append(seed)
    if not seeds:
        raise ColearnValueError(f"the data split serves none of the evaluation seeds {chosen.start}:{chosen.stop}")
    return seeds


def summarize(name: str, results: list[EpisodeResult]) -> Summary:
    rounds = np.array([r.rounds for r in results], dtype=float)
    cost = np.array([r.cost for r in results])
    return Summary(
        selector=name,
        runs=len(results),
        reached_goal=sum(r.reached_goal for r in results),
        rounds_mean=float(rounds.mean()),
        rounds_std=float(rounds.std(ddof=1)) if len(results) > 1 else 0.0,
        rounds_median=float(np.median(rounds)),
        cost_mean=float(cost.mean()),
        cost_std=float(cost.std(ddof=1)) if len(results) > 1 else 0.0,
        cost_per_round=float(cost.sum() / max(1.0, (rounds - 1).sum())),
    )


def reduction(selector: Summary, baseline: Summary) -> tuple[float, float]:
    """Percent fewer rounds and less cost than ``baseline`` (negative: more)."""
    rounds = 100 * (1 - selector.rounds_mean / baseline.rounds_mean)
    cost = 100 * (1 - selector.cost_mean / baseline.cost_mean) if baseline.cost_mean > 0 else 0.0
    return rounds, cost


@dataclass(frozen=True)
class Paired:
    """The selector against a baseline on the same seeds: per-seed differences (selector minus baseline).

    ``*_ci95`` is the 95% t-interval of the mean difference; ``fewer_rounds`` and ``less_cost``
    count the seeds on which the selector did strictly better.
    """

    rounds_diff_mean: float
    rounds_diff_std: float
    rounds_ci95: tuple[float, float]
    fewer_rounds: int
    cost_diff_mean: float
    cost_diff_std: float
    cost_ci95: tuple[float, float]
    less_cost: int
    seeds: int


def _interval(diffs: np.ndarray) -> tuple[float, float]:
    """The 95% t-interval of the mean of ``diffs`` (a point with fewer than two values)."""
    mean = float(diffs.mean())
    if len(diffs) < 2:
        return mean, mean
    from scipy import stats

    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs)))
    return mean - half, mean + half


def paired(selector: list[EpisodeResult], baseline: list[EpisodeResult]) -> Paired:
    """Per-seed differences: the seeds are shared, so these are free of between-seed spread."""
    rounds = np.array([a.rounds - b.rounds for a, b in zip(selector, baseline, strict=True)], dtype=float)
    cost = np.array([a.cost - b.cost for a, b in zip(selector, baseline, strict=True)])
    spread = 1 if len(rounds) > 1 else 0
    return Paired(
        rounds_diff_mean=float(rounds.mean()),
        rounds_diff_std=float(rounds.std(ddof=spread)),
        rounds_ci95=_interval(rounds),
        fewer_rounds=int((rounds < 0).sum()),
        cost_diff_mean=float(cost.mean()),
        cost_diff_std=float(cost.std(ddof=spread)),
        cost_ci95=_interval(cost),
        less_cost=int((cost < 0).sum()),
        seeds=len(rounds),
    )


def describe(versus: Paired, baseline: str) -> str:
    """One line of paired statistics against ``baseline``."""
    (r_lo, r_hi), (c_lo, c_hi) = versus.rounds_ci95, versus.cost_ci95
    return (
        f"paired by seed, RL minus {baseline}: {versus.rounds_diff_mean:+.2f} rounds (95% CI {r_lo:+.2f} to "
        f"{r_hi:+.2f}; fewer on {versus.fewer_rounds}/{versus.seeds} seeds), {versus.cost_diff_mean:+.3f} cost "
        f"(95% CI {c_lo:+.3f} to {c_hi:+.3f}; less on {versus.less_cost}/{versus.seeds})"
    )


def render(summaries: dict[str, Summary], goal: float, max_rounds: int) -> Table:
    table = Table(title=f"rounds and communication cost to {100 * goal:.0f}% accuracy (cap {max_rounds} rounds)")
    for column in ("selector", "reached", "rounds mean ± sd", "median", "cost mean ± sd", "cost/hand-over"):
        table.add_column(column, justify="left" if column == "selector" else "right")
    table.add_column("vs random: rounds, cost", justify="right")
    for name, s in summaries.items():
        rounds, cost = reduction(s, summaries["random"])
        versus = "-" if name == "random" else f"{rounds:+.1f}% fewer, {cost:+.1f}% less"
        table.add_row(
            name,
            f"{s.reached_goal}/{s.runs}",
            f"{s.rounds_mean:.1f} ± {s.rounds_std:.1f}",
            f"{s.rounds_median:.0f}",
            f"{s.cost_mean:.3f} ± {s.cost_std:.3f}",
            f"{s.cost_per_round:.4f}",
            versus,
        )
    return table


def plot(results: dict[str, list[EpisodeResult]], path: Path, goal: float) -> Path:
    """Box plots of rounds and cost per selector, every seed as a dot."""
    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=120)
    for ax, key, label in ((axes[0], "rounds", "rounds to the goal"), (axes[1], "cost", "communication cost")):
        data = [[getattr(r, key) for r in results[name]] for name in names]
        ax.boxplot(data, tick_labels=names, showmeans=True)
        for i, values in enumerate(data, start=1):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, len(values))
            ax.scatter(np.full(len(values), i) + jitter, values, s=8, alpha=0.5, color="tab:gray")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"RL node selector vs random vs round-robin (digits, dominant split, goal {100 * goal:.0f}%)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def is_committed_training(args: argparse.Namespace) -> bool:
    """Whether ``args`` train the committed policy (so the result must match its hash)."""
    given = {key: getattr(args, key) for key in COMMITTED_TRAINING}
    return (
        given == COMMITTED_TRAINING
        and args.train_setting == COMMITTED_SETTING
        and args.epsilon_decay == COMMITTED_EPSILON_DECAY
    )


def get_policy(args: argparse.Namespace, environment: EnvironmentSettings, console: Console) -> SelectorPolicy:
    if args.policy.exists() and not args.retrain:
        console.print(f"policy: {args.policy} (pass --retrain to train it again)")
        return SelectorPolicy.load(args.policy)
    console.print(
        f"training the {args.network} policy: {args.train_episodes} episodes, seed {args.train_seed}, "
        f"{args.train_setting} setting..."
    )
    started = time.monotonic()

    def show(e: EpisodeStats) -> None:
        console.print(f"  episode {e.episode}: {e.rounds} rounds, cost {e.cost:.3f}, epsilon {e.epsilon:.2f}")

    result = train_selector(
        TrainSettings(
            episodes=args.train_episodes,
            seed=args.train_seed,
            environment=environment,
            dqn=dataclasses.replace(DQNSettings.named(args.network), epsilon_decay=args.epsilon_decay),
        ),
        on_episode=show if args.verbose else None,
    )
    digest = hashlib.sha256(result.policy.to_bytes()).hexdigest()
    if is_committed_training(args):
        if digest != COMMITTED_POLICY_SHA256:
            raise ColearnValueError(
                f"the retrained policy's sha256 is {digest}, the committed policy's {COMMITTED_POLICY_SHA256}: "
                "training is not reproducible here"
            )
        console.print(f"rebuilt the committed policy byte for byte (sha256 {digest})")
    result.policy.save(args.policy)
    result.write_curve(args.policy.with_name(args.policy.stem + "-learning-curve.json"))
    from colearn_chain.selector_training.plots import plot_learning_curve

    plot_learning_curve(result.episodes, args.policy.with_name(args.policy.stem + "-learning-curve.png"))
    console.print(f"trained in {time.monotonic() - started:.0f} s, written to {args.policy}")
    return result.policy


def parse_seeds(text: str) -> range:
    """``A:B`` as the evaluation seeds A, A+1, ..., B-1."""
    first, sep, last = text.partition(":")
    try:
        seeds = range(int(first), int(last)) if sep else range(0)
    except ValueError:
        seeds = range(0)
    if not seeds or seeds.start < 0:
        raise ColearnValueError(f"--seeds {text!r}: expected A:B with 0 <= A < B")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--retrain", action="store_true", help="train the policy even if --policy exists")
    parser.add_argument("--train-episodes", type=int, default=COMMITTED_TRAINING["train_episodes"])
    parser.add_argument("--train-seed", type=int, default=COMMITTED_TRAINING["train_seed"])
    parser.add_argument("--train-setting", default=COMMITTED_SETTING, help="the setting training episodes play")
    parser.add_argument("--epsilon-decay", type=float, default=COMMITTED_EPSILON_DECAY)
    parser.add_argument("--network", default="shared", help="shared | paper (the paper's 500-200 MLP)")
    parser.add_argument("--setting", default="hl", help="hl (Homogeneous Learning's, default) | platform")
    parser.add_argument("--seeds", help="evaluation seeds A:B (default 0:EVAL_SEEDS)")
    parser.add_argument("--eval-seeds", type=int, default=50, help="evaluation experiments, when --seeds is not given")
    parser.add_argument("--max-rounds", type=int, default=60, help="evaluation cap on rounds per experiment")
    parser.add_argument("--learners", type=int, default=COMMITTED_TRAINING["learners"])
    parser.add_argument("--goal", type=float, default=COMMITTED_TRAINING["goal"])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--plot", type=Path, default=RESULTS / "selector.png")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=140)
    try:
        chosen = parse_seeds(args.seeds) if args.seeds else range(args.eval_seeds)
        training = EnvironmentSettings(learners=args.learners, goal=args.goal, setting=args.train_setting)
        environment = EnvironmentSettings(learners=args.learners, goal=args.goal, setting=args.setting)
        policy = get_policy(args, training, console)
        env = SelectionEnvironment(environment)
        policy.check_learners(args.learners)
        if not np.array_equal(policy.info.cost, env.cost):
            raise ColearnValueError("the policy was trained with another cost matrix: --retrain")
        excluded = set(training_seeds(args.train_seed, 2 * args.train_episodes + 10))
        seeds = usable_evaluation_seeds(env, chosen, excluded)
    except ColearnValueError as exc:
        console.print(f"[red]error[/red]: {exc}")
        return 2
    console.print(f"{args.setting} setting, {len(seeds)} evaluation seeds ({chosen.start}:{chosen.stop})")
    results: dict[str, list[EpisodeResult]] = {}
    for name, choose in choosers(policy).items():
        started = time.monotonic()
        results[name] = [play(env, choose, seed, args.max_rounds) for seed in seeds]
        console.print(f"{name}: {len(seeds)} experiments in {time.monotonic() - started:.0f} s")
    summaries = {name: summarize(name, runs) for name, runs in results.items()}
    console.print(render(summaries, args.goal, args.max_rounds))
    rounds, cost = reduction(summaries["rl"], summaries["random"])
    met = rounds >= PAPER_ROUNDS_REDUCTION and cost >= PAPER_COST_REDUCTION
    console.print(
        f"RL vs random: {rounds:.1f}% fewer rounds (paper {PAPER_ROUNDS_REDUCTION}%), "
        f"{cost:.1f}% less communication cost (paper {PAPER_COST_REDUCTION}%): "
        + ("[green]the paper's reductions are met[/green]" if met else "[yellow]the paper's reductions are not met")
    )
    versus_random = paired(results["rl"], results["random"])
    versus_round_robin = paired(results["rl"], results["round-robin"])
    console.print(describe(versus_random, "random"))
    console.print(describe(versus_round_robin, "round-robin"))
    plot(results, args.plot, args.goal)
    console.print(f"plot: {args.plot}")
    if args.json:
        figures = {
            "setting": args.setting,
            "goal": args.goal,
            "learners": args.learners,
            "max_rounds": args.max_rounds,
            "policy_sha256": hashlib.sha256(policy.to_bytes()).hexdigest(),
            "seeds": seeds,
            "summaries": {name: asdict(s) for name, s in summaries.items()},
            "rl_vs_random": {"rounds_reduction": rounds, "cost_reduction": cost, "paper_met": met},
            "paired_rl_minus_random": asdict(versus_random),
            "paired_rl_minus_round_robin": asdict(versus_round_robin),
            "runs": {name: [asdict(r) for r in runs] for name, runs in results.items()},
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
