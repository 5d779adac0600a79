"""Weights on the wire and at rest: the deterministic ONNX codec, safe loading, the store.

Importing this package does not import torch; the torch helpers live in
:mod:`colearn_chain.weights.export` (runnable model export) and
:mod:`colearn_chain.weights.torch_io` (state dict <-> named arrays). The suite every store
implementation must pass is :mod:`colearn_chain.weights.store_suite` (imports pytest).
"""

from colearn_chain.weights.codec import (
    DEFAULT_MAX_BYTES,
    MAX_TENSORS,
    SUPPORTED_DTYPES,
    WEIGHTS_IR_VERSION,
    WEIGHTS_OPSET,
    Array,
    WeightsLike,
    WeightsSpec,
    decode_weights,
    encode_weights,
    normalize_weights,
    weights_as_list,
)
from colearn_chain.weights.digest import (
    NO_DIGEST,
    Digest,
    bytes32_or_zero,
    digest_to_bytes32,
    normalize_digest,
    sha256_hex,
)
from colearn_chain.weights.errors import (
    BlobNotFound,
    BlobTooLarge,
    ExternalDataNotAllowed,
    GraphNodesNotAllowed,
    HashMismatch,
    InvalidWeightsBlob,
    MalformedBlob,
    NonFiniteWeights,
    TooManyTensors,
    UnsafeBlob,
    WeightsSpecMismatch,
)
from colearn_chain.weights.store import ContentStore, InMemoryStore, LocalDirectoryStore

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_TENSORS",
    "NO_DIGEST",
    "SUPPORTED_DTYPES",
    "WEIGHTS_IR_VERSION",
    "WEIGHTS_OPSET",
    "Array",
    "BlobNotFound",
    "BlobTooLarge",
    "ContentStore",
    "Digest",
    "ExternalDataNotAllowed",
    "GraphNodesNotAllowed",
    "HashMismatch",
    "InMemoryStore",
    "InvalidWeightsBlob",
    "LocalDirectoryStore",
    "MalformedBlob",
    "NonFiniteWeights",
    "TooManyTensors",
    "UnsafeBlob",
    "WeightsLike",
    "WeightsSpec",
    "WeightsSpecMismatch",
    "bytes32_or_zero",
    "decode_weights",
    "digest_to_bytes32",
    "encode_weights",
    "normalize_digest",
    "normalize_weights",
    "sha256_hex",
    "weights_as_list",
]
