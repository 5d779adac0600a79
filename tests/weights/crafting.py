"""Helpers that forge weights blobs, valid and hostile, the way a malicious peer could."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto

from colearn_chain.weights import encode_weights


def sample_weights() -> dict[str, np.ndarray]:
    """A small model's worth of weights in several dtypes and shapes."""
    rng = np.random.default_rng(0)
    return {
        "fc.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "fc.bias": rng.standard_normal(4).astype(np.float32),
        "scale": np.float64(0.5) * np.ones((), dtype=np.float64),
        "steps": np.array([7], dtype=np.int64),
    }


def parse(blob: bytes) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.ParseFromString(blob)
    return model


def mutate(
    edit: Callable[[onnx.ModelProto], object], weights: dict[str, np.ndarray] | None = None
) -> bytes:
    """Encode ``weights`` (default: sample), let ``edit`` change the ModelProto, serialize again."""
    model = parse(encode_weights(sample_weights() if weights is None else weights))
    edit(model)
    return bytes(model.SerializeToString())


def raw_tensor(name: str, array: np.ndarray) -> TensorProto:
    """A raw_data tensor exactly as the codec writes it, but with no checks (NaN allowed)."""
    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
    tensor.dims.extend(array.shape)
    tensor.raw_data = array.astype(array.dtype.newbyteorder("<")).tobytes()
    return tensor


def container(tensors: list[TensorProto]) -> bytes:
    """A container with the codec's header fields holding ``tensors`` in the given order."""
    model = parse(encode_weights({}))
    model.graph.initializer.extend(tensors)
    return bytes(model.SerializeToString())
