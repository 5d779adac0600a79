"""Options and helpers shared by the commands that talk to a chain or sign (as ape does)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount

from colearn_chain.chain.accounts import load_keystore

PASSWORD_ENV = "COLEARN_CHAIN_PASSWORD"

RpcOption = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain's node.")]
OptionalRpcOption = Annotated[
    str | None, typer.Option("--rpc", help="JSON-RPC URL (default: the one in the deployment file).")
]
AccountOption = Annotated[Path, typer.Option("--account", help="Encrypted JSON keystore of the signing account.")]
DeploymentOption = Annotated[Path, typer.Option("--deployment", help="The deployment file `deploy` wrote.")]


def password(confirm: bool = False) -> str:
    """The keystore password: ``$COLEARN_CHAIN_PASSWORD``, else a hidden prompt (never an argument)."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env
    value: str = typer.prompt("keystore password", hide_input=True, confirmation_prompt=confirm)
    return value


def unlock(keystore: Path) -> LocalAccount:
    """Decrypt ``keystore`` with :func:`password`."""
    return load_keystore(keystore, password())
