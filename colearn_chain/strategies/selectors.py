"""Strategies that nominate the proposer: random, and the RL node selector (Homogeneous Learning).

Both nominate through the ledger (on a chain, the contract's selector role) and let the
nominee train alone, as round-robin's proposer does: they change who proposes, not how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import weights_to_onnx
from colearn_chain.strategies.base import Proposal, ProposalStrategy, RoundContext
from colearn_chain.strategies.settings import settings_from_params

if TYPE_CHECKING:
    from colearn_chain.strategies.rl.policy import SelectorPolicy


_NEEDS_POLICY = (
    "strategy 'rl' needs a trained policy: pass --selector-policy FILE "
    "(train one with `colearn-chain selector train --out policy.onnx`)"
)


class _Selector(ProposalStrategy):
    """A strategy that picks the proposer; the proposer's own training is the proposal."""

    nominates: ClassVar[bool] = True

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        weights = context.learners[proposer].mli_propose_weights()
        return Proposal(weights=weights_to_onnx(weights), training_summary=weights.training_summary)


@dataclass(frozen=True)
class RandomSettings:
    """Random selection's settings.

    Attributes
    ----------
    seed
        The seed of the draws; None uses the experiment's seed.
    """

    seed: int | None = None


class RandomSelector(_Selector):
    """Nominates a uniformly random learner each round: Homogeneous Learning's baseline.

    Each round's draw depends only on the seed and the round, so a run is repeatable and a
    restarted selector nominates as the first would have.
    """

    name: ClassVar[str] = "random"

    def __init__(self, settings: RandomSettings | None = None) -> None:
        self.settings = settings or RandomSettings()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RandomSelector:
        """Random selection from user parameters (``seed``)."""
        return cls(settings_from_params(RandomSettings, params, cls.name))

    def nominate(self, context: RoundContext) -> int:
        seed = context.seed if self.settings.seed is None else self.settings.seed
        rng = np.random.default_rng([seed % 2**63, context.round, 0x5E1EC7])
        eligible = [i for i in range(len(context.learners)) if i not in context.exhausted]
        if not context.exhausted or not eligible:
            return int(rng.integers(len(context.learners)))
        return eligible[int(rng.integers(len(eligible)))]


@dataclass(frozen=True)
class RLSettings:
    """The RL selector's settings.

    Attributes
    ----------
    policy
        The trained policy file (``colearn-chain selector train --out FILE``).
    """

    policy: str | None = None


class RLSelector(_Selector):
    """Homogeneous Learning's node selector: a trained DQN policy nominates each proposer.

    Its state is built from the public record of the rounds so far (see
    :mod:`colearn_chain.strategies.rl.state`): the learners' vote scores of the global model,
    how long ago each proposed, recent acceptance and, if the policy uses them, PCA features
    of the global model read from the store. It never looks at a learner's data.
    """

    name: ClassVar[str] = "rl"

    def __init__(self, settings: RLSettings | None = None, policy: SelectorPolicy | None = None) -> None:
        self.settings = settings or RLSettings()
        self.policy = policy
        self.cost: np.ndarray | None = None

    def use_cost_matrix(self, cost: np.ndarray) -> None:
        """Observe the experiment's hand-over costs instead of those the policy was trained with.

        Raises
        ------
        ColearnValueError
            If the policy was trained for another number of learners than the matrix's.
        """
        if self.policy is not None:
            self.policy.check_learners(int(cost.shape[0]))
        self.cost = cost

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RLSelector:
        """The RL selector from user parameters; a given policy file is loaded (and checked) now."""
        settings = settings_from_params(RLSettings, params, cls.name)
        if settings.policy is None:
            raise ColearnValueError(_NEEDS_POLICY)
        from colearn_chain.strategies.rl.policy import SelectorPolicy

        return cls(settings, SelectorPolicy.load(settings.policy))

    def nominate(self, context: RoundContext) -> int:
        from colearn_chain.strategies.rl.state import rounds_from_records

        if self.policy is None:
            raise ColearnValueError(_NEEDS_POLICY)
        self.policy.check_learners(len(context.learners))
        rounds = rounds_from_records(context.history, context.learner_ids)
        state = self.policy.observe(rounds, context.round, context.store.get, self.cost)
        return self.policy.choose(state, context.exhausted)  # a spent privacy budget: not nominated


#: This module's strategies by name (merged into colearn_chain.strategies.STRATEGIES).
STRATEGIES: dict[str, Callable[[Mapping[str, Any]], ProposalStrategy]] = {
    RandomSelector.name: RandomSelector.from_params,
    RLSelector.name: RLSelector.from_params,
}
