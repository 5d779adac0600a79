"""Assemble and run a whole experiment on one machine from validated settings.

This is ``colearn-chain run`` without the terminal: it builds the learners (a built-in task,
a user's data file, or a user's own factory), the store, the ledger (the embedded chain, a
JSON-RPC node, or memory), plays the rounds and returns the results.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from colearn_chain.check import check_learner
from colearn_chain.deployment import deploy_contract
from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.experiment import Evaluator, Experiment, mean_test_score, publish_initial_model
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.ledger import ChainLedger, InMemoryLedger, Ledger, threshold_to_bps
from colearn_chain.metrics import ACCURACY, Metric, declared_metric, metric_of, vote_metric
from colearn_chain.plugins import SETTINGS, LearnerSource, build_all, learner_source
from colearn_chain.privacy import dp_config_from_params
from colearn_chain.records import ExperimentResult, RoundRecord, RunStatus
from colearn_chain.strategies import ProposalStrategy, make_strategy
from colearn_chain.weights.store import ContentStore

if TYPE_CHECKING:
    from colearn_chain.audit import AuditReport
    from colearn_chain.chain import Chain
    from colearn_chain.deployment import Deployment
    from colearn_chain.parallel import LearnerPool

#: The ``rpc_url`` of a deployment on the embedded chain: its state is the run directory's journal.
EMBEDDED_RPC = "embedded"

#: Built learners: the learners, the global evaluator, and the centralized baseline.
BuiltExperiment = tuple[list[MachineLearningInterface], Evaluator | None, Callable[[], float] | None]


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

    @field_serializer("rpc")
    def _rpc_without_credentials(self, value: str | None) -> str | None:
        """results.json is shared: a node's ``user:password@`` never goes into it."""
        from colearn_chain.chain.endpoint import RpcEndpoint

        return None if value is None else RpcEndpoint(value).public_url

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


def make_learner_source(settings: RunSettings) -> LearnerSource:
    """Where the experiment's learners come from, with its privacy and training setting applied.

    The one construction both a single process and every worker use (:mod:`colearn_chain.parallel`).
    """
    dp = dp_config_from_params(settings.dp) if settings.dp is not None else None
    source = learner_source(settings.task, settings.learner, settings.data)
    if dp is not None or settings.setting != "platform":
        source = source.with_training(dp=dp, setting=settings.setting)
    return source


def build_learners(settings: RunSettings, pool: LearnerPool | None = None) -> BuiltExperiment:
    """The learners, the global evaluator, and the centralized baseline (None for a user's learner).

    With ``pool``, the learners are built in its workers and these are their proxies.
    """
    source = make_learner_source(settings)
    learners: list[MachineLearningInterface]
    if pool is not None:
        learners = list(pool.start())
        built_evaluate, train_centralized = source.evaluator(settings.seed), source.centralized(settings.seed)
    else:
        built = build_all(source, settings.learners, settings.seed, settings.partition)
        if settings.learner is not None:
            for user in built.learners:
                check_learner(user, fast=True)  # a broken learner fails now, in seconds, not rounds later
        learners, built_evaluate, train_centralized = built.learners, built.evaluate, built.centralized
    evaluate = built_evaluate if built_evaluate is not None else mean_test_score(learners)
    if train_centralized is None:
        return learners, evaluate, None
    centralize = train_centralized

    def centralized() -> float:
        return centralize(settings.centralized_epochs)

    return learners, evaluate, centralized


def funding_accounts(chain: Chain) -> list[Any]:
    """The node's development accounts, which deploy and fund a ``run``'s learners (checked up front).

    Raises
    ------
    ColearnValueError
        The node has none (a real network): ``run`` cannot make funded learners there.
    """
    deployer = chain.dev_accounts()
    if not deployer:
        raise ColearnValueError(
            f"the node at {chain.rpc_url} has no development accounts to fund learners from: "
            "use `colearn-chain deploy` with funded keystores instead"
        )
    return deployer


def experiment_metric(settings: RunSettings, learners: Sequence[MachineLearningInterface] = ()) -> Metric:
    """What the experiment's held-out scores are.

    The learner source's metric where it declares one (an RL task: mean return); for a user's
    learner, whose own ``test_score`` the platform averages, the score the learner declares
    (``score_name``, e.g. ``test loss``, lower is better); accuracy otherwise.
    """
    source = learner_source(settings.task, settings.learner, settings.data)
    if getattr(source, "metric", None) is not None:
        return metric_of(source)
    declared = declared_metric(learners[0]) if learners else None
    return declared if declared is not None else ACCURACY


