"""Deploying an experiment, and the deployment file that lets others find it.

:func:`deploy_contract` is the one way an experiment's contract is deployed, by ``colearn-chain
run`` (through :func:`colearn_chain.simulation.build_chain_ledger`) and by ``colearn-chain
deploy`` (through :func:`deploy_experiment`, which also publishes the initial model and funds the
learners). ``deploy`` writes the deployment file; ``learner``, ``audit`` and ``selector serve``
read it. It is plain JSON with a version, so that other tools can read it too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.weights.digest import Digest

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from colearn_chain.chain import Chain, CollectiveLearningClient
    from colearn_chain.learner_spec import LearnerSpec
    from colearn_chain.weights.store import ContentStore

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Deployment:
    """One deployed experiment.

    Attributes
    ----------
    chain_id, rpc_url:
        The chain and a node to reach it, without credentials (participants pass their own
        ``--rpc``, ``--rpc-header`` to a node that wants them).
    contract, deployment_block:
        Where the contract is, and where its event history starts.
    artifact_sha256:
        sha256 of the artifact file the contract was deployed from.
    store:
        The content store's location, shared by the participants: a directory path, or a
        ``file://`` or ``s3://bucket/prefix`` URL (what ``--store`` takes).
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
    start_block:
        The block round 0 started at (its proposal window runs from there): the deployment
        block, or later with ``deploy --start-in``.
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
    start_block: int = 0
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


def deploy_contract(
    chain: Chain,
    deployer: LocalAccount,
    learners: Sequence[str],
    *,
    threshold: float,
    max_rounds: int,
    initial_model: str | bytes,
    proposal_window: int = 0,
    voting_window: int = 0,
    selector: str | None = None,
    start_block: int = 0,
) -> CollectiveLearningClient:
    """Deploy one experiment's contract with ``learners`` (addresses, in order).

    Parameters
    ----------
    threshold:
        Share of the n - 1 voters that must approve, in (0, 1] (the contract keeps basis points).
    max_rounds:
        Rounds the experiment lasts (0: unlimited).
    initial_model:
        The digest of the model every learner starts from, in any spelling.
    proposal_window, voting_window:
        Blocks a round waits for its proposal and for its votes (0: forever).
    selector:
        The address allowed to nominate proposers; None for the contract's rotation.
    start_block:
        Round 0 starts at ``max(deployment block, start_block)`` (PROTOCOL v2's ``startBlock``).
    """
    from colearn_chain.chain import ZERO_ADDRESS, CollectiveLearningClient
    from colearn_chain.ledger import threshold_to_bps

    return CollectiveLearningClient.deploy(
        chain,
        deployer,
        list(learners),
        threshold_bps=threshold_to_bps(threshold),
        proposal_window=proposal_window,
        voting_window=voting_window,
        max_rounds=max_rounds,
        initial_model=Digest(initial_model).bytes32,
        selector=selector or ZERO_ADDRESS,
        start_block=start_block,
    )


def deploy_experiment(
    chain: Chain,
    deployer: LocalAccount,
    learners: Sequence[str],
    store: ContentStore,
    spec: LearnerSpec,
    *,
    threshold: float,
    max_rounds: int,
    proposal_window: int = 0,
    voting_window: int = 0,
    selector: str | None = None,
    strategy: str = "round-robin",
    strategy_params: dict[str, Any] | None = None,
    fund_wei: int | None = None,
    start_in_blocks: int = 0,
) -> Deployment:
    """Publish the initial model in ``store``, deploy the contract, fund the learners; describe it.

    The initial model is learner 0's of ``spec`` (every learner built from one spec starts from
    the same weights). ``chain`` and ``store`` are already open (the CLI checks both before it
    unlocks the keystore); the deployment records the chain's URL without credentials and the
    store's :attr:`~ContentStore.location`. Round 0 starts ``start_in_blocks`` blocks after the
    one the contract is deployed in, counted once the initial model is published. Returns the
    deployment file's contents; saving it is the caller's choice.
    """
    from colearn_chain.chain import ZERO_ADDRESS
    from colearn_chain.chain.artifact import default_artifact
    from colearn_chain.experiment import publish_initial_model
    from colearn_chain.ledger import threshold_to_bps

    if chain.rpc_url is None:
        raise ColearnValueError("deploy needs a JSON-RPC node: the embedded chain ends with its process")
    initial = publish_initial_model([spec.build(0)], store)
    start_block = chain.block_number() + 1 + start_in_blocks if start_in_blocks else 0
    client = deploy_contract(
        chain,
        deployer,
        learners,
        threshold=threshold,
        max_rounds=max_rounds,
        initial_model=initial,
        proposal_window=proposal_window,
        voting_window=voting_window,
        selector=selector,
        start_block=start_block,
    )
    if fund_wei is not None:
        chain.fund(list(learners), fund_wei, deployer)
    return Deployment(
        chain_id=chain.chain_id,
        rpc_url=chain.rpc_url,
        contract=client.address,
        deployment_block=client.deployment_block,
        artifact_sha256=default_artifact().sha256,
        store=store.location,
        learner=spec.to_json(),
        learners=list(learners),
        threshold=threshold,
        threshold_bps=threshold_to_bps(threshold),
        proposal_window=proposal_window,
        voting_window=voting_window,
        max_rounds=max_rounds,
        selector=selector or ZERO_ADDRESS,
        initial_model=str(initial),
        strategy=strategy,
        strategy_params=dict(strategy_params or {}),
        start_block=client.round_info(0).start_block,
    )
