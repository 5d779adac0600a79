"""The aggregator registry is the one list: a new aggregator in one line is known everywhere at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pytest

from colearn_chain.audit import default_recompute
from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.simulation import make_settings, run_simulation
from colearn_chain.strategies import STRATEGIES, RoundContext, make_strategy
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators import AGGREGATORS, Aggregator, Contribution, Plan
from colearn_chain.strategies.aggregators import STRATEGIES as AGGREGATOR_FACTORIES
from colearn_chain.strategies.aggregators.base import linear_rule, registry_of
from colearn_chain.strategies.manifest import (
    RULES,
    Manifest,
    ManifestError,
    ProposalMismatch,
    canonical_json,
    parse_manifest,
    recompute_proposal,
    require,
    verify_proposal,
)
from colearn_chain.weights.digest import sha256_hex
from colearn_chain.weights.store import InMemoryStore

from .rounds import IDS, store_updates

NAMES = (
    "fedavg",
    "weighted",
    "evolutionary",
    "attention",
    "median",
    "trimmed-mean",
    "krum",
    "multi-krum",
    "fedformer",
)


def test_registry_lists_every_aggregator() -> None:
    assert set(NAMES) == set(AGGREGATORS) == set(AGGREGATOR_FACTORIES) == set(RULES)
    for name in NAMES:
        assert name in STRATEGIES
        assert make_strategy(name).name == name
        assert RULES[name] == AGGREGATORS[name].recompute


@dataclass(frozen=True)
class FirstSettings:
    """``share``: the first input's coefficient; the rest share what is left equally."""

    share: float = 0.5


class First(Aggregator[FirstSettings]):
    """A toy aggregator written as a user would: favour the first contribution by ``share``."""

    name: ClassVar[str] = "first"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        share = self.settings.share if len(inputs) > 1 else 1.0
        rest = [(1.0 - share) / (len(inputs) - 1)] * (len(inputs) - 1)
        return Plan([share, *rest], recipe={"share": share})

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        require(manifest.coefficients[0] == manifest.recipe.get("share"), "the first coefficient is not the share")
        return linear_rule(manifest, models)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """``First`` registered the way a built-in is: one line in the registry (undone after the test)."""
    monkeypatch.setitem(AGGREGATORS, First.name, First)


def test_a_new_aggregator_is_unknown_until_registered() -> None:
    assert "first" not in STRATEGIES and "first" not in RULES
    with pytest.raises(ColearnValueError, match="unknown strategy 'first'"):
        make_strategy("first")


@pytest.mark.usefixtures("registered")
def test_a_new_aggregator_registered_in_one_line_is_known_everywhere(
    four_learners: list[MachineLearningInterface],
) -> None:
    # the strategy name list and make_strategy, with its settings from user parameters
    assert "first" in list(STRATEGIES) and "first" in RULES
    with pytest.raises(ColearnValueError, match=r"choose one of .*\bfirst\b"):
        make_strategy("no-such-strategy")
    strategy = make_strategy("first", {"share": "0.7"})
    assert isinstance(strategy, First) and strategy.settings == FirstSettings(share=0.7)
    with pytest.raises(ColearnValueError, match=r"strategy 'first' has no parameter 'trim' .*share"):
        make_strategy("first", {"trim": "0.1"})

    # the manifest verification: its proposal parses, recomputes and verifies; a forgery fails
    store = InMemoryStore()
    contributions = store_updates(four_learners, store, train=False)
    proposal = strategy.make_proposal(RoundContext(0, four_learners, IDS, store), 0, contributions)
    assert proposal.manifest is not None
    manifest = parse_manifest(proposal.manifest)
    assert (manifest.strategy, manifest.params, manifest.coefficients[0]) == ("first", {"share": 0.7}, 0.7)
    assert recompute_proposal(proposal.manifest, store) == proposal.weights
    assert verify_proposal(proposal.manifest, store, sha256_hex(proposal.weights)) == sha256_hex(proposal.weights)
    document = parse_manifest(proposal.manifest).to_json()
    document["recipe"]["share"] = 0.5
    with pytest.raises(ManifestError, match="the first coefficient is not the share"):
        recompute_proposal(canonical_json(document), store)
    with pytest.raises(ProposalMismatch):
        verify_proposal(proposal.manifest, store, sha256_hex(b"another proposal"))


@pytest.mark.usefixtures("registered")
def test_a_new_aggregator_runs_an_experiment_that_the_audit_recomputes() -> None:
    store = InMemoryStore()
    settings = make_settings(learners=3, rounds=1, strategy="first", centralized_epochs=1)
    result = run_simulation(settings, store, "memory", with_centralized=False)
    recompute = default_recompute()
    assert recompute is not None
    (record,) = result.rounds
    assert record.manifest is not None
    assert "0x" + sha256_hex(recompute(store.get(record.manifest), store)) == record.weights


def test_the_registry_refuses_incomplete_aggregators() -> None:
    class Nameless(First):
        name: ClassVar[str] = ""

    class Unfinished(Aggregator[FirstSettings]):
        name: ClassVar[str] = "unfinished"

        def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
            return Plan([1.0] * len(inputs))

    class Unsettled(Aggregator):  # type: ignore[type-arg]  # no settings dataclass as the type argument
        name: ClassVar[str] = "unsettled"
        plan = First.plan
        recompute = First.recompute

    with pytest.raises(TypeError, match="has no name"):
        registry_of(Nameless)
    with pytest.raises(TypeError, match=r"names no settings dataclass: subclass Aggregator\[Settings\]"):
        registry_of(Unsettled)
    with pytest.raises(TypeError, match=r"leaves \['recompute'\] abstract"):
        registry_of(Unfinished)  # type: ignore[type-abstract]
    with pytest.raises(TypeError, match="share the name 'first'"):
        registry_of(First, First)