def build_chain_ledger(
    settings: RunSettings, initial_model: str, count: int, with_selector: bool = False, chain: Chain | None = None
) -> ChainLedger:
    """Connect, make funded accounts for the learners (seeded: same seed, same addresses), deploy.

    With ``with_selector``, one more funded account is deployed as the contract's selector, for
    strategies that nominate proposers. ``chain``, if given, is used instead of connecting to
    ``settings.rpc`` (``run`` passes an embedded chain that journals itself to the run directory).
    """
    from colearn_chain.chain import connect

    chain = chain or connect(settings.rpc)
    deployer = funding_accounts(chain)
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
    #: What the evaluator's scores are (accuracy unless the learner source says otherwise).
    metric: Metric = ACCURACY
    #: The initial global model's score: scored before round 0, or the resumed run's record of it.
    initial_score: float | None = None
    #: The workers holding the learners (``--workers``, ``--ray``), None when they are in this process.
    pool: LearnerPool | None = None

    def close(self) -> None:
        """Stop the learners' workers, if any (the results and the chain stay)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def play(
        self,
        on_round: Callable[[RoundRecord], None] | None = None,
        with_centralized: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> ExperimentResult:
        """Play the rounds left; return the results (with the centralized baseline if asked and known).

        Stopped early by ``should_stop`` (checked between rounds), the results hold the rounds
        played, marked ``interrupted``, and no baseline.
        """
        if self.initial_score is None and not self.experiment.history:
            self.initial_score = self.experiment.global_accuracy()
        self.experiment.run(self.settings.rounds, on_round, should_stop)
        if len(self.experiment.history) < self.settings.rounds:
            return self.result("interrupted")
        return self.result("complete", with_centralized=with_centralized)

    def result(
        self, status: RunStatus = "complete", error: str | None = None, with_centralized: bool = False
    ) -> ExperimentResult:
        """The results of the rounds played so far (``run`` writes them after every round)."""
        if self.initial_score is None and not self.experiment.history:
            self.initial_score = self.experiment.global_accuracy()  # the initial model is still the global one
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
            metric=self.metric,
            initial_score=self.initial_score,
            vote_metric=vote_metric(self.experiment.learners[0]),
            status=status,
            error=error,
            resume={"training_counts": training_counts(self.experiment.learners)},
        )

    def deployment(self, store_location: str) -> Deployment:
        """The deployment file's contents for this experiment's contract (``run`` writes it).

        Raises
        ------
        ColearnValueError
            The experiment runs on the in-memory ledger: nothing was deployed.
        """
        from colearn_chain.chain.artifact import default_artifact
        from colearn_chain.deployment import Deployment

        ledger = self.experiment.ledger
        if not isinstance(ledger, ChainLedger):
            raise ColearnValueError("an experiment on the in-memory ledger has no deployment")
        client, settings = ledger.client, self.settings
        learner: dict[str, Any] = {
            "task": None if settings.learner else settings.task,
            "factory": settings.learner,
            "seed": settings.seed,
            "count": settings.learners,
        }
        if settings.dp is not None:
            learner["dp"] = dict(settings.dp)
        if settings.data is not None:
            learner["data"] = str(settings.data)
        return Deployment(
            chain_id=client.chain.chain_id,
            rpc_url=client.chain.rpc_url or EMBEDDED_RPC,
            contract=client.address,
            deployment_block=client.deployment_block,
            artifact_sha256=default_artifact().sha256,
            store=store_location,
            learner=learner,
            learners=list(ledger.learner_ids),
            threshold=settings.threshold,
            threshold_bps=client.threshold_bps(),
            proposal_window=client.proposal_window(),
            voting_window=client.voting_window(),
            max_rounds=client.max_rounds(),
            selector=client.selector(),
            initial_model=str(self.experiment.initial_model),
            strategy=settings.strategy,
            strategy_params=dict(settings.strategy_params),
        )

    def final_model(self) -> bytes | None:
        """The global model as a runnable ONNX model (``DIR/model.onnx``), None if the learner gives none.

        Learner 0 holds the global model once the rounds are played; its ``mli_get_current_model``
        is the runnable form (a classifier's graph, an agent's policy: observations in, actions out).
        """
        from colearn_chain.interface import ModelFormat

        model = self.experiment.learners[0].mli_get_current_model()
        if model.model_format is not ModelFormat.ONNX or not isinstance(model.model, bytes | bytearray):
            return None
        return bytes(model.model)

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


def training_counts(learners: list[MachineLearningInterface] | Any) -> list[int | None]:
    """Each learner's number of trainings so far (None for a learner that does not tell).

    A built-in learner seeds each training from this count, so ``run --resume`` sets it back
    to replay the uninterrupted run's trainings exactly.
    """
    return [getattr(learner, "training_count", None) for learner in learners]


def open_pool(settings: RunSettings, workers: int | None = None, ray: str | None = None) -> LearnerPool | None:
    """The workers ``--workers N`` / ``--ray ADDRESS`` ask for, None for learners in this process."""
    if ray is not None:
        from colearn_chain.parallel import RayLearnerPool

        return RayLearnerPool(settings, workers, ray)
    if workers is not None:
        from colearn_chain.parallel import ProcessLearnerPool

        return ProcessLearnerPool(settings, workers)
    return None


def prepare_simulation(
    settings: RunSettings,
    store: ContentStore,
    ledger_kind: Literal["chain", "memory"] = "chain",
    strategy: ProposalStrategy | None = None,
    built: BuiltExperiment | None = None,
    chain: Chain | None = None,
    pool: LearnerPool | None = None,
) -> Simulation:
    """Build the learners, publish the initial model, set up the ledger and the experiment.

    ``strategy``, if given, is the one ``settings`` describe, already built (and so checked);
    ``built``, the learners :func:`build_learners` made from ``settings`` (``run`` builds them
    before it creates anything on disk); ``chain``, the chain to deploy on. With ``pool`` (see
    :func:`open_pool`) the learners live in its workers (``built`` must then be its proxies),
    and the simulation closes it.
    """
    try:
        learners, evaluate, centralized = built or build_learners(settings, pool)
        strategy = strategy or make_strategy(settings.strategy, settings.strategy_params)
        initial = publish_initial_model(learners, store)
        ledger: Ledger
        if ledger_kind == "chain":
            ledger = build_chain_ledger(settings, initial, len(learners), strategy.nominates, chain)
        else:
            from colearn_chain.chain.accounts import generated_accounts

            ids = [a.address for a in generated_accounts(len(learners), seed=settings.seed)]
            ledger = InMemoryLedger(ids, settings.threshold, initial, selector_mode=strategy.nominates)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    experiment = Experiment(learners, ledger, store, strategy, initial, evaluate, settings.seed)
    return Simulation(settings, experiment, centralized, experiment_metric(settings, learners), pool=pool)


def run_simulation(
    settings: RunSettings,
    store: ContentStore,
    ledger_kind: Literal["chain", "memory"] = "chain",
    on_round: Callable[[RoundRecord], None] | None = None,
    with_centralized: bool = True,
    pool: LearnerPool | None = None,
) -> ExperimentResult:
    """Build and play the experiment ``settings`` describe; return its results."""
    with prepare_simulation(settings, store, ledger_kind, pool=pool) as simulation:
        return simulation.play(on_round, with_centralized)


class CannotResume(ColearnValueError):
    """``run --resume``: the run directory's experiment cannot be continued as it is (says why)."""


