"""``colearn-chain node``: a local Anvil node from the project's pinned npm install."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from colearn_chain.chain.accounts import anvil_dev_accounts
from colearn_chain.chain.anvil import start_anvil
from colearn_chain.cli.app import app
from colearn_chain.cli.checks import free_local_port, non_negative_seconds
from colearn_chain.errors import ColearnFileError


@app.command("node")
def node_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 8545,
    state: Annotated[
        Path | None, typer.Option(help="Load the chain from FILE at start, save it there at exit.")
    ] = None,
    block_time: Annotated[
        float, typer.Option(help="Also mine an empty block every SECONDS, so deadlines pass (0: only on demand).")
    ] = 1.0,
) -> None:
    """Run Anvil on 127.0.0.1 until Ctrl-C; prints its RPC URL and the funded development keys.

    Transactions are mined at once, and an empty block every --block-time seconds, so that the
    experiment's deadlines (counted in blocks) pass even while participants are silent.
    Anvil slows down as its chain grows (measured: from about 130 to 50 transactions per second
    between blocks 200 and 1,100): start a fresh node for each long experiment.
    """
    free_local_port("--port", port)
    non_negative_seconds("--block-time", block_time)
    if state is not None:
        if not state.parent.is_dir():
            raise ColearnFileError(f"--state {state}: the folder {state.parent} does not exist (no state saved)")
        if state.exists() and not state.is_file():
            raise ColearnFileError(f"--state {state} is not a regular file")
    interval = ["--block-time", f"{block_time:g}", "--mixed-mining"] if block_time > 0 else []
    node = start_anvil(port=port or None, state_file=state, extra_args=interval)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        typer.echo(f"RPC URL: {node.url}")
        typer.echo("funded development accounts (public test keys: never use them on a real network):")
        for account in anvil_dev_accounts():
            typer.echo(f"  {account.address}  0x{bytes(account.key).hex()}")
        typer.echo("Ctrl-C to stop", err=True)
        while not stop.wait(0.5):
            if node.process.poll() is not None:
                raise typer.Exit(node.process.returncode or 1)
    finally:
        node.stop()
        typer.echo("node stopped", err=True)
