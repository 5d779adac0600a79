"""Where the project's own files live: the contracts, the committed build, the npm tools."""

from __future__ import annotations

from pathlib import Path

#: The repository root (the package is installed in editable mode, as the README says).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
CONTRACT_SOURCE = CONTRACTS_DIR / "CollectiveLearning.sol"
ARTIFACT_PATH = CONTRACTS_DIR / "build" / "CollectiveLearning.json"
NODE_MODULES = PROJECT_ROOT / "node_modules"
SOLC_NPM_WRAPPER = PROJECT_ROOT / "scripts" / "solc-npm"
ANVIL_BINARY = NODE_MODULES / ".bin" / "anvil"
