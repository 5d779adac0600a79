"""FedFormer on the ledger: the encoder-set proposal, its manifest, the votes, and the CI-sized run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from colearn_chain.cli.main import main
from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import ColearnModel, MachineLearningInterface, ProposedWeights, Weights, weights_to_onnx
from colearn_chain.rounds import decide_vote
from colearn_chain.strategies import make_strategy
from colearn_chain.strategies.aggregators.fedformer import FedFormer
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import canonical_json, parse_manifest, verify_proposal
from colearn_chain.weights.codec import WeightsSpec, decode_weights, encode_weights
from colearn_chain.weights.digest import sha256_hex
from colearn_chain.weights.store import InMemoryStore
from learners.rl.fedformer_task import FEDFORMER_TASKS, FedFormerSource

IDS = [f"0x{i:040x}" for i in range(1, 4)]


class _Sharer(MachineLearningInterface):
    """An encoder-sharing learner without RL: its encoder is one 2x2 matrix, its set one per slot."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.held = {f"encoders.{s}.w": np.full((2, 2), -1.0, np.float32) for s in range(slots)}

    def encoder_spec(self) -> WeightsSpec:
        return WeightsSpec.from_weights({"encoder.w": np.zeros((2, 2), np.float32)})

    def encoder_slots(self) -> int:
        return self.slots

    def mli_propose_weights(self) -> Weights:
        raise NotImplementedError

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        raise NotImplementedError

    def mli_accept_weights(self, weights: Weights) -> None:
        raise NotImplementedError

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=dict(self.held))

    def mli_get_current_model(self) -> ColearnModel:
        raise NotImplementedError


def _round(encoders: list[np.ndarray]) -> tuple[RoundContext, dict[int, str]]:
    store = InMemoryStore()
    learners = [_Sharer(len(encoders)) for _ in encoders]
    contributions = {i: store.put(encode_weights({"encoder.w": e})) for i, e in enumerate(encoders)}
    return RoundContext(round=0, learners=learners, learner_ids=IDS[: len(encoders)], store=store), contributions


def test_the_proposal_is_the_set_of_encoders_named_by_hash_and_owner_and_it_recomputes() -> None:
    encoders = [np.full((2, 2), float(i), np.float32) for i in range(3)]
    context, contributions = _round(encoders)
    proposal = make_strategy("fedformer").make_proposal(context, 1, contributions)
    assert proposal.manifest is not None
    manifest = parse_manifest(proposal.manifest)
    assert [(e.learner, e.weights, e.details) for e in manifest.inputs] == [
        (IDS[i], "0x" + contributions[i], {"slot": i}) for i in range(3)
    ]
    assert manifest.coefficients == [1.0, 1.0, 1.0] and manifest.recipe == {"slots": 3}
    arrays = decode_weights(proposal.weights)
    assert sorted(arrays) == ["encoders.0.w", "encoders.1.w", "encoders.2.w"]
    for i in range(3):
        assert np.array_equal(arrays[f"encoders.{i}.w"], encoders[i])
    digest = sha256_hex(proposal.weights)
    assert verify_proposal(proposal.manifest, context.store, digest) == digest  # what audit --verify checks


def test_an_encoder_of_another_shape_is_excluded_with_its_reason_and_the_held_one_kept() -> None:
    encoders = [np.zeros((2, 2), np.float32), np.zeros((3, 3), np.float32), np.ones((2, 2), np.float32)]
    context, contributions = _round(encoders)
    proposal = make_strategy("fedformer").make_proposal(context, 0, contributions)
    assert proposal.manifest is not None
    manifest = parse_manifest(proposal.manifest)
    (excluded,) = manifest.excluded
    assert excluded.learner == IDS[1] and "not an encoder of this shape" in excluded.reason
    assert manifest.inputs[1].details == {"slot": 1, "kept": True}
    assert np.array_equal(decode_weights(proposal.weights)["encoders.1.w"], np.full((2, 2), -1.0))
    digest = sha256_hex(proposal.weights)
    assert verify_proposal(proposal.manifest, context.store, digest) == digest


def test_a_forged_slot_layout_does_not_recompute() -> None:
    context, contributions = _round([np.zeros((2, 2), np.float32)] * 2)
    proposal = FedFormer().make_proposal(context, 0, contributions)
    assert proposal.manifest is not None
    forged = json.loads(proposal.manifest)
    forged["inputs"][1]["slot"] = 0
    with pytest.raises(ColearnValueError, match="fill slots"):
        verify_proposal(canonical_json(forged), context.store, sha256_hex(proposal.weights))


@pytest.fixture(scope="module")
def agents() -> list[MachineLearningInterface]:
    source = FedFormerSource(FEDFORMER_TASKS["pendulum-fedformer"])
    return [source.make_learner(i, 3, 0) for i in range(3)]


def test_an_agent_attends_to_the_others_and_rejects_an_encoder_set_of_another_shape_with_the_reason(
    agents: list[MachineLearningInterface],
) -> None:
    agent = agents[0]
    held = agent.mli_get_current_weights().weights
    assert isinstance(held, dict) and len({k.split(".")[1] for k in held}) == 3
    critic = agent.critic  # type: ignore[attr-defined]
    assert len(critic.others) == 2 and agent.attended == [1, 2]  # type: ignore[attr-defined]
    wrong = {k: np.zeros((v.shape[0] + 1, *v.shape[1:]), np.float32) for k, v in held.items()}
    store = InMemoryStore()
    digest = store.put(weights_to_onnx(Weights(weights=wrong)))
    decision = decide_vote(agent, store, digest, "agent 0")
    assert not decision.approve and decision.reason is not None and "shape" in decision.reason
    with pytest.raises(ColearnValueError, match="has shape"):
        agent.mli_test_weights(Weights(weights=wrong))


def test_the_strategy_refuses_learners_that_are_not_fedformer_agents_before_anyone_trains() -> None:
    context = RoundContext(round=0, learners=[object()], learner_ids=IDS[:1], store=InMemoryStore())  # type: ignore[list-item]
    with pytest.raises(ColearnValueError, match=r"needs FedFormer agents.*pendulum-fedformer"):
        FedFormer().contributors(context, 0)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", *args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_a_sac_task_with_the_fedformer_strategy_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = _run(
        [
            "--task",
            "pendulum-sac",
            "--strategy",
            "fedformer",
            "--learners",
            "2",
            "--rounds",
            "1",
            "--in-memory",
            "--out",
            str(tmp_path / "run"),
        ],
        capsys,
    )
    assert code != 0
    assert "needs FedFormer agents" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()  # refused before anything was created


@pytest.mark.slow
def test_the_ci_sized_fedformer_run_improves_the_held_out_return_and_its_manifests_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, output = _run(
        [
            "--task",
            "pendulum-fedformer",
            "--strategy",
            "fedformer",
            "--learners",
            "3",
            "--rounds",
            "3",
            "--audit",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, output  # --audit exits 1 on any discrepancy
    assert "every manifest recomputes" in output
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == {"name": "mean return", "higher_is_better": True}
    assert any(r["accepted"] for r in results["rounds"])
    assert results["final_score"] > results["initial_score"]
