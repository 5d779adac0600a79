"""Load the committed build artifact, so deploying and reading the contract need no compiler."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from colearn_chain.errors import ColearnFileError
from colearn_chain.paths import ARTIFACT_PATH


@dataclass(frozen=True)
class Artifact:
    """The compiled contract: ABI, creation and runtime code, and how it was built."""

    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    immutable_references: dict[str, list[dict[str, int]]]
    metadata: dict[str, Any]
    compiler_version: str
    sha256: str  # of the artifact file, recorded in deployment files

    def masked_runtime(self, runtime_code: bytes) -> bytes:
        """``runtime_code`` with every immutable's bytes zeroed, as in ``deployedBytecode``."""
        code = bytearray(runtime_code)
        for references in self.immutable_references.values():
            for ref in references:
                code[ref["start"] : ref["start"] + ref["length"]] = bytes(ref["length"])
        return bytes(code)


def load_artifact(path: Path = ARTIFACT_PATH) -> Artifact:
    """Read and check an artifact file; a clear error if it is missing or malformed."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
        return Artifact(
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            immutable_references=data.get("immutableReferences", {}),
            metadata=json.loads(data["metadata"]),
            compiler_version=data["compiler"]["version"],
            sha256=hashlib.sha256(raw).hexdigest(),
        )
    except FileNotFoundError as exc:
        raise ColearnFileError(f"contract artifact {path} is missing: run `colearn-chain compile`") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise ColearnFileError(f"contract artifact {path} is malformed ({exc}): run `colearn-chain compile`") from exc


@lru_cache(maxsize=1)
def default_artifact() -> Artifact:
    """The committed artifact, read once per process."""
    return load_artifact()
