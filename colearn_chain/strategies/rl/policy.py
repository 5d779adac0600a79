"""A trained selector as one ONNX file: the Q-network, and everything needed to build its state.

The file is a plain ONNX model (input ``state``, float ``(batch, learners, features)``; output
``q``, float ``(batch, learners)``; MatMul, Add, Gemm, Relu and Reshape nodes only), so any ONNX
runtime can run it and serving needs neither torch nor the training code. Its metadata (key
:data:`METADATA_KEY`, JSON) holds the state's configuration, the cost matrix the policy was
trained against, the goal accuracy, the network's layout and the optional PCA of the weights.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from colearn_chain.errors import ColearnError, ColearnFileError, ColearnValueError
from colearn_chain.strategies.rl.cost import check_cost_matrix
from colearn_chain.strategies.rl.state import (
    PublicRound,
    StateConfig,
    WeightProjection,
    build_state,
    flatten_weights,
)

#: The metadata entry that marks an ONNX file as a selector policy.
METADATA_KEY = "colearn_chain.selector"
#: Bumped when the state or the metadata change meaning.
FORMAT_VERSION = 1
_OPSET = 17
_IR_VERSION = 8
_TRAIN_HINT = "train one with `colearn-chain selector train --out policy.onnx`"


@dataclass(frozen=True)
class PolicyInfo:
    """What a policy file says about itself, beside the network."""

    config: StateConfig
    cost: np.ndarray
    goal: float
    cost_seed: int | None = None
    projection: WeightProjection | None = None
    shared: bool = True

    def __post_init__(self) -> None:
        check_cost_matrix(self.cost, self.config.learners)
        size = 0 if self.projection is None else self.projection.size
        if size != self.config.pca_components:
            raise ColearnValueError(
                f"the state has {self.config.pca_components} PCA components but the projection has {size}"
            )

    def to_json(self) -> dict[str, Any]:
        """The metadata document (arrays of the projection as base64 float64)."""
        data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "config": asdict(self.config),
            "cost": self.cost.tolist(),
            "goal": self.goal,
            "cost_seed": self.cost_seed,
            "projection": None,
            "shared": self.shared,
        }
        if self.projection is not None:
            data["projection"] = {
                name: {"shape": list(array.shape), "data": base64.b64encode(array.astype("<f8").tobytes()).decode()}
                for name, array in asdict(self.projection).items()
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyInfo:
        """Read the metadata document back (raises KeyError/TypeError/ValueError when malformed)."""
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {data.get('format')!r}, this version reads {FORMAT_VERSION}")
        projection = None
        if data.get("projection") is not None:
            arrays = {
                name: np.frombuffer(base64.b64decode(item["data"]), dtype="<f8").reshape(item["shape"]).copy()
                for name, item in data["projection"].items()
            }
            projection = WeightProjection(arrays["mean"], arrays["components"], arrays["scale"])
        return cls(
            StateConfig(**data["config"]),
            np.asarray(data["cost"], dtype=np.float64),
            float(data["goal"]),
            data.get("cost_seed"),
            projection,
            bool(data["shared"]),
        )


def policy_model(layers: Sequence[tuple[np.ndarray, np.ndarray]], info: PolicyInfo) -> onnx.ModelProto:
    """The ONNX model of the Q-network given as (weight ``(out, in)``, bias) pairs, ReLU between layers.

    A shared network (``info.shared``) is applied to each learner's row (MatMul over the last
    axis) and its single output per row reshaped to ``(batch, learners)``; a flat one takes
    the state reshaped to ``(batch, learners * features)`` through Gemm layers.
    """
    if not layers:
        raise ColearnValueError("a policy needs at least one layer")
    n, f = info.config.shape
    fan_in, fan_out = (f, 1) if info.shared else (n * f, n)
    if layers[0][0].shape[1] != fan_in or layers[-1][0].shape[0] != fan_out:
        raise ColearnValueError(
            f"the network maps {layers[0][0].shape[1]} -> {layers[-1][0].shape[0]} but this state needs "
            f"{fan_in} -> {fan_out}"
        )
    nodes, initializers = [], []
    current = "state"
    if not info.shared:
        initializers.append(numpy_helper.from_array(np.array([-1, n * f], dtype=np.int64), "flat_shape"))
        nodes.append(helper.make_node("Reshape", ["state", "flat_shape"], ["flat"]))
        current = "flat"
    for i, (weight, bias) in enumerate(layers):
        last = i == len(layers) - 1
        linear = f"linear{i}"
        if info.shared:
            initializers += [
                numpy_helper.from_array(np.ascontiguousarray(np.asarray(weight, dtype=np.float32).T), f"w{i}"),
                numpy_helper.from_array(np.asarray(bias, dtype=np.float32), f"b{i}"),
            ]
            nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"matmul{i}"]))
            nodes.append(helper.make_node("Add", [f"matmul{i}", f"b{i}"], [linear]))
        else:
            initializers += [
                numpy_helper.from_array(np.asarray(weight, dtype=np.float32), f"w{i}"),
                numpy_helper.from_array(np.asarray(bias, dtype=np.float32), f"b{i}"),
            ]
            nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [linear], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [linear], [f"h{i}"]))
            current = f"h{i}"
        else:
            current = linear
    initializers.append(numpy_helper.from_array(np.array([-1, n], dtype=np.int64), "q_shape"))
    nodes.append(helper.make_node("Reshape", [current, "q_shape"], ["q"]))
    graph = helper.make_graph(
        nodes,
        "selector_q_network",
        [helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", n, f])],
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["batch", n])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="colearn-chain")
    model.ir_version = _IR_VERSION
    helper.set_model_props(model, {METADATA_KEY: json.dumps(info.to_json(), sort_keys=True)})
    onnx.checker.check_model(model)
    return model


class SelectorPolicy:
    """A selector policy loaded for inference with onnxruntime.

    Build one with :meth:`load` (a file), :meth:`from_bytes`, or :meth:`from_layers` (a
    freshly trained network).
    """

    def __init__(self, model: onnx.ModelProto, info: PolicyInfo, source: str = "policy") -> None:
        import onnxruntime as ort

        self.info = info
        self.source = source
        self._bytes = model.SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(self._bytes, options, providers=["CPUExecutionProvider"])

    # -- making ---------------------------------------------------------------------------
    @classmethod
    def from_layers(cls, layers: Sequence[tuple[np.ndarray, np.ndarray]], info: PolicyInfo) -> SelectorPolicy:
        """The policy of a trained network's Linear layers."""
        return cls(policy_model(layers, info), info, "trained network")

    @classmethod
    def from_bytes(cls, blob: bytes, source: str = "policy") -> SelectorPolicy:
        """Parse and check a policy file's bytes.

        Raises
        ------
        ColearnFileError
            If the bytes are not an ONNX model, not a selector policy, or inconsistent.
        """
        try:
            model = onnx.load_from_string(blob)
            onnx.checker.check_model(model)
        except Exception as exc:  # onnx raises several unrelated types for bad bytes
            raise ColearnFileError(f"{source} is not a valid ONNX model ({_first_line(exc)}): {_TRAIN_HINT}") from None
        props = {p.key: p.value for p in model.metadata_props}
        if METADATA_KEY not in props:
            raise ColearnFileError(f"{source} is an ONNX model but not a selector policy: {_TRAIN_HINT}")
        try:
            info = PolicyInfo.from_json(json.loads(props[METADATA_KEY]))
            inputs, outputs = model.graph.input, model.graph.output
            state_shape = tuple(d.dim_value for d in inputs[0].type.tensor_type.shape.dim[1:])
            actions = outputs[0].type.tensor_type.shape.dim[1].dim_value
        except (KeyError, TypeError, ValueError, IndexError, ColearnError) as exc:
            raise ColearnFileError(f"{source} has unreadable selector metadata ({exc}): {_TRAIN_HINT}") from None
        if (state_shape, actions) != (info.config.shape, info.config.learners):
            raise ColearnFileError(
                f"{source}'s network ({state_shape} -> {actions}) does not match its metadata "
                f"({info.config.shape} -> {info.config.learners}): {_TRAIN_HINT}"
            )
        try:
            return cls(model, info, source)
        except Exception as exc:  # onnxruntime's own errors for a graph it cannot run
            raise ColearnFileError(f"onnxruntime cannot run {source} ({_first_line(exc)}): {_TRAIN_HINT}") from None

    @classmethod
    def load(cls, path: str | Path) -> SelectorPolicy:
        """Read a policy file.

        Raises
        ------
        ColearnFileError
            If it is missing, unreadable, or not a selector policy.
        """
        file = Path(path)
        try:
            blob = file.read_bytes()
        except FileNotFoundError:
            raise ColearnFileError(f"selector policy {file} does not exist: {_TRAIN_HINT}") from None
        except OSError as exc:
            raise ColearnFileError(f"cannot read selector policy {file}: {exc.strerror}") from None
        return cls.from_bytes(blob, f"selector policy {file}")

    def to_bytes(self) -> bytes:
        """The ONNX file's bytes."""
        blob: bytes = self._bytes
        return blob

    def save(self, path: str | Path) -> Path:
        """Write the policy as an ONNX file (parent directories are created)."""
        file = Path(path)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(self._bytes)
        except OSError as exc:
            raise ColearnFileError(f"cannot write the policy to {file}: {exc.strerror}") from None
        return file

    # -- using ----------------------------------------------------------------------------
    @property
    def learners(self) -> int:
        """The number of learners the policy chooses among."""
        return self.info.config.learners

    def q_values(self, states: np.ndarray) -> np.ndarray:
        """Q-values for a batch of states ``(batch, learners, features)``, or for one state."""
        array = np.asarray(states, dtype=np.float32)
        single = array.ndim == 2
        (q,) = self._session.run(["q"], {"state": array[None] if single else array})
        values: np.ndarray = np.asarray(q)
        return values[0] if single else values

    def observe(
        self,
        rounds: Sequence[PublicRound],
        round_index: int,
        fetch: Callable[[str], bytes] | None = None,
        cost: np.ndarray | None = None,
    ) -> np.ndarray:
        """The state for nominating ``round_index``'s proposer.

        ``fetch`` returns a blob by its hex hash (the content store's ``get``); it is needed
        only by policies with PCA features, to read the current global model. ``cost`` is the
        experiment's cost matrix, when it is not the one the policy was trained with.
        """
        projected = None
        projection = self.info.projection
        if projection is not None:
            model = rounds[-1].global_model if rounds else None
            if model is not None:
                if fetch is None:
                    raise ColearnValueError("this policy reads the global model's weights: give it the content store")
                projected = projection.project(flatten_weights(fetch(model)))
        matrix = self.info.cost if cost is None else check_cost_matrix(cost, self.learners)
        return build_state(self.info.config, rounds, round_index, matrix, projected)

    def choose(self, state: np.ndarray, exclude: Collection[int] = ()) -> int:
        """The learner with the highest Q-value, among those not in ``exclude``.

        ``exclude`` holds the learners that cannot propose (a spent privacy budget); if it holds
        everyone, the choice is made among all (the contract's rotation then skips the round).
        """
        q_values = np.array(self.q_values(state), dtype=np.float64)
        if exclude and len(set(exclude)) < len(q_values):
            q_values[sorted(set(exclude))] = -np.inf
        return int(np.argmax(q_values))

    def check_learners(self, count: int) -> None:
        """Refuse an experiment with a number of learners the policy was not trained for."""
        if count != self.learners:
            raise ColearnValueError(
                f"{self.source} chooses among {self.learners} learners but the experiment has {count}: "
                f"train a policy for {count} learners (`colearn-chain selector train --learners {count}`)"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
