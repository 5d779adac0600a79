"""``colearn-chain selector``: train, and serve on a deployment, the RL node selector."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

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
from colearn_chain.cli.progress import progress_bar
from colearn_chain.errors import ColearnFileError, ColearnValueError

selector_app = typer.Typer(
    name="selector",
    help="The RL node selector (Homogeneous Learning): train a policy, or serve it on a deployment.",
    no_args_is_help=True,
)
app.add_typer(selector_app, name="selector")

#: The environment variable holding the selector keystore's password.
PASSWORD_ENV = "COLEARN_CHAIN_PASSWORD"


def curve_paths(out: Path) -> tuple[Path, Path]:
    """The learning curve's plot and JSON, beside the policy: ``NAME-learning-curve.png/.json``."""
    stem = out.with_suffix("").name
    return out.with_name(f"{stem}-learning-curve.png"), out.with_name(f"{stem}-learning-curve.json")


@selector_app.command("train")
def train_command(
    out: Annotated[Path, typer.Option(help="Where to write the policy (an ONNX file).")],
    episodes: Annotated[int, typer.Option(help="Training episodes.")] = 120,
    learners: Annotated[int, typer.Option("--learners", "-n", help="Number of learners.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the episodes, the network and exploration.")] = 0,
    goal: Annotated[float, typer.Option(help="Goal accuracy that ends an episode.")] = 0.8,
    horizon: Annotated[int, typer.Option(help="Most rounds per episode.")] = 35,
    task: Annotated[str, typer.Option(help="Built-in task of the simulated learners.")] = "digits-mlp",
    setting: Annotated[
        str, typer.Option(help="platform | hl: Homogeneous Learning's (one plain local update, no vote).")
    ] = "platform",
    partition: Annotated[str, typer.Option(help="How the data is split among learners.")] = "dominant",
    local_epochs: Annotated[
        int | None, typer.Option(help="Learners' local epochs per proposal [default: platform 1, hl the setting's].")
    ] = None,
    cost_seed: Annotated[int, typer.Option(help="Seed of the communication cost matrix.")] = 0,
    cost: Annotated[
        Path | None, typer.Option(help="A CSV of real hand-over costs (learners x learners) instead of --cost-seed.")
    ] = None,
    pca: Annotated[int, typer.Option(help="PCA components of the global model's weights in the state.")] = 0,
    network: Annotated[
        str, typer.Option(help="shared (one small net scores each learner) | paper (the paper's 500-200 MLP).")
    ] = "shared",
    epsilon_decay: Annotated[
        float, typer.Option(help="Exploration decays by exp(-this) per episode (the paper: 0.02).")
    ] = 0.02,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing policy file.")] = False,
) -> None:
    """Train the selector's DQN over simulated episodes and save its policy as ONNX."""
    from colearn_chain.selector_training.dqn import DQNSettings
    from colearn_chain.selector_training.environment import EnvironmentSettings
    from colearn_chain.selector_training.plots import plot_learning_curve
    from colearn_chain.selector_training.train import EpisodeStats, TrainSettings, train_selector

    if out.exists() and not force:
        raise ColearnFileError(f"--out {out} exists: choose a new file or pass --force")
    if out.parent.exists() and not out.parent.is_dir():
        raise ColearnFileError(f"--out {out}: {out.parent} is not a directory")
    from colearn_chain.strategies.rl.cost import read_cost_csv

    matrix = None if cost is None else tuple(map(tuple, read_cost_csv(cost, learners).tolist()))
    environment = EnvironmentSettings(
        learners=learners, task=task, partition=partition, goal=goal, horizon=horizon,
        local_epochs=local_epochs, cost_seed=cost_seed, setting=setting, cost=matrix,
    )  # fmt: skip
    dqn = dataclasses.replace(DQNSettings.named(network), epsilon_decay=epsilon_decay)
    settings = TrainSettings(episodes=episodes, seed=seed, environment=environment, dqn=dqn, pca_components=pca)
    console = Console(stderr=True)
    started = time.monotonic()
    with progress_bar("episode", console) as progress:
        bar = progress.add_task("setting up learners...", total=episodes)

        def on_episode(stats: EpisodeStats) -> None:
            ending = "[green]goal[/green]" if stats.reached_goal else "[red]cut[/red]"
            progress.update(
                bar,
                advance=1,
                description=f"{stats.rounds} rounds ({ending}), accuracy {100 * stats.final_accuracy:.1f}%, "
                f"cost {stats.cost:.3f}, epsilon {stats.epsilon:.2f}",
            )

        result = train_selector(settings, on_episode)
    result.policy.save(out)
    plot, curve = curve_paths(out)
    plot_learning_curve(result.episodes, plot)
    result.write_curve(curve)
    last = result.episodes[-min(10, len(result.episodes)) :]
    reached = sum(e.reached_goal for e in last)
    console.print(
        f"last {len(last)} episodes: {sum(e.rounds for e in last) / len(last):.1f} rounds on average, "
        f"{reached} reached the goal ({time.monotonic() - started:.0f} s)"
    )
    console.print(f"policy in {out}; learning curve in {plot} and {curve}")


@selector_app.command("serve")
def serve_command(
    deployment: Annotated[Path, typer.Option(help="The deployment file `colearn-chain deploy` wrote.")],
    account: Annotated[Path, typer.Option(help="The selector's JSON keystore (password in $COLEARN_CHAIN_PASSWORD).")],
    policy: Annotated[Path, typer.Option(help="The trained policy (ONNX).")],
    poll: Annotated[float, typer.Option(help="Seconds between polls of the chain.")] = 0.2,
    store: Annotated[
        str | None, typer.Option(help=f"The content store, {STORE_FORMS} (default: the deployment's).")
    ] = None,
    store_endpoint: StoreEndpointOption = None,
    rpc: OptionalRpcOption = None,
    rpc_header: RpcHeaderOption = None,
    rpc_ca: RpcCaOption = None,
) -> None:
    """Nominate every round's proposer of a deployed experiment until it finishes."""
    from colearn_chain.chain import connect
    from colearn_chain.chain.accounts import load_keystore
    from colearn_chain.cli.checks import positive_seconds
    from colearn_chain.selector_service import Nomination, serve_selector
    from colearn_chain.strategies.rl.policy import SelectorPolicy

    positive_seconds("--poll", poll)
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise ColearnValueError(f"set {PASSWORD_ENV} to the password of the keystore {account}")
    console = Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)], force=True)
    selector_policy = SelectorPolicy.load(policy)
    signer = load_keystore(account, password)
    from colearn_chain.deployment import Deployment

    spec = Deployment.load(deployment)
    client = spec.attach(connect(rpc_endpoint(rpc or spec.rpc_url, rpc_header, rpc_ca)))
    blob_store = open_store_option(store or spec.store, store_endpoint)
    console.print(f"serving {policy} as the selector of {client.address} from {signer.address}")

    def on_nomination(nomination: Nomination) -> None:
        if nomination.sent:
            console.print(f"round {nomination.round}: nominated learner {nomination.learner} ({nomination.address})")
        else:
            console.print(f"round {nomination.round}: [yellow]not taken[/yellow]: {nomination.reason}")

    nominations = serve_selector(
        client, signer, selector_policy, fetch=blob_store.get, poll_seconds=poll, on_nomination=on_nomination
    )
    console.print(f"experiment finished: {sum(n.sent for n in nominations)} nominations sent")
