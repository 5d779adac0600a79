"""The ProposalStrategy interface: how a round's proposer is chosen and its proposal made.

In the spirit of Flower's ``Strategy``: one small abstract base, one file per algorithm, and the
experiment loop written once against this base. A strategy sees the learners and the store,
never the chain: the loop turns what it returns into ledger calls.

A strategy *makes* the proposal (:meth:`ProposalStrategy.make_proposal`, bytes); the ledger
*records* it (``Ledger.propose`` and the contract client's ``propose``, named after the
contract's function). The strategy's method was called ``propose`` before; a strategy that
still defines ``propose`` keeps working, with a ``DeprecationWarning`` asking for the new name.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from colearn_chain.interface import MachineLearningInterface, TrainingSummary
from colearn_chain.weights.store import ContentStore

if TYPE_CHECKING:
    from colearn_chain.records import RoundRecord


@dataclass(frozen=True)
class Proposal:
    """A round's proposal: the ONNX weights blob and, for aggregated proposals, its manifest.

    ``training_summary`` is what the proposing learner reported with its weights (its privacy
    budget); with ``DP_BUDGET_EXCEEDED`` there is no proposal and the round is skipped.
    """

    weights: bytes
    manifest: bytes | None = None
    training_summary: TrainingSummary | None = None


@dataclass(frozen=True)
class RoundContext:
    """What a strategy may look at when it nominates or proposes.

    Attributes
    ----------
    round:
        The round being played.
    learners:
        Every learner, by index (a strategy may ask any of them for an update).
    learner_ids:
        Their ledger identities (addresses), by index.
    store:
        The content store holding every model so far.
    history:
        The records of the rounds already played, oldest first.
    seed:
        The experiment's seed, for strategies that draw random numbers.
    exhausted:
        The learners whose privacy budget cannot pay for another proposal: a selector does
        not nominate them (they still vote).
    """

    round: int
    learners: Sequence[MachineLearningInterface]
    learner_ids: Sequence[str]
    store: ContentStore
    history: Sequence[RoundRecord] = field(default_factory=tuple)
    seed: int = 0
    exhausted: frozenset[int] = frozenset()


class ProposalStrategy(abc.ABC):
    """Chooses who proposes (optionally) and makes the proposal."""

    #: The name users select it by (``--strategy NAME``).
    name: ClassVar[str]
    #: Whether this strategy nominates proposers (then the contract needs a selector).
    nominates: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        legacy = cls.__dict__.get("propose")
        if legacy is not None and "make_proposal" not in cls.__dict__:
            warnings.warn(
                f"{cls.__qualname__} defines propose(): a strategy's method is now make_proposal() "
                "(propose is the ledger's call); rename it, it is used as make_proposal meanwhile",
                DeprecationWarning,
                stacklevel=3,
            )
            cls.make_proposal = legacy  # type: ignore[method-assign]

    def nominate(self, context: RoundContext) -> int | None:
        """The index of the learner who should propose, or None to keep the ledger's rotation."""
        return None

    def check_learners(self, learners: Sequence[MachineLearningInterface]) -> None:
        """Raise ColearnValueError if this strategy cannot work with these learners.

        ``run`` calls it once the learners are built and before anything is created on disk, so
        a strategy that needs a kind of learner (FedFormer agents, say) fails in one line with
        no debris, not in round 0.
        """
        return None

    def check_distributed(self) -> None:
        """Raise ColearnValueError if this strategy cannot run with one participant per process.

        A participant's proposer sees only its own learner; a strategy that needs anything
        private to the others (beyond their contributed updates) must refuse here, at deploy time,
        rather than fail mid-experiment.
        """
        return None

    def contributors(self, context: RoundContext, proposer: int) -> Sequence[int]:
        """The learners who train the global model and ``contribute`` their update this round.

        Aggregating strategies return everyone (or a sample); the loop then asks each for
        ``mli_propose_weights``, stores the update and records it on the ledger before the
        proposal, and hands the hashes to :meth:`make_proposal`.
        """
        return ()

    @abc.abstractmethod
    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        """Make learner ``proposer``'s proposal for ``context.round`` (the loop then records it).

        ``contributions`` maps a contributor's index to the hex sha256 of its update in the store
        (empty for strategies that do not aggregate).
        """

    def propose(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        """The former name of :meth:`make_proposal`, kept for code that still calls it (deprecated)."""
        warnings.warn(
            "ProposalStrategy.propose() is now make_proposal() (propose is the ledger's call)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.make_proposal(context, proposer, contributions)
