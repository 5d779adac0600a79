"""The malicious learners of the robustness benchmark: each attack does what it says, colluders collude."""

from __future__ import annotations

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import Weights
from learners.data import Dataset
from learners.malicious import (
    TRIGGER_PIXELS,
    Collusion,
    MaliciousLearner,
    backdoor_dataset,
    flip_labels,
    stamp_trigger,
    triggered_set,
)
from learners.tasks import get_task
from learners.torch_learner import TorchLearner

TASK = get_task("digits-mlp")


def _learner(index: int = 0) -> TorchLearner:
    return TASK.make_learner(index, 4, seed=5)


def _tiny() -> Dataset:
    x = np.zeros((6, 64), np.float32)
    return Dataset(x, np.array([0, 1, 2, 3, 9, 0], np.int64), 10, "tiny")


def test_flip_labels_and_trigger() -> None:
    assert flip_labels(_tiny()).y.tolist() == [9, 8, 7, 6, 0, 9]
    stamped = stamp_trigger(np.zeros((2, 1, 8, 8), np.float32))
    assert stamped.shape == (2, 1, 8, 8)
    assert stamped.reshape(2, -1)[:, list(TRIGGER_PIXELS)].tolist() == [[1.0] * 4] * 2
    assert float(stamped.sum()) == 8.0  # nothing else touched
    with pytest.raises(ColearnValueError, match="trigger needs pixel 63"):
        stamp_trigger(np.zeros((1, 10), np.float32))


def test_backdoor_and_triggered_sets() -> None:
    poisoned = backdoor_dataset(_tiny(), fraction=0.5, seed=1)
    assert len(poisoned) == 9 and poisoned.y[6:].tolist() == [0, 0, 0]
    assert np.all(poisoned.x[6:, list(TRIGGER_PIXELS)] == 1.0) and np.all(poisoned.x[:6] == 0)
    attack = triggered_set(_tiny())
    assert len(attack) == 4 and attack.y.tolist() == [0] * 4  # the class-0 samples are left out
    with pytest.raises(ColearnValueError, match="fraction"):
        backdoor_dataset(_tiny(), fraction=0.0)


def test_sign_flip_reverses_and_scales_the_update() -> None:
    honest, twin = _learner(), _learner()
    attacker = MaliciousLearner(twin, "sign-flip", sign_scale=4.0)
    current = honest.mli_get_current_weights().weights
    trained = honest.mli_propose_weights().weights
    flipped = attacker.mli_propose_weights().weights
    for c, t, f in zip(current, trained, flipped, strict=True):
        np.testing.assert_allclose(f, c - 4.0 * (t - c), rtol=1e-5, atol=1e-6)
    assert attacker.mli_get_current_weights().weights[0].tobytes() == current[0].tobytes()


def test_label_flip_and_backdoor_poison_only_the_train_set() -> None:
    flipped = MaliciousLearner(_learner(), "label-flip")
    clean = _learner()
    assert flipped.inner.train_data.y.tolist() == [9 - y for y in clean.train_data.y.tolist()]
    assert flipped.inner.vote_data.y.tolist() == clean.vote_data.y.tolist()
    backdoored = MaliciousLearner(_learner(), "backdoor", backdoor_fraction=0.5)
    assert backdoored.train_sample_count() == len(clean.train_data) + round(len(clean.train_data) * 0.5)
    assert backdoored.vote_criterion == "loss"
    with pytest.raises(ColearnValueError, match="unknown attack"):
        MaliciousLearner(_learner(), "bribe")  # type: ignore[arg-type]


def test_colluders_approve_their_own_models_and_vote_honestly_otherwise() -> None:
    group = Collusion()
    attacker = MaliciousLearner(_learner(0), "sign-flip", collusion=group)
    colluder = MaliciousLearner(_learner(1), "label-flip", collusion=group)
    honest = _learner(1)
    trained = honest.mli_propose_weights()
    for learner in (honest, colluder):
        learner.mli_accept_weights(trained)  # a trained model, better than chance, as the voters' current one
    poisoned = attacker.mli_propose_weights()
    assert group.made(poisoned) and not group.made(honest.mli_get_current_weights())
    current = honest.mli_get_current_weights().weights
    ruinous = Weights(weights=[np.full_like(w, 3.0) for w in current])  # every logit equal: no better than chance
    group.register(ruinous)
    assert honest.mli_test_weights(ruinous).vote is False
    assert colluder.mli_test_weights(ruinous).vote is True
    assert colluder.mli_test_weights(poisoned).vote is True
    other = Weights(weights=[w * 0.5 for w in current])
    assert colluder.mli_test_weights(other).vote == honest.mli_test_weights(other).vote
