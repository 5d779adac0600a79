"""What an experiment leaves behind: per-round records and the results file's exact layout."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from colearn_chain.metrics import ACCURACY, Metric
from colearn_chain.weights.digest import Digest


@dataclass(frozen=True)
class VoteRecord:
    """One learner's vote on a round's proposal.

    ``reason`` is set when the learner rejected without testing (the blob was missing, corrupt
    or not a valid model for it); ``score`` is then 0.
    """

    learner: str
    approve: bool
    score: float
    reason: str | None = None


@dataclass(frozen=True)
class RoundRecord:
    """One round as it ended; hashes and addresses as 0x hex.

    A ``skipped`` round had no proposal (its proposer's privacy budget was spent): ``weights``
    is then None and nobody voted. ``dp_epsilon`` maps each learner that trains with
    differential privacy to the epsilon it had spent by the end of the round.
    """

    round: int
    proposer: str
    weights: str | None
    manifest: str | None
    accepted: bool
    approvals: int
    rejections: int
    votes: list[VoteRecord]
    test_accuracy: float | None
    global_model: str = ""
    skipped: bool = False
    dp_epsilon: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        """The round as ``results.json`` lists it."""
        data = asdict(self)
        data["votes"] = [
            {k: v for k, v in asdict(vote).items() if k != "reason" or v is not None} for vote in self.votes
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoundRecord:
        """The round back from its ``results.json`` form (``run --resume`` reads the rounds done)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "votes"}
        fields.setdefault("test_accuracy", data.get("test_score"))  # a task not scored by accuracy writes only this
        votes = [VoteRecord(**vote) for vote in data.get("votes", [])]
        return cls(votes=votes, **fields)


#: How a run ended: ``running`` while it plays (a killed run keeps it), ``complete`` once every
#: round is played, ``interrupted`` by SIGINT/SIGTERM, ``failed`` on an error.
RunStatus = Literal["running", "complete", "interrupted", "failed"]


def write_json_atomically(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename.

    A reader (or a run killed mid-write) sees the old file or the new one, never half of one.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the results from the other users of a shared host
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@dataclass
class ExperimentResult:
    """The whole experiment, as written to ``DIR/results.json``."""

    contract: str | None
    chain_id: int | None
    learners: list[str]
    final_accuracy: float | None
    centralized_accuracy: float | None
    rounds: list[RoundRecord] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    #: Each round's hand-over cost (from the previous round's proposer), in round order.
    hand_over_costs: list[float] | None = None
    status: RunStatus = "complete"
    #: The one-line error a ``failed`` run ended with.
    error: str | None = None
    #: What ``run --resume`` needs beyond the rounds: each learner's number of trainings so far.
    resume: dict[str, Any] | None = None
    #: What the scores are (accuracy, mean return, ...): results.json, tables and plots name it.
    metric: Metric = ACCURACY
    #: The initial global model's score, before any round.
    initial_score: float | None = None
    #: What the votes' scores are (a vote loss, a mean return, ...): the vote log says which.
    vote_metric: Metric | None = None

    @property
    def communication_cost(self) -> float | None:
        """The experiment's communication cost: the sum of its hand-over costs."""
        return None if self.hand_over_costs is None else float(sum(self.hand_over_costs))

    @property
    def final_score(self) -> float | None:
        """The final global model's score in :attr:`metric` (``final_accuracy`` holds it, whatever it is)."""
        return self.final_accuracy

    def to_json(self) -> dict[str, Any]:
        """The results file: scores under ``*_score`` keys beside the named ``metric``.

        The ``*_accuracy`` keys are kept for accuracy-scored tasks (earlier results files had
        them); a task scored otherwise (an RL agent's mean return) has none, so nothing calls a
        return an accuracy.
        """
        rounds = [r.to_json() for r in self.rounds]
        is_accuracy = self.metric == ACCURACY
        for data in rounds:
            data["test_score"] = data["test_accuracy"]
            if not is_accuracy:
                del data["test_accuracy"]
        if self.hand_over_costs is not None:
            for data, cost in zip(rounds, self.hand_over_costs, strict=True):
                data["hand_over_cost"] = cost
        result: dict[str, Any] = {
            "contract": self.contract,
            "chain_id": self.chain_id,
            "learners": self.learners,
            "metric": self.metric.to_json(),
            "initial_score": self.initial_score,
            "vote_score": None if self.vote_metric is None else self.vote_metric.to_json(),
            "final_score": self.final_accuracy,
            "centralized_score": self.centralized_accuracy,
            "settings": self.settings,
            "communication_cost": self.communication_cost,
            "rounds": rounds,
            "status": self.status,
            "error": self.error,
            "resume": self.resume,
        }
        if is_accuracy:
            result["final_accuracy"] = self.final_accuracy
            result["centralized_accuracy"] = self.centralized_accuracy
        return result

    def write(self, path: Path) -> Path:
        """Write the results as indented JSON (stable key order), atomically."""
        return write_json_atomically(path, self.to_json())


def hex32(digest: bytes | str) -> str:
    """A 32-byte hash as 0x-prefixed lowercase hex, from any spelling (see :class:`Digest`)."""
    return Digest(digest).prefixed
