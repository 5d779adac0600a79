"""What ``learners/`` plugs into the platform: its tasks, the data-file task and user factories.

The platform finds :func:`register` through the ``colearn_chain.plugins`` entry point (see
``pyproject.toml``) or its built-in import path, and asks the registry for learners; it never
imports this package. Adding a task is one registration in :func:`register`: a
:class:`~learners.tasks.Task` goes into :data:`learners.tasks.TASKS` (registered below as a
:class:`TaskSource`); any other kind of learner (an RL agent, say) is a class implementing
:class:`colearn_chain.plugins.LearnerSource`, registered with ``registry.add_task(...)`` (or
``registry.add_lazy_task(name, load)`` when building it imports something heavy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface, Weights
from colearn_chain.plugins import Evaluator, LearnerSource, PluginRegistry
from learners.data import load_data_file, split_holdout
from learners.partition import parse_partition
from learners.plugin import make_user_learner
from learners.tasks import TASKS, Task, data_file_task, with_setting


@dataclass(frozen=True)
class TaskSource:
    """A built-in :class:`~learners.tasks.Task` (or one on a user's data file) as a learner source."""

    task: Task
    #: Differential privacy of every learner made (colearn's DiffPrivConfig), None for none.
    dp: Any = None

    @property
    def name(self) -> str:
        return self.task.name

    def check_partition(self, partition: str) -> None:
        parse_partition(partition)

    def make_learner(self, index: int, count: int, seed: int, *, partition: str = "iid") -> MachineLearningInterface:
        return self.task.make_learner(index, count, seed, partition=parse_partition(partition), dp=self.dp)

    def learner_on_file(self, path: Path, index: int, seed: int) -> MachineLearningInterface:
        """The task's model (same initial weights as everyone's) on a participant's private file."""
        task = self.task
        data = load_data_file(path)
        reference = task.load()
        if data.feature_shape != reference.feature_shape or data.num_classes > reference.num_classes:
            raise ColearnValueError(
                f"{path}: {data.feature_shape} features and {data.num_classes} classes do not fit task "
                f"{task.name} ({reference.feature_shape} features, {reference.num_classes} classes)"
            )
        rest, test = split_holdout(data, task.test_fraction, seed + index)
        train, vote = split_holdout(rest, task.vote_fraction / (1 - task.test_fraction), seed + index + 1)
        name = f"{task.name} learner {index} on {path.name}"
        return task.learner_on(
            train, vote, test, seed=seed, learner_seed=seed * 1_000_003 + index, name=name, dp=self.dp
        )

    def evaluator(self, seed: int) -> Evaluator:
        score = self.task.evaluator(self.task.holdout(seed))

        def evaluate(weights: Weights) -> float | None:
            return score(weights)

        return evaluate

    def centralized(self, seed: int) -> Callable[[int], float]:
        def centralized(epochs: int) -> float:
            return self.task.centralized_accuracy(seed, epochs)

        return centralized

    def file_scorer(self, path: Path) -> Callable[[bytes], float]:
        evaluate = self.task.evaluator(load_data_file(path))

        def score(blob: bytes) -> float:
            return evaluate(Weights(weights=blob))

        return score

    def with_local_epochs(self, epochs: int) -> TaskSource:
        return TaskSource(dataclasses.replace(self.task, local_epochs=epochs), self.dp)

    def with_training(self, *, dp: Any = None, setting: str = "platform") -> TaskSource:
        return TaskSource(with_setting(self.task, setting), dp if dp is not None else self.dp)


@dataclass(frozen=True)
class FactorySource:
    """A user's ``module:function`` factory, called as ``factory(index, count, seed)``; it owns its data."""

    spec: str

    @property
    def name(self) -> str:
        return self.spec

    def check_partition(self, partition: str) -> None:
        return None  # the factory splits its own data

    def make_learner(self, index: int, count: int, seed: int, *, partition: str = "iid") -> MachineLearningInterface:
        return make_user_learner(self.spec, index, count, seed)

    def learner_on_file(self, path: Path, index: int, seed: int) -> MachineLearningInterface:
        raise ColearnValueError("--data does not apply to a user's learner factory: it loads its own data")

    def evaluator(self, seed: int) -> None:
        return None  # the platform knows nothing of its data: the caller averages the learners' tests

    def centralized(self, seed: int) -> None:
        return None

    def file_scorer(self, path: Path) -> Callable[[bytes], float]:
        raise ColearnValueError("--evaluate needs a built-in task: a user's learner factory has no public model")

    def with_local_epochs(self, epochs: int) -> LearnerSource:
        raise ColearnValueError(f"learner {self.spec!r}: a user's factory sets its own training, not local epochs")

    def with_training(self, *, dp: Any = None, setting: str = "platform") -> LearnerSource:
        if dp is not None:
            raise ColearnValueError(
                "--dp trains the built-in tasks' learners privately; a learner of your own takes "
                "colearn's DiffPrivConfig itself (e.g. PytorchLearner(diff_priv_config=...))"
            )
        if setting != "platform":
            raise ColearnValueError(f"--setting {setting} applies to the built-in tasks, not a learner of your own")
        return self


#: The RL tasks (learners/rl/task.py), registered lazily: importing stable-baselines3 takes seconds.
_RL_TASK_NAMES = ("cartpole-ppo", "lunarlander-ppo", "pendulum-sac")


def _rl_source(name: str) -> LearnerSource:
    from learners.rl.task import RL_TASKS, RLSource

    return RLSource(RL_TASKS[name])


#: The FedFormer tasks (learners/rl/fedformer_task.py), lazily for the same reason.
_FEDFORMER_TASK_NAMES = ("pendulum-fedformer",)


def _fedformer_source(name: str) -> LearnerSource:
    from learners.rl.fedformer_task import FEDFORMER_TASKS, FedFormerSource

    return FedFormerSource(FEDFORMER_TASKS[name])


def _data_file_source(path: Path) -> TaskSource:
    return TaskSource(data_file_task(path))


def register(registry: PluginRegistry) -> None:
    """Register the built-in tasks (in :data:`~learners.tasks.TASKS` order), files and factories."""
    for task in TASKS.values():
        registry.add_task(TaskSource(task))
    for name in _RL_TASK_NAMES:
        registry.add_lazy_task(name, partial(_rl_source, name))
    for name in _FEDFORMER_TASK_NAMES:
        registry.add_lazy_task(name, partial(_fedformer_source, name))
    registry.set_data_file_task(_data_file_source)
    registry.set_user_factory(FactorySource)
