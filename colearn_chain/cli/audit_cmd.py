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
    OptionalRpcOption,
    RpcCaOption,
    RpcHeaderOption,
    StoreEndpointOption,
    open_store_option,
    rpc_endpoint,
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
    source: Annotated[
        Path | None,
        typer.Argument(help="A deployment file, or a `run` directory (its deployment.json).", show_default=False),
    ] = None,
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="The deployment file `deploy` wrote, or a run directory.")
    ] = None,
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
    evaluate: Annotated[Path | None, typer.Option(
            help="Re-score each global model on this .npz/.csv dataset (an RL task: a JSON file of environment "
            'variants, {"variants": [{...}], "episodes": N, "seed": S}).'
        )] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the votes (and accuracy) per round to this PNG.")] = None,
    cost_seed: Annotated[
        int | None, typer.Option(help="Report the communication cost with the random matrix of this seed.")
    ] = None,
    cost: Annotated[
        Path | None, typer.Option(help="Report the communication cost with this CSV of hand-over costs.")
    ] = None,
    rpc_header: RpcHeaderOption = None,
    rpc_ca: RpcCaOption = None,
) -> None:
    """Rebuild the history of a deployed experiment from its events, and check it.

    A run directory is audited from what it keeps: its deployment.json, its store, the
    embedded chain rebuilt from its journal (chain.jsonl), and the run's own cost matrix.
    """
    from eth_utils.address import is_address, to_checksum_address

    from colearn_chain.audit import audit_deployment
    from colearn_chain.cli.checks import non_negative, output_file
    from colearn_chain.deployment import Deployment
    from colearn_chain.run_dir import deployment_file, recorded_cost, run_store, saved_chain

    non_negative("--round", round)
    if plot is not None:
        output_file("--plot", plot, (".png",))
    if (source is None) == (deployment is None):
        raise ColearnValueError("give the deployment file or run directory once: as an argument or with --deployment")
    target = source if source is not None else deployment
    assert target is not None
    path = deployment_file(target)
    info = Deployment.load(path)
    if learner is not None:
        if not is_address(learner):
            raise ColearnValueError(f"--learner: {learner!r} is not an Ethereum address")
        learner = to_checksum_address(learner)
    blob_store = open_store_option(store or run_store(path, info.store), store_endpoint, create=False)
    if cost is None and cost_seed is None:
        cost, cost_seed = recorded_cost(path.parent, info.contract) or (None, None)
    chain = None if rpc is not None else saved_chain(path, info.rpc_url)
    endpoint = None if chain is not None else rpc_endpoint(rpc or info.rpc_url, rpc_header, rpc_ca)
    report = audit_deployment(
        info, blob_store, rpc=endpoint, check=verify, evaluate=evaluate, cost_seed=cost_seed, cost=cost, chain=chain
    )
    raise typer.Exit(emit(report.filtered(round, learner), format, plot))
