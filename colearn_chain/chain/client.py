"""The typed client of one deployed CollectiveLearning contract: transactions, views, events."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from colearn_chain.chain.abi_codec import AbiCodec
from colearn_chain.chain.artifact import Artifact, default_artifact
from colearn_chain.chain.backends import RawReceipt, RevertData
from colearn_chain.chain.connection import Chain, SentTransaction
from colearn_chain.chain.contract_errors import ContractRevert, revert_from_data
from colearn_chain.chain.events import Event, decode_logs
from colearn_chain.chain.signing import compact_signature, sign_vote, vote_domain
from colearn_chain.chain.types import ZERO_ADDRESS, ZERO_HASH, Receipt, RoundInfo, RoundStatus, SignedVote
from colearn_chain.errors import ColearnRuntimeError, ColearnValueError

#: Gas limits per function, about twice the most each can use (measured by benchmarks/gas.py);
#: fixed so that no transaction needs an estimate. Per-call gas does not grow with the number
#: of learners; only deployment does.
GAS_LIMITS = {
    "propose": 200_000,
    "contribute": 120_000,
    "vote": 200_000,
    "finalize": 200_000,
    "skip": 150_000,
    "nominate": 120_000,
}
#: ``submitVotes``: a fixed part (the round's words, finalizing) and a part per signed vote, about
#: twice what benchmarks/gas.py measures.
SUBMIT_VOTES_GAS_BASE = 250_000
SUBMIT_VOTES_GAS_PER_VOTE = 20_000
DEPLOY_GAS_BASE = 3_000_000
DEPLOY_GAS_PER_LEARNER = 60_000


class ContractGone(ColearnValueError):
    """The chain no longer has the experiment's contract (a node restarted without its state)."""

    def __init__(self, address: str, chain_id: int) -> None:
        super().__init__(
            f"no contract at {address} on chain {chain_id} (any more): the node was restarted "
            "without its state, or this is another chain; restart it with its --state file, or "
            "deploy a new experiment"
        )


def _bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ColearnValueError(f"{what} must be 32 bytes, got {value!r}")
    return bytes(value)