def resume_simulation(
    settings: RunSettings,
    store: ContentStore,
    chain: Chain,
    deployment: Deployment,
    played: list[RoundRecord],
    counts: list[int | None] | None = None,
    strategy: ProposalStrategy | None = None,
    built: BuiltExperiment | None = None,
    initial_score: float | None = None,
) -> Simulation:
    """The experiment of ``deployment``, rebuilt after the rounds ``played``, ready to play the rest.

    The learners are built again from ``settings`` (the same seed gives the same data splits,
    initial model and accounts), take the chain's global model, and their training counts are
    set back to ``counts``, so that the rounds left are played as the uninterrupted run would.
    ``initial_score`` is the run's record of its initial model's score.

    Raises
    ------
    CannotResume
        Naming what differs: the learners' initial model, the accounts, the chain's round, a
        round half-played on the chain, or a global model that is not the last recorded one.
    """
    from colearn_chain.chain import CollectiveLearningClient
    from colearn_chain.chain.accounts import generated_accounts
    from colearn_chain.chain.types import RoundStatus
    from colearn_chain.weights.digest import Digest

    learners, evaluate, centralized = built or build_learners(settings)
    strategy = strategy or make_strategy(settings.strategy, settings.strategy_params)
    initial = publish_initial_model(learners, store)
    if initial != Digest(deployment.initial_model):
        raise CannotResume(
            f"the learners built now start from model {initial[:12]}, the run's started from "
            f"{Digest(deployment.initial_model)[:12]}: its data, learner or task changed"
        )
    accounts = generated_accounts(len(learners) + int(strategy.nominates), seed=settings.seed)
    selector = accounts.pop() if strategy.nominates else None
    if [a.address for a in accounts] != list(deployment.learners):
        raise CannotResume("the learners' seeded accounts are not the deployment's: the seed or learner count changed")
    client = CollectiveLearningClient.at(chain, deployment.contract, deployment.deployment_block)
    current = client.current_round()
    if current != len(played):
        raise CannotResume(
            f"the chain is at round {current} but the results record {len(played)} rounds "
            "(the process was killed between a round's end and its record?): they no longer agree"
        )
    if current < client.max_rounds() and client.round_info(current).status is not RoundStatus.PROPOSING:
        raise CannotResume(
            f"round {current} was half-played on the chain (its proposal is recorded, its votes are not)"
        )
    global_model = Digest(client.global_model())
    if played and played[-1].global_model and Digest(played[-1].global_model) != global_model:
        raise CannotResume(f"the chain's global model {global_model[:12]} is not the last recorded round's")
    ledger = ChainLedger(client, accounts, selector)
    experiment = Experiment(learners, ledger, store, strategy, initial, evaluate, settings.seed)
    experiment.restore(played, global_model)
    for learner, count in zip(learners, counts or [], strict=False):
        if count is not None and hasattr(learner, "training_count"):
            learner.training_count = count
    return Simulation(settings, experiment, centralized, experiment_metric(settings, learners), initial_score)
