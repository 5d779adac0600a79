"""Typed Python exceptions for the contract's custom errors, decoded the same on every backend.

A revert reaches Python as raw ABI data (``selector || fields``) whatever the node: eth-tester
prints the bytes into a ``TransactionFailed`` message, a JSON-RPC node returns them in the error
payload. :func:`revert_from_data` turns them into, say, ``NotProposer(sender=..., proposer=...)``,
an instance of a class named after the Solidity error, so callers write
``except NotProposer as exc: exc.proposer``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from colearn_chain.chain.abi_codec import AbiCodec
from colearn_chain.errors import ColearnError


class ContractRevert(ColearnError):
    """A call or transaction to the driver contract reverted.

    Attributes
    ----------
    error_name:
        The Solidity error's name (``"UnknownRevert"`` for a revert that is not a custom error).
    fields:
        The error's decoded fields, in snake_case.
    data:
        The raw revert data.
    """

    error_name: ClassVar[str] = "Unknown"
    field_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.error_name = cls.__name__

    def __init__(self, data: bytes = b"", **fields: Any) -> None:
        self.data = data
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        super().__init__(f"{self.error_name}({shown})")


# The contract's errors, in PROTOCOL.md's order, as real classes (importable, catchable, typed);
# a test compares their names and fields with the artifact's ABI.


class NoLearners(ContractRevert):
    """The constructor was given no learners."""

    field_names = ()


class DuplicateLearner(ContractRevert):
    """A learner is listed twice."""

    field_names = ("learner",)
    learner: str


class ZeroAddress(ContractRevert):
    """The learner list holds the zero address."""

    field_names = ()


class ThresholdOutOfRange(ContractRevert):
    """Threshold not in 1..10000."""

    field_names = ("threshold_bps",)
    threshold_bps: int


class EmptyWeights(ContractRevert):
    """A weights hash is zero."""

    field_names = ()


class ExperimentFinished(ContractRevert):
    """All rounds have ended."""

    field_names = ("max_rounds",)
    max_rounds: int


class WrongRound(ContractRevert):
    """The call named another round than the one in progress."""

    field_names = ("current", "given")
    current: int
    given: int


class NotProposer(ContractRevert):
    """The sender is not the round's proposer (zero address: none nominated)."""

    field_names = ("sender", "proposer")
    sender: str
    proposer: str


class AlreadyProposed(ContractRevert):
    """The round already has its proposal."""

    field_names = ("round",)
    round: int


class ProposalWindowClosed(ContractRevert):
    """Too late to propose: the window ended with ``last_block``."""

    field_names = ("round", "last_block")
    round: int
    last_block: int


class NotLearner(ContractRevert):
    """The account is not a registered learner."""

    field_names = ("account",)
    account: str


class AlreadyContributed(ContractRevert):
    """The learner already contributed to this round."""

    field_names = ("round", "learner")
    round: int
    learner: str


class NoProposal(ContractRevert):
    """The round has no proposal yet."""

    field_names = ("round",)
    round: int


class ProposerCannotVote(ContractRevert):
    """The proposer cannot vote on its own proposal."""

    field_names = ("proposer",)
    proposer: str


class AlreadyVoted(ContractRevert):
    """The voter already voted in this round."""

    field_names = ("round", "voter")
    round: int
    voter: str


class VotingClosed(ContractRevert):
    """Too late to vote: the window ended with ``last_block``."""

    field_names = ("round", "last_block")
    round: int
    last_block: int


class VotingOpen(ContractRevert):
    """Too early to finalize: votes may come until ``last_block`` (2**64 - 1: never closes)."""

    field_names = ("round", "last_block")
    round: int
    last_block: int


class ProposalWindowOpen(ContractRevert):
    """Too early to skip: proposals may come until ``last_block`` (2**64 - 1: never closes)."""

    field_names = ("round", "last_block")
    round: int
    last_block: int


class NotSelector(ContractRevert):
    """The sender is not the experiment's selector."""

    field_names = ("sender",)
    sender: str


class AlreadyNominated(ContractRevert):
    """The selector already nominated ``proposer`` for this round."""

    field_names = ("round", "proposer")
    round: int
    proposer: str


class EmptyBatch(ContractRevert):
    """``submitVotes`` was given no votes."""

    field_names = ()


class UnsortedVotes(ContractRevert):
    """The vote at ``position`` of a batch does not name a larger learner index than the one before."""

    field_names = ("position",)
    position: int


class BadVoteSignature(ContractRevert):
    """The signed vote naming learner ``index`` is invalid (index past the learners, or a
    signature that is malformed, high-s, or not that learner's for this round's proposal)."""

    field_names = ("index",)
    index: int


ERROR_CLASSES: dict[str, type[ContractRevert]] = {
    cls.error_name: cls
    for cls in (
        NoLearners, DuplicateLearner, ZeroAddress, ThresholdOutOfRange, EmptyWeights,
        ExperimentFinished, WrongRound, NotProposer, AlreadyProposed, ProposalWindowClosed,
        NotLearner, AlreadyContributed, NoProposal, ProposerCannotVote, AlreadyVoted,
        VotingClosed, VotingOpen, ProposalWindowOpen, NotSelector, AlreadyNominated,
        EmptyBatch, UnsortedVotes, BadVoteSignature,
    )
}  # fmt: skip

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


class UnknownRevert(ContractRevert):
    """A revert without recognizable custom-error data (out of gas, a panic, a plain message)."""


def revert_from_data(codec: AbiCodec, data: bytes) -> ContractRevert:
    """The typed exception for raw revert ``data`` of the contract described by ``codec``."""
    spec = codec.errors_by_selector.get(data[:4])
    if spec is not None and spec.name in ERROR_CLASSES:
        return ERROR_CLASSES[spec.name](data, **spec.decode_data(data))
    from eth_abi.abi import decode

    if data[:4] == _ERROR_STRING:
        error = UnknownRevert(data, message=decode(["string"], data[4:])[0])
    elif data[:4] == _PANIC:
        error = UnknownRevert(data, panic_code=decode(["uint256"], data[4:])[0])
    else:
        error = UnknownRevert(data, data_hex="0x" + data.hex())
    return error
