"""State dicts <-> named arrays: a module's weights survive the codec into a twin module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights import WeightsSpecMismatch, decode_weights, encode_weights
from colearn_chain.weights.torch_io import load_module_weights, module_spec, module_weights


def net(seed: int, hidden: int = 5) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(4, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, 2),
    )


def test_weights_travel_through_a_blob_into_a_twin_module() -> None:
    source, target = net(0), net(1)
    source.train()
    source(torch.randn(16, 4))  # non-default batch-norm statistics and counter (int64)
    source.eval()
    target.eval()
    blob = encode_weights(module_weights(source))
    load_module_weights(target, decode_weights(blob, spec=module_spec(target)))
    inputs = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(target(inputs), source(inputs), rtol=0, atol=0)
    assert module_weights(target)["1.num_batches_tracked"].dtype == np.int64


def test_module_weights_are_copies() -> None:
    layer = torch.nn.Linear(3, 2)
    weights = module_weights(layer)
    before = weights["weight"].copy()
    with torch.no_grad():
        layer.weight.add_(1.0)
    np.testing.assert_array_equal(weights["weight"], before)


def test_weights_of_another_shape_are_refused_and_leave_the_module_unchanged() -> None:
    module = net(0)
    before = module_weights(module)
    with pytest.raises(WeightsSpecMismatch, match=r"'0\.weight' has shape"):
        load_module_weights(module, module_weights(net(1, hidden=6)))
    after = module_weights(module)
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_a_bool_buffer_cannot_be_encoded() -> None:
    module = torch.nn.Linear(2, 2)
    module.register_buffer("mask", torch.ones(2, dtype=torch.bool))
    with pytest.raises(ColearnValueError, match="mask"):
        module_weights(module)
