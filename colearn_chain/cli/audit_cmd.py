"""``colearn-chain audit``: the vote history of a deployed experiment, from chain events alone."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from colearn_chain.audit import AuditReport
from colearn_chain.cli.app import app
from colearn_chain.cli.options import (
    STORE_FORMS,
    DeploymentOption,
    OptionalRpcOption,
    StoreEndpointOption,
    open_store_option,
)
from colearn_chain.errors import ColearnValueError


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def render_tables(report: AuditReport, console: Console) -> None:
    """Per round, per learner and discrepancy tables."""
    rounds = Table(title=f"rounds of {report.contract} (chain {report.chain_id})")
    for column in ("round", "proposer", "weights", "manifest", "votes (approve/reject)", "outcome", "global model"):
        rounds.add_column(column)
    if any(r.accuracy is not None for r in report.rounds):
        rounds.add_column("accuracy", justify="right")
    for r in report.rounds:
        votes = " ".join(f"{v.voter[:8]}{'+' if v.approve else '-'}{v.score / 1e6:.3f}" for v in r.votes)
        row = [
            str(r.round), (r.proposer or "-")[:10], (r.weights or "-")[:12], (r.manifest or "-")[:12],
            f"{r.approvals}/{r.rejections} {votes}", r.outcome, (r.global_model or "-")[:12],
        ]  # fmt: skip
        if len(rounds.columns) > 7:
            row.append("-" if r.accuracy is None else f"{100 * r.accuracy:.1f}%")
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


def emit(report: AuditReport, output: Format, plot: Path | None) -> int:
    """Print ``report`` in ``output`` format, draw ``plot``; the exit code (1 if verification failed)."""
    console = Console(soft_wrap=True)
    if output is Format.json:
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    elif output is Format.csv:
        typer.echo(report.to_csv(), nl=False)
    else:
        render_tables(report, console)
    if plot is not None:
        from colearn_chain.plots import plot_audit

        plot_audit(report, plot)
        Console(stderr=True).print(f"plot written to {plot}")
    return 1 if report.discrepancies else 0


@app.command("audit")
def audit_command(
    deployment: DeploymentOption,
    rpc: OptionalRpcOption = None,
    store: Annotated[
        str | None, typer.Option(help=f"Content store to verify, {STORE_FORMS} (default: the deployment's).")
    ] = None,
    store_endpoint: StoreEndpointOption = None,
    round: Annotated[int | None, typer.Option("--round", help="Only this round.")] = None,
    learner: Annotated[str | None, typer.Option(help="Only what this learner did.")] = None,
    format: Annotated[Format, typer.Option("--format", help="table, json (stable, for scripts) or csv.")] = (
        Format.table
    ),
    verify: Annotated[
        bool, typer.Option("--verify", help="Re-hash every blob and check the history; exit 1 on any discrepancy.")
    ] = False,
    evaluate: Annotated[Path | None, typer.Option(help="Re-score each global model on this .npz/.csv dataset.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the votes (and accuracy) per round to this PNG.")] = None,
) -> None:
    """Rebuild the history of a deployed experiment from its events, and check it."""
    from eth_utils.address import is_address, to_checksum_address

    from colearn_chain.audit import audit_contract
    from colearn_chain.chain import CollectiveLearningClient, connect
    from colearn_chain.deployment import Deployment

    info = Deployment.load(deployment)
    blob_store = open_store_option(store or info.store, store_endpoint, create=False)
    if learner is not None:
        if not is_address(learner):
            raise ColearnValueError(f"--learner: {learner!r} is not an Ethereum address")
        learner = to_checksum_address(learner)
    chain = connect(rpc or info.rpc_url)
    client = CollectiveLearningClient.at(chain, info.contract, info.deployment_block)
    report = audit_contract(client, blob_store, verify, evaluate, info.learner)
    raise typer.Exit(emit(report.filtered(round, learner), format, plot))

