"""The committed artifact is exactly what the pinned solc makes of the committed source."""

from __future__ import annotations

import json
from pathlib import Path

from eth_utils.crypto import keccak

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.chain.artifact import default_artifact, load_artifact
from colearn_chain.chain.compiler import (
    COMPILER_SETTINGS,
    SOURCE_NAME,
    compile_artifact,
    pinned_solc_version,
    resolve_solc,
    write_artifact,
)
from colearn_chain.paths import ARTIFACT_PATH, CONTRACT_SOURCE


def test_source_keccak_matches_the_artifact_metadata() -> None:
    """Cheap and compiler-free: an edited source with a stale artifact fails here."""
    metadata = default_artifact().metadata
    recorded = metadata["sources"][SOURCE_NAME]["keccak256"]
    assert recorded == "0x" + keccak(CONTRACT_SOURCE.read_bytes()).hex()
    assert metadata["settings"]["optimizer"] == COMPILER_SETTINGS["optimizer"]
    assert metadata["settings"]["evmVersion"] == COMPILER_SETTINGS["evmVersion"]
    assert metadata["compiler"]["version"].startswith(pinned_solc_version() + "+commit.")


def test_deployed_runtime_equals_the_artifact_with_immutables_masked() -> None:
    chain = connect()
    deployer = chain.dev_accounts()[0]
    client = CollectiveLearningClient.deploy(
        chain, deployer, [deployer.address], max_rounds=3, initial_model=b"\x01" * 32
    )
    artifact = default_artifact()
    runtime = chain.code(client.address)
    expected = bytes.fromhex(artifact.deployed_bytecode[2:])
    assert len(runtime) == len(expected)
    assert runtime != expected  # the immutables really were filled in...
    assert artifact.masked_runtime(runtime) == expected  # ...and are the only difference


def test_recompiling_with_the_pinned_solc_is_byte_for_byte_identical(tmp_path: Path) -> None:
    solc = resolve_solc()
    assert solc.version.startswith(pinned_solc_version() + "+commit.")
    fresh = compile_artifact(solc=solc)
    committed = json.loads(ARTIFACT_PATH.read_text())
    assert fresh == committed
    # and writing it reproduces the committed file exactly (stable key order and format)
    out = write_artifact(fresh, tmp_path / "CollectiveLearning.json")
    assert out.read_bytes() == ARTIFACT_PATH.read_bytes()
    assert load_artifact(out).sha256 == default_artifact().sha256
