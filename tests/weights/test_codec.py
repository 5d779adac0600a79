"""The codec's contract for honest callers: exact round trips, canonical bytes, clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights import (
    SUPPORTED_DTYPES,
    WEIGHTS_IR_VERSION,
    WEIGHTS_OPSET,
    NonFiniteWeights,
    WeightsSpec,
    WeightsSpecMismatch,
    decode_weights,
    encode_weights,
    normalize_weights,
    sha256_hex,
    weights_as_list,
)

from .crafting import parse, sample_weights


def assert_same_arrays(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """Same names in the same order, same dtypes and shapes, bit-identical values."""
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        assert got[name].shape == want[name].shape, name
        assert got[name].tobytes() == want[name].tobytes(), name


@pytest.mark.parametrize("dtype", SUPPORTED_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (5,), (3, 0, 2), (2, 3, 4)])
def test_round_trip_every_dtype_and_shape(dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape) + len(dtype))
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    decoded = decode_weights(encode_weights({"x": array}))
    assert_same_arrays(decoded, {"x": array})


def test_dict_round_trip_keeps_names_and_sorts_them() -> None:
    weights = sample_weights()
    decoded = decode_weights(encode_weights(weights))
    assert list(decoded) == sorted(weights)
    assert_same_arrays(decoded, {name: weights[name] for name in sorted(weights)})


def test_list_round_trip_names_arrays_in_order() -> None:
    arrays: list[np.ndarray] = [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.full((), -4, dtype=np.int64),
        np.zeros(0, dtype=np.uint8),
    ]
    decoded = decode_weights(encode_weights(arrays))
    assert list(decoded) == ["w000", "w001", "w002"]
    for got, want in zip(weights_as_list(decoded), arrays, strict=True):
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


def test_long_lists_keep_their_order_through_sorting() -> None:
    arrays = [np.array([i], dtype=np.int32) for i in range(1001)]
    named = normalize_weights(arrays)
    assert next(iter(named)) == "w0000"
    assert list(named)[-1] == "w1000"
    decoded = decode_weights(encode_weights(arrays))
    assert [int(a[0]) for a in weights_as_list(decoded)] == list(range(1001))


def test_decoded_arrays_are_owned_writable_and_native() -> None:
    big_endian = np.arange(4, dtype=">f8")
    decoded = decode_weights(encode_weights({"x": big_endian}))
    array = decoded["x"]
    assert array.dtype == np.dtype(np.float64)
    assert array.dtype.isnative
    assert array.flags.writeable and array.flags.owndata
    np.testing.assert_array_equal(array, big_endian)


def test_non_contiguous_and_byte_swapped_inputs_encode_like_their_plain_copies() -> None:
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    plain = encode_weights({"x": np.ascontiguousarray(base.T)})
    assert encode_weights({"x": base.T}) == plain
    assert encode_weights({"x": base.T.astype(">f4")}) == plain


def test_same_weights_give_identical_bytes() -> None:
    weights = sample_weights()
    copy = {name: array.copy() for name, array in weights.items()}
    assert encode_weights(weights) == encode_weights(copy)
    assert sha256_hex(encode_weights(weights)) == sha256_hex(encode_weights(copy))


def test_dict_insertion_order_does_not_change_the_bytes() -> None:
    weights = sample_weights()
    reordered = dict(reversed(list(weights.items())))
    assert list(reordered) != list(weights)
    assert encode_weights(reordered) == encode_weights(weights)


def test_a_list_encodes_like_the_dict_it_names() -> None:
    arrays: list[np.ndarray] = [np.ones((2, 2), np.float32), np.zeros(3, np.int64)]
    assert encode_weights(arrays) == encode_weights({"w001": arrays[1], "w000": arrays[0]})


def test_different_weights_give_different_bytes() -> None:
    weights = sample_weights()
    changed = dict(weights, **{"fc.bias": weights["fc.bias"] + np.float32(1e-3)})
    renamed = {("x" + name): array for name, array in weights.items()}
    retyped = dict(weights, steps=weights["steps"].astype(np.int32))
    blobs = {encode_weights(w) for w in (weights, changed, renamed, retyped)}
    assert len(blobs) == 4


def test_bytes_are_the_same_in_another_process() -> None:
    """No per-process state (hash seeds, addresses, clocks) leaks into the encoding."""
    script = (
        "import sys, numpy as np\n"
        "from colearn_chain.weights import encode_weights\n"
        "rng = np.random.default_rng(0)\n"
        "w = {'fc.weight': rng.standard_normal((4, 3)).astype(np.float32),"
        " 'fc.bias': rng.standard_normal(4).astype(np.float32),"
        " 'scale': np.float64(0.5) * np.ones((), dtype=np.float64),"
        " 'steps': np.array([7], dtype=np.int64)}\n"
        "sys.stdout.buffer.write(encode_weights(w))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, env=env, timeout=60
    ).stdout
    assert other == encode_weights(sample_weights())


def test_the_blob_is_a_valid_onnx_model_of_initializers_only() -> None:
    blob = encode_weights(sample_weights())
    model = parse(blob)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == WEIGHTS_IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", WEIGHTS_OPSET)]
    assert model.producer_name == "colearn-chain"
    assert model.doc_string == "" and model.graph.doc_string == ""
    assert len(model.metadata_props) == 0
    assert len(model.graph.node) == len(model.graph.input) == len(model.graph.output) == 0
    assert [t.name for t in model.graph.initializer] == sorted(sample_weights())
    for tensor in model.graph.initializer:
        assert tensor.data_location == onnx.TensorProto.DEFAULT
        assert len(tensor.external_data) == 0
        assert len(tensor.float_data) == len(tensor.int64_data) == 0
        expected = sample_weights()[tensor.name]
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(tensor), expected)


def test_empty_weights_round_trip() -> None:
    assert decode_weights(encode_weights({})) == {}
    assert encode_weights([]) == encode_weights({})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_encode_refuses_non_finite_values(value: float, dtype: str) -> None:
    array = np.array([1.0, value, 2.0], dtype=dtype)
    with pytest.raises(NonFiniteWeights, match="'bad'"):
        encode_weights({"good": np.zeros(2, dtype=dtype), "bad": array})


@pytest.mark.parametrize(
    "weights",
    [
        {"flag": np.array([True, False])},
        {"z": np.array([1 + 2j])},
        {"s": np.array(["text"])},
        {"o": np.array([object()], dtype=object)},
        {"r": np.zeros(2, dtype=[("a", "f4")])},
        {"": np.zeros(2)},
        {3: np.zeros(2)},
        np.zeros(3),
        "w000",
        42,
    ],
    ids=["bool", "complex", "str", "object", "record", "empty-name", "int-name", "bare-array",
         "string", "int"],
)
def test_encode_refuses_what_a_blob_cannot_hold(weights: object) -> None:
    with pytest.raises(ColearnValueError):
        encode_weights(weights)  # type: ignore[arg-type]


def test_torch_like_tensors_are_accepted_through_asarray() -> None:
    class ArrayLike:
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return np.arange(3, dtype=np.float32)

    plain = encode_weights({"x": np.arange(3, dtype=np.float32)})
    assert encode_weights({"x": ArrayLike()}) == plain  # type: ignore[dict-item]


class TestWeightsSpec:
    def test_from_weights_lists_sorted_names_dtype_names_and_shapes(self) -> None:
        spec = WeightsSpec.from_weights(sample_weights())
        assert spec.entries == (
            ("fc.bias", "float32", (4,)),
            ("fc.weight", "float32", (4, 3)),
            ("scale", "float64", ()),
            ("steps", "int64", (1,)),
        )
        assert spec.names == ("fc.bias", "fc.weight", "scale", "steps")

    def test_constructor_canonicalizes_entries(self) -> None:
        built = WeightsSpec(
            (("b", np.float32, [2, 3]), ("a", "<i8", (1,)))  # type: ignore[arg-type]
        )
        assert built.entries == (("a", "int64", (1,)), ("b", "float32", (2, 3)))
        assert built == WeightsSpec.from_weights(
            {"b": np.zeros((2, 3), np.float32), "a": np.zeros(1, np.int64)}
        )
        assert hash(built) == hash(WeightsSpec.from_weights(
            {"a": np.zeros(1, np.int64), "b": np.zeros((2, 3), np.float32)}
        ))

    @pytest.mark.parametrize(
        "entries",
        [
            (("a", "float32", (1,)), ("a", "float32", (1,))),
            (("a", "bool", (1,)),),
            (("a", "not-a-dtype", (1,)),),
            (("a", "float32", (-1,)),),
            (("", "float32", (1,)),),
            (("a", "float32"),),
            (("a", "float32", ("x",)),),
        ],
        ids=["duplicate", "bool", "unknown-dtype", "negative-dim", "empty-name", "pair", "bad-dim"],
    )
    def test_constructor_refuses_bad_entries(self, entries: tuple) -> None:  # type: ignore[type-arg]
        with pytest.raises(ColearnValueError):
            WeightsSpec(entries)

    def test_check_accepts_matching_weights(self) -> None:
        weights = sample_weights()
        WeightsSpec.from_weights(weights).check({n: a.copy() for n, a in weights.items()})

    def test_check_names_every_difference(self) -> None:
        spec = WeightsSpec.from_weights(sample_weights())
        other = sample_weights()
        del other["fc.bias"]
        other["extra"] = np.zeros(1, np.float32)
        other["fc.weight"] = np.zeros((3, 4), np.float32)
        other["steps"] = np.array([7], dtype=np.int32)
        with pytest.raises(WeightsSpecMismatch) as excinfo:
            spec.check(other)
        message = str(excinfo.value)
        assert "missing 'fc.bias'" in message
        assert "unexpected 'extra'" in message
        assert "'fc.weight' has shape (3, 4), expected (4, 3)" in message
        assert "'steps' has dtype int32, expected int64" in message

    def test_check_summarizes_long_lists_of_differences(self) -> None:
        spec = WeightsSpec.from_weights({f"p{i:02d}": np.zeros(1) for i in range(15)})
        with pytest.raises(WeightsSpecMismatch, match="and 5 more"):
            spec.check({})
