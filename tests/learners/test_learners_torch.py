"""TorchLearner: proposing and testing leave the model alone, votes are strict, ONNX export runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import ModelFormat, ProposedWeights, Weights
from colearn_chain.weights.codec import encode_weights
from learners.data import Dataset
from learners.models import DigitsCNN, DigitsMLP, TabularMLP
from learners.torch_learner import TorchLearner

MakeLearner = Callable[..., TorchLearner]


def _arrays(weights: Weights) -> list[np.ndarray]:
    assert isinstance(weights.weights, list)
    return [np.asarray(a) for a in weights.weights]


def _same(a: Weights, b: Weights) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(_arrays(a), _arrays(b), strict=True))


def test_propose_trains_a_copy_and_leaves_the_current_weights(make_learner: MakeLearner) -> None:
    learner = make_learner()
    before = learner.mli_get_current_weights()
    proposal = learner.mli_propose_weights()
    assert _same(learner.mli_get_current_weights(), before)
    assert not _same(proposal, before)
    assert [a.shape for a in _arrays(proposal)] == [a.shape for a in _arrays(before)]


def test_test_weights_scores_without_changing_the_model(make_learner: MakeLearner) -> None:
    learner = make_learner()
    before = learner.mli_get_current_weights()
    verdict = learner.mli_test_weights(learner.mli_propose_weights())
    assert isinstance(verdict, ProposedWeights)
    assert _same(learner.mli_get_current_weights(), before)
    assert np.isfinite(verdict.vote_score) and np.isfinite(verdict.test_score)
    assert verdict.vote_score != verdict.test_score  # separate sets, separate scores


def test_accept_makes_the_weights_current_and_refreshes_the_vote_score(make_learner: MakeLearner) -> None:
    learner = make_learner()
    proposal = learner.mli_propose_weights()
    verdict = learner.mli_test_weights(proposal)
    assert verdict.vote is True  # one epoch from a random start lowers the loss
    learner.mli_accept_weights(proposal)
    assert _same(learner.mli_get_current_weights(), proposal)
    assert learner.current_vote_score == pytest.approx(verdict.vote_score)
    assert learner.mli_test_weights(proposal).vote is False  # no longer strictly better


@pytest.mark.parametrize("criterion", ["loss", "accuracy"])
def test_current_weights_are_never_voted_for(make_learner: MakeLearner, criterion: str) -> None:
    learner = make_learner(vote_criterion=criterion)
    verdict = learner.mli_test_weights(learner.mli_get_current_weights())
    assert verdict.vote is False
    assert verdict.vote_score == pytest.approx(learner.current_vote_score)


def test_accuracy_criterion_rejects_a_tie_that_the_loss_criterion_judges(make_learner: MakeLearner) -> None:
    """Scaling the output layer keeps every prediction, so accuracy ties (reject) but loss moves."""
    by_accuracy = make_learner(vote_criterion="accuracy")
    by_loss = make_learner(vote_criterion="loss")
    trained = by_accuracy.mli_propose_weights()
    by_accuracy.mli_accept_weights(trained)
    by_loss.mli_accept_weights(trained)
    sharper = [a * 2 if i >= 2 else a for i, a in enumerate(_arrays(trained))]  # last Linear
    verdict = by_accuracy.mli_test_weights(Weights(weights=sharper))
    assert verdict.vote_score == pytest.approx(by_accuracy.current_vote_score)
    assert verdict.vote is False
    loss_verdict = by_loss.mli_test_weights(Weights(weights=sharper))
    assert loss_verdict.vote_score != pytest.approx(by_loss.current_vote_score)
    assert loss_verdict.vote is (loss_verdict.vote_score < by_loss.current_vote_score)


def test_is_better_is_strict_and_refuses_nan(make_learner: MakeLearner) -> None:
    by_loss, by_accuracy = make_learner(vote_criterion="loss"), make_learner(vote_criterion="accuracy")
    assert by_loss.is_better(0.4, 0.5) and not by_loss.is_better(0.5, 0.5) and not by_loss.is_better(0.6, 0.5)
    assert by_accuracy.is_better(0.6, 0.5) and not by_accuracy.is_better(0.5, 0.5)
    assert not by_accuracy.is_better(0.4, 0.5)
    assert not by_loss.is_better(float("nan"), 0.5)


def test_proposals_are_deterministic_given_the_seed(make_learner: MakeLearner) -> None:
    first, twin, other = make_learner(seed=5), make_learner(seed=5), make_learner(seed=6)
    a1, a2 = first.mli_propose_weights(), first.mli_propose_weights()
    assert _same(a1, twin.mli_propose_weights())
    assert _same(a2, twin.mli_propose_weights())
    assert not _same(a1, a2)  # a second proposal reshuffles
    assert not _same(a1, other.mli_propose_weights())


def test_update_scale_damps_the_proposal(make_learner: MakeLearner) -> None:
    full, half = make_learner(seed=3), make_learner(seed=3, update_scale=0.5)
    current = _arrays(full.mli_get_current_weights())
    trained = _arrays(full.mli_propose_weights())
    damped = _arrays(half.mli_propose_weights())
    for c, t, d in zip(current, trained, damped, strict=True):
        np.testing.assert_allclose(d, c + 0.5 * (t - c), rtol=1e-5, atol=1e-6)


def test_local_steps_counts_optimizer_steps(make_learner: MakeLearner) -> None:
    steps: list[int] = []

    def counting(params: Any) -> torch.optim.Optimizer:
        optimizer = torch.optim.SGD(params, lr=0.1)
        original = optimizer.step

        def step(*args: Any, **kwargs: Any) -> Any:
            steps.append(1)
            return original(*args, **kwargs)

        optimizer.step = step  # type: ignore[method-assign]
        return optimizer

    make_learner(optimizer_factory=counting, local_steps=13, batch_size=32).mli_propose_weights()
    assert len(steps) == 13  # more than one epoch of 300/32 batches: it cycles
    steps.clear()
    make_learner(optimizer_factory=counting, local_epochs=2, batch_size=100).mli_propose_weights()
    assert len(steps) == 6


def test_accepts_dicts_tensors_and_onnx_bytes(make_learner: MakeLearner) -> None:
    learner, source = make_learner(), make_learner(seed=9)
    proposal = source.mli_propose_weights()
    names = list(learner.model.state_dict().keys())
    as_dict = Weights(weights=dict(zip(names, _arrays(proposal), strict=True)))
    as_tensors = Weights(weights=[torch.from_numpy(a) for a in _arrays(proposal)])
    as_bytes = Weights(weights=encode_weights(_arrays(proposal)))
    scores = {learner.mli_test_weights(w).vote_score for w in (proposal, as_dict, as_tensors, as_bytes)}
    assert len(scores) == 1
    learner.mli_accept_weights(as_bytes)
    assert _same(learner.mli_get_current_weights(), proposal)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (Weights(weights=[np.zeros(3)]), "got 1 weight arrays, the model has 4"),
        (Weights(weights=[np.zeros((16, 64)), np.zeros(16), np.zeros((10, 16)), np.zeros(11)]), "shape"),
        (Weights(weights={"net.1.weight": np.zeros((16, 64))}), "does not match"),
        (Weights(weights=3.0), "cannot load weights of type float"),
    ],
)
def test_weights_that_do_not_fit_are_refused(make_learner: MakeLearner, weights: Weights, message: str) -> None:
    learner = make_learner()
    before = learner.mli_get_current_weights()
    with pytest.raises(ColearnValueError, match=message):
        learner.mli_accept_weights(weights)
    assert _same(learner.mli_get_current_weights(), before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vote_criterion": "f1"}, "vote_criterion"),
        ({"local_epochs": 0}, "local_epochs"),
        ({"local_steps": 0}, "local_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"update_scale": 0.0}, "update_scale"),
        ({"train": [1, 2, 3]}, "Dataset or a torch DataLoader"),
    ],
)
def test_bad_settings_are_refused(make_learner: MakeLearner, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ColearnValueError, match=message):
        make_learner(**kwargs)


def test_empty_vote_set_is_refused(make_learner: MakeLearner, digits_splits: tuple[Dataset, ...]) -> None:
    empty = digits_splits[1].subset(np.array([], dtype=np.int64))
    with pytest.raises(ColearnValueError, match="vote set is empty"):
        make_learner(vote=empty)


def test_works_with_user_data_loaders(digits_splits: tuple[Dataset, Dataset, Dataset]) -> None:
    def loader(data: Dataset, shuffle: bool) -> DataLoader:  # type: ignore[type-arg]
        tensors = TensorDataset(torch.from_numpy(data.x), torch.from_numpy(data.y))
        return DataLoader(tensors, batch_size=32, shuffle=shuffle, generator=torch.Generator().manual_seed(0))

    train, vote, test = digits_splits
    learner = TorchLearner(DigitsMLP(hidden=16), loader(train, True), loader(vote, False), loader(test, False))
    proposal = learner.mli_propose_weights()
    verdict = learner.mli_test_weights(proposal)
    assert verdict.vote is True
    assert learner.evaluate(proposal, test) == pytest.approx(learner.evaluate(proposal, loader(test, False)))


def test_evaluate_is_accuracy_on_any_data(make_learner: MakeLearner, digits_splits: tuple[Dataset, ...]) -> None:
    learner = make_learner(vote_criterion="accuracy", local_epochs=5)
    proposal = learner.mli_propose_weights()
    test = digits_splits[2]
    accuracy = learner.evaluate(proposal, test)
    assert accuracy == pytest.approx(learner.mli_test_weights(proposal).test_score)
    model = DigitsMLP(hidden=16)
    model.load_state_dict({k: torch.from_numpy(a) for k, a in zip(model.state_dict(), _arrays(proposal), strict=True)})
    with torch.no_grad():
        manual = (model(torch.from_numpy(test.x)).argmax(1).numpy() == test.y).mean()
    assert accuracy == pytest.approx(manual)
    assert accuracy > 0.5  # five epochs on 300 digits: far above chance (0.1)


def test_torch_thread_setting_is_restored(make_learner: MakeLearner) -> None:
    before = torch.get_num_threads()
    learner = make_learner(num_threads=1)
    learner.mli_test_weights(learner.mli_propose_weights())
    assert torch.get_num_threads() == before


def test_global_torch_rng_is_left_alone(make_learner: MakeLearner) -> None:
    learner = make_learner()  # the fixture seeds torch to build its model
    torch.manual_seed(42)
    expected = torch.rand(3)
    torch.manual_seed(42)
    learner.mli_propose_weights()
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (DigitsMLP(hidden=16), (64,)),
        (DigitsCNN(), (64,)),
        (DigitsCNN(), (1, 8, 8)),
        (TabularMLP(64, 10), (64,)),
    ],
    ids=["mlp", "cnn-flat", "cnn-images", "tabular"],
)
def test_current_model_is_runnable_onnx_matching_torch(
    digits_splits: tuple[Dataset, Dataset, Dataset], model: torch.nn.Module, shape: tuple[int, ...]
) -> None:
    train, vote, test = (Dataset(d.x.reshape(len(d), *shape), d.y, d.num_classes, d.name) for d in digits_splits)
    learner = TorchLearner(model, train, vote, test)
    learner.mli_accept_weights(learner.mli_propose_weights())
    exported = learner.mli_get_current_model()
    assert exported.model_format is ModelFormat.ONNX
    assert isinstance(exported.model, bytes)
    session = ort.InferenceSession(exported.model, providers=["CPUExecutionProvider"])
    batch = test.x[:17]
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: batch})
    with torch.no_grad():
        torch_out = learner.model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, rtol=1e-4, atol=1e-5)


def test_abilities_aggregators_use(make_learner: MakeLearner, digits_splits: tuple[Dataset, ...]) -> None:
    learner = make_learner()
    assert learner.train_sample_count() == len(digits_splits[0])
    current, proposal = learner.mli_get_current_weights(), learner.mli_propose_weights()
    embedded = learner.embed_vote_inputs(current)
    assert embedded.shape == (len(digits_splits[1]), 16)  # the hidden layer of the 64-16-10 MLP
    assert not np.array_equal(learner.embed_vote_inputs(proposal), embedded)
    assert _same(learner.mli_get_current_weights(), current)
    np.testing.assert_array_equal(learner.embed_vote_inputs(current), embedded)
    cnn = TorchLearner(DigitsCNN(channels=4), *digits_splits)
    assert cnn.embed_vote_inputs(cnn.mli_get_current_weights()).shape == (len(digits_splits[1]), 32)


def test_approve_all_approves_any_testable_proposal_and_scores_by_loss(make_learner: MakeLearner) -> None:
    approving = make_learner(vote_criterion="approve-all")
    by_loss = make_learner(vote_criterion="loss")
    current = approving.mli_get_current_weights()
    verdict = approving.mli_test_weights(current)  # not strictly better: the loss rule rejects it
    assert verdict.vote is True
    assert by_loss.mli_test_weights(current).vote is False
    assert verdict.vote_score == pytest.approx(by_loss.mli_test_weights(current).vote_score)
    worse = Weights(weights=[a * 50 for a in _arrays(current)])
    assert approving.mli_test_weights(worse).vote is True
    assert approving.is_better(float("nan"), 1.0) is False  # a non-finite score is never approved
