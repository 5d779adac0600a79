"""DP-SGD in the torch learners: the budget on every proposal, DP_BUDGET_EXCEEDED instead of overspending."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from torch import nn

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import DiffPrivConfig, ErrorCodes, weights_to_onnx
from colearn_chain.privacy import dp_config_from_params, parse_dp_options
from learners.data import Dataset, load_sklearn_dataset, make_rng, stratified_order
from learners.models import DigitsMLP
from learners.torch_learner import TorchLearner


def _splits() -> tuple[Dataset, Dataset, Dataset]:
    digits = load_sklearn_dataset("digits")
    order = stratified_order(digits.y, make_rng(3))
    return digits.subset(order[:200]), digits.subset(order[200:260]), digits.subset(order[260:320])


def _config(epsilon: float = 3.0, noise: float = 2.0) -> DiffPrivConfig:
    return DiffPrivConfig(target_epsilon=epsilon, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=noise)


def _learner(config: DiffPrivConfig | None, model: nn.Module | None = None, seed: int = 0) -> TorchLearner:
    train, vote, test = _splits()
    return TorchLearner(model or DigitsMLP(hidden=16), train, vote, test, local_epochs=2, seed=seed, dp=config)


def test_every_proposal_reports_a_finite_budget_that_grows_and_never_passes_the_target() -> None:
    learner = _learner(_config(epsilon=3.0))
    spent: list[float] = []
    summary = None
    for _ in range(20):
        proposal = learner.mli_propose_weights()
        summary = proposal.training_summary
        assert summary is not None and summary.dp_budget is not None
        if summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED:
            break
        spent.append(summary.dp_budget.consumed_epsilon)
    assert spent, "the first proposal fits the budget"
    assert all(math.isfinite(e) and e > 0 for e in spent)
    assert spent == sorted(spent) and len(set(spent)) == len(spent)
    assert spent[-1] <= 3.0
    assert summary is not None and summary.dp_budget is not None
    assert summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED
    assert summary.dp_budget.target_epsilon == 3.0 and summary.dp_budget.consumed_delta == 1e-5


def test_a_spent_learner_proposes_its_current_weights_and_keeps_voting() -> None:
    learner = _learner(_config(epsilon=3.0))
    while learner.mli_propose_weights().training_summary.error_code is None:  # type: ignore[union-attr]
        pass
    current = weights_to_onnx(learner.mli_get_current_weights())
    refused = learner.mli_propose_weights()
    assert weights_to_onnx(refused) == current
    assert learner.mli_get_current_weights().training_summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED  # type: ignore[union-attr]
    other = _learner(None, seed=1).mli_propose_weights()
    verdict = learner.mli_test_weights(other)
    assert isinstance(verdict.vote, bool) and math.isfinite(verdict.vote_score)


def test_a_budget_too_small_for_one_proposal_proposes_nothing() -> None:
    learner = _learner(_config(epsilon=0.01))
    before = weights_to_onnx(learner.mli_get_current_weights())
    proposal = learner.mli_propose_weights()
    assert proposal.training_summary is not None
    assert proposal.training_summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED
    assert proposal.training_summary.dp_budget is not None
    assert proposal.training_summary.dp_budget.consumed_epsilon == 0.0
    assert weights_to_onnx(proposal) == before


def test_private_training_is_deterministic_by_seed_and_noisier_than_plain_training() -> None:
    model = DigitsMLP(hidden=16)
    a, b = _learner(_config(epsilon=50.0), copy.deepcopy(model)), _learner(_config(epsilon=50.0), copy.deepcopy(model))
    first = weights_to_onnx(a.mli_propose_weights())
    assert first == weights_to_onnx(b.mli_propose_weights())
    plain = weights_to_onnx(_learner(None, copy.deepcopy(model)).mli_propose_weights())
    assert first != plain


def test_a_model_with_batchnorm_is_refused_in_one_line() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    with pytest.raises(ColearnValueError, match="BatchNorm") as info:
        _learner(_config(), model=model)
    assert "\n" not in str(info.value) and "GroupNorm" in str(info.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target_epsilon": 0}, "target_epsilon = 0.0 must be a positive"),
        ({"target_epsilon": -1}, "target_epsilon = -1.0"),
        ({"target_delta": 1}, "target_delta = 1.0 must be in"),
        ({"max_grad_norm": 0}, "max_grad_norm"),
        ({"noise_multiplier": 0}, "without noise there is no privacy"),
        ({"target_epsilon": "lots"}, "is not a number"),
        ({"epsilon": 3}, "unknown setting 'epsilon'"),
    ],
)
def test_bad_settings_are_one_line_errors(params: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"target_epsilon": 3, "target_delta": 1e-5, "max_grad_norm": 1, "noise_multiplier": 1}
    settings.update(params)
    with pytest.raises(ColearnValueError, match=message):
        dp_config_from_params(settings)


def test_missing_settings_are_named() -> None:
    with pytest.raises(ColearnValueError, match="needs target_delta, max_grad_norm, noise_multiplier"):
        dp_config_from_params({"target_epsilon": 3})
    with pytest.raises(ColearnValueError, match="--dp takes KEY=VALUE"):
        parse_dp_options(["target_epsilon"])
    assert parse_dp_options(["target_epsilon=3", " target_delta = 1e-5"]) == {
        "target_epsilon": "3",
        "target_delta": "1e-5",
    }


def test_the_learner_checks_the_config_itself_for_python_api_users() -> None:
    with pytest.raises(ColearnValueError, match="target_epsilon"):
        _learner(_config(epsilon=-2.0))
    assert np.isfinite(_learner(_config()).mli_test_weights(_learner(None).mli_get_current_weights()).vote_score)
