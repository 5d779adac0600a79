"""Full-graph ONNX models from peers: checked before anything touches them, run only by onnxruntime.

Some learners cannot express their model as tensors alone: a scikit-learn random forest is a
graph (``TreeEnsembleClassifier`` from the ``ai.onnx.ml`` domain, via skl2onnx). Such a model
may cross the wire, but only as ONNX that passes every check here, and a voter evaluates it
only through onnxruntime (never by unpickling or importing anything a peer chose). Checked,
in order: the size cap, that the bytes parse as an ONNX ``ModelProto``, no external data,
only the standard operator domains (``""``/``ai.onnx`` and ``ai.onnx.ml``) in the opset
imports and on every node (so no custom operators), no local functions or training graphs,
caps on nodes and graph depth, and onnx's own full checker (types and shapes inferred).
Each refusal is a typed :class:`~colearn_chain.weights.errors.InvalidWeightsBlob`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import onnx
from onnx import GraphProto, ModelProto

from colearn_chain.weights.codec import DEFAULT_MAX_BYTES, uses_external_data
from colearn_chain.weights.errors import (
    BlobTooLarge,
    ExternalDataNotAllowed,
    InvalidWeightsBlob,
    MalformedBlob,
)

__all__ = [
    "MAX_NODES",
    "STANDARD_DOMAINS",
    "CustomOperatorNotAllowed",
    "InvalidOnnxModel",
    "check_onnx_model",
    "is_full_model",
    "run_onnx_model",
]

#: The operator domains a peer's model may use: ONNX's own and ONNX-ML (trees, linear models).
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
#: Cap on the nodes of a peer's model (subgraphs included): far above any model here.
MAX_NODES = 10_000
# Nested subgraphs (If/Loop/Scan bodies) deeper than this are refused.
_MAX_DEPTH = 4


class InvalidOnnxModel(InvalidWeightsBlob):
    """A full-graph ONNX model failed a check; a voter rejects it with this message."""


class CustomOperatorNotAllowed(InvalidOnnxModel):
    """The model uses an operator domain outside ONNX's standard ones, or local functions."""


def _parse(blob: bytes) -> ModelProto:
    model = ModelProto()
    try:
        model.ParseFromString(blob)
    except Exception as exc:  # protobuf's DecodeError, or worse on hostile bytes
        raise MalformedBlob(f"the blob is not an ONNX model ({type(exc).__name__}: {exc})") from exc
    if not model.HasField("graph") or not model.opset_import:
        raise MalformedBlob("the blob is not an ONNX model: it has no graph or no opset imports")
    return model


def _graphs(graph: GraphProto, depth: int = 0) -> Iterator[tuple[GraphProto, int]]:
    """The graph and every subgraph in its nodes' attributes, with their depth."""
    yield graph, depth
    for node in graph.node:
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.HasField("g") else []
            for sub in [*subgraphs, *attribute.graphs]:
                yield from _graphs(sub, depth + 1)


def is_full_model(blob: bytes) -> bool:
    """Whether ``blob`` parses as an ONNX model with a graph of nodes (not a weights container)."""
    try:
        return len(_parse(blob).graph.node) > 0
    except InvalidWeightsBlob:
        return False


def check_onnx_model(blob: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ModelProto:
    """Check a peer's full-graph ONNX model without running it; returns the parsed model.

    Raises
    ------
    InvalidWeightsBlob
        ``BlobTooLarge``, ``MalformedBlob``, ``ExternalDataNotAllowed``,
        ``CustomOperatorNotAllowed`` or ``InvalidOnnxModel``, with the reason.
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise MalformedBlob(f"an ONNX model must be bytes, got {type(blob).__name__}")
    data = bytes(blob)
    if len(data) > max_bytes:
        raise BlobTooLarge(f"the model is {len(data)} bytes, over the cap of {max_bytes}")
    model = _parse(data)
    if model.functions or model.training_info:
        raise CustomOperatorNotAllowed("the model defines local functions or training graphs: only standard operators")
    domains = sorted({opset.domain for opset in model.opset_import} - STANDARD_DOMAINS)
    if domains:
        raise CustomOperatorNotAllowed(f"the model imports operator domains {domains}: only {sorted(STANDARD_DOMAINS)}")
    nodes = 0
    for graph, depth in _graphs(model.graph):
        if depth > _MAX_DEPTH:
            raise InvalidOnnxModel(f"the model nests subgraphs {depth} deep, over the cap of {_MAX_DEPTH}")
        external = [t.name or "<unnamed>" for t in graph.initializer if uses_external_data(t)]
        external += [
            s.values.name or "<unnamed>"
            for s in graph.sparse_initializer
            if uses_external_data(s.values) or uses_external_data(s.indices)
        ]
        if external:
            raise ExternalDataNotAllowed(f"tensors {external[:3]} refer to external data files: data must be inline")
        for node in graph.node:
            nodes += 1
            if node.domain not in STANDARD_DOMAINS:
                raise CustomOperatorNotAllowed(
                    f"node {node.name or node.op_type!r} is operator {node.op_type!r} of domain {node.domain!r}: "
                    "custom operators are not allowed"
                )
            for attribute in node.attribute:
                if attribute.HasField("t") and uses_external_data(attribute.t):
                    raise ExternalDataNotAllowed(f"node {node.name!r} holds a tensor in an external file")
    if nodes == 0:
        raise InvalidOnnxModel("the model has no nodes: it computes nothing")
    if nodes > MAX_NODES:
        raise InvalidOnnxModel(f"the model has {nodes} nodes, over the cap of {MAX_NODES}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx raises ValidationError and InferenceError, among others
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidOnnxModel(f"the model fails onnx's checker: {first}") from exc
    return model


def run_onnx_model(blob: bytes, inputs: Mapping[str, np.ndarray], *, checked: bool = False) -> list[Any]:
    """Run a full-graph model through onnxruntime (after :func:`check_onnx_model`, unless ``checked``).

    onnxruntime runs on one thread with its graph optimizations at the basic level: models
    here are tiny, and a peer's model should not make the voter spawn threads.
    """
    import onnxruntime as ort

    if not checked:
        check_onnx_model(blob)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(bytes(blob), sess_options=options, providers=["CPUExecutionProvider"])
    return list(session.run(None, dict(inputs)))
