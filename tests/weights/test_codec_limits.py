"""Validation costs a voter time linear in the blob, and the tensor count is capped before parsing.

Regression tests for issue 16: a 0.9 MB blob of 40k tensors took 12.7 s to refuse
(``list.count`` in ``WeightsSpec``), and a blob of millions of empty tensors would parse into
gigabytes of protobuf messages.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import numpy as np
import pytest
from onnx import TensorProto

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights import (
    MAX_TENSORS,
    InvalidWeightsBlob,
    MalformedBlob,
    TooManyTensors,
    WeightsSpec,
    decode_weights,
    encode_weights,
)


def _many_tensors(count: int) -> dict[str, np.ndarray]:
    return {f"t{index:06d}": np.zeros(1, np.float32) for index in range(count)}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _graph_of_empty_tensors(count: int) -> bytes:
    """A ModelProto whose graph holds ``count`` empty named tensors, framed by hand (fast)."""
    tensor = TensorProto()
    tensor.name = "a"
    body = bytes(tensor.SerializeToString())
    entry = b"\x2a" + _varint(len(body)) + body  # GraphProto.initializer, field 5
    graph = entry * count
    return b"\x3a" + _varint(len(graph)) + graph  # ModelProto.graph, field 7


def _decode_seconds(blob: bytes, spec: WeightsSpec) -> float:
    """CPU time of one validation (not wall time, which other processes on the machine inflate)."""
    gc.collect()
    start = time.process_time()
    decode_weights(blob, spec=spec)
    return time.process_time() - start


def test_validation_time_grows_linearly_with_the_tensor_count() -> None:
    # A growth check, not a timing claim: both sizes are measured in this one run, the best of
    # two each. Quadratic growth gives a ratio of 16; linear, 4.
    small, large = _many_tensors(10_000), _many_tensors(40_000)
    small_blob, large_blob = encode_weights(small), encode_weights(large)
    small_spec, large_spec = WeightsSpec.from_weights(small), WeightsSpec.from_weights(large)
    small_time = min(_decode_seconds(small_blob, small_spec) for _ in range(2))
    large_time = min(_decode_seconds(large_blob, large_spec) for _ in range(2))
    assert large_time / small_time < 8, (small_time, large_time)


def test_a_spec_with_repeated_names_is_refused_in_linear_time() -> None:
    entries = tuple((f"t{index:06d}", "float32", (1,)) for index in range(40_000))
    start = time.perf_counter()
    with pytest.raises(ColearnValueError, match="t000007"):
        WeightsSpec((*entries, ("t000007", "float32", (1,))))
    assert time.perf_counter() - start < 5  # was minutes with list.count; now well under a second


def test_a_blob_over_the_tensor_cap_is_refused_before_it_is_parsed() -> None:
    blob = _graph_of_empty_tensors(MAX_TENSORS + 1)
    tracemalloc.start()
    try:
        with pytest.raises(TooManyTensors, match=str(MAX_TENSORS)) as excinfo:
            decode_weights(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(excinfo.value, InvalidWeightsBlob)
    # Parsing would have built 65k messages; the framing scan allocates next to nothing.
    assert peak < 1 << 20


def test_millions_of_empty_tensors_are_refused_without_parsing_them() -> None:
    blob = _graph_of_empty_tensors(3_000_000)  # 14 MiB, far under the size cap
    start = time.perf_counter()
    with pytest.raises(TooManyTensors):
        decode_weights(blob)
    assert time.perf_counter() - start < 5  # stops at the cap instead of parsing 3M messages


def test_exactly_the_cap_is_not_refused_for_its_count() -> None:
    blob = _graph_of_empty_tensors(MAX_TENSORS)
    # Past the count check, the parsed structure's checks refuse it (it has no IR version).
    with pytest.raises(MalformedBlob, match="IR version"):
        decode_weights(blob)


def test_many_other_top_level_fields_are_malformed() -> None:
    opset = b"\x42\x02\x10\x11"  # ModelProto.opset_import {version: 17}, repeated
    with pytest.raises(MalformedBlob, match="fields besides its tensors"):
        decode_weights(opset * 100_000)


def test_encoding_more_tensors_than_a_receiver_accepts_is_refused() -> None:
    with pytest.raises(ColearnValueError, match="over the cap"):
        encode_weights([np.zeros(0, np.float32)] * (MAX_TENSORS + 1))
