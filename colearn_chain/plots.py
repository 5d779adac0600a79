"""The pictures of an experiment: accuracy per round, and who voted what (colearn's live plot)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from colearn_chain.audit import AuditReport
from colearn_chain.metrics import ACCURACY
from colearn_chain.records import ExperimentResult

_ABSENT, _REJECT, _APPROVE, _PROPOSER = 0, 1, 2, 3


def plot_accuracy(result: ExperimentResult, path: Path) -> Path:
    """The global model's held-out score (named by the result's metric) after each round, accepted
    rounds marked, the initial model and the centralized bound as lines."""
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
    if result.initial_score is not None:
        ax.axhline(result.initial_score, color="tab:gray", linestyle=":", label="initial model")
    metric = result.metric
    ax.set_xlabel("round")
    ax.set_ylabel(f"{metric.label}, held-out")
    ax.set_title(f"Global model {metric.name} per round")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


#: One column of a vote heatmap: (round, proposer, [(voter, approve)], outcome mark).
VoteColumn = tuple[int, str | None, list[tuple[str, bool]], str]
_COLORS = ["#d9d9d9", "#d62728", "#2ca02c", "#1f77b4"]
_LABELS = ["absent", "reject", "approve", "proposer"]


def vote_matrix(learners: list[str], columns: list[VoteColumn]) -> np.ndarray:
    """learners x rounds: 0 absent, 1 reject, 2 approve, 3 proposer."""
    index = {learner: i for i, learner in enumerate(learners)}
    matrix = np.full((len(learners), len(columns)), _ABSENT, dtype=int)
    for column, (_, proposer, votes, _) in enumerate(columns):
        if proposer in index:
            matrix[index[proposer], column] = _PROPOSER
        for voter, approve in votes:
            matrix[index[voter], column] = _APPROVE if approve else _REJECT
    return matrix


def _draw_votes(ax: Axes, learners: list[str], columns: list[VoteColumn], title: str) -> None:
    """colearn's live vote plot on ``ax``: who approved, rejected, was absent or proposed; outcome on top."""
    matrix = vote_matrix(learners, columns)
    ax.imshow(matrix, cmap=ListedColormap(_COLORS), vmin=0, vmax=3, aspect="auto", interpolation="nearest")
    ax.set_xlabel("round")
    ax.set_ylabel("learner")
    ax.set_yticks(range(len(learners)), [f"{i}: {a[:8]}" for i, a in enumerate(learners)])
    step = max(1, len(columns) // 20)
    ax.set_xticks(range(0, len(columns), step), [str(c[0]) for c in columns[::step]])
    for column, (_, _, _, mark) in enumerate(columns):
        ax.text(column, -0.75, mark, ha="center", va="center", fontsize=7)
    ax.set_ylim(len(learners) - 0.5, -1.2)
    ax.set_title(title)
    legend = [Patch(color=c, label=t) for c, t in zip(_COLORS, _LABELS, strict=True)]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)


def _size(rounds: int, learners: int) -> tuple[float, float]:
    return max(6.0, 0.28 * rounds + 2), max(2.5, 0.35 * learners + 1.5)


def plot_votes(result: ExperimentResult, path: Path) -> Path:
    """A learner x round heatmap of approvals, rejections and absences, proposers marked."""
    columns: list[VoteColumn] = [
        (r.round, r.proposer, [(v.learner, v.approve) for v in r.votes], "✓" if r.accepted else "✗")
        for r in result.rounds
    ]
    fig, ax = plt.subplots(figsize=_size(len(columns), len(result.learners)), dpi=120)
    _draw_votes(ax, result.learners, columns, "Votes per round (top row: outcome)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


_OUTCOME_MARKS = {"accepted": "✓", "rejected": "✗", "skipped": "s", "in progress": "…"}


def plot_audit(report: AuditReport, path: Path) -> Path:
    """The audited history: votes per round, and the re-evaluated score per round (named by its metric)."""
    columns: list[VoteColumn] = [
        (r.round, r.proposer, [(v.voter, v.approve) for v in r.votes], _OUTCOME_MARKS[r.outcome]) for r in report.rounds
    ]
    evaluated = [r for r in report.rounds if r.accuracy is not None]
    width, height = _size(len(columns), len(report.learners))
    rows = 2 if evaluated else 1
    fig, axes = plt.subplots(rows, 1, figsize=(width, height + 3.0 * (rows - 1)), dpi=120, squeeze=False)
    title = f"audit of {report.contract[:10]}... on chain {report.chain_id} (top row: outcome)"
    _draw_votes(axes[0][0], report.learners, columns, title)
    if evaluated:
        ax = axes[1][0]
        ax.plot([r.round for r in evaluated], [r.accuracy for r in evaluated], marker="o", markersize=3)
        ax.set_xlabel("round")
        ax.set_ylabel(f"{(report.metric or ACCURACY).label} on the auditor's data")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
