"""The platform's view of learners' differential-privacy budgets: who may still propose, who spent what.

Learners report their budget the way colearn's do, in ``Weights.training_summary``: a
``DiffPrivBudget`` and, once the next proposal would exceed the target,
``ErrorCodes.DP_BUDGET_EXCEEDED``. A learner in that state does not propose (its turns are
skipped, a selector does not nominate it) and keeps voting. Learners without differential
privacy report nothing and are never excluded.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import DiffPrivConfig, ErrorCodes, MachineLearningInterface, TrainingSummary, Weights

__all__ = [
    "DP_KEYS",
    "budget_exceeded",
    "check_dp_config",
    "consumed_epsilon",
    "dp_config_from_params",
    "exhausted_learners",
    "nothing_to_recompute",
    "parse_dp_options",
    "privacy_manifest",
    "privacy_of_manifest",
    "summary_of",
]

#: The settings of DP-SGD, as colearn's DiffPrivConfig names them.
DP_KEYS = ("target_epsilon", "target_delta", "max_grad_norm", "noise_multiplier")

log = logging.getLogger(__name__)


def budget_exceeded(summary: TrainingSummary | None) -> bool:
    """Whether a training summary says the learner's privacy budget is spent."""
    return summary is not None and summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED


def summary_of(learner: MachineLearningInterface) -> TrainingSummary | None:
    """The training summary a learner's current weights carry (None for most learners)."""
    weights = learner.mli_get_current_weights()
    return weights.training_summary if isinstance(weights, Weights) else None


def exhausted_learners(learners: Sequence[MachineLearningInterface]) -> frozenset[int]:
    """The indices of the learners whose next proposal would exceed their privacy budget."""
    return frozenset(i for i, learner in enumerate(learners) if budget_exceeded(summary_of(learner)))


def consumed_epsilon(learner: MachineLearningInterface) -> float | None:
    """The epsilon a learner has spent so far, or None if it trains without differential privacy."""
    summary = summary_of(learner)
    if summary is None or summary.dp_budget is None:
        return None
    return float(summary.dp_budget.consumed_epsilon)


def check_dp_config(config: DiffPrivConfig) -> DiffPrivConfig:
    """Return ``config`` if opacus can honour it, else a one-line error naming the setting.

    Raises
    ------
    ColearnValueError
        If epsilon or the clipping norm is not positive and finite, delta is not in (0, 1),
        or the noise multiplier is not positive (without noise there is no privacy).
    """
    checks = (
        ("target_epsilon", config.target_epsilon, "a positive number (e.g. 3)"),
        ("max_grad_norm", config.max_grad_norm, "a positive clipping norm (e.g. 1.0)"),
        ("noise_multiplier", config.noise_multiplier, "positive (e.g. 1.0): without noise there is no privacy"),
    )
    for key, value, advice in checks:
        if not math.isfinite(value) or value <= 0:
            raise ColearnValueError(f"differential privacy: {key} = {value} must be {advice}")
    if not 0 < config.target_delta < 1:
        raise ColearnValueError(
            f"differential privacy: target_delta = {config.target_delta} must be in (0, 1), "
            "well below 1 / (training samples), e.g. 1e-5"
        )
    return config


def dp_config_from_params(params: Mapping[str, Any]) -> DiffPrivConfig:
    """A checked DiffPrivConfig from ``KEY=VALUE`` settings (``run --dp``, a config's ``[dp]``).

    Raises
    ------
    ColearnValueError
        For an unknown or missing key, a value that is not a number, or settings opacus
        cannot honour (see :func:`check_dp_config`).
    """
    unknown = sorted(set(params) - set(DP_KEYS))
    if unknown:
        raise ColearnValueError(
            f"differential privacy: unknown setting {unknown[0]!r}: the settings are {', '.join(DP_KEYS)}"
        )
    missing = [key for key in DP_KEYS if key not in params]
    if missing:
        raise ColearnValueError(
            f"differential privacy needs {', '.join(missing)} too: give all of {', '.join(DP_KEYS)} "
            "(e.g. --dp target_epsilon=3 --dp target_delta=1e-5 --dp max_grad_norm=1 --dp noise_multiplier=1)"
        )
    values: dict[str, float] = {}
    for key in DP_KEYS:
        try:
            values[key] = float(params[key])
        except (TypeError, ValueError):
            raise ColearnValueError(f"differential privacy: {key} = {params[key]!r} is not a number") from None
    return check_dp_config(DiffPrivConfig(**values))


def parse_dp_options(items: list[str] | None, option: str = "--dp") -> dict[str, str] | None:
    """``["target_epsilon=3", ...]`` (from ``--dp``, repeatable) as a dict; None when none given."""
    if not items:
        return None
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ColearnValueError(f"{option} takes KEY=VALUE with KEY one of {', '.join(DP_KEYS)}, got {item!r}")
        params[key.strip()] = value.strip()
    return params


#: The manifest strategy name of a proposal its proposer trained alone (no inputs to recompute).
SOLO_STRATEGY = "local-training"


def privacy_manifest(strategy: str, round_index: int, proposer: str, summary: TrainingSummary) -> bytes | None:
    """The manifest of a differentially private proposal: the (epsilon, delta) its proposer had spent.

    Sorted-key compact JSON with PROTOCOL.md's fields (``strategy``, ``params``, ``inputs``)
    and ``privacy``; None when the summary holds no budget. The epsilon is the proposer's
    total after this proposal (privacy loss adds up over its proposals); delta is fixed.
    """
    budget = summary.dp_budget
    if budget is None:
        return None
    document = {
        "strategy": SOLO_STRATEGY,
        "params": {"strategy": strategy},
        "inputs": [],
        "round": round_index,
        "proposer": proposer,
        "privacy": {
            "epsilon": float(budget.consumed_epsilon),
            "delta": float(budget.consumed_delta),
            "target_epsilon": float(budget.target_epsilon),
            "target_delta": float(budget.target_delta),
            "accountant": "rdp",
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def privacy_of_manifest(manifest: Any) -> tuple[float, float] | None:
    """The (epsilon, delta) a parsed manifest says its proposal's proposer had spent, if it says."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("privacy"), dict):
        return None
    try:
        return float(manifest["privacy"]["epsilon"]), float(manifest["privacy"]["delta"])
    except (KeyError, TypeError, ValueError):
        return None


def nothing_to_recompute(manifest: Any) -> bool:
    """Whether a manifest describes a proposal trained alone (no inputs): there is no recipe to rerun."""
    return isinstance(manifest, dict) and manifest.get("strategy") == SOLO_STRATEGY and manifest.get("inputs") == []
