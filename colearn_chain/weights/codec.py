"""The weights codec: named arrays <-> a deterministic ONNX container of initializers, no graph.

The container is an ONNX ``ModelProto`` whose graph holds only initializers: no nodes, no
functions, no inputs or outputs, every tensor dense and stored little-endian in
``raw_data``. Encoding is canonical: tensors sorted by name, fixed ``ir_version``, opset
and producer, no doc strings, metadata or timestamps. So the same weights always give the
same bytes, hence the same sha256, which is what the ledger records.

Decoding treats the blob as hostile: it checks the size cap, the hash, the structure and
every tensor before it builds a single array, never hands the bytes to an ONNX runtime,
and finally requires the blob to be exactly the canonical encoding of what it decoded.
Each refusal is a typed :class:`~colearn_chain.weights.errors.InvalidWeightsBlob`.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights.digest import normalize_digest, sha256_hex
from colearn_chain.weights.errors import (
    BlobTooLarge,
    ExternalDataNotAllowed,
    GraphNodesNotAllowed,
    HashMismatch,
    MalformedBlob,
    NonFiniteWeights,
    TooManyTensors,
    WeightsSpecMismatch,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_TENSORS",
    "SUPPORTED_DTYPES",
    "WEIGHTS_IR_VERSION",
    "WEIGHTS_OPSET",
    "Array",
    "WeightsLike",
    "WeightsSpec",
    "decode_weights",
    "encode_weights",
    "normalize_weights",
    "sha256_hex",
    "weights_as_list",
]

Array: TypeAlias = npt.NDArray[Any]
#: Weights as a list (named ``w000``, ``w001``, ... in order) or as a name -> array mapping.
WeightsLike: TypeAlias = Sequence[Array] | Mapping[str, Array]

#: Default cap on a weights blob's size: 64 MiB, ample for the models this project trains
#: (a 16M-parameter float32 model) and small enough that a peer cannot exhaust memory.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Cap on the number of tensors in a weights blob: 65,536. Real models are far below it (a
#: ResNet-152 has about 900 tensors with its batch norms, a 70B-parameter transformer under
#: 1,000); a blob over it is refused by a scan of its protobuf framing, before it is parsed,
#: since a 64 MiB blob of empty tensors would otherwise parse into millions of messages
#: (gigabytes of memory) and every tensor costs a voter time.
MAX_TENSORS = 65_536
#: ONNX opset written into every container (and used by the runnable export): 17 is
#: supported by every onnxruntime release of the last years.
WEIGHTS_OPSET = 17
#: ONNX IR version matching opset 17.
WEIGHTS_IR_VERSION = 8
#: Producer fields of the container: a format version, not the package version, so that
#: releases that keep the format produce identical bytes.
PRODUCER_NAME = "colearn-chain"
PRODUCER_VERSION = "weights-v1"
GRAPH_NAME = "colearn_chain_weights"

_ONNX_TYPE_BY_DTYPE: dict[np.dtype[Any], int] = {
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.int16): TensorProto.INT16,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.uint16): TensorProto.UINT16,
    np.dtype(np.uint32): TensorProto.UINT32,
    np.dtype(np.uint64): TensorProto.UINT64,
}
_DTYPE_BY_NAME: dict[str, np.dtype[Any]] = {dt.name: dt for dt in _ONNX_TYPE_BY_DTYPE}
_DTYPE_BY_ONNX_TYPE: dict[int, np.dtype[Any]] = {v: k for k, v in _ONNX_TYPE_BY_DTYPE.items()}
# Native-order dtypes map to themselves (a byte-swapped dtype compares unequal, so it misses).
_CANONICAL_BY_DTYPE: dict[np.dtype[Any], np.dtype[Any]] = {dt: dt for dt in _ONNX_TYPE_BY_DTYPE}
# dtype.name goes through numpy's Python-level naming code; a dict lookup does not.
_NAME_BY_DTYPE: dict[np.dtype[Any], str] = {dt: dt.name for dt in _ONNX_TYPE_BY_DTYPE}
#: The numpy dtype names a weights container can hold (no bool, complex, string or object).
SUPPORTED_DTYPES: tuple[str, ...] = tuple(sorted(_DTYPE_BY_NAME))

# numpy refuses arrays of more dimensions than this; a blob claiming more is malformed.
_MAX_NDIM = 32
# TensorProto's typed value fields; this project writes raw_data only.
_TYPED_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")
# How many differences a WeightsSpecMismatch message lists before summarizing the rest.
_MAX_LISTED_DIFFERENCES = 10


def _canonical_dtype(dtype: Any, what: str) -> np.dtype[Any]:
    """The native-byte-order supported dtype equal to ``dtype``, or a ColearnValueError."""
    # Fast paths (a dict lookup instead of numpy's dtype-name machinery): this runs once per
    # tensor of every peer's blob, so it is most of what validation costs per tensor.
    if isinstance(dtype, np.dtype):
        known = _CANONICAL_BY_DTYPE.get(dtype)
        if known is not None:
            return known
    elif isinstance(dtype, str):
        named = _DTYPE_BY_NAME.get(dtype)
        if named is not None:
            return named
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise ColearnValueError(f"{what}: {dtype!r} is not a numpy dtype") from exc
    canonical = _DTYPE_BY_NAME.get(resolved.name)
    if canonical is None or resolved.fields is not None:
        raise ColearnValueError(
            f"{what}: dtype {resolved} cannot be stored in a weights blob; "
            f"convert it to one of {', '.join(SUPPORTED_DTYPES)}"
        )
    return canonical


def _as_array(name: str, value: Any) -> Array:
    """``value`` as a C-contiguous, native-byte-order array of a supported dtype."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ColearnValueError(
            f"weights {name!r} cannot be turned into a numpy array ({exc}): "
            "pass numpy arrays (call .detach().cpu().numpy() on torch tensors)"
        ) from exc
    dtype = _canonical_dtype(array.dtype, f"weights {name!r}")
    # astype (not ascontiguousarray) keeps 0-d arrays 0-d.
    return array.astype(dtype, order="C", copy=False)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ColearnValueError(f"weight names must be non-empty strings, got {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ColearnValueError(f"weight name {name!r} is not valid UTF-8") from exc
    return name


def _list_names(count: int) -> list[str]:
    """``w000``, ``w001``, ...: zero-padded to a common width so that name order is list order."""
    width = max(3, len(str(count - 1)))
    return [f"w{index:0{width}d}" for index in range(count)]


def normalize_weights(weights: WeightsLike) -> dict[str, Array]:
    """Weights as a ``{name: array}`` dict in sorted name order, with canonical dtypes.

    The order is deterministic so that encoding is: a mapping keeps its names and is sorted
    by them (Python string order, i.e. by code point), whatever its insertion order. A list
    or tuple becomes ``{"w000": a0, "w001": a1, ...}``; the numbers are zero-padded to a common
    width (three digits, more for lists of over 1000 arrays) so that sorted order is list
    order. Arrays are made C-contiguous in native byte order; they may share memory with
    the input when no conversion was needed.

    Raises
    ------
    ColearnValueError
        If ``weights`` is neither a sequence nor a mapping, a name is not a non-empty
        string, or an array has a dtype outside :data:`SUPPORTED_DTYPES`.
    """
    if isinstance(weights, Mapping):
        items = [(_check_name(name), value) for name, value in weights.items()]
    elif isinstance(weights, Sequence) and not isinstance(weights, str | bytes | bytearray):
        values = list(weights)
        items = list(zip(_list_names(len(values)), values, strict=True))
    else:
        raise ColearnValueError(
            f"weights must be a list of arrays or a mapping of name to array, got {type(weights).__name__}"
        )
    return {name: _as_array(name, value) for name, value in sorted(items, key=lambda kv: kv[0])}


def weights_as_list(weights: WeightsLike) -> list[Array]:
    """The arrays of ``weights`` in sorted name order: for a decoded list, the original list."""
    return list(normalize_weights(weights).values())


@dataclass(frozen=True)
class WeightsSpec:
    """What a receiving model expects: the exact names, dtypes and shapes of its weights.

    ``entries`` holds ``(name, dtype name, shape)`` triples, e.g.
    ``("fc.weight", "float32", (10, 64))``; the dtype is numpy's ``dtype.name``. The
    constructor sorts entries by name and canonicalizes dtypes and shapes, so two specs of
    the same model compare equal however they were built.
    """

    entries: tuple[tuple[str, str, tuple[int, ...]], ...]

    def __post_init__(self) -> None:
        normalized: list[tuple[str, str, tuple[int, ...]]] = []
        for entry in self.entries:
            try:
                name, dtype, shape = entry
                dims = tuple(operator.index(dim) for dim in shape)
            except (TypeError, ValueError) as exc:
                raise ColearnValueError(f"a WeightsSpec entry must be (name, dtype, shape), got {entry!r}") from exc
            _check_name(name)
            if any(dim < 0 for dim in dims):
                raise ColearnValueError(f"weights {name!r}: shape {dims} has a negative dimension")
            normalized.append((name, _NAME_BY_DTYPE[_canonical_dtype(dtype, f"weights {name!r}")], dims))
        normalized.sort(key=lambda item: item[0])
        # Counter, not list.count: a peer's blob of n tensors must cost O(n), not O(n^2).
        duplicates = sorted(name for name, seen in Counter(item[0] for item in normalized).items() if seen > 1)
        if duplicates:
            raise ColearnValueError(f"a WeightsSpec names each tensor once; repeated: {duplicates}")
        object.__setattr__(self, "entries", tuple(normalized))

    @classmethod
    def from_weights(cls, weights: WeightsLike) -> WeightsSpec:
        """The spec of ``weights`` (as :func:`normalize_weights` names them)."""
        return cls(
            tuple(
                (name, _NAME_BY_DTYPE[array.dtype], tuple(array.shape))
                for name, array in normalize_weights(weights).items()
            )
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The tensor names, sorted."""
        return tuple(entry[0] for entry in self.entries)

    def differences(self, other: WeightsSpec) -> list[str]:
        """How ``other`` differs from this (expected) spec, one phrase per difference."""
        expected = {name: (dtype, shape) for name, dtype, shape in self.entries}
        actual = {name: (dtype, shape) for name, dtype, shape in other.entries}
        found: list[str] = [f"missing {name!r}" for name in expected if name not in actual]
        found += [f"unexpected {name!r}" for name in actual if name not in expected]
        for name, (dtype, shape) in expected.items():
            if name not in actual:
                continue
            got_dtype, got_shape = actual[name]
            if got_dtype != dtype:
                found.append(f"{name!r} has dtype {got_dtype}, expected {dtype}")
            if got_shape != shape:
                found.append(f"{name!r} has shape {got_shape}, expected {shape}")
        return found

    def check(self, weights: WeightsLike) -> None:
        """Raise :class:`WeightsSpecMismatch` unless ``weights`` match this spec exactly.

        The message lists which names are missing or unexpected and which dtypes or
        shapes differ, so a voter's log says why a proposal was refused.
        """
        found = self.differences(WeightsSpec.from_weights(weights))
        if found:
            listed = found[:_MAX_LISTED_DIFFERENCES]
            more = len(found) - len(listed)
            suffix = f"; and {more} more" if more else ""
            raise WeightsSpecMismatch("weights do not fit the receiving model: " + "; ".join(listed) + suffix)


def _check_finite(weights: Mapping[str, Array]) -> None:
    bad = []
    for name, array in weights.items():
        if array.dtype.kind == "f":
            count = int(array.size - np.count_nonzero(np.isfinite(array)))
            if count:
                bad.append(f"{name!r} ({count} values)")
    if bad:
        raise NonFiniteWeights("weights hold NaN or infinity in " + ", ".join(bad) + ": a model cannot use them")


def _container(weights: Mapping[str, Array]) -> onnx.ModelProto:
    """The canonical ModelProto for already-normalized weights; field order is fixed here."""
    model = onnx.ModelProto()
    model.ir_version = WEIGHTS_IR_VERSION
    model.producer_name = PRODUCER_NAME
    model.producer_version = PRODUCER_VERSION
    opset = model.opset_import.add()
    opset.domain = ""
    opset.version = WEIGHTS_OPSET
    model.graph.name = GRAPH_NAME
    for name, array in weights.items():
        tensor = model.graph.initializer.add()
        tensor.name = name
        tensor.data_type = _ONNX_TYPE_BY_DTYPE[array.dtype]
        tensor.dims.extend(array.shape)
        tensor.raw_data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return model


def _serialize(weights: Mapping[str, Array]) -> bytes:
    return bytes(_container(weights).SerializeToString(deterministic=True))


def encode_weights(weights: WeightsLike) -> bytes:
    """Serialize ``weights`` into the canonical ONNX weights container.

    The same weights (same names, dtypes, shapes and values) always give the same bytes,
    so the content hash of a model is a function of the model alone. A list is named
    ``w000``, ``w001``, ...; a mapping keeps its names; either way tensors are sorted by
    name (see :func:`normalize_weights`).

    Raises
    ------
    ColearnValueError
        If ``weights`` cannot be normalized (see :func:`normalize_weights`).
    NonFiniteWeights
        If a floating-point array holds NaN or infinity: every receiver would refuse it,
        so the proposer learns it first.
    """
    named = normalize_weights(weights)
    if len(named) > MAX_TENSORS:
        raise ColearnValueError(
            f"{len(named)} tensors is over the cap of {MAX_TENSORS} a receiver accepts; "
            "merge small tensors into larger ones"
        )
    _check_finite(named)
    return _serialize(named)


# Protobuf framing of the container: ModelProto.graph is field 7, GraphProto.initializer field 5.
_MODEL_GRAPH_FIELD = 7
_GRAPH_INITIALIZER_FIELD = 5
_LENGTH_DELIMITED = 2
# A canonical container has 5 top-level fields and a graph of a name plus its tensors; far more
# than this many other fields can only be an attempt to make the parser build messages.
_MAX_OTHER_FIELDS = 64


def _read_varint(blob: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """The varint at ``pos`` and the position after it, or None if it runs past ``end``."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = blob[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def _fields(blob: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, wire type, body start, body end)`` of each field in ``blob[pos:end]``.

    Stops quietly at anything it cannot frame (groups, truncation): the real parser then
    either refuses the bytes or keeps them as cheap unknown fields, never as messages.
    """
    while pos < end:
        tag = _read_varint(blob, pos, end)
        if tag is None:
            return
        key, pos = tag
        wire_type = key & 7
        if wire_type == 0:
            scalar = _read_varint(blob, pos, end)
            if scalar is None:
                return
            start, pos = pos, scalar[1]
        elif wire_type in (1, 5):
            start, pos = pos, pos + (8 if wire_type == 1 else 4)
        elif wire_type == _LENGTH_DELIMITED:
            length = _read_varint(blob, pos, end)
            if length is None:
                return
            start, pos = length[1], length[1] + length[0]
        else:
            return
        if pos > end:
            return
        yield key >> 3, wire_type, start, pos


def _check_tensor_count(blob: bytes) -> None:
    """Refuse a blob of over :data:`MAX_TENSORS` tensors from its framing alone, before parsing.

    Linear in the number of top-level and graph-level fields (each tensor is skipped by its
    length, its bytes never looked at), and it stops as soon as a cap is passed.
    """
    tensors = others = 0
    for field, wire_type, start, end in _fields(blob, 0, len(blob)):
        if field != _MODEL_GRAPH_FIELD or wire_type != _LENGTH_DELIMITED:
            others += 1
        else:
            for inner, inner_type, _, _ in _fields(blob, start, end):
                if inner == _GRAPH_INITIALIZER_FIELD and inner_type == _LENGTH_DELIMITED:
                    tensors += 1
                    if tensors > MAX_TENSORS:
                        raise TooManyTensors(
                            f"the blob holds over {MAX_TENSORS} tensors, the cap a weights blob "
                            "may hold; refused before parsing"
                        )
                else:
                    others += 1
                if others > _MAX_OTHER_FIELDS:
                    break
        if others > _MAX_OTHER_FIELDS:
            raise MalformedBlob(
                f"the blob has over {_MAX_OTHER_FIELDS} fields besides its tensors; a weights container has a handful"
            )


def _parse(blob: bytes) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(blob)
    except Exception as exc:  # protobuf raises DecodeError, but hostile bytes may find others
        raise MalformedBlob(f"the blob is not an ONNX model ({type(exc).__name__}: {exc})") from exc
    if not model.HasField("graph"):
        raise MalformedBlob("the blob is not an ONNX weights container: it has no graph")
    return model


def uses_external_data(tensor: TensorProto) -> bool:
    """Whether ``tensor`` points at data outside the blob (a file a loader would read)."""
    return tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data) > 0


def _check_structure(model: onnx.ModelProto) -> None:
    """Refuse anything but a bare list of dense initializers, before reading any tensor."""
    graph = model.graph
    sparse_tensors = [tensor for sparse in graph.sparse_initializer for tensor in (sparse.values, sparse.indices)]
    external = [
        tensor.name or "<unnamed>" for tensor in [*graph.initializer, *sparse_tensors] if uses_external_data(tensor)
    ]
    if external:
        raise ExternalDataNotAllowed(
            f"tensors {external} refer to external data files; a weights blob must carry all its data inline"
        )
    executable = {
        "nodes": len(graph.node),
        "functions": len(model.functions),
        "training graphs": len(model.training_info),
        "graph inputs": len(graph.input),
        "graph outputs": len(graph.output),
        "value infos": len(graph.value_info),
    }
    present = [f"{what}: {count}" for what, count in executable.items() if count]
    if present:
        raise GraphNodesNotAllowed(
            f"the blob carries a graph ({', '.join(present)}); a weights blob holds only initializers and is never run"
        )
    if len(graph.sparse_initializer):
        raise MalformedBlob("the blob has sparse initializers; weights must be dense tensors")
    if model.ir_version != WEIGHTS_IR_VERSION:
        raise MalformedBlob(
            f"the blob has ONNX IR version {model.ir_version}; this project's weights format uses {WEIGHTS_IR_VERSION}"
        )
    opsets = [(opset.domain, opset.version) for opset in model.opset_import]
    if opsets != [("", WEIGHTS_OPSET)]:
        raise MalformedBlob(
            f"the blob imports opsets {opsets}; this project's weights format uses "
            f"only the default domain at version {WEIGHTS_OPSET}"
        )


def _onnx_type_name(code: int) -> str:
    try:
        return f"{TensorProto.DataType.Name(code)} ({code})"
    except ValueError:
        return f"{code} (unknown)"


def _read_tensor(tensor: TensorProto) -> Array:
    """One dense little-endian raw_data tensor as a native array, after checking its sizes."""
    name = tensor.name
    dtype = _DTYPE_BY_ONNX_TYPE.get(tensor.data_type)
    if dtype is None:
        raise MalformedBlob(
            f"tensor {name!r} has ONNX data type {_onnx_type_name(tensor.data_type)}; weights "
            f"may only use {', '.join(SUPPORTED_DTYPES)}"
        )
    if any(len(getattr(tensor, field)) for field in _TYPED_FIELDS) or tensor.HasField("segment"):
        raise MalformedBlob(f"tensor {name!r} is not stored as a single raw_data field, as this project writes it")
    dims = tuple(tensor.dims)
    if len(dims) > _MAX_NDIM or any(dim < 0 for dim in dims):
        raise MalformedBlob(f"tensor {name!r} has an invalid shape {dims}")
    expected = math.prod(dims) * dtype.itemsize
    if len(tensor.raw_data) != expected:
        raise MalformedBlob(
            f"tensor {name!r} has {len(tensor.raw_data)} bytes of data; shape {dims} of {dtype.name} needs {expected}"
        )
    try:
        if expected == 0:
            return np.zeros(dims, dtype=dtype)
        flat = np.frombuffer(tensor.raw_data, dtype=dtype.newbyteorder("<"))
        # astype copies into an owned, writable, native-order array.
        return flat.reshape(dims).astype(dtype)
    except ValueError as exc:
        raise MalformedBlob(f"tensor {name!r} cannot be built: {exc}") from exc


def _read_initializers(graph: onnx.GraphProto) -> dict[str, Array]:
    arrays: dict[str, Array] = {}
    for tensor in graph.initializer:
        # protobuf hands back a proto2 string that is not valid UTF-8 as bytes.
        if not isinstance(tensor.name, str):
            raise MalformedBlob(f"an initializer's name {tensor.name!r} is not valid UTF-8")
        if not tensor.name:
            raise MalformedBlob("an initializer has no name; every weight must be named")
        if tensor.name in arrays:
            raise MalformedBlob(f"two initializers are named {tensor.name!r}")
        arrays[tensor.name] = _read_tensor(tensor)
    return arrays


def decode_weights(
    blob: bytes,
    *,
    spec: WeightsSpec | None = None,
    expected_sha256: str | bytes | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Array]:
    """Load weights from a peer's blob without trusting or running it.

    Checks, in this order: the size cap (before hashing or parsing), the sha256, the tensor
    count cap (:data:`MAX_TENSORS`, from the protobuf framing, before parsing), that the
    bytes parse as an ONNX ``ModelProto``, no external data on any tensor, no nodes,
    functions, training graphs, inputs, outputs or value infos, the format's IR version and
    opset, that every initializer is a named, dense, ``raw_data`` tensor of a supported dtype
    whose byte count fits its shape, the receiving model's ``spec``, finiteness, and last
    that the blob is byte-for-byte the canonical encoding of what it decoded (which rules
    out doc strings, metadata, unknown fields and any other hiding place). Nothing here
    executes the graph: peers' blobs never reach onnxruntime.

    Parameters
    ----------
    blob
        The bytes fetched from the content store.
    spec
        The receiving model's names, dtypes and shapes; ``None`` accepts any that are
        well formed (for audits and tools that do not hold a model).
    expected_sha256
        The hash recorded on the ledger (hex with or without ``0x``, any case, or 32 raw
        bytes); ``None`` skips the check (the content store already re-hashes on read).
    max_bytes
        Size cap; a blob over it is refused before anything else is done.

    Returns
    -------
    dict[str, numpy.ndarray]
        Owned, writable arrays in native byte order, in sorted name order.

    Raises
    ------
    InvalidWeightsBlob
        One of its subclasses: ``BlobTooLarge``, ``HashMismatch``, ``TooManyTensors``,
        ``MalformedBlob``,
        ``ExternalDataNotAllowed``, ``GraphNodesNotAllowed``, ``WeightsSpecMismatch``,
        ``NonFiniteWeights``. A voter catches it, votes to reject and logs the message.
    ColearnValueError
        If ``expected_sha256`` or ``max_bytes`` themselves are malformed (a caller's bug,
        not the peer's).
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ColearnValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    want = None if expected_sha256 is None else normalize_digest(expected_sha256)
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise MalformedBlob(f"a weights blob must be bytes, got {type(blob).__name__}")
    data = bytes(blob)
    if len(data) > max_bytes:
        raise BlobTooLarge(
            f"the blob is {len(data)} bytes, over the cap of {max_bytes}; pass a larger "
            "max_bytes only if the model really is that large"
        )
    if want is not None:
        got = sha256_hex(data)
        if got != want:
            raise HashMismatch(f"the blob hashes to {got}, not to the expected {want}")
    _check_tensor_count(data)
    model = _parse(data)
    _check_structure(model)
    arrays = dict(sorted(_read_initializers(model.graph).items()))
    if spec is not None:
        spec.check(arrays)
    _check_finite(arrays)
    if _serialize(arrays) != data:
        raise MalformedBlob(
            "the blob is not in canonical form (tensor order, producer, doc strings, metadata "
            "or unknown fields differ); re-encode it with colearn_chain.weights.encode_weights"
        )
    return arrays
