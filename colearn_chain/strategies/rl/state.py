"""The RL selector's state: features computed only from what the ledger makes public.

Homogeneous Learning's published code fed the DQN a PCA of every node's weights, in which
nine of ten rows were identical at every step. This state is built instead from the public
record of the experiment, the same on a chain as in a simulation: round records, which a chain's
events give through :func:`colearn_chain.history.round_records`:

per learner, in ledger order
    its latest vote score of the current global model (relative to the others), how many
    rounds ago it last proposed, whether its last proposal was accepted, and, with the
    selector's cost matrix, what handing the model to it from the last proposer costs;
for the experiment
    the mean of those scores, the share of learners whose score is known, the recent
    acceptance rate, and the progress through the episode's horizon;
optionally
    a few PCA components of the current global model's weights (public: the ledger records
    its hash and the store serves it).

A learner's score of the current global model is the score it gave, as a voter, to the
accepted proposal that became the global model. Its proposer did not vote on it, so its score
is unknown (as is everyone's before the first accepted round): an older score would describe
an older model, and would keep a learner that just trained looking as needy as before it did.
Rejected and skipped rounds leave the scores alone (they scored a proposal that did not
become the global model). Unknown scores count as the mean of the known ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.records import RoundRecord
from colearn_chain.weights.codec import decode_weights

#: Features per learner (score, rounds since proposing, last outcome, hand-over cost).
PER_LEARNER = 4
#: Experiment-wide features (mean score, share of scores known, acceptance rate, progress).
GLOBAL = 4
#: Relative scores and projections are clipped to +-this, so one outlier cannot swamp the net.
CLIP = 5.0


@dataclass(frozen=True)
class PublicRound:
    """One ended round as anyone can read it from the ledger.

    Attributes
    ----------
    round
        The round's index.
    proposer
        The proposer's (or, for a skipped round, the nominee's) learner index; None if the
        ledger named no learner.
    accepted
        Whether the proposal became the global model.
    scores
        Each voter's index and its score of the proposal, as the ledger records it.
    global_model
        The global model's hash after the round (lowercase hex, no ``0x``), when known.
    """

    round: int
    proposer: int | None
    accepted: bool
    scores: Mapping[int, float] = field(default_factory=dict)
    global_model: str | None = None


def _index(learner_ids: Sequence[str]) -> dict[str, int]:
    return {address.lower(): i for i, address in enumerate(learner_ids)}


def _digest(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    text = value.hex() if isinstance(value, bytes) else value
    return text.lower().removeprefix("0x") or None


def rounds_from_records(records: Iterable[RoundRecord], learner_ids: Sequence[str]) -> list[PublicRound]:
    """Round records (a simulation's, or a chain's: :func:`colearn_chain.history.round_records`) as public rounds."""
    index = _index(learner_ids)
    rounds = []
    for record in records:
        scores = {index[v.learner.lower()]: float(v.score) for v in record.votes if v.learner.lower() in index}
        rounds.append(
            PublicRound(
                round=record.round,
                proposer=index.get(record.proposer.lower()),
                accepted=record.accepted,
                scores=scores,
                global_model=_digest(record.global_model),
            )
        )
    return rounds


@dataclass(frozen=True)
class WeightProjection:
    """A PCA of flattened model weights: ``(w - mean) @ components.T / scale``.

    Fitted once, on models from a warm-up episode (see :func:`fit_projection`), and stored
    in the policy file, so the selector projects served models exactly as in training.
    """

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        if self.components.ndim != 2 or self.mean.shape != (self.components.shape[1],):
            raise ColearnValueError(
                f"a weight projection needs components (k, P) and a mean (P,), got "
                f"{self.components.shape} and {self.mean.shape}"
            )
        if self.scale.shape != (self.components.shape[0],):
            raise ColearnValueError(f"a weight projection needs one scale per component, got {self.scale.shape}")

    @property
    def size(self) -> int:
        """The number of components."""
        return int(self.components.shape[0])

    def project(self, weights: np.ndarray) -> np.ndarray:
        """The standardized components of one flattened model, clipped to +-CLIP."""
        flat = np.asarray(weights, dtype=np.float64).reshape(-1)
        if flat.shape != self.mean.shape:
            raise ColearnValueError(
                f"the model has {flat.size} weights but the policy's projection was fitted on "
                f"{self.mean.size}: use a policy trained for this model"
            )
        projected = (self.components @ (flat - self.mean)) / self.scale
        clipped: np.ndarray = np.clip(projected, -CLIP, CLIP)
        return clipped


def flatten_weights(blob: bytes) -> np.ndarray:
    """Every weight of an ONNX weights blob in one float64 vector, in the codec's name order."""
    arrays = decode_weights(blob)
    if not arrays:
        return np.zeros(0)
    return np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays.values()])


