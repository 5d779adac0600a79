"""Built-in tasks: shards kept apart, a shared starting model, and learning that beats chance."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.interface import Weights
from colearn_chain.weights.codec import encode_weights
from learners.data import Dataset
from learners.partition import parse_partition
from learners.tasks import (
    DEFAULT_TASK,
    HL_LOCAL_EPOCHS,
    TASKS,
    breast_cancer_mlp,
    data_file_task,
    digits_cnn,
    digits_mlp,
    get_task,
    with_setting,
)
from learners.torch_learner import TorchLearner


def _rows(*sets: Dataset) -> list[set[bytes]]:
    return [{row.tobytes() for row in d.x} for d in sets]


def test_registry_names_and_default() -> None:
    assert DEFAULT_TASK == "digits-mlp"
    assert {"digits-mlp", "digits-cnn", "breast-cancer-mlp"} <= set(TASKS)
    assert get_task("digits-cnn") is TASKS["digits-cnn"]
    with pytest.raises(ColearnValueError, match="unknown task 'mnist': choose one of digits-mlp"):
        get_task("mnist")


@pytest.mark.parametrize("partition", ["iid", "dirichlet:0.5", "dominant"])
def test_every_sample_goes_to_at_most_one_place(partition: str) -> None:
    """Learners' train/vote/test sets and the holdout are pairwise disjoint (digits has no duplicate rows)."""
    task, count, seed = get_task("digits-mlp"), 6, 4
    spec = parse_partition(partition)
    sets = [d for i in range(count) for d in task.shard(i, count, seed, partition=spec)]
    sets.append(task.holdout(seed))
    rows = _rows(*sets)
    assert sum(len(r) for r in rows) == len(set().union(*rows))
    assert all(len(r) > 0 for r in rows)
    if partition == "iid":
        assert sum(len(r) for r in rows) == len(task.load())


def test_shard_split_and_holdout_are_deterministic() -> None:
    task = get_task("breast-cancer-mlp")
    first = task.shard(1, 3, seed=8)
    again = task.shard(1, 3, seed=8)
    other = task.shard(1, 3, seed=9)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0].x, other[0].x)
    train, vote, test = first
    assert len(vote) == pytest.approx(0.15 * (len(train) + len(vote) + len(test)), abs=1)
    np.testing.assert_array_equal(task.holdout(8).y, task.holdout(8).y)


def test_learner_index_out_of_range_is_refused() -> None:
    with pytest.raises(ColearnValueError, match="learner index 3 is out of range for 3 learners"):
        get_task("digits-mlp").make_learner(3, 3, 0)
    with pytest.raises(ColearnValueError, match="out of range"):
        get_task("digits-mlp").make_learner(-1, 3, 0)


def test_too_many_learners_is_refused_with_advice() -> None:
    with pytest.raises(ColearnValueError, match="fewer learners"):
        get_task("wine-mlp").make_learner(0, 40, 0)


def test_all_learners_of_a_seed_start_from_the_same_model() -> None:
    task = get_task("digits-mlp")
    starts = [task.make_learner(i, 3, seed=2).mli_get_current_weights().weights for i in range(3)]
    assert all(np.array_equal(a, b) for w in starts[1:] for a, b in zip(w, starts[0], strict=True))
    other = task.make_learner(0, 3, seed=3).mli_get_current_weights().weights
    assert not np.array_equal(other[0], starts[0][0])


def test_evaluate_accepts_lists_and_onnx_bytes() -> None:
    task = get_task("digits-mlp")
    learner = task.make_learner(0, 2, seed=0)
    proposal = learner.mli_propose_weights()
    holdout = task.holdout(0)
    as_list = task.evaluate(proposal, holdout)
    as_bytes = task.evaluate(Weights(weights=encode_weights(proposal.weights)), holdout)
    assert as_list == as_bytes
    assert as_list == pytest.approx(learner.evaluate(proposal, holdout))


def test_an_evaluator_reuses_its_model_and_scores_as_a_fresh_one() -> None:
    task = get_task("digits-cnn")  # batch-norm buffers: a reused model must take them too
    learner = task.make_learner(0, 2, seed=0)
    holdout = task.holdout(0)
    evaluate = task.evaluator(holdout)
    trained, initial = learner.mli_propose_weights(), learner.mli_get_current_weights()
    assert [evaluate(trained), evaluate(initial), evaluate(trained)] == [
        task.evaluate(trained, holdout),
        task.evaluate(initial, holdout),
        task.evaluate(trained, holdout),
    ]


def test_holdout_evaluation_runs_on_the_learners_single_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluating between two learners' calls keeps torch on one thread: no pool to rebuild."""
    import torch

    import learners.torch_learner as torch_learner

    task = get_task("digits-mlp")
    learner = task.make_learner(0, 2, seed=0)
    evaluate = task.evaluator(task.holdout(0))
    weights = learner.mli_get_current_weights()
    seen: list[int] = []
    score = torch_learner.score_module

    def spy(*args: object, **kwargs: object) -> tuple[float, float]:
        seen.append(torch.get_num_threads())
        return score(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch_learner, "score_module", spy)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # the process's own setting, as on a 2-core machine
    try:
        for _ in range(2):
            learner.mli_test_weights(weights)
            evaluate(weights)
        assert torch.get_num_threads() == 2  # restored for the rest of the process
    finally:
        torch.set_num_threads(previous)
    assert len(seen) >= 4 and set(seen) == {1}


