"""Compile CollectiveLearning.sol reproducibly and write the committed build artifact.

py-solc-x's ``compile_standard`` is the only entry point used: ``compile_source`` and
``compile_files`` pass ``--combined-json``, which solc-js does not have. The compiler is found in
a fixed order (see :func:`resolve_solc`) so that a machine without internet still compiles with
the exact solc the project pins in ``package.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colearn_chain.errors import ColearnFileError, ColearnRuntimeError
from colearn_chain.paths import (
    ARTIFACT_PATH,
    CONTRACT_SOURCE,
    NODE_MODULES,
    PROJECT_ROOT,
    SOLC_NPM_WRAPPER,
)

CONTRACT_NAME = "CollectiveLearning"
#: The source unit name, relative to the repository root, as recorded in the metadata.
SOURCE_NAME = "contracts/CollectiveLearning.sol"
#: Fixed so that every machine produces the same bytes (and the same metadata hash).
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
}
_OUTPUTS = [
    "abi",
    "metadata",
    "evm.bytecode.object",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences",
]


@dataclass(frozen=True)
class SolcBinary:
    """A solc executable py-solc-x can call, and where it came from."""

    path: Path
    version: str
    origin: str  # "SOLC_BINARY", "solcx" or "npm"


class CompilerNotFound(ColearnRuntimeError):
    """No usable solc: not in SOLC_BINARY, not installed by solcx, no npm install."""


class CompilationFailed(ColearnRuntimeError):
    """solc reported errors for the contract source."""


def pinned_solc_version() -> str:
    """The exact solc version pinned in package.json (the one the artifact is built with)."""
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    version: str = package["dependencies"]["solc"]
    return version


def _version_of(binary: Path) -> str:
    import solcx.wrapper

    return solcx.wrapper.get_version_str_from_solc_binary(binary)


def resolve_solc() -> SolcBinary:
    """Find solc: ``$SOLC_BINARY``, else a solcx-installed pinned version, else the npm wrapper.

    Raises
    ------
    CompilerNotFound
        With the three ways to provide one.
    """
    from_env = os.environ.get("SOLC_BINARY")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise CompilerNotFound(f"SOLC_BINARY={from_env} is not a file")
        return SolcBinary(path, _version_of(path), "SOLC_BINARY")

    import solcx
    import solcx.install

    pinned = pinned_solc_version()
    try:
        installed = {str(v) for v in solcx.get_installed_solc_versions()}
    except Exception:  # solcx raises several types when its folder is missing or odd
        installed = set()
    if pinned in installed:
        path = Path(solcx.install.get_executable(pinned))
        return SolcBinary(path, _version_of(path), "solcx")

    if (NODE_MODULES / "solc").is_dir() and shutil.which("node"):
        return SolcBinary(SOLC_NPM_WRAPPER, _version_of(SOLC_NPM_WRAPPER), "npm")
    raise CompilerNotFound(
        f"no solc {pinned} found: run `npm install` in {PROJECT_ROOT}, "
        f"or `python -c 'import solcx; solcx.install_solc(\"{pinned}\")'`, "
        "or set SOLC_BINARY to a solc executable"
    )


def standard_input(source: str) -> dict[str, Any]:
    """The standard-JSON input for ``source`` with the project's fixed settings."""
    return {
        "language": "Solidity",
        "sources": {SOURCE_NAME: {"content": source}},
        "settings": {**COMPILER_SETTINGS, "outputSelection": {"*": {"*": _OUTPUTS}}},
    }


def compile_artifact(source_path: Path = CONTRACT_SOURCE, solc: SolcBinary | None = None) -> dict[str, Any]:
    """Compile the contract and return the artifact (the dict written to the build file)."""
    import solcx

    try:
        source = source_path.read_text()
    except OSError as exc:
        raise ColearnFileError(f"cannot read the contract source {source_path}: {exc.strerror}") from exc
    solc = solc or resolve_solc()
    try:
        output = solcx.compile_standard(standard_input(source), solc_binary=solc.path)
    except solcx.exceptions.SolcError as exc:
        raise CompilationFailed(f"solc failed on {source_path}: {exc.message}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationFailed("\n".join(e["formattedMessage"] for e in errors))
    contract = output["contracts"][SOURCE_NAME][CONTRACT_NAME]
    evm = contract["evm"]
    long_version = re.sub(r"\.(Emscripten|Linux|Darwin|Windows).*$", "", solc.version)
    return {
        "contractName": CONTRACT_NAME,
        "sourceName": SOURCE_NAME,
        "abi": contract["abi"],
        "bytecode": "0x" + evm["bytecode"]["object"],
        "deployedBytecode": "0x" + evm["deployedBytecode"]["object"],
        "immutableReferences": evm["deployedBytecode"].get("immutableReferences", {}),
        "metadata": contract["metadata"],
        "compiler": {"name": "solc", "version": long_version, "settings": COMPILER_SETTINGS},
    }


def write_artifact(artifact: dict[str, Any], path: Path = ARTIFACT_PATH) -> Path:
    """Write ``artifact`` as stable, sorted JSON (so a recompile diffs to nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(artifact, indent=2, sort_keys=True) + "\n")
    return path
