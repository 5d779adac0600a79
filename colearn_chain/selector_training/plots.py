"""The selector's learning curve: rounds to the goal and return per training episode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt
import numpy as np

from colearn_chain.selector_training.train import EpisodeStats


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """The mean of each value and the ``window - 1`` before it (fewer at the start)."""
    data = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(data, 0, 0.0))
    starts = np.maximum(np.arange(1, data.size + 1) - window, 0)
    averaged: np.ndarray = (sums[1:] - sums[starts]) / (np.arange(1, data.size + 1) - starts)
    return averaged


def plot_learning_curve(episodes: Sequence[EpisodeStats], path: Path, window: int = 10) -> Path:
    """Rounds (goal reached or cut at the horizon), communication cost, return and epsilon, per episode."""
    x = [e.episode for e in episodes]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(7, 8), dpi=120, sharex=True)
    rounds = [e.rounds for e in episodes]
    top.scatter(x, rounds, s=8, c=["tab:green" if e.reached_goal else "tab:red" for e in episodes], alpha=0.6)
    top.plot(x, moving_average(rounds, window), color="tab:blue", label=f"moving mean ({window} episodes)")
    top.set_ylabel("rounds (green: goal reached)")
    top.set_title("RL selector training")
    top.grid(alpha=0.3)
    top.legend(loc="upper right")
    costs = [e.cost for e in episodes]
    middle.plot(x, costs, color="tab:gray", alpha=0.5, label="communication cost")
    middle.plot(x, moving_average(costs, window), color="tab:blue", label="moving mean")
    middle.set_ylabel("cost (sum of cost[prev][next])")
    middle.grid(alpha=0.3)
    middle.legend(loc="upper right")
    returns = [e.episode_return for e in episodes]
    bottom.plot(x, returns, color="tab:gray", alpha=0.5, label="return")
    bottom.plot(x, moving_average(returns, window), color="tab:blue", label="moving mean")
    bottom.set_ylabel("episode return")
    bottom.set_xlabel("episode")
    bottom.grid(alpha=0.3)
    eps = bottom.twinx()
    eps.plot(x, [e.epsilon for e in episodes], color="tab:orange", linestyle="--", label="epsilon")
    eps.set_ylabel("epsilon")
    eps.set_ylim(0, 1.05)
    lines = bottom.get_legend_handles_labels()[0] + eps.get_legend_handles_labels()[0]
    bottom.legend(lines, [str(line.get_label()) for line in lines], loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
