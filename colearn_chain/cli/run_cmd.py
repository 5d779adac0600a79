"""``colearn-chain run``: a whole experiment on one machine, every round on the ledger."""

from __future__ import annotations

import logging
import os
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from colearn_chain.cli.app import app
from colearn_chain.cli.options import RpcCaOption, RpcHeaderOption, rpc_endpoint
from colearn_chain.cli.progress import progress_bar
from colearn_chain.cli.render import render_audit, run_summary
from colearn_chain.cli.stopping import StopRequest, stop_between_rounds
from colearn_chain.errors import ColearnError, ColearnRuntimeError, ColearnValueError
from colearn_chain.records import ExperimentResult, RoundRecord, write_json_atomically
from colearn_chain.run_dir import (
    AUDIT,
    DEPLOYMENT,
    JOURNAL,
    MODEL,
    RESULTS,
    STORE,
    check_out_dir,
    create_out_dir,
    default_out_dir,
    load_saved_run,
)
from colearn_chain.simulation import RunSettings

if TYPE_CHECKING:
    from colearn_chain.chain import Chain, RpcEndpoint
    from colearn_chain.chain.backends import EthTesterBackend
    from colearn_chain.parallel import LearnerPool
    from colearn_chain.simulation import BuiltExperiment, Simulation
    from colearn_chain.strategies import ProposalStrategy


class RunFailed(ColearnRuntimeError):
    """A run stopped after it had started: its results.json says how far it got, the message how to retry."""


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
    rpc_header: RpcHeaderOption = None,
    rpc_ca: RpcCaOption = None,
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
        Path | None,
        typer.Option(help="Results directory, new or empty (or a run's, with --force) [default: runs/run-DATE-TIME]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the run already in --out (a directory of other files is kept).")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume", metavar="DIR", help="Continue the interrupted or failed run in DIR from its next round."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML file with any of these settings; flags override it.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Train and test the learners in N local processes [default: in this process]."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run the learners as actors on a Ray cluster: HOST:PORT of its head, auto, or local "
            "(--workers actors; default: one per CPU).",
        ),
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
    """Run a whole collective learning experiment on one machine and write its results.

    Every input is checked before anything is created under --out; the results are rewritten
    after every round; SIGINT/SIGTERM stop after the round in progress, and `--resume DIR`
    continues from there.
    """
    from colearn_chain.privacy import parse_dp_options
    from colearn_chain.simulation import build_learners, load_config, make_settings, open_pool
    from colearn_chain.strategies.settings import parse_params

    console = Console(stderr=True)
    if audit and in_memory:
        raise ColearnValueError("--audit needs a chain: it cannot be combined with --in-memory")
    if workers is not None and workers < 1:
        raise ColearnValueError(f"--workers must be at least 1 (got {workers})")
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)], force=True)
    params = parse_params(strategy_param)
    if selector_policy is not None:
        params["policy"] = str(selector_policy)
    config_values = load_config(config) if config else None
    overrides: dict[str, Any] = dict(
        learners=learners, rounds=rounds, seed=seed, threshold=threshold, setting=setting, partition=partition,
        task=task, learner=learner, data=data, strategy=strategy, rpc=rpc, cost_seed=cost_seed, cost=cost,
        strategy_params=params or None, dp=parse_dp_options(dp),
    )  # fmt: skip
    if resume is not None:
        refused = [
            name
            for name, given in (("--out", out), ("--force", force), ("--in-memory", in_memory), ("--workers", workers),
                                ("--ray", ray))
            if given
        ]  # fmt: skip
        if refused:
            raise ColearnValueError(f"--resume DIR continues the run in DIR: it cannot be combined with {refused[0]}")
        resume_run(resume, config_values, overrides, audit, console, rpc_header, rpc_ca)
        return
    settings = make_settings(config_values, **overrides)
    strategy_object = checked_strategy(settings)
    out_dir = out if out is not None else default_out_dir()
    check_out_dir(out_dir, force)
    pool = open_pool(settings, workers, ray)
    try:
        built = build_learners(settings, pool)  # a bad --data, --learner or --task fails here, with nothing on disk
        strategy_object.check_learners(built[0])  # and a strategy that cannot use these learners
        endpoint = node_endpoint(settings.rpc, rpc_header, rpc_ca)
        pending_chain = None if in_memory else open_chain(endpoint)
        create_out_dir(out_dir, force)
        with stopping(console) as stop:  # from here on, a signal never leaves the directory without results
            simulation = start_simulation(settings, out_dir, strategy_object, built, pending_chain, pool)
            play_and_report(simulation, out_dir, audit, console, stop)
    finally:
        if pool is not None:
            pool.close()


