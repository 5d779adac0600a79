"""Deploying an experiment, and the deployment file that lets others find it.

:func:`deploy_contract` is the one way an experiment's contract is deployed, by ``colearn-chain
run`` (through :func:`colearn_chain.simulation.build_chain_ledger`) and by ``colearn-chain
deploy`` (through :func:`deploy_experiment`, which also publishes the initial model and funds the
learners). ``deploy`` writes the deployment file; ``learner``, ``audit`` and ``selector serve``
read it. It is plain JSON with a version, so that other tools can read it too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.weights.digest import Digest

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from colearn_chain.chain import Chain, CollectiveLearningClient
    from colearn_chain.learner_spec import LearnerSpec
    from colearn_chain.weights.store import ContentStore

FORMAT_VERSION: Literal[1] = 1

_BlockNumber = Annotated[int, Field(strict=True, ge=0)]
_Window = Annotated[int, Field(strict=True, ge=0, lt=2**64)]
_HEX64 = r"^(0x)?[0-9a-fA-F]{64}$"


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"{what} {value!r} is not an Ethereum address")
    return to_checksum_address(value)


class Deployment(BaseModel):
    """One deployed experiment: the deployment file, validated field by field when it is read.

    A participant trusts this file to find the contract, the store and the task, so a file
    that is hand-edited, truncated or tampered with must fail here, naming the field, rather
    than deep inside a chain call.

    Attributes
    ----------
    chain_id, rpc_url:
        The chain and a node to reach it, without credentials (participants pass their own
        ``--rpc``, ``--rpc-header`` to a node that wants them); ``embedded`` for a run's own chain.
    genesis_hash:
        Hex hash of the chain's block 0 (None in files written before it was recorded): a node
        with the right chain id but another history (a development node restarted without its
        state) is named as such.
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

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: Annotated[int, Field(strict=True, ge=1)]
    rpc_url: Annotated[str, Field(strict=True, pattern=r"^(https?://\S+|embedded)$")]
    contract: str
    deployment_block: _BlockNumber
    artifact_sha256: Annotated[str, Field(strict=True, pattern=_HEX64)]
    store: Annotated[str, Field(strict=True, min_length=1)]
    learner: dict[str, Any]
    learners: Annotated[list[str], Field(min_length=1)]
    threshold: Annotated[float, Field(gt=0, le=1)]
    threshold_bps: Annotated[int, Field(strict=True, ge=1, le=10_000)]
    proposal_window: _Window
    voting_window: _Window
    max_rounds: _Window
    selector: str
    initial_model: Annotated[str, Field(strict=True, pattern=_HEX64)]
    strategy: Annotated[str, Field(strict=True, min_length=1)] = "round-robin"
    strategy_params: dict[str, Any] = Field(default_factory=dict)
    start_block: _BlockNumber = 0
    genesis_hash: Annotated[str, Field(strict=True, pattern=_HEX64)] | None = None
    version: Literal[1] = FORMAT_VERSION

    @field_validator("contract", "selector", mode="before")
    @classmethod
    def _checksum(cls, value: object) -> str:
        return _address(value, "the address")

    @field_validator("learners", mode="before")
    @classmethod
    def _learner_addresses(cls, value: object) -> list[str]:
        if not isinstance(value, list):
            raise ValueError(f"a list of learner addresses is expected, got {type(value).__name__}")
        addresses = [_address(item, "learner") for item in value]
        if len(set(addresses)) != len(addresses):
            raise ValueError("a learner is listed twice")
        return addresses

    @field_validator("threshold", mode="before")
    @classmethod
    def _finite_threshold(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"a number in (0, 1] is expected, got {value!r}")
        return value

    @field_validator("learner")
    @classmethod
    def _learner_description(cls, value: dict[str, Any]) -> dict[str, Any]:
        from colearn_chain.learner_spec import LearnerSpec

        try:
            LearnerSpec.from_json(value)
        except ColearnValueError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Deployment:
        count = self.learner.get("count")
        if count != len(self.learners):
            raise ValueError(f"learner.count is {count!r} but {len(self.learners)} learners are listed")
        return self

    def save(self, path: Path) -> Path:
        """Write the file; refuses to overwrite an existing one (it would orphan an experiment)."""
        if path.exists():
            raise ColearnFileError(f"{path} already exists: choose another --out")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise ColearnFileError(f"cannot write the deployment file {path}: {exc.strerror or exc}") from exc
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        """Read a deployment file; a one-line error naming the file and the first bad field."""
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
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ColearnFileError(f"deployment file {path}: {first_problem(exc)}") from None

    def attach(self, chain: Chain) -> CollectiveLearningClient:
        """The deployment's contract on ``chain``, after checking that it is the deployment's chain.

        Raises
        ------
        ColearnValueError
            The node is on another chain id, or on another history (genesis) of the same id.
        ContractGone
            The chain has no contract at the address (a development node restarted empty).
        """
        from colearn_chain.chain import CollectiveLearningClient

        if chain.chain_id != self.chain_id:
            raise ColearnValueError(f"the node is on chain {chain.chain_id}, the deployment on chain {self.chain_id}")
        check_same_genesis(chain, self.genesis_hash)
        return CollectiveLearningClient.at(chain, self.contract, self.deployment_block)


def check_same_genesis(chain: Chain, expected: str | None) -> None:
    """Refuse a node whose block 0 is not the deployment's (same chain id, another chain)."""
    if expected is None:
        return
    found = chain.block_hash(0)
    if found is None or found.hex() != expected.removeprefix("0x").lower():
        shown = "none" if found is None else "0x" + found.hex()[:16]
        raise ColearnValueError(
            f"the node's chain {chain.chain_id} has genesis block {shown}..., the deployment's is "
            f"0x{expected.removeprefix('0x')[:16]}...: another chain with the same id (a development "
            "node restarted without its state?)"
        )


def check_can_fund(chain: Chain, deployer: str, learners: int, fund_wei: int) -> None:
    """Refuse ``--fund`` beyond the deployer's balance before anything is deployed.

    Deploying first and failing at the first transfer would leave a contract on the chain and
    no deployment file naming it.
    """
    needed = fund_wei * learners
    balance = chain.balance(deployer)
    if needed >= balance:
        raise ColearnValueError(
            f"--fund: {learners} learners x {fund_wei / 10**18:g} ether is {needed / 10**18:g} ether, "
            f"the deployer {deployer} has {balance / 10**18:g} (and pays for gas too)"
        )


def first_problem(error: ValidationError) -> str:
    """The first of pydantic's errors as ``field 'a.b': message`` (one line)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    shown = "" if first["type"] in ("missing", "value_error") else f" (got {first.get('input')!r:.60})"
    return f"field {where!r}: {message}{shown}" if where else message


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
    if fund_wei is not None:
        check_can_fund(chain, deployer.address, len(learners), fund_wei)
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
    genesis = chain.block_hash(0)
    return Deployment(
        chain_id=chain.chain_id,
        genesis_hash=genesis.hex() if genesis is not None else None,
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
