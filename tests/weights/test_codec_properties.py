"""Property tests: any weights round-trip exactly, and no byte string makes decoding crash."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from colearn_chain.weights import (
    SUPPORTED_DTYPES,
    InvalidWeightsBlob,
    WeightsSpec,
    decode_weights,
    encode_weights,
    normalize_weights,
    sha256_hex,
    weights_as_list,
)

from .crafting import sample_weights

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def finite_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(SUPPORTED_DTYPES)))
    if dtype.kind == "f":
        elements = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False)
    else:
        elements = hnp.from_dtype(dtype)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    return draw(hnp.arrays(dtype, shape, elements=elements))


names = st.text(min_size=1, max_size=12)
weight_dicts = st.dictionaries(names, finite_arrays(), max_size=6)
weight_lists = st.lists(finite_arrays(), max_size=6)


def same(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


@PROPERTY_SETTINGS
@given(weight_dicts)
def test_dicts_round_trip_bit_exactly(weights: dict[str, np.ndarray]) -> None:
    blob = encode_weights(weights)
    decoded = decode_weights(
        blob, spec=WeightsSpec.from_weights(weights), expected_sha256=sha256_hex(blob)
    )
    assert list(decoded) == sorted(weights)
    assert all(same(decoded[name], weights[name]) for name in weights)
    assert encode_weights(decoded) == blob


@PROPERTY_SETTINGS
@given(weight_lists)
def test_lists_round_trip_in_order(arrays: list[np.ndarray]) -> None:
    decoded = weights_as_list(decode_weights(encode_weights(arrays)))
    assert len(decoded) == len(arrays)
    assert all(same(got, want) for got, want in zip(decoded, arrays, strict=True))


@PROPERTY_SETTINGS
@given(weight_dicts, st.randoms(use_true_random=False))
def test_encoding_ignores_insertion_order_and_copies(
    weights: dict[str, np.ndarray], rnd: object
) -> None:
    items = [(name, array.copy()) for name, array in weights.items()]
    rnd.shuffle(items)  # type: ignore[attr-defined]
    assert encode_weights(dict(items)) == encode_weights(weights)
    assert WeightsSpec.from_weights(dict(items)) == WeightsSpec.from_weights(weights)
    assert list(normalize_weights(dict(items))) == sorted(weights)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_are_refused_with_a_typed_error_or_decoded(blob: bytes) -> None:
    try:
        decoded = decode_weights(blob)
    except InvalidWeightsBlob:
        return
    # If random bytes do decode, they must be exactly the canonical encoding of the result.
    assert encode_weights(decoded) == blob


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupting_a_valid_blob_never_crashes_the_decoder(data: st.DataObject) -> None:
    blob = bytearray(encode_weights(sample_weights()))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(blob) - 1))
        blob[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    corrupted = bytes(blob[:cut])
    try:
        decoded = decode_weights(corrupted, spec=WeightsSpec.from_weights(sample_weights()))
    except InvalidWeightsBlob:
        return
    assert encode_weights(decoded) == corrupted
