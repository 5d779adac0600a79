"""The ONNX policy file: the Q-network runs in onnxruntime as in torch, with its metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.selector_training.dqn import QNetwork
from colearn_chain.strategies.rl.cost import cost_matrix
from colearn_chain.strategies.rl.policy import METADATA_KEY, PolicyInfo, SelectorPolicy, policy_model
from colearn_chain.strategies.rl.state import PublicRound, StateConfig, WeightProjection, build_state
from colearn_chain.weights.codec import encode_weights
from colearn_chain.weights.store import InMemoryStore


def _policy(
    config: StateConfig, projection: WeightProjection | None = None, shared: bool = True
) -> tuple[QNetwork, SelectorPolicy]:
    torch.manual_seed(0)
    network = QNetwork(config.learners, config.features, (16, 8), shared)
    info = PolicyInfo(config, cost_matrix(config.learners, seed=4), 0.8, 4, projection, shared)
    return network, SelectorPolicy.from_layers(network.linear_layers(), info)


@pytest.mark.parametrize(
    ("shared", "ops"), [(True, {"MatMul", "Add", "Relu", "Reshape"}), (False, {"Gemm", "Relu", "Reshape"})]
)
def test_onnx_q_values_match_the_torch_network(shared: bool, ops: set[str], tmp_path: Path) -> None:
    config = StateConfig(5)
    network, policy = _policy(config, shared=shared)
    states = np.random.default_rng(0).normal(size=(7, *config.shape)).astype(np.float32)
    with torch.no_grad():
        expected = network(torch.from_numpy(states)).numpy()
    loaded = SelectorPolicy.load(policy.save(tmp_path / "deep" / "policy.onnx"))
    assert loaded.q_values(states) == pytest.approx(expected, abs=1e-5)
    assert loaded.q_values(states[0]) == pytest.approx(expected[0], abs=1e-5)
    assert loaded.choose(states[3]) == int(np.argmax(expected[3]))
    assert loaded.info.config == config and loaded.info.goal == 0.8 and loaded.info.cost_seed == 4
    assert loaded.info.shared is shared
    assert np.array_equal(loaded.info.cost, cost_matrix(5, seed=4))
    model = onnx.load(str(tmp_path / "deep" / "policy.onnx"))
    assert {node.op_type for node in model.graph.node} == ops  # plain ONNX, no torch needed


def test_projection_travels_in_the_file_and_reads_the_global_model() -> None:
    weights = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, dtype=np.float32)}
    blob = encode_weights(weights)
    flat = np.concatenate([weights["a"].reshape(-1), weights["b"]]).astype(np.float64)
    projection = WeightProjection(np.zeros(8), np.eye(8)[:2], np.array([2.0, 4.0]))
    config = StateConfig(3, pca_components=2)
    _, policy = _policy(config, projection)
    again = SelectorPolicy.from_bytes(policy.to_bytes())
    assert again.info.projection is not None
    assert np.array_equal(again.info.projection.components, projection.components)

    store = InMemoryStore()
    digest = store.put(blob)
    rounds = [PublicRound(0, 1, True, {0: 0.5, 2: 0.7}, digest)]
    state = again.observe(rounds, 1, store.get)
    assert state[:, -2:].tolist() == [[flat[0] / 2.0, flat[1] / 4.0]] * 3
    assert np.array_equal(state, build_state(config, rounds, 1, again.info.cost, np.array([0.0, 0.25])))
    with pytest.raises(ColearnValueError, match="content store"):
        again.observe(rounds, 1, None)


def test_a_policy_refuses_another_number_of_learners() -> None:
    _, policy = _policy(StateConfig(4))
    policy.check_learners(4)
    with pytest.raises(ColearnValueError, match="chooses among 4 learners but the experiment has 6"):
        policy.check_learners(6)


def test_bad_policy_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ColearnFileError, match="does not exist: train one"):
        SelectorPolicy.load(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx model")
    with pytest.raises(ColearnFileError, match="not a valid ONNX model"):
        SelectorPolicy.load(garbage)

    _, policy = _policy(StateConfig(3))
    model = onnx.load_from_string(policy.to_bytes())
    del model.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(model.SerializeToString())
    with pytest.raises(ColearnFileError, match="not a selector policy"):
        SelectorPolicy.load(plain)

    model = onnx.load_from_string(policy.to_bytes())
    model.metadata_props[0].value = model.metadata_props[0].value.replace('"learners": 3', '"learners": 4')
    skewed = tmp_path / "skewed.onnx"
    skewed.write_bytes(model.SerializeToString())
    with pytest.raises(ColearnFileError, match=r"unreadable selector metadata|does not match its metadata"):
        SelectorPolicy.load(skewed)
    assert model.metadata_props[0].key == METADATA_KEY


def test_layers_must_fit_the_state() -> None:
    info = PolicyInfo(StateConfig(3), cost_matrix(3), 0.8)
    with pytest.raises(ColearnValueError, match="maps 5 -> 3 but this state needs 8 -> 1"):
        policy_model([(np.zeros((3, 5)), np.zeros(3))], info)
    flat = PolicyInfo(StateConfig(3), cost_matrix(3), 0.8, shared=False)
    with pytest.raises(ColearnValueError, match="needs 24 -> 3"):
        policy_model([(np.zeros((1, 8)), np.zeros(1))], flat)
    with pytest.raises(ColearnValueError, match="at least one layer"):
        policy_model([], info)
