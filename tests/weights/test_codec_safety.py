"""Hostile blobs: every way a peer's bytes can be refused, each with its own typed error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from colearn_chain.errors import ColearnError, ColearnValueError
from colearn_chain.weights import (
    BlobTooLarge,
    Digest,
    ExternalDataNotAllowed,
    GraphNodesNotAllowed,
    HashMismatch,
    InvalidWeightsBlob,
    MalformedBlob,
    NonFiniteWeights,
    WeightsSpec,
    WeightsSpecMismatch,
    decode_weights,
    encode_weights,
    sha256_hex,
)

from .crafting import container, mutate, raw_tensor, sample_weights

SPEC = WeightsSpec.from_weights(sample_weights())


def test_an_honest_blob_passes_every_check() -> None:
    blob = encode_weights(sample_weights())
    decoded = decode_weights(
        blob, spec=SPEC, expected_sha256=hashlib.sha256(blob).hexdigest(), max_bytes=len(blob)
    )
    assert WeightsSpec.from_weights(decoded) == SPEC


def test_every_refusal_is_an_invalid_weights_blob_value_error() -> None:
    for error in (BlobTooLarge, HashMismatch, MalformedBlob, ExternalDataNotAllowed,
                  GraphNodesNotAllowed, WeightsSpecMismatch, NonFiniteWeights):
        assert issubclass(error, InvalidWeightsBlob)
        assert issubclass(error, ColearnValueError)
        assert issubclass(error, ColearnError)
        assert issubclass(error, ValueError)


# --- size cap -------------------------------------------------------------------------------


def test_a_blob_over_the_cap_is_refused_before_parsing() -> None:
    blob = encode_weights(sample_weights())
    with pytest.raises(BlobTooLarge, match=str(len(blob) - 1)):
        decode_weights(blob, max_bytes=len(blob) - 1)


def test_oversized_garbage_is_too_large_not_malformed() -> None:
    with pytest.raises(BlobTooLarge):
        decode_weights(b"\xff" * 1025, max_bytes=1024)


def test_the_default_cap_refuses_a_huge_blob() -> None:
    from colearn_chain.weights import DEFAULT_MAX_BYTES

    with pytest.raises(BlobTooLarge):
        decode_weights(bytes(DEFAULT_MAX_BYTES + 1))


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, True, "64"])
def test_a_nonsense_cap_is_the_callers_value_error(max_bytes: object) -> None:
    with pytest.raises(ColearnValueError) as excinfo:
        decode_weights(encode_weights({}), max_bytes=max_bytes)  # type: ignore[arg-type]
    assert not isinstance(excinfo.value, InvalidWeightsBlob)


# --- hash -----------------------------------------------------------------------------------


def test_a_blob_that_does_not_hash_to_the_ledger_value_is_refused() -> None:
    blob = encode_weights(sample_weights())
    other = sha256_hex(encode_weights({}))
    with pytest.raises(HashMismatch, match=other):
        decode_weights(blob, expected_sha256=other)


def test_the_expected_hash_may_be_spelled_any_way() -> None:
    blob = encode_weights(sample_weights())
    digest = sha256_hex(blob)
    for spelling in (digest, "0x" + digest.upper(), Digest(digest).bytes32):
        assert list(decode_weights(blob, expected_sha256=spelling)) == sorted(sample_weights())


def test_a_malformed_expected_hash_is_the_callers_value_error() -> None:
    with pytest.raises(ColearnValueError) as excinfo:
        decode_weights(encode_weights({}), expected_sha256="0x1234")
    assert not isinstance(excinfo.value, InvalidWeightsBlob)


# --- not ONNX at all ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blob",
    [b"", b"hello, world", b"\xff" * 100, bytes(range(256)), b"PK\x03\x04 zip file", b"\x0a\x05"],
    ids=["empty", "text", "ff", "all-bytes", "zip", "truncated-field"],
)
def test_garbage_bytes_are_malformed(blob: bytes) -> None:
    with pytest.raises(MalformedBlob):
        decode_weights(blob)


def test_a_truncated_blob_is_malformed() -> None:
    blob = encode_weights(sample_weights())
    with pytest.raises(MalformedBlob):
        decode_weights(blob[: len(blob) // 2])


@pytest.mark.parametrize("blob", ["text", None, 3, [1, 2]])
def test_a_non_bytes_blob_is_malformed(blob: object) -> None:
    with pytest.raises(MalformedBlob):
        decode_weights(blob)  # type: ignore[arg-type]


# --- external data --------------------------------------------------------------------------


def _point_at_file(model: onnx.ModelProto, path: str, *, set_location: bool = True) -> None:
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    if set_location:
        tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", path


@pytest.mark.parametrize("set_location", [True, False], ids=["EXTERNAL", "entries-only"])
def test_external_data_is_refused_without_reading_the_file(
    tmp_path: Path, set_location: bool
) -> None:
    # A real file with exactly the right bytes: a loader that followed it would succeed.
    weights = sample_weights()
    target = tmp_path / "fc.bias"
    target.write_bytes(weights["fc.bias"].astype("<f4").tobytes())
    blob = mutate(lambda m: _point_at_file(m, str(target), set_location=set_location))
    with pytest.raises(ExternalDataNotAllowed, match=r"fc\.bias"):
        decode_weights(blob, spec=SPEC)


def test_external_data_location_alone_is_refused() -> None:
    def edit(model: onnx.ModelProto) -> None:
        model.graph.initializer[1].data_location = TensorProto.EXTERNAL

    with pytest.raises(ExternalDataNotAllowed, match=r"fc\.weight"):
        decode_weights(mutate(edit))


def test_external_data_is_refused_on_sparse_initializers_too() -> None:
    def edit(model: onnx.ModelProto) -> None:
        values = raw_tensor("sparse", np.ones(2, np.float32))
        values.data_location = TensorProto.EXTERNAL
        indices = raw_tensor("sparse_idx", np.array([0, 3], np.int64))
        model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [5]))

    with pytest.raises(ExternalDataNotAllowed, match="sparse"):
        decode_weights(mutate(edit))


# --- graphs ---------------------------------------------------------------------------------


def _add_node(model: onnx.ModelProto) -> None:
    model.graph.node.append(helper.make_node("Identity", ["fc.bias"], ["copy"]))


def _add_input(model: onnx.ModelProto) -> None:
    model.graph.input.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]))


def _add_output(model: onnx.ModelProto) -> None:
    model.graph.output.append(helper.make_tensor_value_info("fc.bias", TensorProto.FLOAT, [4]))


def _add_value_info(model: onnx.ModelProto) -> None:
    model.graph.value_info.append(helper.make_tensor_value_info("v", TensorProto.FLOAT, [4]))


def _add_function(model: onnx.ModelProto) -> None:
    model.functions.append(
        helper.make_function(
            "evil", "f", ["a"], ["b"], [helper.make_node("Identity", ["a"], ["b"])],
            [helper.make_opsetid("", 17)],
        )
    )


def _add_training_info(model: onnx.ModelProto) -> None:
    info = model.training_info.add()
    info.algorithm.CopyFrom(
        helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "train", [], [])
    )


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (_add_node, "nodes: 1"),
        (_add_input, "graph inputs: 1"),
        (_add_output, "graph outputs: 1"),
        (_add_value_info, "value infos: 1"),
        (_add_function, "functions: 1"),
        (_add_training_info, "training graphs: 1"),
    ],
    ids=["node", "input", "output", "value-info", "function", "training-info"],
)
def test_anything_runnable_is_refused(edit: object, what: str) -> None:
    with pytest.raises(GraphNodesNotAllowed, match=what):
        decode_weights(mutate(edit), spec=SPEC)  # type: ignore[arg-type]


def test_a_full_runnable_model_is_refused_as_weights() -> None:
    weight = raw_tensor("W", np.ones((2, 2), np.float32))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(GraphNodesNotAllowed):
        decode_weights(model.SerializeToString())


def test_decoding_never_touches_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("decode_weights must not build an inference session")

    monkeypatch.setattr(onnxruntime, "InferenceSession", forbidden)
    assert list(decode_weights(encode_weights(sample_weights()))) == sorted(sample_weights())
    with pytest.raises(GraphNodesNotAllowed):
        decode_weights(mutate(_add_node))


# --- spec -----------------------------------------------------------------------------------


def _replace(name: str, array: np.ndarray) -> dict[str, np.ndarray]:
    return dict(sample_weights(), **{name: array})


@pytest.mark.parametrize(
    ("weights", "phrase"),
    [
        (_replace("fc.weight", np.zeros((3, 4), np.float32)), "'fc.weight' has shape (3, 4)"),
        (_replace("fc.weight", np.zeros((4, 3), np.float64)), "'fc.weight' has dtype float64"),
        (_replace("extra", np.zeros(1, np.float32)), "unexpected 'extra'"),
        ({k: v for k, v in sample_weights().items() if k != "steps"}, "missing 'steps'"),
        ({("renamed." + k): v for k, v in sample_weights().items()}, "missing 'fc.bias'"),
    ],
    ids=["shape", "dtype", "extra-name", "missing-name", "renamed"],
)
def test_weights_that_do_not_fit_the_receiving_model_are_refused(
    weights: dict[str, np.ndarray], phrase: str
) -> None:
    blob = encode_weights(weights)
    assert list(decode_weights(blob)) == sorted(weights)  # fine without a spec
    with pytest.raises(WeightsSpecMismatch) as excinfo:
        decode_weights(blob, spec=SPEC)
    assert phrase in str(excinfo.value)


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_nan_and_inf_are_refused(value: float, dtype: str) -> None:
    blob = container([
        raw_tensor("a", np.zeros(3, dtype=dtype)),
        raw_tensor("b", np.array([[1.0, value], [2.0, 3.0]], dtype=dtype)),
    ])
    with pytest.raises(NonFiniteWeights, match=r"'b' \(1 values\)"):
        decode_weights(blob, expected_sha256=sha256_hex(blob))


# --- malformed structure --------------------------------------------------------------------


def _typed_floats(model: onnx.ModelProto) -> None:
    tensor = model.graph.initializer[0]  # fc.bias, float32
    values = np.frombuffer(tensor.raw_data, "<f4")
    tensor.ClearField("raw_data")
    tensor.float_data.extend(values.tolist())


def _short_raw_data(model: onnx.ModelProto) -> None:
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:-1]


def _huge_dims(model: onnx.ModelProto) -> None:
    del model.graph.initializer[0].dims[:]
    model.graph.initializer[0].dims.extend([2**40, 2**40])


def _negative_dims(model: onnx.ModelProto) -> None:
    model.graph.initializer[0].dims[0] = -4


def _string_tensor(model: onnx.ModelProto) -> None:
    tensor = helper.make_tensor("zz", TensorProto.STRING, [1], [b"x"])  # type: ignore[list-item]
    model.graph.initializer.append(tensor)


def _bool_tensor(model: onnx.ModelProto) -> None:
    model.graph.initializer.append(raw_tensor("zz", np.array([True, False])))


def _duplicate_name(model: onnx.ModelProto) -> None:
    model.graph.initializer.append(raw_tensor("steps", np.array([7], np.int64)))


def _unnamed(model: onnx.ModelProto) -> None:
    model.graph.initializer[0].name = ""


def _unsorted(model: onnx.ModelProto) -> None:
    tensors = list(model.graph.initializer)
    del model.graph.initializer[:]
    model.graph.initializer.extend(reversed(tensors))


def _doc_string(model: onnx.ModelProto) -> None:
    model.doc_string = "hello"


def _metadata(model: onnx.ModelProto) -> None:
    helper.set_model_props(model, {"note": "hidden payload"})


def _producer(model: onnx.ModelProto) -> None:
    model.producer_name = "someone-else"


def _ir_version(model: onnx.ModelProto) -> None:
    model.ir_version = 10


def _extra_opset(model: onnx.ModelProto) -> None:
    model.opset_import.append(helper.make_opsetid("com.evil", 1))


def _opset_version(model: onnx.ModelProto) -> None:
    model.opset_import[0].version = 21


def _dense_sparse(model: onnx.ModelProto) -> None:
    values = raw_tensor("sparse", np.ones(2, np.float32))
    indices = raw_tensor("sparse_idx", np.array([0, 3], np.int64))
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [5]))


def _segment(model: onnx.ModelProto) -> None:
    model.graph.initializer[0].segment.begin = 0
    model.graph.initializer[0].segment.end = 4


def _no_graph(model: onnx.ModelProto) -> None:
    model.ClearField("graph")


def _unknown_field(model: onnx.ModelProto) -> None:
    model.graph.initializer[0].doc_string = "x"


@pytest.mark.parametrize(
    "edit",
    [_typed_floats, _short_raw_data, _huge_dims, _negative_dims, _string_tensor, _bool_tensor,
     _duplicate_name, _unnamed, _unsorted, _doc_string, _metadata, _producer, _ir_version,
     _extra_opset, _opset_version, _dense_sparse, _segment, _no_graph, _unknown_field],
)
def test_blobs_not_in_the_canonical_form_are_malformed(edit: object) -> None:
    with pytest.raises(MalformedBlob):
        decode_weights(mutate(edit))  # type: ignore[arg-type]


def test_a_name_that_is_not_utf8_is_malformed() -> None:
    # Found by the corruption property test: protobuf returns such a name as bytes.
    blob = encode_weights(sample_weights()).replace(b"steps", b"st\xffps")
    with pytest.raises(MalformedBlob, match="UTF-8"):
        decode_weights(blob)


def test_appended_bytes_are_malformed() -> None:
    blob = encode_weights(sample_weights())
    # A protobuf field 15 (unknown to ModelProto) tacked on the end still parses.
    with pytest.raises(MalformedBlob, match="canonical"):
        decode_weights(blob + b"\x7a\x03abc")
