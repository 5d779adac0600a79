"""The PPO agent as a MachineLearningInterface learner: the interface's contract, votes, ONNX policy."""

from __future__ import annotations

import glob
import math
import os
import tempfile

import numpy as np
import onnxruntime as ort
import pytest

from colearn_chain.check import check_learner
from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import ModelFormat, Weights, onnx_to_weights, weights_to_onnx
from learners.rl.agent_learner import AgentLearner
from learners.rl.episodes import EpisodeSet
from learners.rl.task import RLSource


def _arrays(weights: Weights) -> dict[str, np.ndarray]:
    assert isinstance(weights.weights, dict)
    return weights.weights


def test_proposing_trains_the_global_policy_and_leaves_the_current_one(agent: AgentLearner) -> None:
    before = _arrays(agent.mli_get_current_weights())
    proposed = _arrays(agent.mli_propose_weights())
    after = _arrays(agent.mli_get_current_weights())
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert any(not np.array_equal(before[k], proposed[k]) for k in before)
    assert agent.environment_steps >= 512


def test_a_proposal_depends_only_on_the_global_policy_and_the_learner(tiny_source: RLSource) -> None:
    one, again = tiny_source.make_learner(0, 3, 1), tiny_source.make_learner(0, 3, 1)
    again.mli_propose_weights()  # an earlier proposal (optimizer state, counters) changes nothing
    first, second = _arrays(one.mli_propose_weights()), _arrays(again.mli_propose_weights())
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_every_learner_of_a_seed_starts_from_the_same_policy_on_its_own_variant(tiny_source: RLSource) -> None:
    a, b = tiny_source.make_learner(0, 3, 1), tiny_source.make_learner(1, 3, 1)
    wa, wb = _arrays(a.mli_get_current_weights()), _arrays(b.mli_get_current_weights())
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert a.variant.params != b.variant.params


def test_votes_are_reproducible_and_approve_iff_the_return_beats_the_current(agent: AgentLearner) -> None:
    proposal = agent.mli_propose_weights()
    verdict = agent.mli_test_weights(proposal)
    assert agent.mli_test_weights(proposal).vote_score == verdict.vote_score
    assert verdict.vote is (verdict.vote_score > agent.current_vote_score)
    current = agent.mli_test_weights(agent.mli_get_current_weights())
    assert current.vote is False  # the current policy does not beat itself
    assert agent.minimise_criterion is False


def test_accepting_makes_the_proposal_current(agent: AgentLearner) -> None:
    proposal = agent.mli_propose_weights()
    agent.mli_accept_weights(proposal)
    now = _arrays(agent.mli_get_current_weights())
    assert all(np.array_equal(now[k], _arrays(proposal)[k]) for k in now)
    assert agent.current_vote_score == agent.mli_test_weights(proposal).vote_score


def test_weights_travel_as_onnx_weights_blobs(agent: AgentLearner) -> None:
    proposal = agent.mli_propose_weights()
    blob = weights_to_onnx(proposal)
    back = onnx_to_weights(blob, agent.mli_get_current_weights())
    assert all(np.array_equal(_arrays(back)[k], _arrays(proposal)[k]) for k in _arrays(proposal))


def test_a_policy_of_another_architecture_is_refused_with_the_reason(agent: AgentLearner) -> None:
    arrays = _arrays(agent.mli_get_current_weights())
    wrong = dict(arrays)
    wrong["action_net.weight"] = np.zeros((3, 64), np.float32)
    with pytest.raises(ColearnValueError, match=r"tensor action_net.weight has shape \(3, 64\)"):
        agent.mli_test_weights(Weights(weights=wrong))
    missing = {k: v for k, v in arrays.items() if k != "value_net.bias"}
    with pytest.raises(ColearnValueError, match="another architecture"):
        agent.mli_accept_weights(Weights(weights=missing))


def test_non_finite_parameters_score_minus_infinity(agent: AgentLearner) -> None:
    arrays = {k: v.copy() for k, v in _arrays(agent.mli_get_current_weights()).items()}
    arrays["action_net.bias"][0] = np.nan
    verdict = agent.mli_test_weights(Weights(weights=arrays))
    assert verdict.vote_score == -math.inf
    assert verdict.vote is False


def test_the_current_model_is_a_runnable_onnx_policy_that_plays_the_environment(agent: AgentLearner) -> None:
    agent.mli_accept_weights(agent.mli_propose_weights())
    model = agent.mli_get_current_model()
    assert model.model_format is ModelFormat.ONNX and isinstance(model.model, bytes)
    session = ort.InferenceSession(model.model)
    name = session.get_inputs()[0].name

    def onnx_policy(observations: np.ndarray) -> np.ndarray:
        actions: np.ndarray = session.run(None, {name: observations.astype(np.float32)})[0]
        return actions

    episodes = EpisodeSet([agent.variant], 2, seed=123)
    # the ONNX policy acts exactly as the learner's own scorer does, step for step
    assert episodes.mean_return(onnx_policy) == agent.score(_arrays(agent.mli_get_current_weights()), episodes)


def test_the_platforms_learner_check_passes_and_sb3_leaves_no_log_folders(tiny_source: RLSource) -> None:
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "SB3-*")))
    check_learner(tiny_source.make_learner(0, 2, 1), fast=True)
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "SB3-*"))) == before
