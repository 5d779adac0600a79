"""submitVotes (PROTOCOL.md v2): every revert in its order, the skip rule, batches that end the
round, the EIP-712 digest, and the v2 views; on eth-tester and on Anvil (the ``setup`` fixture)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import Chain, CollectiveLearningClient
from colearn_chain.chain import contract_errors as ce
from colearn_chain.chain import events as ev
from colearn_chain.chain.signing import VOTE_TYPES, vote_digest
from colearn_chain.errors import ColearnValueError

from .contract_setup import HALF_ORDER, Setup, entry_tuple, honest_entry, reverts
from .protocol_model import BatchEntry

W1 = bytes([0x11]) * 32
W2 = bytes([0x22]) * 32
Entry = tuple[int, bool, int, bytes, bytes]


def keys(events: list[ev.Event]) -> list[tuple[str, dict[str, Any]]]:
    """Events as (name, fields) without where they happened."""
    where = {"block_number", "log_index", "tx_hash"}
    return [(type(e).__name__, {f.name: getattr(e, f.name) for f in fields(e) if f.name not in where}) for e in events]


class Batch:
    """A deployment in its voting phase, and a way to sign and submit entries for it."""

    def __init__(self, setup: Setup, n: int = 4, **settings: Any) -> None:
        self.setup = setup
        self.client, self.learners = setup.deploy(n, **settings)
        self.key_of: dict[str, LocalAccount] = {str(a.address): a for a in setup.chain.dev_accounts()}

    def propose(self, round: int = 0, weights: bytes = W1) -> None:
        self.client.propose(self.learners[round % len(self.learners)], round, weights)

    def entry(
        self, index: int, round: int = 0, weights: bytes = W1, approve: bool = True, score: int = 973_000,
        signed: dict[str, Any] | None = None,
    ) -> BatchEntry:
        """Learner ``index``'s vote signed for ``round`` and ``weights`` (``signed``: other changes
        to what was really signed; an index past the learners is signed by the deployer)."""
        voter = self.learners[index] if index < len(self.learners) else self.setup.deployer
        return honest_entry(self.client, voter, index, round, weights, approve, score, signed)

    def tuples(self, *entries: BatchEntry) -> list[Entry]:
        return [entry_tuple(e, self.key_of) for e in entries]

    def submit(self, *entries: BatchEntry, round: int = 0, sender: LocalAccount | None = None) -> Any:
        return self.client.submit_vote_entries(sender or self.setup.outsider, round, self.tuples(*entries))


def test_a_batch_has_exactly_the_effect_of_the_same_direct_votes(setup: Setup) -> None:
    """The same votes by `vote` and by one `submitVotes`: same events in the same order, same rounds."""
    direct, learners = setup.deploy(4, threshold_bps=6666)
    direct.propose(learners[0], 0, W1)
    votes = [(1, True, 5), (2, False, -7), (3, True, 973_000)]
    direct_events = []
    for index, approve, score in votes:
        direct_events += direct.vote(learners[index], 0, approve, score).events

    batch = Batch(setup, threshold_bps=6666)
    batch.propose()
    receipt = batch.submit(*(batch.entry(i, approve=a, score=s) for i, a, s in votes))
    assert keys(receipt.events) == keys(direct_events)
    assert [type(e).__name__ for e in receipt.events] == ["VoteCast"] * 3 + ["RoundFinalized"]
    assert batch.client.round_info(0) == replace(
        direct.round_info(0), start_block=batch.client.round_info(0).start_block,
        proposed_block=batch.client.round_info(0).proposed_block)  # fmt: skip
    assert batch.client.global_model() == direct.global_model() == W1
    assert batch.client.current_round() == 1


def test_the_relayer_may_be_anyone_and_votes_may_come_in_several_batches(setup: Setup) -> None:
    b = Batch(setup)
    b.propose()
    first = b.submit(b.entry(2), sender=setup.deployer)
    assert keys(first.events) == [("VoteCast", {"round": 0, "voter": b.learners[2].address, "approve": True,
                                                "score": 973_000})]  # fmt: skip
    assert [b.client.has_voted(0, a.address) for a in b.learners] == [False, False, True, False]
    last = b.submit(b.entry(1), b.entry(3), sender=b.learners[0])  # the proposer relays
    assert [type(e).__name__ for e in last.events] == ["VoteCast", "VoteCast", "RoundFinalized"]
    assert b.client.round_info(0).approvals == 3


# --------------------------------------------------------------------------------------------
# Reverts before any entry, in PROTOCOL.md's order
# --------------------------------------------------------------------------------------------


def test_experiment_finished_comes_first(setup: Setup) -> None:
    b = Batch(setup, n=2, max_rounds=1)
    b.propose()
    b.submit(b.entry(1))
    assert b.client.finished()
    reverts(ce.ExperimentFinished, lambda: b.submit(b.entry(1), round=0), max_rounds=1)
    reverts(ce.ExperimentFinished, lambda: b.submit(round=5), max_rounds=1)  # also WrongRound, EmptyBatch


def test_wrong_round_before_no_proposal_before_empty_batch(setup: Setup) -> None:
    b = Batch(setup)
    reverts(ce.WrongRound, lambda: b.submit(round=1), current=0, given=1)  # also NoProposal, EmptyBatch
    reverts(ce.NoProposal, lambda: b.submit(), round=0)  # also EmptyBatch
    reverts(ce.NoProposal, lambda: b.submit(b.entry(1)), round=0)
    b.propose()
    reverts(ce.EmptyBatch, lambda: b.submit())
    reverts(ce.WrongRound, lambda: b.submit(b.entry(1), round=2**256 - 1), current=0, given=2**256 - 1)


def test_voting_window_last_block_then_voting_closed_before_empty_batch(setup: Setup) -> None:
    b = Batch(setup, voting_window=2)
    b.propose()
    proposed = b.client.round_info(0).proposed_block
    setup.next_tx_in(proposed + 2)
    assert b.submit(b.entry(1)).block_number == proposed + 2
    reverts(ce.VotingClosed, lambda: b.submit(), round=0, last_block=proposed + 2)
    reverts(ce.VotingClosed, lambda: b.submit(b.entry(2)), round=0, last_block=proposed + 2)


# --------------------------------------------------------------------------------------------
# Entry by entry: UnsortedVotes, BadVoteSignature, ProposerCannotVote
# --------------------------------------------------------------------------------------------


def test_indices_must_strictly_increase(setup: Setup) -> None:
    b = Batch(setup, n=5)
    b.propose()
    reverts(ce.UnsortedVotes, lambda: b.submit(b.entry(2), b.entry(1)), position=1)
    reverts(ce.UnsortedVotes, lambda: b.submit(b.entry(1), b.entry(1)), position=1)  # a duplicate
    reverts(ce.UnsortedVotes, lambda: b.submit(b.entry(1), b.entry(3), b.entry(4), b.entry(2)), position=3)
    # the order is checked before the entry's signature...
    reverts(ce.UnsortedVotes, lambda: b.submit(b.entry(3), b.entry(2, round=9)), position=1)
    # ...but entry by entry: an earlier bad signature is met first
    reverts(ce.BadVoteSignature, lambda: b.submit(b.entry(1, round=9), b.entry(3), b.entry(2)), index=1)
    assert b.client.round_info(0).approvals == 0


def test_an_index_past_the_learners_is_a_bad_signature(setup: Setup) -> None:
    b = Batch(setup)
    b.propose()
    reverts(ce.BadVoteSignature, lambda: b.submit(b.entry(1), b.entry(4)), index=4)
    reverts(ce.BadVoteSignature, lambda: b.submit(b.entry(2**32 - 1)), index=2**32 - 1)


@pytest.mark.parametrize(
    "changes",
    [
        {"signer": "outsider"},  # someone else's key
        {"signer": "another learner"},  # a learner's key, for another learner's index
        {"round": 1},  # a vote for another round (a replay from a later or earlier one)
        {"weights": W2},  # a vote on another proposal
        {"contract": "another contract"},  # a replay from another experiment
        {"chain_id": "another chain"},  # a replay from another chain
        {"approve": False},  # the relayer flipped the vote
        {"score": 973_001},  # the relayer changed the score
        {"low_s": False},  # the malleable twin of a valid signature
    ],
    ids=lambda changes: next(iter(changes)) + "=" + str(next(iter(changes.values()))),
)
def test_a_signature_not_the_learners_for_this_proposal_is_refused(setup: Setup, changes: dict[str, Any]) -> None:
    b = Batch(setup)
    b.propose()
    other, _ = setup.deploy(4)
    resolved = {
        "outsider": setup.outsider.address,
        "another learner": b.learners[3].address,
        "another contract": other.address,
        "another chain": setup.chain.chain_id + 1,
    }
    changes = {k: resolved.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    reverts(ce.BadVoteSignature, lambda: b.submit(b.entry(1), b.entry(2, signed=changes)), index=2)
    assert b.client.round_info(0).approvals == 0  # the good entry before it is not counted either


def test_a_replay_of_last_rounds_batch_is_refused(setup: Setup) -> None:
    b = Batch(setup, n=3)
    b.propose(0, W1)
    old = b.tuples(b.entry(1), b.entry(2))
    b.client.submit_vote_entries(setup.outsider, 0, old)
    b.propose(1, W1)  # the same weights again: the round in the signature still differs
    reverts(ce.BadVoteSignature, lambda: b.client.submit_vote_entries(setup.outsider, 1, old), index=1)


def test_high_s_and_garbage_signatures_are_refused(setup: Setup) -> None:
    b = Batch(setup)
    b.propose()
    index, approve, score, r, vs = b.tuples(b.entry(1))[0]
    parity = int.from_bytes(vs, "big") >> 255
    for s in (HALF_ORDER + 1, 2**255 - 1):  # above n / 2 and still representable
        high = (s | parity << 255).to_bytes(32, "big")
        batch = [(index, approve, score, r, high)]
        reverts(ce.BadVoteSignature, lambda e=batch: b.client.submit_vote_entries(setup.outsider, 0, e),  # type: ignore[misc]
                index=1)  # fmt: skip
    for r_bad, vs_bad in ((bytes(32), vs), (r, bytes(32)), (bytes(32), bytes(32))):
        batch = [(index, approve, score, r_bad, vs_bad)]
        reverts(ce.BadVoteSignature, lambda e=batch: b.client.submit_vote_entries(setup.outsider, 0, e),  # type: ignore[misc]
                index=1)  # fmt: skip


def test_the_proposer_in_a_batch_reverts_after_its_signature_is_checked(setup: Setup) -> None:
    b = Batch(setup)
    b.propose()  # learner 0 proposes
    proposer = b.learners[0].address
    reverts(ce.ProposerCannotVote, lambda: b.submit(b.entry(0), b.entry(1)), proposer=proposer)
    reverts(ce.BadVoteSignature, lambda: b.submit(b.entry(0, weights=W2), b.entry(1)), index=0)


# --------------------------------------------------------------------------------------------
# Already voted: skipped. The last eligible vote: the round ends mid-batch.
# --------------------------------------------------------------------------------------------


def test_an_entry_of_a_voter_who_already_voted_is_skipped(setup: Setup) -> None:
    b = Batch(setup, n=5)
    b.propose()
    b.client.vote(b.learners[2], 0, False, 1)  # directly, before the relayer
    receipt = b.submit(b.entry(1), b.entry(2), b.entry(3))
    assert [e.voter for e in receipt.events if isinstance(e, ev.VoteCast)] == [
        b.learners[1].address, b.learners[3].address]  # fmt: skip
    again = b.submit(b.entry(1), b.entry(3))  # the same batch twice: all skipped, no revert
    assert again.events == []
    assert b.client.round_info(0).approvals == 2 and b.client.round_info(0).rejections == 1
    reverts(ce.AlreadyVoted, lambda: b.client.vote(b.learners[3], 0, True, 0), round=0,
            voter=b.learners[3].address)  # a batch vote is a vote for `vote` too


def test_the_last_eligible_vote_ends_the_round_mid_batch_and_the_rest_is_skipped(setup: Setup) -> None:
    b = Batch(setup, n=4)
    b.propose()
    b.client.vote(b.learners[3], 0, True, 0)
    receipt = b.submit(b.entry(1), b.entry(2), b.entry(3))  # 2 is the last eligible vote
    assert [type(e).__name__ for e in receipt.events] == ["VoteCast", "VoteCast", "RoundFinalized"]
    assert b.client.current_round() == 1 and b.client.round_info(0).approvals == 3


def test_entries_after_the_finalizing_vote_are_still_checked(setup: Setup) -> None:
    """A decision (PROTOCOL.md leaves it open): the rest of a batch that ended its round is
    still checked against that round's proposal, so one bad entry reverts the whole batch,
    whichever of its votes happened to be the last eligible one."""
    b = Batch(setup, n=4)
    b.propose()
    b.client.vote(b.learners[3], 0, True, 0)
    reverts(ce.BadVoteSignature, lambda: b.submit(b.entry(1), b.entry(2), b.entry(3, weights=W2)), index=3)
    assert b.client.current_round() == 0 and b.client.round_info(0).approvals == 1


def test_the_proposer_after_the_finalizing_vote_still_reverts(setup: Setup) -> None:
    b = Batch(setup, n=4, selector=setup.selector.address)
    b.client.nominate(setup.selector, 0, b.learners[3].address)
    b.client.propose(b.learners[3], 0, W1)
    reverts(ce.ProposerCannotVote, lambda: b.submit(b.entry(0), b.entry(1), b.entry(2), b.entry(3)),
            proposer=b.learners[3].address)  # fmt: skip
    assert b.client.current_round() == 0


def test_has_voted_is_for_the_round_in_progress_only(setup: Setup) -> None:
    b = Batch(setup, n=3)
    b.propose()
    a1 = b.learners[1].address
    assert not b.client.has_voted(0, a1)
    b.submit(b.entry(1))
    assert b.client.has_voted(0, a1)
    assert not b.client.has_voted(1, a1) and not b.client.has_voted(2**256 - 1, a1)
    assert not b.client.has_voted(0, setup.outsider.address)
    assert not b.client.has_voted(0, b.learners[0].address)  # the proposer never votes
    b.submit(b.entry(2))
    assert not b.client.has_voted(0, a1)  # round 0 is over
    assert not b.client.has_voted(1, a1)  # and round 1 starts with no votes


# --------------------------------------------------------------------------------------------
# EIP-712: the digest, the domain, the version
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("round", "approve", "score"),
    [(0, True, 973_000), (7, False, -1), (2**256 - 1, True, 2**63 - 1), (3, False, -(2**63))],
)
def test_vote_digest_equals_eth_accounts_typed_data_digest(
    setup: Setup, round: int, approve: bool, score: int
) -> None:
    client, _ = setup.deploy(3)
    domain = client.eip712_domain()
    assert domain == {"name": "CollectiveLearning", "version": "2", "chainId": setup.chain.chain_id,
                      "verifyingContract": client.address}  # fmt: skip
    message = {"round": round, "weights": W2, "approve": approve, "score": score}
    signed = Account.sign_typed_data(setup.outsider.key, domain, VOTE_TYPES, message)
    on_chain = client.vote_digest(round, W2, approve, score)
    assert on_chain == bytes(signed.message_hash)
    assert on_chain == vote_digest(client.address, setup.chain.chain_id, round, W2, approve, score)
    # the full-message form (as a wallet would receive it) gives the same digest
    full = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            **VOTE_TYPES}, "primaryType": "Vote", "domain": domain, "message": message}  # fmt: skip
    assert Account.sign_message(encode_typed_data(full_message=full), setup.outsider.key).message_hash == on_chain


def test_protocol_version_is_two(setup: Setup) -> None:
    client, _ = setup.deploy(1)
    assert client.protocol_version() == 2


def test_the_client_sorts_converts_and_refuses_strangers(setup: Setup) -> None:
    """submit_votes takes 65-byte eth-account signatures in any order and sends them compact, sorted."""
    b = Batch(setup)
    b.propose()
    votes = [b.client.sign_vote(b.learners[i], 0, W1, i != 2, 10 * i) for i in (3, 1, 2)]
    assert all(len(v.signature) == 65 for v in votes)
    stranger = b.client.sign_vote(setup.outsider, 0, W1, True, 0)
    with pytest.raises(ColearnValueError, match="not a learner"):
        b.client.submit_votes(setup.outsider, 0, [*votes, stranger])
    receipt = b.client.submit_votes(setup.outsider, 0, votes)
    assert [(e.voter, e.approve, e.score) for e in receipt.events if isinstance(e, ev.VoteCast)] == [
        (b.learners[1].address, True, 10), (b.learners[2].address, False, 20), (b.learners[3].address, True, 30)]


# --------------------------------------------------------------------------------------------
# Many learners: several vote words (192 learners each) and learner pages (256 each)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_four_hundred_learners_across_vote_words_and_pages(chain: Chain) -> None:
    from colearn_chain.chain.accounts import generated_accounts

    deployer = chain.dev_accounts()[0]
    learners = generated_accounts(400, seed=7)  # only the proposer and one direct voter need funds
    chain.fund([learners[0].address, learners[300].address], 10**18, deployer)
    client = CollectiveLearningClient.deploy(chain, deployer, [a.address for a in learners], initial_model=W2)
    assert client.learners() == [a.address for a in learners]
    client.propose(learners[0], 0, W1)
    client.vote(learners[300], 0, True, 1)  # word 1, page 1
    votes = [client.sign_vote(a, 0, W1, True, 2) for a in learners[1:]]
    first = client.submit_votes(deployer, 0, votes[:250])  # learners 1..250: words 0 and 1, pages 0
    assert len(first.events) == 250
    assert client.has_voted(0, learners[200].address) and not client.has_voted(0, learners[399].address)
    last = client.submit_votes(deployer, 0, votes[150:])  # 151..250 again, 300 voted: all skipped
    cast = [e for e in last.events if isinstance(e, ev.VoteCast)]
    assert [e.voter for e in cast] == [a.address for a in learners[251:] if a is not learners[300]]
    assert isinstance(last.events[-1], ev.RoundFinalized) and last.events[-1].approvals == 399


def test_signing_refuses_values_outside_the_vote_types() -> None:
    from colearn_chain.chain.accounts import eth_tester_dev_accounts
    from colearn_chain.chain.signing import compact_signature, sign_vote

    account = eth_tester_dev_accounts()[0]
    contract = "0x" + "c0" * 20
    for round, weights, score in ((-1, W1, 0), (0, b"short", 0), (0, W1, 2**63), (0, W1, -(2**63) - 1)):
        with pytest.raises(ColearnValueError):
            sign_vote(account, contract, 1, round, weights, True, score)
    signature = sign_vote(account, contract, 1, 0, W1, True, 0).signature
    compact = compact_signature(signature)
    assert len(compact) == 64 and compact[:32] == signature[:32]
    assert int.from_bytes(compact[32:], "big") >> 255 == signature[64] - 27  # the parity bit
    assert compact_signature(compact) == compact
    with pytest.raises(ColearnValueError):
        compact_signature(signature[:63])
