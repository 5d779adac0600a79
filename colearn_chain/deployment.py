"""The deployment file: everything a participant or an auditor needs to find one experiment.

``colearn-chain deploy`` writes it; ``learner``, ``audit`` and ``selector serve`` read it. It is
plain JSON with a version, so that other tools can read it too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from colearn_chain.errors import ColearnFileError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Deployment:
    """One deployed experiment.

    Attributes
    ----------
    chain_id, rpc_url:
        The chain and a node to reach it (participants may pass their own ``--rpc``).
    contract, deployment_block:
        Where the contract is, and where its event history starts.
    artifact_sha256:
        sha256 of the artifact file the contract was deployed from.
    store:
        The content store's location (a directory path, shared by the participants).
    learner:
        How participants build their learner: ``{"task": NAME}`` for a built-in task or
        ``{"factory": "package.module:factory"}``, plus ``seed`` and ``count``.
    learners:
        The learner addresses, in contract order.
    threshold, threshold_bps, proposal_window, voting_window, max_rounds, selector:
        The contract's settings, as deployed.
    initial_model:
        The initial model's hex sha256 (in the store).
    strategy, strategy_params:
        How proposals are made.
    """

    chain_id: int
    rpc_url: str
    contract: str
    deployment_block: int
    artifact_sha256: str
    store: str
    learner: dict[str, Any]
    learners: list[str]
    threshold: float
    threshold_bps: int
    proposal_window: int
    voting_window: int
    max_rounds: int
    selector: str
    initial_model: str
    strategy: str = "round-robin"
    strategy_params: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def save(self, path: Path) -> Path:
        """Write the file; refuses to overwrite an existing one (it would orphan an experiment)."""
        if path.exists():
            raise ColearnFileError(f"{path} already exists: choose another --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        """Read a deployment file, with a one-line error for a missing or malformed one."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ColearnFileError(f"deployment file {path} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise ColearnFileError(f"deployment file {path} is not readable JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ColearnFileError(f"deployment file {path} is not a JSON object")
        if data.get("version") != FORMAT_VERSION:
            version = data.get("version")
            raise ColearnFileError(f"deployment file {path} has version {version!r}, expected {FORMAT_VERSION}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ColearnFileError(f"deployment file {path} is malformed: {exc}") from exc
