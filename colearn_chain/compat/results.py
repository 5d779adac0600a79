"""colearn's ``colearn.utils.results``: the list of round results, and a one-line print of the last."""

from __future__ import annotations

from dataclasses import dataclass, field

from colearn_chain.compat.training import Result

__all__ = ["Results", "print_results"]


@dataclass
class Results:
    """Every round's result so far (``data[0]`` is :func:`~colearn_chain.compat.training.initial_result`)."""

    data: list[Result] = field(default_factory=list)


def print_results(results: Results) -> None:
    """Print the last round: proposer, outcome, mean test score."""
    last = results.data[-1]
    mean = sum(last.test_scores) / len(last.test_scores) if last.test_scores else float("nan")
    outcome = "accepted" if last.vote else "rejected"
    print(f"round {len(results.data) - 1}: proposer {last.block_proposer}, {outcome}, mean test score {mean:.4f}")