def checked_strategy(settings: RunSettings) -> ProposalStrategy:
    """The strategy ``settings`` name, built and checked (its settings, the cost matrix, an RL policy's size)."""
    from colearn_chain.simulation import experiment_cost_matrix
    from colearn_chain.strategies import make_strategy
    from colearn_chain.strategies.selectors import RLSelector

    strategy = make_strategy(settings.strategy, settings.strategy_params)  # fails before any work
    matrix = experiment_cost_matrix(settings)  # a bad cost matrix, too
    if isinstance(strategy, RLSelector):
        strategy.use_cost_matrix(matrix)  # and a policy for another number of learners
    return strategy


def stopping(console: Console) -> AbstractContextManager[StopRequest]:
    """SIGINT/SIGTERM stop the run between rounds (see :mod:`colearn_chain.cli.stopping`), said on stderr."""
    return stop_between_rounds(lambda text: say(console, text))


def node_endpoint(rpc: str | None, headers: list[str] | None, ca_file: Path | None) -> RpcEndpoint | None:
    """The node of --rpc (or the config's ``rpc``) with a hosted node's --rpc-header and --rpc-ca."""
    if rpc is None:
        if headers or ca_file:
            raise ColearnValueError("--rpc-header and --rpc-ca need --rpc: the embedded chain has no node")
        return None
    return rpc_endpoint(rpc, headers, ca_file)


def open_chain(rpc: RpcEndpoint | None) -> Chain | EthTesterBackend:
    """The chain a new run deploys on, reached (and its funding accounts checked) before --out is created.

    For the embedded chain, the backend alone: it is wrapped once the run directory exists, to
    journal itself there (:func:`start_simulation`).
    """
    from colearn_chain.chain import connect
    from colearn_chain.chain.backends import EthTesterBackend
    from colearn_chain.simulation import funding_accounts

    if rpc is None:
        return EthTesterBackend()
    chain = connect(rpc)
    funding_accounts(chain)
    return chain


def start_simulation(
    settings: RunSettings,
    out_dir: Path,
    strategy: ProposalStrategy,
    built: BuiltExperiment,
    pending_chain: Chain | EthTesterBackend | None,
    pool: LearnerPool | None = None,
) -> Simulation:
    """Publish the initial model, deploy, and write deployment.json and a first results.json.

    A failure here still leaves a results.json (status failed) that says how to retry.
    """
    from colearn_chain.chain import Chain
    from colearn_chain.chain.journal import JournaledBackend
    from colearn_chain.simulation import prepare_simulation
    from colearn_chain.weights.store import LocalDirectoryStore

    try:
        store = LocalDirectoryStore(out_dir / STORE)
        chain: Chain | None = None
        if isinstance(pending_chain, Chain):
            chain = pending_chain
        elif pending_chain is not None:
            chain = Chain(JournaledBackend(pending_chain, out_dir / JOURNAL))  # the embedded chain, kept in DIR
        simulation = prepare_simulation(
            settings, store, "memory" if chain is None else "chain", strategy, built=built, chain=chain, pool=pool
        )
        if chain is not None:  # saved beside, then renamed: never a half-written deployment.json
            partial = simulation.deployment(store.location).save(out_dir / f".{DEPLOYMENT}.tmp")
            os.replace(partial, out_dir / DEPLOYMENT)
        simulation.result("running").write(out_dir / RESULTS)
    except (Exception, KeyboardInterrupt) as exc:
        line = "interrupted" if isinstance(exc, KeyboardInterrupt) else error_line(exc)
        failed = ExperimentResult(None, None, [], None, None, settings=settings.model_dump(mode="json"))
        failed.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        failed.error = line
        failed.write(out_dir / RESULTS)
        raise RunFailed(f"{line}; the run stopped before round 0: `--out {out_dir} --force` starts it again") from exc
    return simulation


def resume_run(
    directory: Path,
    config_values: dict[str, Any] | None,
    overrides: dict[str, Any],
    audit: bool,
    console: Console,
    rpc_header: list[str] | None = None,
    rpc_ca: Path | None = None,
) -> None:
    """``run --resume DIR``: rebuild the run in DIR on its chain and play the rounds it has left."""
    from colearn_chain.chain import connect
    from colearn_chain.chain.journal import replay_journal
    from colearn_chain.deployment import Deployment
    from colearn_chain.simulation import EMBEDDED_RPC, CannotResume, build_learners, make_settings, resume_simulation
    from colearn_chain.weights.store import LocalDirectoryStore

    saved = load_saved_run(directory)
    settings = make_settings(saved.settings)
    node = overrides.get("rpc")  # where to reach the run's node now (another URL, credentials): checked below
    given = {k: v for k, v in overrides.items() if v is not None and k != "rpc"}
    if config_values or given:
        asked = make_settings({**saved.settings, **(config_values or {})}, **given)
        for name in RunSettings.model_fields:
            if name != "rpc" and getattr(asked, name) != getattr(settings, name):
                raise CannotResume(
                    f"--resume continues the run in {directory} with its own settings: {name} "
                    f"{getattr(asked, name)!r} differs from the run's {getattr(settings, name)!r} (drop the option)"
                )
    deployment_path = directory / DEPLOYMENT
    if not deployment_path.is_file():
        raise CannotResume(f"{directory} has no {DEPLOYMENT}: the run failed before it was deployed")
    deployment = Deployment.load(deployment_path)
    built = build_learners(settings)
    if deployment.rpc_url == EMBEDDED_RPC:
        if node is not None or rpc_header or rpc_ca:
            raise CannotResume(f"the run in {directory} was played on the embedded chain, kept in DIR: drop --rpc")
        chain = replay_journal(directory / JOURNAL, keep_journaling=True)
    else:
        chain = connect(rpc_endpoint(node or deployment.rpc_url, rpc_header, rpc_ca))
        if chain.chain_id != deployment.chain_id:
            raise CannotResume(
                f"the node at {chain.rpc_url} is chain {chain.chain_id}, the run's is {deployment.chain_id}"
            )
    store = LocalDirectoryStore(directory / STORE, create=False)
    strategy = checked_strategy(settings)
    simulation = resume_simulation(
        settings, store, chain, deployment, saved.rounds, saved.training_counts, strategy, built, saved.initial_score
    )
    say(console, f"resuming the run in {directory} at round {len(saved.rounds)} of {settings.rounds}")
    with stopping(console) as stop:
        play_and_report(simulation, directory, audit or saved.audited, console, stop)


