"""colearn's ``colearn.utils.plot.ColearnPlot``: mean test score and votes per round, drawn to a file."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from colearn_chain.compat.results import Results

__all__ = ["ColearnPlot"]


class ColearnPlot:
    """Draws the results after each round; ``block`` writes the figure (there is no live window here)."""

    def __init__(self, score_name: str = "score", path: Path | str | None = None) -> None:
        self.score_name = score_name
        self.path = Path(path) if path is not None else None
        self.figure = plt.figure(figsize=(6, 3))

    def plot_results_and_votes(self, results: Results) -> None:
        """Redraw: the mean test score after every round, accepted rounds marked."""
        self.figure.clear()
        ax = self.figure.add_subplot(1, 1, 1)
        means = [sum(r.test_scores) / len(r.test_scores) if r.test_scores else float("nan") for r in results.data]
        ax.plot(range(len(means)), means, marker="o")
        ax.set_xlabel("round")
        ax.set_ylabel(self.score_name)

    def block(self) -> None:
        """Write the figure to ``path`` (if given) and close it."""
        if self.path is not None:
            self.figure.savefig(self.path)
        plt.close(self.figure)
