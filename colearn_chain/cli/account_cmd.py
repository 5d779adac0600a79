"""``colearn-chain account``: create, import and list encrypted JSON keystores."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from eth_account import Account
from eth_utils.address import to_checksum_address

from colearn_chain.chain.accounts import save_keystore
from colearn_chain.cli.app import app
from colearn_chain.cli.options import password
from colearn_chain.errors import ColearnFileError, ColearnValueError

account_app = typer.Typer(help="Encrypted JSON keystores (Web3 Secret Storage) for signing.", no_args_is_help=True)
app.add_typer(account_app, name="account")

KeystoreArgument = Annotated[Path, typer.Argument(help="The keystore file.")]


def _address_of(keystore: Path) -> str:
    try:
        data = json.loads(keystore.read_text())
        return to_checksum_address("0x" + str(data["address"]).removeprefix("0x"))
    except FileNotFoundError as exc:
        raise ColearnFileError(f"keystore {keystore} does not exist") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ColearnFileError(f"{keystore} is not a JSON keystore") from exc


@account_app.command("new")
def new_account(keystore: KeystoreArgument) -> None:
    """Create a new random account and save it encrypted to KEYSTORE; prints its address."""
    if keystore.exists():
        raise ColearnFileError(f"{keystore} already exists: refusing to overwrite a keystore")
    account = Account.create()
    save_keystore(account, keystore, password(confirm=True))
    typer.echo(account.address)


@account_app.command("import")
def import_account(keystore: KeystoreArgument) -> None:
    """Read a private key (hex) from standard input and save it encrypted to KEYSTORE."""
    if keystore.exists():
        raise ColearnFileError(f"{keystore} already exists: refusing to overwrite a keystore")
    if sys.stdin.isatty():
        typer.echo("private key (hex), then Enter:", err=True)
    key = sys.stdin.readline().strip()
    try:
        account = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise ColearnValueError("standard input does not hold a valid private key (64 hex digits)") from exc
    save_keystore(account, keystore, password(confirm=True))
    typer.echo(account.address)


@account_app.command("address")
def account_address(keystore: KeystoreArgument) -> None:
    """Print KEYSTORE's address (no password needed)."""
    typer.echo(_address_of(keystore))


@account_app.command("list")
def list_accounts(
    directory: Annotated[Path, typer.Argument(help="Folder of keystores.")] = Path("keystores"),
) -> None:
    """List the keystores in DIRECTORY: one line each, address then file (easy to script)."""
    if not directory.is_dir():
        raise ColearnFileError(f"{directory} is not a directory")
    for path in sorted(directory.glob("*.json")):
        try:
            typer.echo(f"{_address_of(path)}  {path}")
        except ColearnFileError:
            continue
