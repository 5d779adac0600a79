"""The chain client, one suite run on both backends: eth-tester and Anvil."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import (
    NO_DEADLINE,
    ZERO_ADDRESS,
    ZERO_HASH,
    Chain,
    CollectiveLearningClient,
    RoundStatus,
    fixed_to_score,
    score_to_fixed,
)
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain import events as ev
from colearn_chain.chain.accounts import generated_accounts, load_keystore, save_keystore
from colearn_chain.chain.artifact import default_artifact
from colearn_chain.chain.backends import TransactionRejected
from colearn_chain.chain.contract_errors import ERROR_CLASSES
from colearn_chain.errors import ColearnFileError, ColearnValueError

W1 = bytes([1]) * 32
W2 = bytes([2]) * 32
M1 = bytes([9]) * 32
INITIAL = bytes([7]) * 32


def _deploy(chain: Chain, count: int, **kwargs: object) -> tuple[CollectiveLearningClient, list[LocalAccount]]:
    learners = chain.new_funded_accounts(count)
    deployer = chain.dev_accounts()[0]
    kwargs.setdefault("initial_model", INITIAL)
    client = CollectiveLearningClient.deploy(chain, deployer, [a.address for a in learners], **kwargs)  # type: ignore[arg-type]
    return client, learners


def test_deploy_and_every_view(any_chain: Chain) -> None:
    selector = any_chain.dev_accounts()[1].address
    client, learners = _deploy(
        any_chain, 3, threshold_bps=6000, proposal_window=11, voting_window=12, max_rounds=13, selector=selector
    )
    assert client.learners() == [a.address for a in learners]
    assert client.learner_count() == 3
    assert client.is_learner(learners[2].address)
    assert not client.is_learner(selector)
    assert client.current_round() == 0
    assert client.current_proposer() == ZERO_ADDRESS  # selector mode, nobody nominated yet
    assert client.global_model() == INITIAL
    assert client.initial_model() == INITIAL
    assert client.threshold_bps() == 6000
    assert client.proposal_window() == 11
    assert client.voting_window() == 12
    assert client.max_rounds() == 13
    assert client.selector() == selector
    assert client.finished() is False
    info = client.round_info(0)
    assert info.status is RoundStatus.PROPOSING
    assert info.start_block == client.deployment_block
    assert (info.weights, info.manifest, info.approvals, info.rejections) == (ZERO_HASH, ZERO_HASH, 0, 0)


def test_a_round_with_typed_receipts_and_events(any_chain: Chain) -> None:
    client, learners = _deploy(any_chain, 3)
    proposer = learners[0]
    assert client.current_proposer() == proposer.address

    contributed = client.contribute(learners[1], 0, W2)
    assert contributed.events == [
        ev.UpdateContributed(
            block_number=contributed.block_number, log_index=0, tx_hash=contributed.tx_hash,
            round=0, learner=learners[1].address, weights=W2,
        )
    ]  # fmt: skip
    proposed = client.propose(proposer, 0, W1, M1)
    assert [type(e) for e in proposed.events] == [ev.WeightsProposed]
    assert client.round_info(0).status is RoundStatus.VOTING
    assert client.round_info(0).proposed_block == proposed.block_number

    first = client.vote(learners[1], 0, True, score_to_fixed(0.973))
    assert [type(e) for e in first.events] == [ev.VoteCast]
    closing = client.vote(learners[2], 0, False, score_to_fixed(-1.5))
    assert [type(e) for e in closing.events] == [ev.VoteCast, ev.RoundFinalized]
    final = closing.events[1]
    assert isinstance(final, ev.RoundFinalized)
    assert (final.round, final.accepted, final.approvals, final.rejections) == (0, True, 1, 1)
    assert final.global_model == W1
    assert client.global_model() == W1
    assert client.current_round() == 1
    assert client.current_proposer() == learners[1].address

    history = client.events()
    names = [type(e).__name__ for e in history]
    assert names == [
        "LearnerRegistered", "LearnerRegistered", "LearnerRegistered", "UpdateContributed",
        "WeightsProposed", "VoteCast", "VoteCast", "RoundFinalized",
    ]  # fmt: skip
    votes = [e for e in history if isinstance(e, ev.VoteCast)]
    assert [fixed_to_score(v.score) for v in votes] == [0.973, -1.5]
    # log indices are positions in the block, the same on both backends
    assert [e.log_index for e in history if e.block_number == closing.block_number] == [0, 1]
    assert [e.block_number for e in history] == sorted(e.block_number for e in history)


def test_reverts_are_typed_with_fields_on_every_backend(any_chain: Chain) -> None:
    client, learners = _deploy(any_chain, 3, voting_window=2)
    with pytest.raises(ce.NotProposer) as not_proposer:
        client.propose(learners[1], 0, W1)
    assert not_proposer.value.sender == learners[1].address
    assert not_proposer.value.proposer == learners[0].address
    assert not_proposer.value.error_name == "NotProposer"
    with pytest.raises(ce.WrongRound) as wrong:
        client.propose(learners[0], 4, W1)
    assert (wrong.value.current, wrong.value.given) == (0, 4)
    with pytest.raises(ce.EmptyWeights):
        client.propose(learners[0], 0, ZERO_HASH)
    client.propose(learners[0], 0, W1)
    with pytest.raises(ce.VotingOpen) as too_early:
        client.finalize(learners[1], 0)
    assert too_early.value.last_block == client.round_info(0).proposed_block + 2
    any_chain.mine(3)
    with pytest.raises(ce.VotingClosed):
        client.vote(learners[1], 0, True, 1)
    # the failed transactions did not break the nonce cache: the next one goes through
    receipt = client.finalize(learners[1], 0)
    assert isinstance(receipt.events[0], ev.RoundFinalized)
    assert receipt.events[0].accepted is False


def test_constructor_reverts_are_typed(any_chain: Chain) -> None:
    deployer = any_chain.dev_accounts()[0]
    learners: list[str] = [a.address for a in generated_accounts(2, seed=5)]
    cases: list[tuple[list[str], dict[str, object], type[ce.ContractRevert]]] = [
        ([], {}, ce.NoLearners),
        ([learners[0], learners[0]], {}, ce.DuplicateLearner),
        ([learners[0], ZERO_ADDRESS], {}, ce.ZeroAddress),
        (learners, {"threshold_bps": 10001}, ce.ThresholdOutOfRange),
        (learners, {"initial_model": ZERO_HASH}, ce.EmptyWeights),
    ]
    for addresses, extra, error in cases:
        kwargs: dict[str, object] = {"initial_model": INITIAL, **extra}
        with pytest.raises(error):
            CollectiveLearningClient.deploy(any_chain, deployer, addresses, **kwargs)  # type: ignore[arg-type]


def test_deploy_refuses_values_outside_the_abi_types(chain: Chain) -> None:
    deployer = chain.dev_accounts()[0]
    with pytest.raises(ColearnValueError, match="threshold_bps"):
        CollectiveLearningClient.deploy(chain, deployer, [deployer.address], threshold_bps=70000, initial_model=INITIAL)
    with pytest.raises(ColearnValueError, match="initial_model"):
        CollectiveLearningClient.deploy(chain, deployer, [deployer.address], initial_model=b"short")


def test_window_zero_reports_no_deadline(any_chain: Chain) -> None:
    client, learners = _deploy(any_chain, 2)
    with pytest.raises(ce.ProposalWindowOpen) as open_window:
        client.skip(learners[1], 0)
    assert open_window.value.last_block == NO_DEADLINE


def test_attach_to_a_deployment_and_read_its_history(any_chain: Chain) -> None:
    client, learners = _deploy(any_chain, 2)
    client.propose(learners[0], 0, W1)
    client.vote(learners[1], 0, True, 5)
    attached = CollectiveLearningClient.at(any_chain, client.address, client.deployment_block)
    assert attached.events() == client.events()
    assert attached.events(from_block=client.deployment_block + 1)[0].__class__ is ev.WeightsProposed
    with pytest.raises(ColearnValueError, match="no contract"):
        CollectiveLearningClient.at(any_chain, learners[0].address)


def test_one_hundred_learners_with_generated_funded_accounts(any_chain: Chain) -> None:
    client, learners = _deploy(any_chain, 100)
    assert client.learner_count() == 100
    assert all(any_chain.balance(a.address) > 0 for a in learners[::17])
    client.propose(learners[0], 0, W1)
    receipts = [client.vote(a, 0, True, 1) for a in learners[1:]]
    assert isinstance(receipts[-1].events[-1], ev.RoundFinalized)
    per_vote = {r.gas_used for r in receipts[1:-1]}
    assert len(per_vote) == 1  # every non-closing vote costs exactly the same at n = 100


def test_seeded_accounts_are_repeatable_and_distinct() -> None:
    first = generated_accounts(5, seed=42)
    assert [a.address for a in first] == [a.address for a in generated_accounts(5, seed=42)]
    assert len({a.address for a in first}) == 5
    assert first[0].address != generated_accounts(1, seed=43)[0].address


def test_keystore_round_trip_and_errors(tmp_path: Path) -> None:
    account = generated_accounts(1, seed=1)[0]
    path = save_keystore(account, tmp_path / "key.json", "s3cret")
    assert load_keystore(path, "s3cret").address == account.address
    with pytest.raises(ColearnValueError, match="wrong password"):
        load_keystore(path, "nope")
    with pytest.raises(ColearnFileError, match="already exists"):
        save_keystore(account, path, "s3cret")
    with pytest.raises(ColearnFileError, match="does not exist"):
        load_keystore(tmp_path / "missing.json", "s3cret")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ColearnFileError, match="not a readable"):
        load_keystore(tmp_path / "bad.json", "s3cret")


def test_concurrent_senders_from_threads(any_chain: Chain) -> None:
    """Learners in threads share one connection (eth-tester access is serialized internally)."""
    client, learners = _deploy(any_chain, 6)
    client.propose(learners[0], 0, W1)
    errors: list[BaseException] = []

    def cast(account: LocalAccount) -> None:
        try:
            client.vote(account, 0, True, 1)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=cast, args=(a,)) for a in learners[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert client.round_info(0).status is RoundStatus.ACCEPTED
    assert client.round_info(0).approvals == 5


def test_a_rejected_send_drops_the_nonce_cache(any_chain: Chain) -> None:
    poor = generated_accounts(1, seed=99)[0]  # never funded: the node refuses its transactions
    with pytest.raises(TransactionRejected):
        any_chain.transact(poor, poor.address, b"", gas=21_000)
    any_chain.fund([poor.address], 10**18, any_chain.dev_accounts()[0])
    receipt = any_chain.transact(poor, any_chain.dev_accounts()[0].address, b"", gas=21_000, value=1)
    assert receipt.status == 1


def test_error_classes_match_the_artifact_abi() -> None:
    abi_errors = {e["name"]: [p["name"] for p in e["inputs"]] for e in default_artifact().abi if e["type"] == "error"}
    assert set(abi_errors) == set(ERROR_CLASSES)
    for name, cls in ERROR_CLASSES.items():
        assert len(cls.field_names) == len(abi_errors[name])


def test_score_fixed_point() -> None:
    assert score_to_fixed(0.973) == 973000
    assert score_to_fixed(-0.0000004) == 0
    assert fixed_to_score(973000) == 0.973
    with pytest.raises(ValueError, match="finite"):
        score_to_fixed(float("nan"))


def test_event_history_is_indexed_incrementally(any_chain: Chain) -> None:
    """Each block is read once: later calls only read the blocks mined since."""
    client, learners = _deploy(any_chain, 2)
    read: list[tuple[int, int]] = []
    original = any_chain.backend.logs

    def recording(address: str, first: int, last: int) -> list[ev.RawLog]:
        read.append((first, last))
        return original(address, first, last)

    any_chain.backend.logs = recording  # type: ignore[method-assign, assignment]
    first = client.events()
    client.propose(learners[0], 0, W1)
    second = client.events()
    third = client.events()
    assert len(second) == len(first) + 1 and third == second
    assert read[0][0] == client.deployment_block
    assert read[1][0] == read[0][1] + 1  # the second read starts where the first ended
    covered = [block for first_block, last_block in read for block in range(first_block, last_block + 1)]
    assert len(covered) == len(set(covered))  # no block read twice
