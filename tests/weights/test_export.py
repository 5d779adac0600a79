"""The runnable export: onnxruntime gives torch's outputs for an MLP and a CNN at any batch size."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.weights import InvalidWeightsBlob, decode_weights
from colearn_chain.weights.export import INPUT_NAME, OUTPUT_NAME, export_torch_model


def small_mlp() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 3),
    )


def small_cnn() -> torch.nn.Module:
    torch.manual_seed(2)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, kernel_size=3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, kernel_size=3), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(8 * 2 * 2, 10),
    )


def run_onnx(blob: bytes, inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    (output,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs})
    return np.asarray(output)


@pytest.mark.parametrize(
    ("build", "input_shape"),
    [(small_mlp, (8,)), (small_cnn, (1, 8, 8))],
    ids=["mlp", "cnn"],
)
def test_onnxruntime_matches_torch_at_any_batch_size(
    build: object, input_shape: tuple[int, ...]
) -> None:
    module = build()  # type: ignore[operator]
    blob = export_torch_model(module, torch.zeros((2, *input_shape)))
    rng = np.random.default_rng(3)
    for batch in (1, 5, 17):
        inputs = rng.standard_normal((batch, *input_shape)).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(inputs)).numpy()
        np.testing.assert_allclose(run_onnx(blob, inputs), expected, rtol=1e-5, atol=1e-5)


def test_the_model_is_valid_and_self_contained() -> None:
    model = onnx.load_from_string(export_torch_model(small_cnn(), torch.zeros(1, 1, 8, 8)))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]
    assert len(model.graph.initializer) > 0
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_export_is_deterministic() -> None:
    module = small_mlp()
    first = export_torch_model(module, torch.zeros(1, 8))
    assert export_torch_model(module, torch.zeros(3, 8)) == first


def test_a_fixed_batch_export_refuses_other_batch_sizes() -> None:
    blob = export_torch_model(small_mlp(), torch.zeros(4, 8), dynamic_batch=False)
    dim = onnx.load_from_string(blob).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 4
    with pytest.raises(InvalidArgument, match="dimension"):
        run_onnx(blob, np.zeros((2, 8), np.float32))


def test_export_uses_eval_mode_and_restores_the_training_flag() -> None:
    torch.manual_seed(4)
    module = torch.nn.Sequential(
        torch.nn.Linear(6, 6), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(6)
    )
    module.train()
    module(torch.randn(32, 6))  # move the batch-norm statistics away from their defaults
    blob = export_torch_model(module, torch.zeros(2, 6))
    assert module.training
    inputs = np.random.default_rng(5).standard_normal((7, 6)).astype(np.float32)
    module.eval()
    with torch.no_grad():
        expected = module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(run_onnx(blob, inputs), expected, rtol=1e-5, atol=1e-5)


def test_export_does_not_leak_the_legacy_exporter_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_torch_model(small_mlp(), torch.zeros(1, 8))
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_an_unexportable_module_is_a_runtime_error() -> None:
    class Unexportable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            eigenvalues: torch.Tensor = torch.linalg.eigh(x)[0]  # no ONNX operator for this
            return eigenvalues

    with pytest.raises(ColearnRuntimeError, match=r"Unexportable.*linalg_eigh"):
        export_torch_model(Unexportable(), torch.eye(3))


def test_a_runnable_model_is_never_accepted_as_a_weights_blob() -> None:
    blob = export_torch_model(small_mlp(), torch.zeros(1, 8))
    with pytest.raises(InvalidWeightsBlob):
        decode_weights(blob)
