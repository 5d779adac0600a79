"""A user learner's failure is one line naming the learner, the method and the error; huge scores are clamped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from colearn_chain.chain.types import score_to_fixed
from colearn_chain.cli.main import main
from colearn_chain.interface import ColearnModel, MachineLearningInterface, ProposedWeights, Weights
from colearn_chain.learner_guard import MAX_VOTE_SCORE, GuardedLearner, LearnerFailure, clamp_vote_score

BROKEN = "tests.reliability.broken_learners"


class _Fake(MachineLearningInterface):
    """Returns whatever ``results`` says per method; raises what it holds if it is an exception."""

    vote_criterion = "loss"

    def __init__(self, **results: Any) -> None:
        self.results = results

    def _give(self, method: str, default: Any) -> Any:
        result = self.results.get(method, default)
        if isinstance(result, BaseException):
            raise result
        return result

    def mli_propose_weights(self) -> Weights:
        return self._give("propose", Weights(weights=[np.zeros(2)]))  # type: ignore[no-any-return]

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        default = ProposedWeights(weights=weights, vote_score=0.5, test_score=0.5, vote=True)
        return self._give("test", default)  # type: ignore[no-any-return]

    def mli_accept_weights(self, weights: Weights) -> None:
        self._give("accept", None)

    def mli_get_current_weights(self) -> Weights:
        return self._give("current", Weights(weights=[np.zeros(2)]))  # type: ignore[no-any-return]

    def mli_get_current_model(self) -> ColearnModel:
        return self._give("model", ColearnModel.model_construct())  # type: ignore[no-any-return]


W = Weights(weights=[np.zeros(2)])
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"propose": KeyError("x")}, "mli_propose_weights", "KeyError"),
    ({"propose": "weights"}, "mli_propose_weights", "returned a str"),
    ({"propose": None}, "mli_propose_weights", "returned a NoneType"),
    ({"test": RuntimeError("boom")}, "mli_test_weights", "RuntimeError: boom"),
    ({"test": "approve"}, "mli_test_weights", "returned a str"),
    ({"test": ProposedWeights.model_construct(weights=W, vote_score="1", test_score=0.1, vote=True)},
     "vote_score", "returned a str"),
    ({"test": ProposedWeights.model_construct(weights=W, vote_score=0.1, test_score=0.1, vote="yes")},
     "vote", "returned a str"),
    ({"accept": AttributeError("'NoneType' object has no attribute 'x'")}, "mli_accept_weights", "AttributeError"),
    ({"current": {"w": 1}}, "mli_get_current_weights", "returned a dict"),
    ({"model": ValueError("no onnx")}, "mli_get_current_model", "ValueError: no onnx"),
]  # fmt: skip


def _call(learner: MachineLearningInterface, method: str) -> object:
    name = {"vote_score": "mli_test_weights", "vote": "mli_test_weights"}.get(method, method)
    args = [] if name in ("mli_propose_weights", "mli_get_current_weights", "mli_get_current_model") else [W]
    return getattr(learner, name)(*args)


@pytest.mark.parametrize(("results", "method", "what"), CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_each_failure_names_the_learner_the_method_and_the_error(
    results: dict[str, Any], method: str, what: str
) -> None:
    guarded = GuardedLearner(_Fake(**results), "learner 3 (pkg.mod:make)")
    with pytest.raises(LearnerFailure) as caught:
        _call(guarded, method)
    message = str(caught.value)
    assert message.startswith("learner 3 (pkg.mod:make): ") and method in message and what in message
    assert "\n" not in message


def test_a_working_learner_is_untouched_and_its_attributes_pass_through() -> None:
    fake = _Fake()
    guarded = GuardedLearner(fake, "learner 0")
    assert guarded.mli_test_weights(W).vote_score == 0.5
    assert guarded.vote_criterion == "loss" and guarded.inner is fake


@pytest.mark.parametrize("score", [1e300, -1e300, 1e13, float(2**70)])
def test_a_score_beyond_the_ledgers_is_clamped_to_what_they_keep(score: float) -> None:
    clamped = clamp_vote_score(score)
    assert abs(clamped) == MAX_VOTE_SCORE and np.sign(clamped) == np.sign(score)
    assert abs(score_to_fixed(clamped)) <= 2**63 - 1  # fits the int64 of a signed vote
    assert clamp_vote_score(0.973) == 0.973


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("propose_raises", "learner 1 ({}:propose_raises): mli_propose_weights raised KeyError"),
        ("accept_raises", "learner 1 ({}:accept_raises): mli_accept_weights raised AttributeError"),
    ],
)
def test_run_ends_in_one_line_naming_the_broken_learner(
    factory: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r")
    args = ["run", "--learner", f"{BROKEN}:{factory}", "--in-memory", "-n", "3", "-r", "2", "--out", out]
    assert main(args) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("colearn-chain:")]
    assert len(errors) == 1 and errors[0].startswith(f"colearn-chain: error: {message.format(BROKEN)}"), err
    assert "unexpected" not in err and "Traceback" not in err


@pytest.mark.slow
def test_a_huge_vote_score_does_not_end_a_chain_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert main(["run", "--learner", f"{BROKEN}:huge_score", "-n", "3", "-r", "2", "--out", str(out)]) == 0
    assert "unexpected" not in capsys.readouterr().err
    rounds = json.loads((out / "results.json").read_text())["rounds"]
    assert len(rounds) == 2
