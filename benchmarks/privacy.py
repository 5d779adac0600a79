"""Accuracy under differential privacy: digits-mlp, 10 learners, epsilon 1, 3, 8 and without DP.

Each learner trains its proposals with DP-SGD (opacus; noise multiplier and clipping norm
fixed, the budget varies) and stops proposing once its next proposal would exceed its target
epsilon; its rounds are then skipped and it keeps voting. Reported per setting, as the mean
over the seeds: the final holdout accuracy, accepted and skipped rounds, the first round that
was skipped (when the budgets began to run out) and the largest epsilon any learner spent.
Played on the in-memory ledger (the same votes and hashes as on the chain).

    python benchmarks/privacy.py                              # 10 learners, 30 rounds, 3 seeds
    python benchmarks/privacy.py --rounds 4 --learners 3 --seeds 1 --epsilons 3   # quick
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from colearn_chain.simulation import make_settings, run_simulation
from colearn_chain.weights.store import InMemoryStore


@dataclass(frozen=True)
class PrivacyRow:
    """One setting, averaged over the seeds (``epsilon`` None: without differential privacy)."""

    epsilon: float | None
    final_accuracy: float
    accepted_rounds: float
    skipped_rounds: float
    first_skipped_round: float | None
    max_epsilon_spent: float | None
    seeds: int


def measure(
    epsilon: float | None, *, learners: int, rounds: int, seeds: int, noise: float, clip: float, delta: float
) -> PrivacyRow:
    """Play the setting once per seed and average."""
    accuracy, accepted, skipped, first, spent = [], [], [], [], []
    for seed in range(seeds):
        dp = None
        if epsilon is not None:
            dp = {"target_epsilon": epsilon, "target_delta": delta, "max_grad_norm": clip, "noise_multiplier": noise}
        settings = make_settings(learners=learners, rounds=rounds, seed=seed, dp=dp)
        result = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False)
        accuracy.append(result.final_accuracy or 0.0)
        accepted.append(sum(r.accepted for r in result.rounds))
        skipped.append(sum(r.skipped for r in result.rounds))
        skips = [r.round for r in result.rounds if r.skipped]
        if skips:
            first.append(skips[0])
        last = result.rounds[-1].dp_epsilon if result.rounds else None
        if last:
            spent.append(max(last.values()))
    return PrivacyRow(
        epsilon=epsilon,
        final_accuracy=statistics.mean(accuracy),
        accepted_rounds=statistics.mean(accepted),
        skipped_rounds=statistics.mean(skipped),
        first_skipped_round=statistics.mean(first) if len(first) == seeds else None,
        max_epsilon_spent=max(spent) if spent else None,
        seeds=seeds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 8.0])
    parser.add_argument("--noise", type=float, default=4.0, help="noise multiplier of DP-SGD")
    parser.add_argument("--clip", type=float, default=1.0, help="per-sample gradient clipping norm")
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    logging.getLogger("colearn_chain").setLevel(logging.ERROR)  # each skipped round logs a warning
    settings = {"learners": args.learners, "rounds": args.rounds, "seeds": args.seeds}
    mechanism = {"noise": args.noise, "clip": args.clip, "delta": args.delta}
    rows = [measure(e, **settings, **mechanism) for e in [*args.epsilons, None]]

    table = Table(title=f"digits-mlp, {args.learners} learners, {args.rounds} rounds, mean of {args.seeds} seeds")
    for column in ("epsilon", "final accuracy", "accepted", "skipped", "first skipped round", "max epsilon spent"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            "no DP" if row.epsilon is None else f"{row.epsilon:g}",
            f"{100 * row.final_accuracy:.1f}%",
            f"{row.accepted_rounds:.1f}",
            f"{row.skipped_rounds:.1f}",
            "-" if row.first_skipped_round is None else f"{row.first_skipped_round:.1f}",
            "-" if row.max_epsilon_spent is None else f"{row.max_epsilon_spent:.2f}",
        )
    Console().print(table)
    if args.json is not None:
        payload = {"settings": {**settings, **mechanism}, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
