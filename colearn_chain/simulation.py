"""Assemble and run a whole experiment on one machine from validated settings.

This is ``colearn-chain run`` without the terminal: it builds the learners (a built-in task,
a user's data file, or a user's own factory), the store, the ledger (the embedded chain, a
JSON-RPC node, or memory), plays the rounds and returns the results.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from colearn_chain.check import check_learner
from colearn_chain.deployment import deploy_contract
from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.experiment import Evaluator, Experiment, mean_test_score, publish_initial_model
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.ledger import ChainLedger, InMemoryLedger, Ledger, threshold_to_bps
from colearn_chain.plugins import SETTINGS, build_all, learner_source
from colearn_chain.privacy import dp_config_from_params
from colearn_chain.records import ExperimentResult, RoundRecord
from colearn_chain.strategies import ProposalStrategy, make_strategy
from colearn_chain.weights.store import ContentStore

if TYPE_CHECKING:
    from colearn_chain.audit import AuditReport


#: The most learners one ``run`` simulates (600 were tested; each holds a model and a data shard).
MAX_LEARNERS = 10_000


class RunSettings(BaseModel):
    """Everything ``colearn-chain run`` takes; a config file holds the same keys.

    The defaults are a convincing experiment on digits that runs in well under a minute on
    two cores.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # strict: a config file's ``learners = true`` or ``rounds = "5"`` is an error, not 1 or 5
    learners: int = Field(5, description="number of learners", strict=True)
    rounds: int = Field(15, description="rounds to play", strict=True)
    seed: int = Field(0, description="seed of data splits, initial weights and training", strict=True)
    threshold: float = Field(0.5, description="share of voters that must approve, in (0, 1]", strict=True)
    setting: str = Field("platform", description="platform (the default) or hl (Homogeneous Learning's)")
    partition: str = Field("iid", description="iid, dirichlet:ALPHA or dominant (hl's default: dominant)")
    task: str = Field("digits-mlp", description="built-in task (ignored with learner)")
    learner: str | None = Field(None, description="a user's factory, package.module:factory")
    data: Path | None = Field(None, description="a user's .npz/.csv data for a tabular MLP")
    strategy: str = Field("round-robin", description="how proposals are made")
    strategy_params: dict[str, Any] = Field(default_factory=dict, description="the strategy's settings")
    rpc: str | None = Field(None, description="JSON-RPC URL; the embedded chain if unset")
    cost_seed: int = Field(0, description="seed of the random communication cost matrix", strict=True)
    cost: Path | None = Field(None, description="a CSV of real hand-over costs between the learners")
    centralized_epochs: int = Field(30, description="epochs of the centralized upper bound", strict=True)
    dp: dict[str, float] | None = Field(None, description="differential privacy: colearn's DiffPrivConfig fields")

    @field_validator("dp")
    @classmethod
    def _dp_settings(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            dp_config_from_params(value)
        return value

    @field_validator("learners")
    @classmethod
    def _positive_learners(cls, value: int) -> int:
        if value < 1:
            raise ValueError("an experiment needs at least 1 learner")
        if value > MAX_LEARNERS:
            raise ValueError(f"at most {MAX_LEARNERS} learners run on one machine, got {value}")
        return value

    @field_validator("rounds", "centralized_epochs")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("setting")
    @classmethod
    def _known_setting(cls, value: str) -> str:
        if value not in SETTINGS:
            raise ValueError(f"unknown setting {value!r}: choose one of {', '.join(SETTINGS)}")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold_range(cls, value: float) -> float:
        threshold_to_bps(value)
        return value


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML config file (its keys are :class:`RunSettings`' fields)."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ColearnFileError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ColearnFileError(f"config file {path} is not valid TOML: {exc}") from exc


def make_settings(config: dict[str, Any] | None = None, **overrides: Any) -> RunSettings:
    """Settings from a config dict with command-line overrides (None means not given).

    Raises
    ------
    ColearnValueError
        Naming the first offending key: unknown keys are errors, not silently ignored.
    """
    values = dict(config or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "partition" not in values and values.get("setting") == "hl":
        values["partition"] = "dominant"  # Homogeneous Learning's split
    try:
        return RunSettings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "settings"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        message = message.removeprefix("Value error, ")
        raise ColearnValueError(f"{key}: {message}") from None


def build_learners(
    settings: RunSettings,
) -> tuple[list[MachineLearningInterface], Evaluator | None, Callable[[], float] | None]:
    """The learners, the global evaluator, and the centralized baseline (None for a user's learner)."""
    dp = dp_config_from_params(settings.dp) if settings.dp is not None else None
    source = learner_source(settings.task, settings.learner, settings.data)
    if dp is not None or settings.setting != "platform":
        source = source.with_training(dp=dp, setting=settings.setting)
    built = build_all(source, settings.learners, settings.seed, settings.partition)
    if settings.learner is not None:
        for user in built.learners:
            check_learner(user, fast=True)  # a broken learner fails now, in seconds, not rounds later
    evaluate = built.evaluate if built.evaluate is not None else mean_test_score(built.learners)
    train_centralized = built.centralized
    if train_centralized is None:
        return built.learners, evaluate, None

    def centralized() -> float:
        return train_centralized(settings.centralized_epochs)

    return built.learners, evaluate, centralized


def build_chain_ledger(
    settings: RunSettings, initial_model: str, count: int, with_selector: bool = False
) -> ChainLedger:
    """Connect, make funded accounts for the learners (seeded: same seed, same addresses), deploy.

    With ``with_selector``, one more funded account is deployed as the contract's selector, for
    strategies that nominate proposers.
    """
    from colearn_chain.chain import connect

    chain = connect(settings.rpc)
    deployer = chain.dev_accounts()
    if not deployer:
        raise ColearnValueError(
            f"the node at {settings.rpc} has no development accounts to fund learners from: "
            "use `colearn-chain deploy` with funded keystores instead"
        )
    accounts = chain.new_funded_accounts(count + int(with_selector), seed=settings.seed)
    selector = accounts.pop() if with_selector else None
    client = deploy_contract(
        chain,
        deployer[0],
        [a.address for a in accounts],
        # a learner whose privacy budget is spent does not propose: its round is skipped once
        # this window (room for every contribution, then the proposal) has passed
        proposal_window=count + 2 if settings.dp is not None else 0,
        threshold=settings.threshold,
        max_rounds=settings.rounds,
        initial_model=initial_model,
        selector=selector.address if selector else None,
    )
    return ChainLedger(client, accounts, selector)


def experiment_cost_matrix(settings: RunSettings) -> np.ndarray:
    """The experiment's communication cost matrix: read from ``cost``, or drawn from ``cost_seed``.

    Raises
    ------
    ColearnFileError, ColearnValueError
        For an unreadable file or a matrix of the wrong shape, negative or non-finite.
    """
    from colearn_chain.strategies.rl.cost import cost_matrix, read_cost_csv

    if settings.cost is not None:
        return read_cost_csv(settings.cost, settings.learners)
    return cost_matrix(settings.learners, settings.cost_seed)


@dataclass
class Simulation:
    """A built experiment, ready to play, and how to compute its centralized baseline."""

    settings: RunSettings
    experiment: Experiment
    centralized: Callable[[], float] | None

    def play(
        self, on_round: Callable[[RoundRecord], None] | None = None, with_centralized: bool = True
    ) -> ExperimentResult:
        """Play every round; return the results (with the centralized baseline if asked and known)."""
        self.experiment.run(self.settings.rounds, on_round)
        ledger = self.experiment.ledger
        baseline = self.centralized() if (self.centralized is not None and with_centralized) else None
        from colearn_chain.strategies.rl.cost import hand_over_costs

        index = {address.lower(): i for i, address in enumerate(ledger.learner_ids)}
        proposers = [index.get(r.proposer.lower()) for r in self.experiment.history]
        return ExperimentResult(
            contract=ledger.contract,
            chain_id=ledger.chain_id,
            learners=list(ledger.learner_ids),
            final_accuracy=self.experiment.global_accuracy(),
            centralized_accuracy=baseline,
            rounds=self.experiment.history,
            settings=self.settings.model_dump(mode="json"),
            hand_over_costs=hand_over_costs(experiment_cost_matrix(self.settings), proposers),
        )

    def audit(self, result: ExperimentResult | None = None) -> AuditReport:
        """The played chain's history, rebuilt from its events alone and verified (``run --audit``).

        The report's hand-over costs are recomputed from the chain's proposers with the
        experiment's cost matrix; given the run's ``result``, a communication cost that differs
        from the one it recorded is a ``communication-cost`` discrepancy.

        Raises
        ------
        ColearnValueError
            The experiment ran on the in-memory ledger: there are no events to audit.
        """
        from colearn_chain.audit import Discrepancy, audit_contract

        ledger = self.experiment.ledger
        if not isinstance(ledger, ChainLedger):
            raise ColearnValueError("--audit needs a chain: it cannot be combined with --in-memory")
        report = audit_contract(ledger.client, self.experiment.store, check=True)
        total = report.compute_costs(experiment_cost_matrix(self.settings))
        recorded = None if result is None else result.communication_cost
        if recorded is not None and not np.isclose(total, recorded):
            detail = f"the ledger's proposers cost {total:.6f}, the run recorded {recorded:.6f}"
            report.discrepancies.append(Discrepancy(None, "communication-cost", detail))
        return report


def prepare_simulation(
    settings: RunSettings,
    store: ContentStore,
    ledger_kind: Literal["chain", "memory"] = "chain",
    strategy: ProposalStrategy | None = None,
) -> Simulation:
    """Build the learners, publish the initial model, set up the ledger and the experiment.

    ``strategy``, if given, is the one ``settings`` describe, already built (and so checked).
    """
    learners, evaluate, centralized = build_learners(settings)
    strategy = strategy or make_strategy(settings.strategy, settings.strategy_params)
    initial = publish_initial_model(learners, store)
    ledger: Ledger
    if ledger_kind == "chain":
        ledger = build_chain_ledger(settings, initial, len(learners), with_selector=strategy.nominates)
    else:
        from colearn_chain.chain.accounts import generated_accounts

        ids = [a.address for a in generated_accounts(len(learners), seed=settings.seed)]
        ledger = InMemoryLedger(ids, settings.threshold, initial, selector_mode=strategy.nominates)
    experiment = Experiment(learners, ledger, store, strategy, initial, evaluate, settings.seed)
    return Simulation(settings, experiment, centralized)


def run_simulation(
    settings: RunSettings,
    store: ContentStore,
    ledger_kind: Literal["chain", "memory"] = "chain",
    on_round: Callable[[RoundRecord], None] | None = None,
    with_centralized: bool = True,
) -> ExperimentResult:
    """Build and play the experiment ``settings`` describe; return its results."""
    return prepare_simulation(settings, store, ledger_kind).play(on_round, with_centralized)
