"""``colearn-chain compile``: rebuild the committed contract artifact with the pinned solc."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from colearn_chain.cli.app import app
from colearn_chain.paths import ARTIFACT_PATH, CONTRACT_SOURCE


@app.command("compile")
def compile_command(
    source: Annotated[Path, typer.Option(help="The Solidity source to compile.")] = CONTRACT_SOURCE,
    out: Annotated[Path, typer.Option(help="Where to write the artifact JSON.")] = ARTIFACT_PATH,
    check: Annotated[bool, typer.Option("--check", help="Only check that OUT is up to date; exit 1 if not.")] = False,
) -> None:
    """Compile the driver contract (solc from $SOLC_BINARY, solcx, or the npm install) into OUT."""
    from colearn_chain.chain.compiler import compile_artifact, resolve_solc, write_artifact

    console = Console(stderr=True, soft_wrap=True)
    solc = resolve_solc()
    console.print(f"solc {solc.version} ({solc.origin}: {solc.path})")
    artifact = compile_artifact(source, solc)
    if check:
        import json

        current = json.loads(out.read_text()) if out.exists() else None
        if current != artifact:
            console.print(f"[red]{out} is out of date[/red]: run `colearn-chain compile`")
            raise typer.Exit(1)
        console.print(f"{out} is up to date")
        return
    write_artifact(artifact, out)
    runtime_bytes = (len(artifact["deployedBytecode"]) - 2) // 2
    console.print(f"wrote {out} ({runtime_bytes:,} bytes of runtime code)")
