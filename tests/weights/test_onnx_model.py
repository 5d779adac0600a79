"""The checker of full-graph ONNX models from peers: one test per reason to refuse, and the runtime path."""

from __future__ import annotations

import pickle

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from colearn_chain.compat.onnxutils import convert_model_to_onnx, sklearn_to_onnx_bytes
from colearn_chain.interface import check_learner_bytes
from colearn_chain.weights.codec import encode_weights
from colearn_chain.weights.errors import BlobTooLarge, ExternalDataNotAllowed, GraphNodesNotAllowed, MalformedBlob
from colearn_chain.weights.onnx_model import (
    CustomOperatorNotAllowed,
    InvalidOnnxModel,
    check_onnx_model,
    is_full_model,
    run_onnx_model,
)


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def forest_blob(iris: tuple[np.ndarray, np.ndarray]) -> bytes:
    return sklearn_to_onnx_bytes(RandomForestClassifier(n_estimators=3, random_state=0).fit(*iris))


def _identity(domain: str = "", op: str = "Identity") -> onnx.ModelProto:
    node = helper.make_node(op, ["x"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def test_a_converted_forest_passes_and_runs_like_scikit_learn(
    forest_blob: bytes, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    check_onnx_model(forest_blob)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(*iris)
    labels = run_onnx_model(forest_blob, {"input": iris[0]})[0]
    assert np.array_equal(labels, model.predict(iris[0]))
    assert is_full_model(forest_blob) and check_learner_bytes(forest_blob) == forest_blob


def test_conversion_is_canonical(iris: tuple[np.ndarray, np.ndarray]) -> None:
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(*iris)
    assert sklearn_to_onnx_bytes(model) == sklearn_to_onnx_bytes(model)
    assert convert_model_to_onnx(model).SerializeToString(deterministic=True) == sklearn_to_onnx_bytes(model)


def test_a_pickle_is_not_a_model(iris: tuple[np.ndarray, np.ndarray]) -> None:
    blob = pickle.dumps(RandomForestClassifier(n_estimators=1).fit(*iris))
    with pytest.raises(MalformedBlob):
        check_onnx_model(blob)
    with pytest.raises(MalformedBlob):
        check_learner_bytes(blob)


def test_custom_operators_are_refused() -> None:
    with pytest.raises(CustomOperatorNotAllowed, match=r"com\.evil"):
        check_onnx_model(_identity("com.evil", "Pwn").SerializeToString())


def test_local_functions_are_refused() -> None:
    model = _identity()
    model.functions.append(onnx.FunctionProto(name="f", domain="local"))
    with pytest.raises(CustomOperatorNotAllowed, match="local functions"):
        check_onnx_model(model.SerializeToString())


def test_external_data_is_refused() -> None:
    model = _identity()
    tensor = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="/etc/passwd")
    model.graph.initializer.append(tensor)
    with pytest.raises(ExternalDataNotAllowed):
        check_onnx_model(model.SerializeToString())


def test_the_size_cap_comes_first(forest_blob: bytes) -> None:
    with pytest.raises(BlobTooLarge):
        check_onnx_model(forest_blob, max_bytes=len(forest_blob) - 1)


def test_a_model_that_fails_onnx_checker_is_refused() -> None:
    model = _identity(op="NoSuchOperator")
    with pytest.raises(InvalidOnnxModel, match="checker"):
        check_onnx_model(model.SerializeToString())


def test_a_valid_identity_model_passes() -> None:
    check_onnx_model(_identity().SerializeToString())
    assert run_onnx_model(_identity().SerializeToString(), {"x": np.ones(1, dtype=np.float32)})[0] == 1.0


def test_kinds_must_match_the_receiver(forest_blob: bytes) -> None:
    container = encode_weights([np.ones(2, dtype=np.float32)])
    with pytest.raises(GraphNodesNotAllowed):
        check_learner_bytes(forest_blob, like=container)  # a model where weights are expected
    with pytest.raises(InvalidOnnxModel, match="no nodes"):
        check_learner_bytes(container, like=forest_blob)  # weights where a model is expected