def say(console: Console, text: str) -> None:
    """One plain line on stderr: never wrapped (paths and commands stay whole to copy), no markup."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def error_line(exc: BaseException) -> str:
    """The one line a failed run records: a project error's message, or the exception's type and message."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(exc, ColearnError):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def play_and_report(simulation: Simulation, out_dir: Path, audit: bool, console: Console, stop: StopRequest) -> None:
    """Play the rounds left, rewriting results.json after each; then plots, summary and ``--audit``.

    Interrupted (SIGINT/SIGTERM) or failed, the results hold the rounds done, marked so, and
    the message says how to continue; the exit code is 128 + the signal, or 1.
    """
    from colearn_chain.plots import plot_accuracy, plot_votes

    results = out_dir / RESULTS
    settings = simulation.settings
    started = time.monotonic()
    with progress_bar("round", console) as progress:
        done = len(simulation.experiment.history)
        bar = progress.add_task("setting up learners and chain...", total=settings.rounds, completed=done)

        def on_round(record: RoundRecord) -> None:
            simulation.result("running").write(results)
            outcome = "[green]accepted[/green]" if record.accepted else "[red]rejected[/red]"
            if record.skipped:
                outcome = "[yellow]skipped (privacy budget spent)[/yellow]"
            metric = simulation.metric
            accuracy = "" if record.test_accuracy is None else f", {metric.name} {metric.format(record.test_accuracy)}"
            votes = f"{record.approvals}/{record.approvals + record.rejections}"
            progress.update(bar, advance=1, description=f"{record.round}: {outcome} {votes}{accuracy}")

        try:
            result = simulation.play(on_round, should_stop=stop)
        except KeyboardInterrupt:
            simulation.result("interrupted").write(results)
            raise RunFailed(f"stopped inside a round; {_how_to_continue(simulation, out_dir)}") from None
        except Exception as exc:
            line = error_line(exc)
            simulation.result("failed", line).write(results)
            raise RunFailed(f"{line}; {_how_to_continue(simulation, out_dir)}") from exc
    result.write(results)
    if result.status == "interrupted":
        say(console, f"interrupted: {_how_to_continue(simulation, out_dir)}")
        raise typer.Exit(stop.exit_code)
    final_model = simulation.final_model()
    if final_model is not None:  # beside, then renamed: never a half-written model
        partial = out_dir / f".{MODEL}.tmp"
        partial.write_bytes(final_model)
        os.replace(partial, out_dir / MODEL)
    plot_accuracy(result, out_dir / "accuracy.png")
    plot_votes(result, out_dir / "votes.png")
    console.print(run_summary(result, time.monotonic() - started))
    stored = ", deployment.json" if result.contract else ""
    model_file = f", {MODEL}" if final_model is not None else ""
    console.print(f"results in {out_dir}/ (results.json{stored}, accuracy.png, votes.png{model_file}, store/)")
    if audit:
        report = simulation.audit(result)  # the hand-over costs recomputed from the chain's proposers
        write_json_atomically(out_dir / AUDIT, report.to_json())
        render_audit(report, Console(soft_wrap=True))
        if report.discrepancies:
            raise typer.Exit(1)


def _how_to_continue(simulation: Simulation, out_dir: Path) -> str:
    done = len(simulation.experiment.history)
    retry = f"`colearn-chain run --resume {out_dir}` continues, `--out {out_dir} --force` starts again"
    if simulation.result().contract is None:
        retry = f"`--out {out_dir} --force` starts again (an --in-memory run cannot be resumed)"
    return f"{out_dir}/results.json holds the {done} rounds done: {retry}"
