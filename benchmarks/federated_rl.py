"""Federated PPO agents on heterogeneous environments (DeRL's comparison), and the platform's overhead.

Every rule trains ``--agents`` agents, each on its own environment variant, with the same
environment-step budget per agent, and is scored by the global policy's mean return on
held-out variants that no agent trains or votes on:

- ``independent``: every agent trains alone (no federation); the score is the agents' mean;
- ``round-robin``: one policy relayed, each proposal voted on (colearn's rule);
- ``fedavg``, ``weighted``, ``evolutionary``: DeRL's average, reward-weighted average (softmax of
  each contribution's mean return on the proposer's episodes) and evolutionary rule; every agent
  trains each round and the aggregate is voted on;
- ``all-variants``: one agent trained on every agent's variant at once with all the agents'
  steps (the non-private reference, not a federated rule).

Rounds are decided by the in-memory ledger (the chain's exact semantics; the chain adds time,
not different outcomes). The overhead line times a learner's proposal inside the platform
against plain stable-baselines3 PPO on the same steps and environment.

    python benchmarks/federated_rl.py --json results/federated_rl.json --plot results/federated_rl.png
    python benchmarks/federated_rl.py --task cartpole-ppo --steps-per-agent 6144 --rounds 3 --seeds 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from stable_baselines3.common.vec_env import DummyVecEnv

from colearn_chain.chain.accounts import generated_accounts
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.ledger import InMemoryLedger
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.store import InMemoryStore
from learners.rl.agent_learner import AgentLearner
from learners.rl.environments import learner_variant
from learners.rl.sb3_io import parameters
from learners.rl.scoring import torch_threads
from learners.rl.task import RL_TASKS, RLSource

RULES = ("independent", "round-robin", "fedavg", "weighted", "evolutionary", "all-variants")


@dataclass
class RuleResult:
    """One rule on one seed: held-out mean return after each round (by steps per agent) and at the end."""

    rule: str
    seed: int
    steps_per_agent: list[int]
    returns: list[float]
    final: float
    seconds: float


def _source(task: str, steps_per_proposal: int) -> RLSource:
    base = RL_TASKS[task]
    return RLSource(
        dataclasses.replace(base, agent=dataclasses.replace(base.agent, steps_per_proposal=steps_per_proposal))
    )


def _federated(
    rule: str, source: RLSource, agents: int, rounds: int, seed: int, params: dict[str, float]
) -> RuleResult:
    started = time.perf_counter()
    learners: list[MachineLearningInterface] = [source.make_learner(i, agents, seed) for i in range(agents)]
    evaluate = source.evaluator(seed)
    store = InMemoryStore()
    strategy = make_strategy(rule, params if rule == "weighted" else {})
    initial = publish_initial_model(learners, store)
    ids = [a.address for a in generated_accounts(agents, seed=seed)]
    experiment = Experiment(learners, InMemoryLedger(ids, 0.5, initial), store, strategy, initial, evaluate, seed)
    played = rounds * agents if rule == "round-robin" else rounds  # equal steps per agent
    history = experiment.run(played)
    per_round = source.task.agent.steps_per_proposal // (agents if rule == "round-robin" else 1)
    scores = [float(r.test_accuracy or 0.0) for r in history]
    steps = [per_round * (i + 1) for i in range(len(history))]
    if rule == "round-robin":  # one point per round of the aggregating rules
        scores, steps = scores[agents - 1 :: agents], steps[agents - 1 :: agents]
    return RuleResult(rule, seed, steps, scores, scores[-1], time.perf_counter() - started)


def _independent(source: RLSource, agents: int, rounds: int, seed: int) -> RuleResult:
    started = time.perf_counter()
    evaluate = source.evaluator(seed)
    learners = [source.make_learner(i, agents, seed) for i in range(agents)]
    curve = []
    for _ in range(rounds):
        for learner in learners:
            learner.mli_accept_weights(learner.mli_propose_weights())
        curve.append(statistics.mean(float(evaluate(a.mli_get_current_weights()) or 0.0) for a in learners))
    steps = [source.task.agent.steps_per_proposal * (i + 1) for i in range(rounds)]
    return RuleResult("independent", seed, steps, curve, curve[-1], time.perf_counter() - started)


def _all_variants(source: RLSource, agents: int, rounds: int, seed: int) -> RuleResult:
    """One agent on a vector of every agent's variant, trained with all the agents' steps."""
    started = time.perf_counter()
    task = source.task
    variants = [learner_variant(task.family, seed, i, task.spread) for i in range(agents)]
    model = task.algorithm().build(DummyVecEnv([v.make for v in variants]), seed)  # type: ignore[arg-type]
    evaluate = source.evaluator(seed)
    curve = []
    from colearn_chain.interface import Weights

    for _ in range(rounds):
        with torch_threads(1):
            model.learn(total_timesteps=task.agent.steps_per_proposal * agents, reset_num_timesteps=False)
        curve.append(float(evaluate(Weights(weights=parameters(model.policy))) or 0.0))
    steps = [task.agent.steps_per_proposal * (i + 1) for i in range(rounds)]
    return RuleResult("all-variants", seed, steps, curve, curve[-1], time.perf_counter() - started)


def overhead(source: RLSource, seed: int) -> dict[str, float]:
    """Environment steps per second: a proposal inside the platform vs plain SB3 PPO, same steps and env."""
    learner = source.make_learner(0, 1, seed)
    assert isinstance(learner, AgentLearner)
    steps = source.task.agent.steps_per_proposal
    plain = source.task.algorithm().build(learner.variant.make(), seed)
    timings: dict[str, list[float]] = {"platform": [], "plain": []}
    for _ in range(2):  # taking turns, so load changes hit both
        t = time.perf_counter()
        learner.mli_propose_weights()
        timings["platform"].append(time.perf_counter() - t)
        with torch_threads(1):  # as the learner trains
            t = time.perf_counter()
            plain.learn(total_timesteps=steps, reset_num_timesteps=True)
            timings["plain"].append(time.perf_counter() - t)
    platform, sb3 = min(timings["platform"]), min(timings["plain"])
    return {
        "steps": steps,
        "platform_steps_per_s": steps / platform,
        "sb3_steps_per_s": steps / sb3,
        "ratio": platform / sb3,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="lunarlander-ppo", choices=sorted(k for k in RL_TASKS if k.endswith("-ppo")))
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps-per-agent", type=int, default=40_960, help="environment steps each agent trains")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the aggregating rules")
    parser.add_argument(
        "--temperature", type=float, default=20.0, help="weighted's softmax temperature (in return units)"
    )
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="draw the learning curves to this PNG")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    source = _source(args.task, args.steps_per_agent // args.rounds)
    results: list[RuleResult] = []
    for seed in args.seeds:
        for rule in args.rules:
            if rule == "independent":
                result = _independent(source, args.agents, args.rounds, seed)
            elif rule == "all-variants":
                result = _all_variants(source, args.agents, args.rounds, seed)
            else:
                result = _federated(rule, source, args.agents, args.rounds, seed, {"temperature": args.temperature})
            console.print(f"seed {seed} {rule:>13}: {result.final:8.1f} ({result.seconds:.0f} s)")
            results.append(result)
    cost = overhead(source, args.seeds[0])
    table = Table(title=f"{args.task}: mean held-out return, {args.agents} agents, {args.steps_per_agent} steps each")
    table.add_column("rule")
    for i in range(args.rounds):
        table.add_column(f"round {i + 1}", justify="right")
    table.add_column("final (mean ± sd over seeds)", justify="right")
    summary: dict[str, dict[str, float]] = {}
    for rule in args.rules:
        mine = [r for r in results if r.rule == rule]
        curve = np.mean([r.returns for r in mine], axis=0)
        finals = [r.final for r in mine]
        sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
        summary[rule] = {"mean": statistics.mean(finals), "sd": sd}
        table.add_row(rule, *(f"{v:.1f}" for v in curve), f"{statistics.mean(finals):.1f} ± {sd:.1f}")
    Console().print(table)
    inside, plain = cost["platform_steps_per_s"], cost["sb3_steps_per_s"]
    Console().print(
        f"overhead: {inside:.0f} env steps/s inside the platform vs {plain:.0f} with plain SB3 PPO "
        f"(one torch thread each): {cost['ratio']:.2f}x the time"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"settings": vars(args) | {"json": str(args.json), "plot": str(args.plot)},
                   "results": [asdict(r) for r in results], "summary": summary, "overhead": cost}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if args.plot:
        _plot(results, args, args.plot)
    return 0


def _plot(results: list[RuleResult], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for rule in args.rules:
        mine = [r for r in results if r.rule == rule]
        ax.plot(mine[0].steps_per_agent, np.mean([r.returns for r in mine], axis=0), marker="o", label=rule)
    ax.set_xlabel("environment steps per agent")
    ax.set_ylabel("mean return on held-out variants (higher is better)")
    ax.set_title(f"{args.task}: {args.agents} agents, seeds {args.seeds}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
