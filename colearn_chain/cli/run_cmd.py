"""``colearn-chain run``: a whole experiment on one machine, every round on the ledger."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from colearn_chain.cli.app import app
from colearn_chain.cli.checks import data_file
from colearn_chain.cli.progress import progress_bar
from colearn_chain.cli.render import audit_json, render_audit, run_summary
from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.records import RoundRecord


def prepare_out_dir(out: Path | None) -> Path:
    """The results directory: new, or existing and empty; never one that holds anything."""
    if out is None:
        out = Path("runs") / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ColearnFileError(f"--out {out} is occupied: choose a new or empty directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ColearnFileError(f"cannot create --out {out}: {exc.strerror}") from exc
    return out


@app.command("run")
def run_command(
    learners: Annotated[int | None, typer.Option("--learners", "-n", help="Number of learners [default: 5].")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", "-r", help="Rounds to play [default: 15].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of splits, weights and training [default: 0].")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Share of voters that must approve, in (0, 1] [default: 0.5].")
    ] = None,
    setting: Annotated[
        str | None,
        typer.Option(help="platform | hl: Homogeneous Learning's (one plain epoch, no vote) [default: platform]."),
    ] = None,
    partition: Annotated[
        str | None, typer.Option(help="iid | dirichlet:ALPHA | dominant [default: iid; hl: dominant].")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="digits-mlp | digits-cnn | breast-cancer-mlp [default: digits-mlp].")
    ] = None,
    learner: Annotated[str | None, typer.Option(help="Your own learner factory, package.module:factory.")] = None,
    data: Annotated[Path | None, typer.Option(help="Your own .npz/.csv data (a tabular MLP learns it).")] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="round-robin | random | rl | fedavg | weighted | evolutionary | attention | median | "
            "trimmed-mean | krum | multi-krum [default: round-robin]."
        ),
    ] = None,
    strategy_param: Annotated[
        list[str] | None, typer.Option("--strategy-param", help="KEY=VALUE setting of the strategy (repeatable).")
    ] = None,
    selector_policy: Annotated[
        Path | None, typer.Option(help="Trained selector policy (ONNX) for --strategy rl.")
    ] = None,
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of a node; the embedded chain if unset.")] = None,
    cost_seed: Annotated[
        int | None, typer.Option(help="Seed of the random communication cost matrix [default: 0].")
    ] = None,
    cost: Annotated[
        Path | None, typer.Option(help="CSV of real hand-over costs between the learners (N rows of N).")
    ] = None,
    in_memory: Annotated[bool, typer.Option("--in-memory", help="Use the in-memory ledger (baseline).")] = False,
    audit: Annotated[
        bool, typer.Option("--audit", help="Afterwards, audit and verify the chain's history (also to DIR/audit.json).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Results directory, new or empty [default: runs/run-DATE-TIME].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML file with any of these settings; flags override it.")
    ] = None,
    dp: Annotated[
        list[str] | None,
        typer.Option(
            "--dp",
            help="Differential privacy, KEY=VALUE (repeatable): target_epsilon, target_delta, max_grad_norm, "
            "noise_multiplier.",
        ),
    ] = None,
) -> None:
    """Run a whole collective learning experiment on one machine and write its results."""
    from colearn_chain.plots import plot_accuracy, plot_votes
    from colearn_chain.privacy import parse_dp_options
    from colearn_chain.simulation import experiment_cost_matrix, load_config, make_settings, prepare_simulation
    from colearn_chain.strategies import make_strategy
    from colearn_chain.strategies.selectors import RLSelector
    from colearn_chain.strategies.settings import parse_params
    from colearn_chain.weights.store import LocalDirectoryStore

    console = Console(stderr=True)
    if audit and in_memory:
        raise ColearnValueError("--audit needs a chain: it cannot be combined with --in-memory")
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)], force=True)
    params = parse_params(strategy_param)
    if selector_policy is not None:
        params["policy"] = str(selector_policy)
    settings = make_settings(
        load_config(config) if config else None,
        learners=learners, rounds=rounds, seed=seed, threshold=threshold, setting=setting, partition=partition,
        task=task, learner=learner, data=data, strategy=strategy, rpc=rpc, cost_seed=cost_seed, cost=cost,
        strategy_params=params or None, dp=parse_dp_options(dp),
    )  # fmt: skip
    strategy_object = make_strategy(settings.strategy, settings.strategy_params)  # fails before any work
    matrix = experiment_cost_matrix(settings)  # a bad cost matrix, too
    if isinstance(strategy_object, RLSelector):
        strategy_object.use_cost_matrix(matrix)  # and a policy for another number of learners
    data_file("--data", settings.data)  # the user's data is checked before any work
    out_dir = prepare_out_dir(out)
    store = LocalDirectoryStore(out_dir / "store")
    started = time.monotonic()
    with progress_bar("round", console) as progress:
        bar = progress.add_task("setting up learners and chain...", total=settings.rounds)

        def on_round(record: RoundRecord) -> None:
            outcome = "[green]accepted[/green]" if record.accepted else "[red]rejected[/red]"
            if record.skipped:
                outcome = "[yellow]skipped (privacy budget spent)[/yellow]"
            accuracy = "" if record.test_accuracy is None else f", accuracy {100 * record.test_accuracy:.1f}%"
            votes = f"{record.approvals}/{record.approvals + record.rejections}"
            progress.update(bar, advance=1, description=f"{record.round}: {outcome} {votes}{accuracy}")

        simulation = prepare_simulation(settings, store, "memory" if in_memory else "chain", strategy_object)
        result = simulation.play(on_round)
    result.write(out_dir / "results.json")
    plot_accuracy(result, out_dir / "accuracy.png")
    plot_votes(result, out_dir / "votes.png")
    console.print(run_summary(result, time.monotonic() - started))
    console.print(f"results in {out_dir}/ (results.json, accuracy.png, votes.png, store/)")
    if audit:
        report = simulation.audit(result)  # the hand-over costs recomputed from the chain's proposers
        (out_dir / "audit.json").write_text(audit_json(report))
        render_audit(report, Console(soft_wrap=True))
        if report.discrepancies:
            raise typer.Exit(1)