def fit_projection(samples: np.ndarray, components: int) -> WeightProjection:
    """Fit a PCA with ``components`` components to flattened models, one per row.

    Raises
    ------
    ColearnValueError
        If there are fewer models than components plus one.
    """
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < components + 1:
        raise ColearnValueError(f"fitting {components} PCA components needs at least {components + 1} models")
    mean = data.mean(axis=0)
    _, singular, vt = np.linalg.svd(data - mean, full_matrices=False)
    scale = singular[:components] / np.sqrt(max(1, data.shape[0] - 1))
    return WeightProjection(mean, vt[:components].copy(), np.where(scale > 1e-12, scale, 1.0))


@dataclass(frozen=True)
class StateConfig:
    """The shape of the state; stored in every policy file.

    The state is a matrix with one row per learner, in ledger order: the learner's own
    features, then the experiment-wide ones (the same in every row), then the PCA features
    (also the same in every row). A network can then score each learner with the same
    weights (see :class:`~colearn_chain.selector_training.dqn.QNetwork`).

    Attributes
    ----------
    learners
        The number of learners (also the number of actions).
    horizon
        The episode length the progress feature is measured against (Homogeneous Learning: 35).
    acceptance_window
        The recent rounds the acceptance rate is taken over.
    use_costs
        Whether the hand-over costs from the last proposer are features.
    pca_components
        PCA components of the global model's weights appended to each row (0: none).
    """

    learners: int
    horizon: int = 35
    acceptance_window: int = 5
    use_costs: bool = True
    pca_components: int = 0

    def __post_init__(self) -> None:
        if self.learners < 1:
            raise ColearnValueError(f"the selector needs at least 1 learner, got {self.learners}")
        if self.horizon < 1 or self.acceptance_window < 1:
            raise ColearnValueError("horizon and acceptance_window must be at least 1")
        if self.pca_components < 0:
            raise ColearnValueError(f"pca_components must be 0 or more, got {self.pca_components}")

    @property
    def per_learner(self) -> int:
        """The learner's own features in each row."""
        return PER_LEARNER if self.use_costs else PER_LEARNER - 1

    @property
    def features(self) -> int:
        """The length of a row."""
        return self.per_learner + GLOBAL + self.pca_components

    @property
    def shape(self) -> tuple[int, int]:
        """The state's shape: (learners, features)."""
        return (self.learners, self.features)


def latest_scores(rounds: Sequence[PublicRound], learners: int) -> np.ndarray:
    """Each learner's vote score of the current global model (NaN where none is known).

    These are the scores of the last accepted round: its voters scored exactly the model
    that is now global.
    """
    scores = np.full(learners, np.nan)
    accepted = [public for public in rounds if public.accepted]
    if accepted:
        for voter, score in accepted[-1].scores.items():
            if 0 <= voter < learners:
                scores[voter] = score
    return scores


def build_state(
    config: StateConfig,
    rounds: Sequence[PublicRound],
    round_index: int,
    cost: np.ndarray | None = None,
    projected: np.ndarray | None = None,
) -> np.ndarray:
    """The state for choosing ``round_index``'s proposer: float32, shaped ``config.shape``.

    Parameters
    ----------
    config
        The state's shape.
    rounds
        The ended rounds, oldest first (:func:`rounds_from_records`).
    round_index
        The round to nominate for.
    cost
        The cost matrix (needed when ``config.use_costs``).
    projected
        The PCA features of the current global model (``config.pca_components`` values), or
        None before the first round has ended (they are then zero).
    """
    n = config.learners
    scores = latest_scores(rounds, n)
    known = ~np.isnan(scores)
    relative = np.zeros(n)
    mean = 0.0
    if known.any():
        mean = float(scores[known].mean())
        spread = float(scores[known].std()) + 0.05
        relative[known] = np.clip((scores[known] - mean) / spread, -CLIP, CLIP)

    cap = 2 * n
    last_proposed = np.full(n, -1)
    outcome = np.zeros(n)
    for public in rounds:
        if public.proposer is not None and 0 <= public.proposer < n:
            last_proposed[public.proposer] = public.round
            outcome[public.proposer] = 1.0 if public.accepted else -1.0
    since = np.where(last_proposed >= 0, np.minimum(round_index - last_proposed - 1, cap), cap) / n

    columns = [relative, since, outcome]
    if config.use_costs:
        if cost is None:
            raise ColearnValueError("this state uses hand-over costs: pass the cost matrix")
        previous = rounds[-1].proposer if rounds else None
        hand_over = cost[previous] / 0.1 if previous is not None and 0 <= previous < n else np.zeros(n)
        columns.append(hand_over)

    recent = rounds[-config.acceptance_window :]
    acceptance = float(np.mean([r.accepted for r in recent])) if recent else 0.0
    progress = min(round_index, config.horizon) / config.horizon
    glob = np.array([np.clip(mean, -10.0, 10.0), known.mean(), acceptance, progress])

    shared = [glob]
    if config.pca_components:
        if projected is None:
            projected = np.zeros(config.pca_components)
        if projected.shape != (config.pca_components,):
            raise ColearnValueError(f"expected {config.pca_components} PCA features, got {projected.shape}")
        shared.append(projected)
    rows = np.stack(columns, axis=1)
    return np.hstack([rows, np.tile(np.concatenate(shared), (n, 1))]).astype(np.float32)
