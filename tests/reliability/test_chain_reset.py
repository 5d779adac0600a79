"""A chain that lost the experiment's contract, or is another chain with the same id, is named as such."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from colearn_chain.chain import CollectiveLearningClient, connect
from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts
from colearn_chain.chain.anvil import AnvilNode, start_anvil
from colearn_chain.chain.client import ContractGone
from colearn_chain.cli.main import main
from colearn_chain.deployment import Deployment, deploy_contract
from colearn_chain.errors import ColearnValueError

INITIAL = "ab" * 32


def _deployment(node: AnvilNode) -> Deployment:
    """A deployment on ``node``, by its first development key (so a fresh node gives the same address)."""
    chain = connect(node.url)
    learners = [str(a.address) for a in generated_accounts(2, seed=4)]
    client = deploy_contract(chain, anvil_dev_accounts(1)[0], learners, threshold=0.5, max_rounds=2,
                             initial_model=INITIAL)  # fmt: skip
    genesis = chain.block_hash(0)
    assert genesis is not None
    return Deployment(
        chain_id=chain.chain_id, rpc_url=node.url, contract=client.address, deployment_block=client.deployment_block,
        artifact_sha256="00" * 32, store="store", learner={"task": "digits-mlp", "seed": 0, "count": 2},
        learners=learners, threshold=0.5, threshold_bps=5000, proposal_window=0, voting_window=0, max_rounds=2,
        selector="0x" + "00" * 20, initial_model=INITIAL, genesis_hash=genesis.hex(),
    )  # fmt: skip


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    started = start_anvil()
    try:
        yield started
    finally:
        started.stop()


def test_a_view_of_an_address_without_code_says_the_contract_is_gone() -> None:
    chain = connect()
    try:
        client = CollectiveLearningClient(chain, "0x" + "42" * 20)
        with pytest.raises(ContractGone, match="no contract at"):
            client.current_round()
        with pytest.raises(ContractGone):
            CollectiveLearningClient.at(chain, "0x" + "42" * 20)
    finally:
        chain.close()


@pytest.mark.anvil
def test_a_node_restarted_without_its_state_is_named_mid_run_and_at_join(
    node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = _deployment(node)
    client = deployment.attach(connect(node.url))
    assert client.current_round() == 0
    node.stop()
    # the same URL, an empty chain (its own genesis time: two nodes started in one second share a genesis)
    restarted = start_anvil(port=node.port, extra_args=["--timestamp", "1000000"])
    try:
        with pytest.raises(ContractGone, match="restarted without its state"):
            client.current_round()  # a participant's next look at the chain, mid-run
        with pytest.raises(ColearnValueError, match="genesis"):
            deployment.attach(connect(restarted.url))
        deployment.save(tmp_path / "d.json")
        assert main(["audit", "--deployment", str(tmp_path / "d.json"), "--store", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "genesis" in err and "unexpected" not in err and err.count("\n") == 1
    finally:
        restarted.stop()


@pytest.mark.anvil
def test_another_chain_with_the_same_id_and_contract_address_is_refused(node: AnvilNode) -> None:
    other = start_anvil(extra_args=["--timestamp", "1000000"])
    try:
        here, there = _deployment(node), _deployment(other)
        assert here.contract == there.contract and here.chain_id == there.chain_id  # indistinguishable but for genesis
        with pytest.raises(ColearnValueError, match="another chain with the same id"):
            here.attach(connect(other.url))
        assert here.attach(connect(node.url)).current_round() == 0
    finally:
        other.stop()


def test_a_deployment_on_another_chain_id_is_refused() -> None:
    chain = connect()
    try:
        fake = Deployment.model_validate({**_fields(), "chain_id": chain.chain_id + 1})
        with pytest.raises(ColearnValueError, match="the node is on chain"):
            fake.attach(chain)
    finally:
        chain.close()


def _fields() -> dict[str, object]:
    return {
        "chain_id": 1, "rpc_url": "http://127.0.0.1:1", "contract": "0x" + "11" * 20, "deployment_block": 0,
        "artifact_sha256": "00" * 32, "store": "store", "learner": {"task": "digits-mlp", "seed": 0, "count": 1},
        "learners": ["0x" + "22" * 20], "threshold": 0.5, "threshold_bps": 5000, "proposal_window": 0,
        "voting_window": 0, "max_rounds": 1, "selector": "0x" + "00" * 20, "initial_model": INITIAL,
    }  # fmt: skip
