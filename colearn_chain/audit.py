"""Rebuild an experiment's history from the contract's events, verify it, and re-evaluate its models.

Everything here comes from the chain's events (plus ``initialModel()``, public state the
events do not repeat) and from blobs re-hashed on read, so an auditor trusts neither the
participants nor whoever ran the experiment. The JSON form (:meth:`AuditReport.to_json`) is the
stable, documented interface for scripts.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from colearn_chain.chain import events as ev
from colearn_chain.chain.types import fixed_to_score
from colearn_chain.errors import ColearnError
from colearn_chain.history import replay
from colearn_chain.metrics import Metric, metric_of
from colearn_chain.privacy import nothing_to_recompute, privacy_of_manifest
from colearn_chain.weights.digest import Digest
from colearn_chain.weights.store import BlobNotFound, ContentStore

if TYPE_CHECKING:
    from colearn_chain.chain import Chain, CollectiveLearningClient
    from colearn_chain.chain.endpoint import RpcEndpoint
    from colearn_chain.deployment import Deployment

#: Version of the JSON layout (bumped on any incompatible change).
AUDIT_FORMAT = 1


def _hex(value: bytes) -> str:
    return Digest(value).prefixed


@dataclass
class AuditVote:
    """One vote as ``VoteCast`` recorded it (``score`` is the raw fixed-point integer)."""

    voter: str
    approve: bool
    score: int
    block: int

    def to_json(self) -> dict[str, Any]:
        return {
            "voter": self.voter,
            "approve": self.approve,
            "score": self.score,
            "score_float": fixed_to_score(self.score),
            "block": self.block,
        }


@dataclass
class AuditRound:
    """One round as the events tell it."""

    round: int
    proposer: str | None = None
    nominated_by: str | None = None
    weights: str | None = None
    manifest: str | None = None
    proposed_block: int | None = None
    contributions: list[tuple[str, str]] = field(default_factory=list)
    votes: list[AuditVote] = field(default_factory=list)
    outcome: str = "in progress"  # accepted | rejected | skipped | in progress
    approvals: int = 0
    rejections: int = 0
    global_model: str | None = None  # after the round
    ended_block: int | None = None
    accuracy: float | None = None
    #: (epsilon, delta) the proposer had spent with this proposal, from its manifest (DP learners).
    privacy: tuple[float, float] | None = None
    #: Each DP learner's spent epsilon after the round, from the manifests so far.
    dp_epsilon: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "proposer": self.proposer,
            "nominated_by": self.nominated_by,
            "weights": self.weights,
            "manifest": self.manifest,
            "proposed_block": self.proposed_block,
            "contributions": [{"learner": a, "weights": w} for a, w in self.contributions],
            "votes": [v.to_json() for v in self.votes],
            "outcome": self.outcome,
            "approvals": self.approvals,
            "rejections": self.rejections,
            "global_model": self.global_model,
            "ended_block": self.ended_block,
            "accuracy": self.accuracy,
            "privacy": None if self.privacy is None else {"epsilon": self.privacy[0], "delta": self.privacy[1]},
            "dp_epsilon": self.dp_epsilon,
        }


@dataclass
class LearnerSummary:
    """What one learner did over the whole experiment."""

    learner: str
    proposals: int = 0
    accepted_proposals: int = 0
    votes_cast: int = 0
    agreed_with_outcome: int = 0
    missed_votes: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Discrepancy:
    """One thing ``--verify`` found wrong."""

    round: int | None
    kind: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"round": self.round, "kind": self.kind, "detail": self.detail}


@dataclass
class AuditReport:
    """An experiment's history, per round and per learner, plus what verification found."""

    contract: str
    chain_id: int
    initial_model: str
    learners: list[str]
    rounds: list[AuditRound]
    verified: bool = False
    discrepancies: list[Discrepancy] = field(default_factory=list)
    #: Each round's hand-over cost, once :meth:`compute_costs` has been given a cost matrix.
    hand_over_costs: list[float] | None = None
    #: What the re-evaluated ``accuracy`` column is (an RL task's mean return, say), once evaluated.
    metric: Metric | None = None

    def compute_costs(self, matrix: np.ndarray) -> float:
        """Each round's hand-over cost from the ledger alone, and their sum (the communication cost).

        The cost of a round is ``matrix[prev][next]`` between the learners the ledger names as
        the previous and this round's proposer (for a skipped round: its nominee); the first
        round costs nothing. Stored in :attr:`hand_over_costs` and reported in the JSON.
        """
        from colearn_chain.strategies.rl.cost import hand_over_costs

        index = {address.lower(): i for i, address in enumerate(self.learners)}
        proposers = [index.get(r.proposer.lower()) if r.proposer else None for r in self.rounds]
        self.hand_over_costs = hand_over_costs(matrix, proposers)
        return float(sum(self.hand_over_costs))

    def summaries(self) -> list[LearnerSummary]:
        """Per learner: proposals made and accepted, votes cast, agreement, missed votes."""
        by_address = {a: LearnerSummary(a) for a in self.learners}
        for record in self.rounds:
            if record.proposer in by_address and record.weights is not None:
                by_address[record.proposer].proposals += 1
                by_address[record.proposer].accepted_proposals += record.outcome == "accepted"
            voters = {v.voter for v in record.votes}
            for vote in record.votes:
                summary = by_address[vote.voter]
                summary.votes_cast += 1
                summary.agreed_with_outcome += vote.approve == (record.outcome == "accepted")
            if record.weights is not None and record.outcome in ("accepted", "rejected"):
                for address in self.learners:
                    if address != record.proposer and address not in voters:
                        by_address[address].missed_votes += 1
        return list(by_address.values())

    def filtered(self, round_index: int | None = None, learner: str | None = None) -> AuditReport:
        """The report restricted to one round and/or to what one learner did."""
        rounds = [r for r in self.rounds if round_index is None or r.round == round_index]
        if learner is not None:
            kept = []
            for record in rounds:
                mine = [v for v in record.votes if v.voter == learner]
                if mine or record.proposer == learner:
                    copy = AuditRound(**{**vars(record), "votes": mine})
                    kept.append(copy)
            rounds = kept
        costs = None
        if self.hand_over_costs is not None:  # the kept rounds' own hand-over costs
            by_round = {r.round: c for r, c in zip(self.rounds, self.hand_over_costs, strict=True)}
            costs = [by_round[r.round] for r in rounds]
        return AuditReport(
            self.contract, self.chain_id, self.initial_model,
            [a for a in self.learners if learner is None or a == learner],
            rounds, self.verified,
            [d for d in self.discrepancies if round_index is None or d.round in (None, round_index)],
            costs,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The stable JSON layout (see the README's "audit JSON" section)."""
        return {
            "format": AUDIT_FORMAT,
            "contract": self.contract,
            "chain_id": self.chain_id,
            "initial_model": self.initial_model,
            "learners": self.learners,
            "rounds": [r.to_json() for r in self.rounds],
            "learner_summaries": [s.to_json() for s in self.summaries()],
            "verified": self.verified,
            "discrepancies": [d.to_json() for d in self.discrepancies],
            **(
                {}
                if self.hand_over_costs is None
                else {"communication_cost": float(sum(self.hand_over_costs)), "hand_over_costs": self.hand_over_costs}
            ),
        }

    def to_csv(self) -> str:
        """One row per vote (a round without votes gets one row with empty vote columns)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["round", "proposer", "weights", "manifest", "outcome", "approvals", "rejections",
             "global_model", "voter", "approve", "score", "accuracy"]
        )  # fmt: skip
        for r in self.rounds:
            head = [r.round, r.proposer or "", r.weights or "", r.manifest or "", r.outcome, r.approvals,
                    r.rejections, r.global_model or ""]  # fmt: skip
            tail = ["" if r.accuracy is None else f"{r.accuracy:.6f}"]
            if not r.votes:
                writer.writerow([*head, "", "", "", *tail])
            for v in r.votes:
                writer.writerow([*head, v.voter, str(v.approve).lower(), f"{fixed_to_score(v.score):.6f}", *tail])
        return out.getvalue()


def build_report(events: Sequence[ev.Event], contract: str, chain_id: int, initial_model: bytes) -> AuditReport:
    """Replay the events in chain order into per-round records (see :func:`colearn_chain.history.replay`)."""
    history = replay(events, initial_model)
    rounds = [AuditRound(**{**vars(r), "votes": [AuditVote(**vars(v)) for v in r.votes]}) for r in history.rounds]
    return AuditReport(contract, chain_id, _hex(initial_model), history.learners, rounds)


#: Rebuilds an aggregated proposal from its manifest and the store (see strategies.manifest).
Recompute = Callable[[bytes, ContentStore], bytes]


def verify(report: AuditReport, store: ContentStore, recompute: Recompute | None = None) -> list[Discrepancy]:
    """Check every blob, the global-model chain and every model's validity; returns what is wrong.

    - every proposed weights blob and manifest is in the store and re-hashes to its name;
    - every model (the initial one and every proposal) is a valid weights container of the
      initial model's layout;
    - the global model after each round follows the accepted proposals;
    - an aggregated proposal recomputes, from its manifest and stored inputs, to its hash.
    """
    from colearn_chain.weights.codec import WeightsSpec, decode_weights

    found: list[Discrepancy] = []
    spec: WeightsSpec | None = None
    try:
        spec = WeightsSpec.from_weights(decode_weights(store.get(report.initial_model)))
    except BlobNotFound as exc:
        found.append(Discrepancy(None, "missing-blob", f"initial model {report.initial_model}: {exc}"))
    except ColearnError as exc:
        found.append(Discrepancy(None, "invalid-model", f"initial model {report.initial_model}: {exc}"))

    expected_global = report.initial_model
    for record in report.rounds:
        if record.weights is not None:
            try:
                blob = store.get(record.weights)
            except BlobNotFound as exc:
                found.append(Discrepancy(record.round, "missing-blob", f"proposal {record.weights}: {exc}"))
                blob = None
            if blob is not None and spec is not None:
                try:
                    decode_weights(blob, spec=spec, expected_sha256=record.weights)
                except ColearnError as exc:
                    found.append(Discrepancy(record.round, "invalid-model", f"proposal {record.weights}: {exc}"))
            if record.manifest is not None:
                found.extend(_verify_manifest(record, store, recompute))
        if record.outcome == "accepted":
            expected_global = record.weights or expected_global
        if record.global_model is not None and record.global_model != expected_global:
            found.append(
                Discrepancy(
                    record.round,
                    "global-model",
                    f"global model after the round is {record.global_model}, expected {expected_global}",
                )
            )
    return found


def _verify_manifest(record: AuditRound, store: ContentStore, recompute: Recompute | None) -> list[Discrepancy]:
    assert record.manifest is not None and record.weights is not None
    try:
        manifest = store.get(record.manifest)
    except BlobNotFound as exc:
        return [Discrepancy(record.round, "missing-blob", f"manifest {record.manifest}: {exc}")]
    try:
        described = json.loads(manifest)
    except ValueError as exc:
        return [Discrepancy(record.round, "invalid-manifest", f"manifest {record.manifest} is not JSON: {exc}")]
    found = []
    if isinstance(described, dict):
        # an aggregator's manifest names its round and proposer: a manifest replayed from
        # another round, or claimed by another learner, is a discrepancy even if it recomputes
        for key, actual in (("round", record.round), ("proposer", record.proposer)):
            if key in described and described[key] != actual:
                detail = f"manifest says {key} {described[key]!r}, the chain {actual!r}"
                found.append(Discrepancy(record.round, "invalid-manifest", detail))
    if recompute is None or nothing_to_recompute(described):
        return found
    try:
        rebuilt = recompute(manifest, store)
    except (ColearnError, ValueError, KeyError) as exc:
        return [*found, Discrepancy(record.round, "recompute-failed", f"manifest {record.manifest}: {exc}")]
    if Digest.of(rebuilt).prefixed != record.weights:
        found.append(
            Discrepancy(
                record.round,
                "recompute-mismatch",
                f"the manifest recomputes to {Digest.of(rebuilt).prefixed}, not the proposed {record.weights}",
            )
        )
    return found


def default_recompute() -> Recompute | None:
    """The aggregators' recomputation, when the aggregating strategies are installed."""
    try:
        from colearn_chain.strategies.manifest import recompute_proposal
    except ImportError:
        return None
    return recompute_proposal


def evaluate_models(report: AuditReport, store: ContentStore, score: Callable[[bytes], float]) -> None:
    """Score the global model after every round (each distinct model once) into ``accuracy``."""
    cache: dict[str, float | None] = {}
    for record in report.rounds:
        digest = record.global_model
        if digest is None:
            continue
        if digest not in cache:
            try:
                cache[digest] = score(store.get(digest))
            except (BlobNotFound, ColearnError):
                cache[digest] = None
        record.accuracy = cache[digest]


def model_scorer(data_file: Path, learner: dict[str, Any] | None) -> Callable[[bytes], float]:
    """Accuracy of a weights blob on the auditor's ``data_file``, with the experiment's model.

    Needs a built-in task (the deployment's ``learner`` description): a user's own factory has
    no model the auditor could rebuild.
    """
    from colearn_chain.learner_spec import LearnerSpec

    return LearnerSpec.from_json(dict(learner or {})).source().file_scorer(data_file)


def evaluation_metric(learner: dict[str, Any] | None) -> Metric:
    """What ``--evaluate`` scores are, by the deployment's task (accuracy for the classifiers)."""
    from colearn_chain.learner_spec import LearnerSpec

    return metric_of(LearnerSpec.from_json(dict(learner or {})).source())


def attach_privacy(report: AuditReport, store: ContentStore) -> None:
    """Read each proposal's spent (epsilon, delta) from its manifest, and each learner's running epsilon."""
    spent: dict[str, float] = {}
    for record in report.rounds:
        if record.manifest is not None and record.proposer is not None:
            try:
                record.privacy = privacy_of_manifest(json.loads(store.get(record.manifest)))
            except (BlobNotFound, ValueError):
                record.privacy = None
            if record.privacy is not None:
                spent[record.proposer] = record.privacy[0]
        record.dp_epsilon = dict(spent) if spent else None


def audit_contract(
    client: CollectiveLearningClient,
    store: ContentStore,
    check: bool = False,
    evaluate: Path | None = None,
    learner: dict[str, Any] | None = None,
) -> AuditReport:
    """The report of the contract behind ``client``: built, optionally verified and evaluated."""
    report = build_report(client.events(), client.address, client.chain.chain_id, client.initial_model())
    attach_privacy(report, store)
    if check:
        report.discrepancies = verify(report, store, default_recompute())
        report.verified = True
    if evaluate is not None:
        evaluate_models(report, store, model_scorer(evaluate, learner))
        report.metric = evaluation_metric(learner)
    return report


def audit_deployment(
    deployment: Deployment,
    store: ContentStore,
    *,
    rpc: str | RpcEndpoint | None = None,
    check: bool = False,
    evaluate: Path | None = None,
    cost_seed: int | None = None,
    cost: Path | None = None,
    chain: Chain | None = None,
) -> AuditReport:
    """The report of a deployed experiment (``colearn-chain audit``), from a node and a store.

    ``store`` is already open (the deployment's or another; the CLI opens it read-only, never
    creating one); ``rpc`` replaces the deployment's node; ``check`` verifies the history;
    ``evaluate`` re-scores every global model on that data file with the deployment's task.
    With ``cost`` (a CSV of hand-over costs) or ``cost_seed`` (the random matrix of that seed)
    the report also gives each round's hand-over cost, from the ledger's proposers alone.
    ``chain``, if given, is read instead of connecting (a ``run``'s embedded chain, rebuilt
    from its journal).

    Raises
    ------
    ColearnFileError, ColearnValueError
        For an unreadable cost file or a matrix of the wrong shape, negative or non-finite.
    """
    from colearn_chain.chain import connect

    chain = chain or connect(rpc or deployment.rpc_url)
    client = deployment.attach(chain)
    report = audit_contract(client, store, check, evaluate, deployment.learner)
    if cost is not None or cost_seed is not None:
        from colearn_chain.strategies.rl.cost import cost_matrix, read_cost_csv

        count = len(report.learners)
        report.compute_costs(read_cost_csv(cost, count) if cost is not None else cost_matrix(count, cost_seed or 0))
    return report
