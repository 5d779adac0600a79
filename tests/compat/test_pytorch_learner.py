"""colearn's PytorchLearner with colearn's arguments: weights, votes, differential privacy; convert_model_to_onnx."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from colearn_chain.check import check_learner
from colearn_chain.compat.ml_interface import DiffPrivConfig, ErrorCodes
from colearn_chain.compat.onnxutils import convert_model_to_onnx
from colearn_chain.compat.pytorch_learner import PytorchLearner
from colearn_chain.compat.pytorch_utils import categorical_accuracy
from colearn_chain.errors import ColearnValueError
from colearn_chain.learner_spec import LearnerSpec
from colearn_chain.weights.onnx_model import run_onnx_model
from learners.data import load_sklearn_dataset


def _loaders(seed: int = 0) -> tuple[DataLoader, DataLoader, DataLoader]:  # type: ignore[type-arg]
    digits = load_sklearn_dataset("digits")
    x = torch.from_numpy(digits.x[:400].astype(np.float32))
    y = torch.from_numpy(digits.y[:400].astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    parts = [TensorDataset(x[a:b], y[a:b]) for a, b in ((0, 240), (240, 320), (320, 400))]
    return (
        DataLoader(parts[0], batch_size=32, shuffle=True, generator=generator),
        DataLoader(parts[1], batch_size=80),
        DataLoader(parts[2], batch_size=80),
    )


def _learner(dp: DiffPrivConfig | None = None) -> PytorchLearner:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10), nn.LogSoftmax(dim=1))
    train, vote, test = _loaders()
    return PytorchLearner(
        model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), train_loader=train,
        vote_loader=vote, test_loader=test, criterion=nn.NLLLoss(), vote_criterion=categorical_accuracy,
        minimise_criterion=False, diff_priv_config=dp,
    )  # fmt: skip


def test_the_learner_keeps_the_interface_contract() -> None:
    check_learner(_learner())


def test_with_differential_privacy_it_stops_at_its_budget() -> None:
    learner = _learner(DiffPrivConfig(target_epsilon=2.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=2.0))
    spent = []
    for _ in range(30):
        proposal = learner.mli_propose_weights()
        summary = proposal.training_summary
        assert summary is not None and summary.dp_budget is not None
        if summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED:
            break
        spent.append(summary.dp_budget.consumed_epsilon)
    assert spent and spent == sorted(spent) and 0 < spent[-1] <= 2.0
    assert learner.get_training_summary() is not None


def test_a_criterion_is_required() -> None:
    model = nn.Linear(64, 10)
    train, vote, test = _loaders()
    with pytest.raises(ColearnValueError, match="criterion"):
        PytorchLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), train, vote, test)


def test_convert_model_to_onnx_infers_a_linear_input_and_runs_like_torch() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    proto = convert_model_to_onnx(model)
    assert isinstance(proto, onnx.ModelProto)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    (out,) = run_onnx_model(proto.SerializeToString(), {"input": x})
    assert np.allclose(out, model(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    with pytest.raises(ColearnValueError, match="example_input"):
        convert_model_to_onnx(nn.Sequential(nn.Conv2d(1, 2, 3)))
    with pytest.raises(ColearnValueError, match="supports torch modules and scikit-learn"):
        convert_model_to_onnx(object())


def test_a_deployment_carries_the_dp_settings_to_every_participant() -> None:
    dp = {"target_epsilon": 3.0, "target_delta": 1e-5, "max_grad_norm": 1.0, "noise_multiplier": 2.0}
    spec = LearnerSpec(task="digits-mlp", factory=None, seed=0, count=2, dp=dp)
    assert LearnerSpec.from_json(spec.to_json()) == spec
    summary = spec.build(1).mli_get_current_weights().training_summary
    assert summary is not None and summary.dp_budget is not None and summary.dp_budget.target_epsilon == 3.0
    with pytest.raises(ColearnValueError, match="factory"):
        LearnerSpec(task=None, factory="learners.tasks:digits_mlp", seed=0, count=2, dp=dp)
