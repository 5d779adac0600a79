"""Options and helpers shared by the commands that talk to a chain or sign (as ape does)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from eth_account.signers.local import LocalAccount

from colearn_chain.chain.accounts import load_keystore
from colearn_chain.errors import ColearnValueError

if TYPE_CHECKING:
    from colearn_chain.chain.endpoint import RpcEndpoint
    from colearn_chain.weights.store import ContentStore

PASSWORD_ENV = "COLEARN_CHAIN_PASSWORD"

RpcOption = Annotated[
    str, typer.Option("--rpc", help="JSON-RPC URL of the chain's node (https://user:password@host for basic auth).")
]
OptionalRpcOption = Annotated[
    str | None,
    typer.Option("--rpc", help="JSON-RPC URL, perhaps with user:password@ (default: the deployment file's)."),
]
RpcHeaderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--rpc-header", help="HTTP header for a hosted node, 'Name: value' (repeatable): 'Authorization: Bearer T'."
    ),
]
RpcCaOption = Annotated[
    Path | None,
    typer.Option("--rpc-ca", help="PEM certificate of the private CA of an https:// node (default: the system's)."),
]
AccountOption = Annotated[Path, typer.Option("--account", help="Encrypted JSON keystore of the signing account.")]
DeploymentOption = Annotated[Path, typer.Option("--deployment", help="The deployment file `deploy` wrote.")]
#: How every --store help text ends: the forms :func:`open_store_option` accepts.
STORE_FORMS = "a directory, file:///path or s3://bucket/prefix"
StoreEndpointOption = Annotated[
    str | None,
    typer.Option(
        "--store-endpoint",
        help="URL of the S3-compatible service of an s3:// store (default: AWS_ENDPOINT_URL or the AWS profile).",
    ),
]


def open_store_option(location: str, endpoint: str | None, *, create: bool = True) -> ContentStore:
    """The content store a --store value (and --store-endpoint) names, checked now.

    The one place where commands turn a store location into a store, so a path, a
    ``file://`` URL and an ``s3://`` URL work alike everywhere; a store that is unreachable,
    missing or refuses the credentials fails here, in one line, before any work is done.
    ``create=False`` (commands that only read) never creates a directory.
    """
    from colearn_chain.weights.store_url import open_store

    store = open_store(location, endpoint_url=endpoint, create=create)
    store.check()
    return store


def rpc_endpoint(url: str, headers: list[str] | None, ca_file: Path | None) -> RpcEndpoint:
    """The node that --rpc, --rpc-header and --rpc-ca describe, checked before anything is done."""
    from colearn_chain.chain.endpoint import RpcEndpoint

    return RpcEndpoint.of(url, headers or (), ca_file)


def password(confirm: bool = False) -> str:
    """The keystore password: ``$COLEARN_CHAIN_PASSWORD``, else a hidden prompt (never an argument).

    Only these two sources: without a terminal (a script, a service, CI) a prompt could only
    echo or hang, so the error says to set the variable instead.
    """
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise ColearnValueError(f"no keystore password: set {PASSWORD_ENV}, or run the command in a terminal")
    try:
        value: str = typer.prompt("keystore password", hide_input=True, confirmation_prompt=confirm, err=True)
    except (typer.Abort, EOFError, KeyboardInterrupt):
        raise ColearnValueError(f"no keystore password given (type it, or set {PASSWORD_ENV})") from None
    return value


def unlock(keystore: Path) -> LocalAccount:
    """Decrypt ``keystore`` with :func:`password`."""
    return load_keystore(keystore, password())
