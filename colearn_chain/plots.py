"""The pictures of an experiment: accuracy per round, and who voted what (colearn's live plot)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from colearn_chain.audit import AuditReport
from colearn_chain.records import ExperimentResult

_ABSENT, _REJECT, _APPROVE, _PROPOSER = 0, 1, 2, 3


def plot_accuracy(result: ExperimentResult, path: Path) -> Path:
    """Global test accuracy after each round, accepted rounds marked, centralized as a line."""
    rounds = [r.round for r in result.rounds]
    accuracy = [r.test_accuracy if r.test_accuracy is not None else np.nan for r in result.rounds]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(rounds, accuracy, marker="o", markersize=3, label="collective (global model)")
    accepted = [r.round for r in result.rounds if r.accepted]
    ax.scatter(
        accepted,
        [accuracy[rounds.index(r)] for r in accepted],
        s=14,
        color="tab:green",
        zorder=3,
        label="proposal accepted",
    )
    if result.centralized_accuracy is not None:
        ax.axhline(result.centralized_accuracy, color="tab:red", linestyle="--", label="centralized (upper bound)")
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (held-out data)")
    ax.set_title("Global model accuracy per round")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def vote_matrix(result: ExperimentResult) -> np.ndarray:
    """learners x rounds: 0 absent, 1 reject, 2 approve, 3 proposer."""
    index = {learner: i for i, learner in enumerate(result.learners)}
    matrix = np.full((len(result.learners), len(result.rounds)), _ABSENT, dtype=int)
    for column, record in enumerate(result.rounds):
        if record.proposer in index:
            matrix[index[record.proposer], column] = _PROPOSER
        for vote in record.votes:
            matrix[index[vote.learner], column] = _APPROVE if vote.approve else _REJECT
    return matrix


def plot_votes(result: ExperimentResult, path: Path) -> Path:
    """A learner x round heatmap of approvals, rejections and absences, proposers marked."""
    matrix = vote_matrix(result)
    colors = ["#d9d9d9", "#d62728", "#2ca02c", "#1f77b4"]
    width = max(6.0, 0.28 * matrix.shape[1] + 2)
    height = max(2.5, 0.35 * matrix.shape[0] + 1.5)
    fig, ax = plt.subplots(figsize=(width, height), dpi=120)
    ax.imshow(matrix, cmap=ListedColormap(colors), vmin=0, vmax=3, aspect="auto", interpolation="nearest")
    ax.set_xlabel("round")
    ax.set_ylabel("learner")
    ax.set_yticks(range(matrix.shape[0]), [f"{i}: {a[:8]}" for i, a in enumerate(result.learners)])
    step = max(1, matrix.shape[1] // 20)
    ax.set_xticks(range(0, matrix.shape[1], step))
    for column, record in enumerate(result.rounds):
        ax.text(column, -0.75, "✓" if record.accepted else "✗", ha="center", va="center", fontsize=7)
    ax.set_ylim(matrix.shape[0] - 0.5, -1.2)
    ax.set_title("Votes per round (top row: outcome)")
    legend = [Patch(color=c, label=t) for c, t in zip(colors, ["absent", "reject", "approve", "proposer"], strict=True)]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_audit(report: AuditReport, path: Path) -> Path:
    """The audited history: votes per round, and accuracy per round when it was evaluated."""
    index = {learner: i for i, learner in enumerate(report.learners)}
    matrix = np.full((len(report.learners), len(report.rounds)), _ABSENT, dtype=int)
    for column, record in enumerate(report.rounds):
        if record.proposer in index:
            matrix[index[record.proposer], column] = _PROPOSER
        for vote in record.votes:
            matrix[index[vote.voter], column] = _APPROVE if vote.approve else _REJECT
    evaluated = [r for r in report.rounds if r.accuracy is not None]
    rows = 2 if evaluated else 1
    width = max(6.0, 0.28 * len(report.rounds) + 2)
    height = 3.2 * rows + 0.3 * len(report.learners)
    fig, axes = plt.subplots(rows, 1, figsize=(width, height), dpi=120, squeeze=False)
    colors = ["#d9d9d9", "#d62728", "#2ca02c", "#1f77b4"]
    ax = axes[0][0]
    ax.imshow(matrix, cmap=ListedColormap(colors), vmin=0, vmax=3, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(report.learners)), [f"{i}: {a[:8]}" for i, a in enumerate(report.learners)])
    marks = {"accepted": "✓", "rejected": "✗", "skipped": "s", "in progress": "…"}
    for column, record in enumerate(report.rounds):
        ax.text(column, -0.75, marks[record.outcome], ha="center", va="center", fontsize=7)
    ax.set_ylim(len(report.learners) - 0.5, -1.2)
    ax.set_xticks(range(len(report.rounds)), [str(r.round) for r in report.rounds], fontsize=7)
    ax.set_title(f"audit of {report.contract[:10]}... on chain {report.chain_id} (top row: outcome)")
    legend = [Patch(color=c, label=t) for c, t in zip(colors, ["absent", "reject", "approve", "proposer"], strict=True)]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    if evaluated:
        ax2 = axes[1][0]
        ax2.plot([r.round for r in evaluated], [r.accuracy for r in evaluated], marker="o", markersize=3)
        ax2.set_xlabel("round")
        ax2.set_ylabel("accuracy on the auditor's data")
        ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
