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
        The Solidity error's name (``"Panic"``/``"Error"``/``"Unknown"`` for non-custom reverts).
    fields:
        The error's decoded fields, in snake_case.
    data:
        The raw revert data.
    """

    error_name: ClassVar[str] = "Unknown"
    field_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, data: bytes = b"", **fields: Any) -> None:
        self.data = data
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        super().__init__(f"{self.error_name}({shown})")


def _define(name: str, *field_names: str, doc: str) -> type[ContractRevert]:
    return type(name, (ContractRevert,), {"error_name": name, "field_names": field_names, "__doc__": doc})


# The contract's errors, in PROTOCOL.md's order. Each is a real class (importable, catchable,
# typed for readers) rather than something made on the fly from the ABI, so that a renamed
# error in the Solidity source fails the test that compares these names with the artifact.
NoLearners = _define("NoLearners", doc="The constructor was given no learners.")
DuplicateLearner = _define("DuplicateLearner", "learner", doc="A learner is listed twice.")
ZeroAddress = _define("ZeroAddress", doc="The learner list holds the zero address.")
ThresholdOutOfRange = _define("ThresholdOutOfRange", "threshold_bps", doc="Threshold not in 1..10000.")
EmptyWeights = _define("EmptyWeights", doc="A weights hash is zero.")
ExperimentFinished = _define("ExperimentFinished", "max_rounds", doc="All rounds have ended.")
WrongRound = _define("WrongRound", "current", "given", doc="The call named another round.")
NotProposer = _define("NotProposer", "sender", "proposer", doc="The sender is not the round's proposer.")
AlreadyProposed = _define("AlreadyProposed", "round", doc="The round already has its proposal.")
ProposalWindowClosed = _define("ProposalWindowClosed", "round", "last_block", doc="Too late to propose.")
NotLearner = _define("NotLearner", "account", doc="The account is not a registered learner.")
AlreadyContributed = _define("AlreadyContributed", "round", "learner", doc="Already contributed.")
NoProposal = _define("NoProposal", "round", doc="The round has no proposal yet.")
ProposerCannotVote = _define("ProposerCannotVote", "proposer", doc="The proposer cannot vote.")
AlreadyVoted = _define("AlreadyVoted", "round", "voter", doc="The voter already voted.")
VotingClosed = _define("VotingClosed", "round", "last_block", doc="Too late to vote.")
VotingOpen = _define("VotingOpen", "round", "last_block", doc="Too early to finalize.")
ProposalWindowOpen = _define("ProposalWindowOpen", "round", "last_block", doc="Too early to skip.")
NotSelector = _define("NotSelector", "sender", doc="The sender is not the selector.")
AlreadyNominated = _define("AlreadyNominated", "round", "proposer", doc="Already nominated.")

ERROR_CLASSES: dict[str, type[ContractRevert]] = {
    cls.error_name: cls
    for cls in (
        NoLearners, DuplicateLearner, ZeroAddress, ThresholdOutOfRange, EmptyWeights,
        ExperimentFinished, WrongRound, NotProposer, AlreadyProposed, ProposalWindowClosed,
        NotLearner, AlreadyContributed, NoProposal, ProposerCannotVote, AlreadyVoted,
        VotingClosed, VotingOpen, ProposalWindowOpen, NotSelector, AlreadyNominated,
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
