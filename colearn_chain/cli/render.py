"""How the CLI shows results: the tables and JSON that ``run`` and ``audit`` both print.

Commands call the library and hand what it returns to these functions, so ``run --audit`` and
``audit`` show an audit the same way, and the audit JSON is written by one function.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from colearn_chain.metrics import ACCURACY

if TYPE_CHECKING:
    from colearn_chain.audit import AuditReport
    from colearn_chain.records import ExperimentResult


def audit_json(report: AuditReport) -> str:
    """The audit's stable JSON (README "Audit JSON"), indented with sorted keys, newline-ended."""
    return json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"


def run_summary(result: ExperimentResult, seconds: float) -> Table:
    """The final table of ``run``: where it ran, rounds accepted, rejected and skipped, epsilon, accuracies, cost."""
    accepted = sum(r.accepted for r in result.rounds)
    table = Table(title="colearn-chain run", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("contract", f"{result.contract} (chain {result.chain_id})" if result.contract else "in memory")
    table.add_row("learners", str(len(result.learners)))
    skipped = sum(r.skipped for r in result.rounds)
    rejected = len(result.rounds) - accepted - skipped
    shown = f"{len(result.rounds)} ({accepted} accepted, {rejected} rejected"
    table.add_row("rounds", shown + (f", {skipped} skipped: privacy budget spent)" if skipped else ")"))
    spent = result.rounds[-1].dp_epsilon if result.rounds else None
    if spent:
        table.add_row("privacy spent (epsilon)", f"{min(spent.values()):.2f} to {max(spent.values()):.2f} per learner")

    metric = result.metric
    if result.initial_score is not None:
        table.add_row(f"initial {metric.name}", metric.format(result.initial_score))
    table.add_row(f"final {metric.name}", f"{metric.format(result.final_accuracy)} ({metric.direction})")
    if result.centralized_accuracy is not None or metric.percent:
        table.add_row(f"centralized {metric.name}", metric.format(result.centralized_accuracy))
    if result.communication_cost is not None:
        table.add_row("communication cost", f"{result.communication_cost:.4f} (sum of hand-over costs)")
    table.add_row("time", f"{seconds:.1f} s")
    return table


def render_audit(report: AuditReport, console: Console) -> None:
    """Per round, per learner and discrepancy tables (``audit`` and ``run --audit``)."""
    rounds = Table(title=f"rounds of {report.contract} (chain {report.chain_id})")
    for column in ("round", "proposer", "weights", "manifest", "votes (approve/reject)", "outcome", "global model"):
        rounds.add_column(column)
    with_privacy = any(r.privacy is not None for r in report.rounds)
    if with_privacy:
        rounds.add_column("DP spent by proposer (epsilon)", justify="right")
    with_scores = any(r.accuracy is not None for r in report.rounds)
    metric = report.metric or ACCURACY
    if with_scores:
        rounds.add_column(metric.name, justify="right")
    for r in report.rounds:
        votes = " ".join(f"{v.voter[:8]}{'+' if v.approve else '-'}{v.score / 1e6:.3f}" for v in r.votes)
        row = [
            str(r.round), (r.proposer or "-")[:10], (r.weights or "-")[:12], (r.manifest or "-")[:12],
            f"{r.approvals}/{r.rejections} {votes}", r.outcome, (r.global_model or "-")[:12],
        ]  # fmt: skip
        if with_privacy:
            row.append("-" if r.privacy is None else f"{r.privacy[0]:.3f}")
        if with_scores:
            row.append("-" if r.accuracy is None else metric.format(r.accuracy))
        rounds.add_row(*row)
    console.print(rounds)
    learners = Table(title="learners")
    for column in ("learner", "proposals", "accepted", "votes cast", "agreed with outcome", "missed votes"):
        learners.add_column(column)
    for s in report.summaries():
        learners.add_row(
            s.learner, str(s.proposals), str(s.accepted_proposals), str(s.votes_cast),
            str(s.agreed_with_outcome), str(s.missed_votes),
        )  # fmt: skip
    console.print(learners)
    if report.hand_over_costs is not None:
        console.print(f"communication cost (from the ledger's proposers): {sum(report.hand_over_costs):.4f}")
    if report.verified:
        if report.discrepancies:
            found = Table(title="[red]verification found discrepancies[/red]")
            for column in ("round", "kind", "detail"):
                found.add_column(column)
            for d in report.discrepancies:
                found.add_row("-" if d.round is None else str(d.round), d.kind, d.detail)
            console.print(found)
        else:
            console.print("[green]verified[/green]: every blob re-hashes, every model loads, the global model "
                          "follows the accepted proposals, every manifest recomputes")  # fmt: skip