class CollectiveLearningClient:
    """Calls every function and view of one deployed contract, with typed results.

    Parameters
    ----------
    chain:
        The connection to the chain the contract lives on.
    address:
        The contract's address.
    deployment_block:
        The block it was deployed in (where event history starts).
    artifact:
        The compiled contract (the committed build by default).
    """

    def __init__(
        self,
        chain: Chain,
        address: str,
        deployment_block: int = 0,
        artifact: Artifact | None = None,
    ) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.deployment_block = deployment_block
        self.artifact = artifact or default_artifact()
        self.codec = AbiCodec(self.artifact.abi)
        self._events: list[Event] = []
        self._indexed_through = deployment_block - 1
        self._index_lock = threading.Lock()
        self._learner_indices: dict[str, int] | None = None

    # -- deployment -----------------------------------------------------------------------
    @classmethod
    def deploy(
        cls,
        chain: Chain,
        deployer: LocalAccount,
        learners: Sequence[str],
        *,
        threshold_bps: int = 5000,
        proposal_window: int = 0,
        voting_window: int = 0,
        max_rounds: int = 0,
        initial_model: bytes,
        selector: str = ZERO_ADDRESS,
        start_block: int = 0,
        artifact: Artifact | None = None,
    ) -> CollectiveLearningClient:
        """Deploy a new experiment; constructor reverts raise their typed exceptions.

        Round 0 starts at ``max(deployment block, start_block)`` (0: at deployment), so that
        participants have time to start before its proposal window runs.
        """
        artifact = artifact or default_artifact()
        codec = AbiCodec(artifact.abi)
        args = [
            [to_checksum_address(a) for a in learners],
            threshold_bps,
            proposal_window,
            voting_window,
            max_rounds,
            _bytes32(initial_model, "initial_model"),
            to_checksum_address(selector),
            start_block,
        ]
        _check_ranges(threshold_bps, proposal_window, voting_window, max_rounds, start_block)
        data = bytes.fromhex(artifact.bytecode[2:]) + codec.encode_constructor(args)
        gas = DEPLOY_GAS_BASE + DEPLOY_GAS_PER_LEARNER * len(learners)
        receipt = chain.transact(deployer, None, data, gas=gas)
        if receipt.status != 1:
            raise _constructor_revert(chain, codec, deployer.address, data, receipt, gas)
        assert receipt.contract_address is not None
        client = cls(chain, receipt.contract_address, receipt.block_number, artifact)
        return client

    @classmethod
    def at(
        cls, chain: Chain, address: str, deployment_block: int = 0, artifact: Artifact | None = None
    ) -> CollectiveLearningClient:
        """Attach to an existing deployment (checks that code is there)."""
        client = cls(chain, address, deployment_block, artifact)
        if not chain.code(client.address):
            raise ContractGone(client.address, chain.chain_id)
        return client

    # -- transactions ---------------------------------------------------------------------
    def _transact(self, sender: LocalAccount, name: str, args: Sequence[Any], gas: int | None = None) -> Receipt:
        data = self.codec.functions[name].encode_call(args)
        gas = gas or GAS_LIMITS[name]
        raw = self.chain.transact(sender, self.address, data, gas=gas)
        if raw.status != 1:
            sent = SentTransaction(sender.address, self.address, data, 0, gas)
            revert_data = self.chain.replay(sent, raw.block_number)
            if revert_data:
                raise revert_from_data(self.codec, revert_data)
            raise ColearnRuntimeError(
                f"{name} transaction 0x{raw.tx_hash.hex()} failed in block {raw.block_number} "
                f"without a revert reason (out of gas at {gas}?)"
            )
        return self._receipt(raw)

    def _receipt(self, raw: RawReceipt) -> Receipt:
        return Receipt(
            tx_hash=raw.tx_hash,
            block_number=raw.block_number,
            gas_used=raw.gas_used,
            events=decode_logs(self.codec, (log for log in raw.logs if log.address == self.address)),
            contract_address=raw.contract_address,
        )

    def propose(self, sender: LocalAccount, round: int, weights: bytes, manifest: bytes = ZERO_HASH) -> Receipt:
        """Propose ``weights`` (and its ``manifest``, or zero) as ``round``'s proposer."""
        return self._transact(sender, "propose", [round, _bytes32(weights, "weights"), _bytes32(manifest, "manifest")])

    def contribute(self, sender: LocalAccount, round: int, weights: bytes) -> Receipt:
        """Offer a local update to ``round``'s aggregating proposer."""
        return self._transact(sender, "contribute", [round, _bytes32(weights, "weights")])

    def vote(self, sender: LocalAccount, round: int, approve: bool, score: int) -> Receipt:
        """Vote on ``round``'s proposal; ``score`` is fixed point with 6 decimals."""
        return self._transact(sender, "vote", [round, bool(approve), int(score)])

    def sign_vote(self, account: LocalAccount, round: int, weights: bytes, approve: bool, score: int) -> SignedVote:
        """``account``'s EIP-712 signed vote on proposal ``weights`` of ``round`` of this contract."""
        return sign_vote(account, self.address, self.chain.chain_id, round, weights, approve, score)

    def submit_votes(self, sender: LocalAccount, round: int, signed_votes: Sequence[SignedVote]) -> Receipt:
        """Relay signed votes of ``round`` in one ``submitVotes`` transaction (anyone may send it).

        The votes are put in learner order and sent with compact (EIP-2098) signatures; a vote of
        an account that is not a learner is refused here, before anything is sent. Votes whose
        voter has already voted are skipped by the contract (no event).
        """
        indices = self._indices()
        entries = []
        for signed in signed_votes:
            voter = to_checksum_address(signed.voter)
            if voter not in indices:
                raise ColearnValueError(f"signed vote of {voter}, who is not a learner of {self.address}")
            compact = compact_signature(signed.signature)
            entries.append((indices[voter], bool(signed.approve), int(signed.score), compact[:32], compact[32:]))
        entries.sort(key=lambda entry: entry[0])
        return self.submit_vote_entries(sender, round, entries)

    def submit_vote_entries(
        self, sender: LocalAccount, round: int, entries: Sequence[tuple[int, bool, int, bytes, bytes]]
    ) -> Receipt:
        """``submitVotes`` with raw ``(index, approve, score, r, vs)`` entries, as given.

        Nothing is sorted, converted or checked: this is the contract's ABI as is (tests use it to
        send what a careless or hostile relayer might).
        """
        gas = SUBMIT_VOTES_GAS_BASE + SUBMIT_VOTES_GAS_PER_VOTE * len(entries)
        return self._transact(sender, "submitVotes", [round, list(entries)], gas=gas)

    def _indices(self) -> dict[str, int]:
        """Each learner's index (the learner list never changes, so it is read once)."""
        if self._learner_indices is None:
            self._learner_indices = {address: i for i, address in enumerate(self.learners())}
        return self._learner_indices

    def finalize(self, sender: LocalAccount, round: int) -> Receipt:
        """End ``round`` with the votes it has, once its voting window has passed."""
        return self._transact(sender, "finalize", [round])

    def skip(self, sender: LocalAccount, round: int) -> Receipt:
        """End ``round`` without a proposal, once its proposal window has passed."""
        return self._transact(sender, "skip", [round])

    def nominate(self, sender: LocalAccount, round: int, proposer: str) -> Receipt:
        """Nominate ``proposer`` for ``round`` (the selector only)."""
        return self._transact(sender, "nominate", [round, to_checksum_address(proposer)])

    # -- views ----------------------------------------------------------------------------
    def _view(self, name: str, *args: Any) -> tuple[Any, ...]:
        function = self.codec.functions[name]
        try:
            result = self.chain.call(self.address, function.encode_call(args))
        except RevertData as revert:
            raise revert_from_data(self.codec, revert.data) from None
        if not result and function.output_types and not self.chain.code(self.address):
            # a call to an address without code returns nothing: the contract is gone, not malformed
            raise ContractGone(self.address, self.chain.chain_id)
        return function.decode_result(result)

    def learners(self) -> list[str]:
        """The registered learners, in order."""
        return list(self._view("learners")[0])

    def learner_count(self) -> int:
        """The number of learners."""
        return int(self._view("learnerCount")[0])

    def is_learner(self, account: str) -> bool:
        """Whether ``account`` is a registered learner."""
        return bool(self._view("isLearner", to_checksum_address(account))[0])

    def current_round(self) -> int:
        """The round in progress (``max_rounds`` once finished)."""
        return int(self._view("currentRound")[0])

    def current_proposer(self) -> str:
        """The proposer of the round in progress (zero address if none yet, or finished)."""
        return str(self._view("currentProposer")[0])

    def global_model(self) -> bytes:
        """The global model's weights hash."""
        return bytes(self._view("globalModel")[0])

    def initial_model(self) -> bytes:
        """The initial model's weights hash."""
        return bytes(self._view("initialModel")[0])

    def threshold_bps(self) -> int:
        """Approvals needed, in basis points of the voters."""
        return int(self._view("thresholdBps")[0])

    def proposal_window(self) -> int:
        """Blocks a round waits for its proposal (0: forever)."""
        return int(self._view("proposalWindow")[0])

    def voting_window(self) -> int:
        """Blocks a proposal waits for its votes (0: forever)."""
        return int(self._view("votingWindow")[0])

    def max_rounds(self) -> int:
        """Rounds the experiment lasts (0: unlimited)."""
        return int(self._view("maxRounds")[0])

    def selector(self) -> str:
        """The selector's address (zero: round-robin)."""
        return str(self._view("selector")[0])

    def finished(self) -> bool:
        """Whether every round has ended."""
        return bool(self._view("finished")[0])

    def round_info(self, round: int) -> RoundInfo:
        """Everything the chain holds about ``round``."""
        proposer, weights, manifest, approvals, rejections, status, start, proposed = self._view("roundInfo", round)
        return RoundInfo(
            proposer=proposer,
            weights=bytes(weights),
            manifest=bytes(manifest),
            approvals=int(approvals),
            rejections=int(rejections),
            status=RoundStatus(status),
            start_block=int(start),
            proposed_block=int(proposed),
        )

    def protocol_version(self) -> int:
        """The PROTOCOL.md version the contract implements (2)."""
        return int(self._view("protocolVersion")[0])

    def has_voted(self, round: int, voter: str) -> bool:
        """Whether ``voter`` has voted in ``round``, the round in progress (False for any other)."""
        return bool(self._view("hasVoted", round, to_checksum_address(voter))[0])

    def vote_digest(self, round: int, weights: bytes, approve: bool, score: int) -> bytes:
        """The EIP-712 digest the contract expects a voter to sign for this vote."""
        return bytes(self._view("voteDigest", round, _bytes32(weights, "weights"), bool(approve), int(score))[0])

    def eip712_domain(self) -> dict[str, Any]:
        """The contract's EIP-5267 domain, shaped as eth-account's ``domain_data``."""
        fields, name, version, chain_id, contract, salt, extensions = self._view("eip712Domain")
        if bytes(fields) != b"\x0f" or bytes(salt) != ZERO_HASH or list(extensions):
            raise ColearnRuntimeError(f"unexpected EIP-712 domain fields {bytes(fields)!r} at {self.address}")
        domain = {"name": name, "version": version, "chainId": int(chain_id), "verifyingContract": contract}
        return domain

    def expected_domain(self) -> dict[str, Any]:
        """The domain this client signs votes under (it must equal :meth:`eip712_domain`)."""
        return vote_domain(self.address, self.chain.chain_id)

    # -- events ---------------------------------------------------------------------------
    def events(self, from_block: int | None = None, to_block: int | None = None) -> list[Event]:
        """The contract's events between two blocks (inclusive), in chain order.

        Events are indexed incrementally: each call reads only the blocks it has not seen, so a
        long history is read once and later calls cost only the new blocks.
        """
        head = self.chain.block_number()
        last = head if to_block is None else min(to_block, head)
        with self._index_lock:
            if last > self._indexed_through:
                logs = self.chain.backend.logs(self.address, self._indexed_through + 1, last)
                self._events.extend(decode_logs(self.codec, logs))
                self._indexed_through = last
            first = self.deployment_block if from_block is None else from_block
            return [e for e in self._events if first <= e.block_number <= last]


def _check_ranges(
    threshold_bps: int, proposal_window: int, voting_window: int, max_rounds: int, start_block: int = 0
) -> None:
    """Refuse values that do not fit the constructor's types (the chain would not decode them)."""
    limits = {
        "start_block": (start_block, 2**64 - 1),
        "threshold_bps": (threshold_bps, 2**16 - 1),
        "proposal_window": (proposal_window, 2**64 - 1),
        "voting_window": (voting_window, 2**64 - 1),
        "max_rounds": (max_rounds, 2**64 - 1),
    }
    for name, (value, most) in limits.items():
        if not 0 <= value <= most:
            raise ColearnValueError(f"{name} must be in 0..{most}, got {value}")


def _constructor_revert(
    chain: Chain, codec: AbiCodec, sender: str, data: bytes, receipt: RawReceipt, gas: int
) -> ContractRevert | ColearnRuntimeError:
    """Recover a failed deployment's revert by replaying its creation code as a call."""
    revert = chain.replay(SentTransaction(sender, None, data, 0, gas), receipt.block_number)
    if revert:
        return revert_from_data(codec, revert)
    return ColearnRuntimeError(
        f"deployment failed in block {receipt.block_number} without a reason (out of gas at {gas}?)"
    )
