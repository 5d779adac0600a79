"""FedFormer vs FedAvg vs independent SAC vs SAC on every environment, on Meta-World MT10 tasks.

The paper's comparison (Hebert et al. 2022, MT10, 5 agents holding different task subsets),
at a CPU budget: each agent holds one task of ``--tasks`` (split by
:func:`learners.rl.metaworld_envs.split_tasks`, ``--overlap`` to share), its own goal
configurations of it, and trains ``--steps`` environment steps per round for ``--rounds``
rounds. Every method gets the same environment steps:

- ``fedformer``: FedFormer agents; each round the set of encoders is proposed and accepted iff a
  majority of the agents' votes approve (the platform's rule, driven here through the learners'
  MachineLearningInterface without a ledger, for speed);
- ``fedavg``: SAC agents; the equal-weight average of their trained policies, same vote;
- ``independent``: each SAC agent alone, keeping its own training;
- ``central``: one SAC agent trained on every agent's environment at once (the non-private reference).

The score is the mean return on held-out goals of each task (episodes capped at
``--episode-steps``), averaged over the agents holding the task; then the scaling run: 2, 5 and
8 agents on the first task, FedFormer and FedAvg. ``--json FILE`` writes the numbers,
``--plot FILE`` draws them.

Run: ``python benchmarks/fedformer.py --json fedformer.json --plot fedformer.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import DummyVecEnv

from colearn_chain.interface import Weights
from colearn_chain.strategies import aggregate
from learners.rl.agent_learner import AgentLearner, AgentSettings
from learners.rl.environments import HELDOUT_EPISODE_SEED, EnvVariant, heldout_variants, learner_seed, learner_variant
from learners.rl.episodes import EpisodeSet
from learners.rl.fedformer_agent import FedFormerAgent, FedFormerAgentSettings, FedFormerAlgorithm
from learners.rl.fedformer_critic import FedFormerSettings
from learners.rl.metaworld_envs import metaworld_family, split_tasks
from learners.rl.sac import DEFAULTS, SACAlgorithm
from learners.rl.sb3_io import parameters, silence
from learners.rl.scoring import PolicyScorer

METHODS = ("fedformer", "fedavg", "independent", "central")


def _variants(tasks: Sequence[str], agents: int, overlap: int, seed: int, episode_steps: int) -> list[EnvVariant]:
    """Agent ``k``'s environment: its first task of the split, with its own goal configuration."""
    split = split_tasks(list(tasks), agents, overlap)
    return [learner_variant(metaworld_family(split[k][0], episode_steps), seed, k) for k in range(agents)]


def _heldout(task: str, seed: int, episode_steps: int) -> EpisodeSet:
    return EpisodeSet(heldout_variants(metaworld_family(task, episode_steps), seed, 2), 1, HELDOUT_EPISODE_SEED)


def _majority(votes: list[bool]) -> bool:
    return sum(votes) * 2 > len(votes)


