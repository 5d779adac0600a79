"""The Typer application every command module registers itself on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="colearn-chain",
    help="Collective learning driven by a Solidity contract: proposals, votes and models on a ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Collective learning driven by a Solidity contract: proposals, votes and models on a ledger."""