def _collective(name: str, count: int, rounds: int, seed: int = 0, partition: str = "iid") -> tuple[float, float]:
    """(initial, final) holdout accuracy of round-robin proposals accepted by majority vote."""
    task = get_task(name)
    learners = [task.make_learner(i, count, seed, partition=parse_partition(partition)) for i in range(count)]
    holdout = task.holdout(seed)
    initial = task.evaluate(learners[0].mli_get_current_weights(), holdout)
    for round_ in range(rounds):
        proposer = learners[round_ % count]
        proposal = proposer.mli_propose_weights()
        votes = [learner.mli_test_weights(proposal).vote for learner in learners if learner is not proposer]
        if 2 * sum(bool(v) for v in votes) >= len(votes):
            for learner in learners:
                learner.mli_accept_weights(proposal)
    return initial, task.evaluate(learners[0].mli_get_current_weights(), holdout)


@pytest.mark.parametrize(
    ("name", "count", "rounds", "chance", "floor"),
    [
        ("digits-mlp", 4, 6, 0.1, 0.85),
        ("digits-cnn", 3, 3, 0.1, 0.7),
        ("breast-cancer-mlp", 3, 4, 0.63, 0.9),  # chance: always the majority class
        ("wine-mlp", 3, 4, 0.4, 0.85),
    ],
)
def test_each_task_learns_well_above_chance(name: str, count: int, rounds: int, chance: float, floor: float) -> None:
    initial, final = _collective(name, count, rounds)
    assert initial < chance + 0.25
    assert final > floor


def test_digits_learns_under_label_skew() -> None:
    initial, final = _collective("digits-mlp", 5, 10, seed=1, partition="dirichlet:0.5")
    assert final > 0.85 > initial


def test_centralized_accuracy_is_an_upper_bound_that_learns() -> None:
    task = get_task("digits-mlp")
    centralized = task.centralized_accuracy(seed=0, epochs=10)
    assert centralized > 0.93
    assert centralized == task.centralized_accuracy(seed=0, epochs=10)  # deterministic


def test_settings_flow_into_the_learner() -> None:
    task = dataclasses.replace(get_task("digits-mlp"), local_epochs=3, vote_criterion="accuracy", update_scale=1.0)
    learner = task.make_learner(0, 2, 0)
    assert (learner.local_epochs, learner.vote_criterion, learner.update_scale) == (3, "accuracy", 1.0)


@pytest.mark.parametrize("factory", [digits_mlp, digits_cnn, breast_cancer_mlp])
def test_import_path_factories_build_learners(factory) -> None:  # type: ignore[no-untyped-def]
    learner = factory(1, 3, 5)
    assert isinstance(learner, TorchLearner)
    assert learner.name.endswith("learner 1")


def test_data_file_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    path = tmp_path / "mine.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,c,d,e,label", comments="")
    task = data_file_task(path, local_epochs=5)
    assert task.local_epochs == 5
    learners = [task.make_learner(i, 2, 0) for i in range(2)]
    proposal = learners[0].mli_propose_weights()
    assert learners[1].mli_test_weights(proposal).vote is True
    assert task.evaluate(proposal, task.holdout(0)) > 0.8
    with pytest.raises(ColearnFileError, match="no such data file"):
        data_file_task(tmp_path / "absent.csv")


def test_learner_on_own_data_uses_the_task_settings_and_shared_start() -> None:
    task = get_task("digits-mlp")
    train, vote, test = task.shard(0, 2, seed=3)
    own = task.learner_on(train, vote, test, seed=3, learner_seed=11, name="mine")
    built = task.make_learner(1, 2, seed=3)
    assert (own.local_epochs, own.update_scale, own.vote_criterion) == (
        task.local_epochs,
        task.update_scale,
        task.vote_criterion,
    )
    start, other = own.mli_get_current_weights().weights, built.mli_get_current_weights().weights
    assert all(np.array_equal(a, b) for a, b in zip(start, other, strict=True))


def test_the_hl_setting_trains_plainly_and_approves_every_proposal() -> None:
    task = get_task("digits-mlp")
    assert with_setting(task, "platform") == task
    hl = with_setting(task, "hl")
    assert (hl.local_epochs, hl.balanced_loss, hl.update_scale, hl.vote_criterion) == (
        HL_LOCAL_EPOCHS,
        False,
        1.0,
        "approve-all",
    )
    learner = hl.make_learner(0, 10, 0, partition=parse_partition("dominant"))
    proposal = learner.mli_propose_weights()
    assert learner.mli_test_weights(proposal).vote is True
    with pytest.raises(ColearnValueError, match="unknown setting 'paper': choose one of platform, hl"):
        with_setting(task, "paper")