def _run_method(method: str, variants: list[EnvVariant], args: argparse.Namespace) -> list[float]:
    """Each agent's held-out return on its own task after the rounds, under ``method``."""
    hyper = {"learning_starts": args.learning_starts, "batch_size": 64}
    settings = AgentSettings(steps_per_proposal=args.steps, vote_episodes=1, test_episodes=1)
    n = len(variants)
    heldout = [_heldout(v.family.env_id, args.seed, args.episode_steps) for v in variants]
    if method == "central":
        env = DummyVecEnv([v.make for v in variants])
        # gradient_steps=-1: one update per transition of every env, as many as the agents make in all
        central = {**DEFAULTS, **hyper, "gradient_steps": -1}
        model = silence(SAC("MlpPolicy", env, seed=args.seed, device="cpu", verbose=0, **central))
        model.learn(total_timesteps=args.steps * args.rounds * n)
        scorer = PolicyScorer(SACAlgorithm(), model.policy, env.action_space, "central")
        arrays = parameters(model.policy)
        return [scorer.score(arrays, episodes) for episodes in heldout]
    if method == "fedformer":
        critic = FedFormerSettings(layers=1, heads=2, width=args.width, others=min(args.from_saved, n - 1))
        agents: list[Any] = [
            FedFormerAgent(
                FedFormerAlgorithm(hyper, critic),
                v,
                settings,
                FedFormerAgentSettings(vote_gradient_steps=args.vote_gradient_steps),
                args.seed,
                learner_seed(args.seed, k),
                k,
                n,
                f"agent {k}",
            )
            for k, v in enumerate(variants)
        ]
    else:
        agents = [
            AgentLearner(SACAlgorithm(hyper), v, settings, args.seed, learner_seed(args.seed, k), f"agent {k}")
            for k, v in enumerate(variants)
        ]
    for _ in range(args.rounds):
        updates = [agent.mli_propose_weights().weights for agent in agents]
        if method == "independent":
            for agent, update in zip(agents, updates, strict=True):
                agent.mli_accept_weights(Weights(weights=update))
            continue
        if method == "fedformer":
            proposal: dict[str, Any] = {
                f"encoders.{k}.{name[len('encoder.') :]}": value
                for k, update in enumerate(updates)
                for name, value in update.items()
            }
        else:
            proposal = aggregate.weighted_average(updates, [1.0 / n] * n)
            proposal = {k: np.asarray(v, dtype=np.float32) for k, v in proposal.items()}
        weights = Weights(weights=proposal)
        if _majority([bool(agent.mli_test_weights(weights).vote) for agent in agents]):
            for agent in agents:
                agent.mli_accept_weights(weights)
    if method == "fedformer":
        return [agent.heldout_score(episodes) for agent, episodes in zip(agents, heldout, strict=True)]
    return [
        agent.score(agent.mli_get_current_weights().weights, episodes)
        for agent, episodes in zip(agents, heldout, strict=True)
    ]


def _per_task(variants: list[EnvVariant], scores: list[float]) -> dict[str, float]:
    by_task: dict[str, list[float]] = {}
    for variant, score in zip(variants, scores, strict=True):
        by_task.setdefault(variant.family.env_id, []).append(score)
    return {task: float(np.mean(values)) for task, values in by_task.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["reach-v3", "push-v3", "window-open-v3"])
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--overlap", type=int, default=0)
    parser.add_argument("--scaling", type=int, nargs="*", default=[2, 5, 8])
    parser.add_argument("--steps", type=int, default=300, help="environment steps per agent per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--learning-starts", type=int, default=100)
    parser.add_argument("--episode-steps", type=int, default=100, help="episode cap (Meta-World's is 500)")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--from-saved", type=int, default=8)
    parser.add_argument("--vote-gradient-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    budget = {k: getattr(args, k) for k in ("steps", "rounds", "learning_starts", "episode_steps", "seed", "width")}
    results: dict[str, Any] = {"budget": budget, "tasks": args.tasks, "agents": args.agents, "comparison": {}}
    variants = _variants(args.tasks, args.agents, args.overlap, args.seed, args.episode_steps)
    for method in args.methods:
        t0 = time.perf_counter()
        results["comparison"][method] = _per_task(variants, _run_method(method, variants, args))
        print(method, results["comparison"][method], f"{time.perf_counter() - t0:.0f} s", flush=True)
    results["scaling"] = {}
    for count in args.scaling:
        scaled = _variants(args.tasks[:1], count, 0, args.seed, args.episode_steps)
        results["scaling"][count] = {
            method: float(np.mean(_run_method(method, scaled, args))) for method in ("fedformer", "fedavg")
        }
        print("agents", count, results["scaling"][count], flush=True)
    results["seconds"] = time.perf_counter() - started
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.plot:
        _plot(results, args.plot)
    return 0


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    methods = list(results["comparison"])
    tasks = results["tasks"]
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        values = [results["comparison"][method].get(task, np.nan) for task in tasks]
        left.bar(np.arange(len(tasks)) + i * width, values, width, label=method)
    left.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
    left.set_ylabel("held-out mean return")
    left.legend()
    counts = sorted(results["scaling"], key=int)
    for method in ("fedformer", "fedavg"):
        right.plot([int(c) for c in counts], [results["scaling"][c][method] for c in counts], marker="o", label=method)
    right.set_xlabel(f"agents on {tasks[0]}")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    raise SystemExit(main())
