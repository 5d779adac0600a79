"""``colearn-chain audit``: the vote history of a deployed experiment, from chain events alone."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from colearn_chain.audit import AuditReport
from colearn_chain.cli.app import app
from colearn_chain.cli.options import (
    STORE_FORMS,
    DeploymentOption,
    OptionalRpcOption,
    StoreEndpointOption,
    open_store_option,
)
from colearn_chain.cli.render import audit_json, render_audit
from colearn_chain.errors import ColearnValueError


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def emit(report: AuditReport, output: Format, plot: Path | None) -> int:
    """Print ``report`` in ``output`` format, draw ``plot``; the exit code (1 if verification failed)."""
    if output is Format.json:
        typer.echo(audit_json(report), nl=False)
    elif output is Format.csv:
        typer.echo(report.to_csv(), nl=False)
    else:
        render_audit(report, Console(soft_wrap=True))
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
    cost_seed: Annotated[
        int | None, typer.Option(help="Report the communication cost with the random matrix of this seed.")
    ] = None,
    cost: Annotated[
        Path | None, typer.Option(help="Report the communication cost with this CSV of hand-over costs.")
    ] = None,
) -> None:
    """Rebuild the history of a deployed experiment from its events, and check it."""
    from eth_utils.address import is_address, to_checksum_address

    from colearn_chain.audit import audit_deployment
    from colearn_chain.cli.checks import non_negative, output_file
    from colearn_chain.deployment import Deployment

    non_negative("--round", round)
    if plot is not None:
        output_file("--plot", plot, (".png",))
    info = Deployment.load(deployment)
    blob_store = open_store_option(store or info.store, store_endpoint, create=False)
    if learner is not None:
        if not is_address(learner):
            raise ColearnValueError(f"--learner: {learner!r} is not an Ethereum address")
        learner = to_checksum_address(learner)
    report = audit_deployment(
        info, blob_store, rpc=rpc, check=verify, evaluate=evaluate, cost_seed=cost_seed, cost=cost
    )
    raise typer.Exit(emit(report.filtered(round, learner), format, plot))

