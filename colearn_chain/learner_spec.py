"""How a participant's learner is built: a built-in task or a user's factory, on simulated or own data.

One description (``{"task": NAME}`` or ``{"factory": "module:function"}``, with the seed and the
number of learners) is written into the deployment file, so the deployer and every participant
build the same model and so the same initial weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.privacy import dp_config_from_params


@dataclass(frozen=True)
class LearnerSpec:
    """A built-in task or a user factory, with the experiment's seed and number of learners."""

    task: str | None
    factory: str | None
    seed: int
    count: int
    #: Differential privacy for a built-in task's learners: colearn's DiffPrivConfig fields.
    dp: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if (self.task is None) == (self.factory is None):
            raise ColearnValueError("give exactly one of a built-in task or a learner factory")
        if self.count < 1:
            raise ColearnValueError("an experiment needs at least 1 learner")
        if self.dp is not None:
            if self.factory is not None:
                raise ColearnValueError(
                    "--dp trains the built-in tasks' learners privately; a learner factory of your own "
                    "configures colearn's DiffPrivConfig itself"
                )
            dp_config_from_params(self.dp)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task": self.task, "factory": self.factory, "seed": self.seed, "count": self.count}
        if self.dp is not None:
            data["dp"] = dict(self.dp)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LearnerSpec:
        try:
            dp = data.get("dp")
            return cls(
                data.get("task"), data.get("factory"), int(data["seed"]), int(data["count"]),
                {str(k): float(v) for k, v in dp.items()} if dp is not None else None,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ColearnValueError(f"malformed learner description {data!r}: {exc}") from exc

    def build(
        self, index: int, *, partition: str = "iid", data_file: Path | None = None
    ) -> MachineLearningInterface:
        """Learner ``index``: its shard of the task's data by ``partition``, or its own ``data_file``.

        A user factory owns its data, so ``partition`` and ``data_file`` do not apply to it.
        """
        if not 0 <= index < self.count:
            raise ColearnValueError(f"learner index {index} is out of range for {self.count} learners")
        if self.factory is not None:
            if data_file is not None:
                raise ColearnValueError("--data does not apply to a user's learner factory: it loads its own data")
            from learners.plugin import make_user_learner

            return make_user_learner(self.factory, index, self.count, self.seed)
        from learners.tasks import get_task

        assert self.task is not None
        task = get_task(self.task)
        dp = dp_config_from_params(self.dp) if self.dp is not None else None
        if data_file is not None:
            return _learner_on_own_data(task, data_file, index, self.seed, dp)
        from learners.partition import parse_partition

        return task.make_learner(index, self.count, self.seed, partition=parse_partition(partition), dp=dp)


def _learner_on_own_data(task: Any, path: Path, index: int, seed: int, dp: Any = None) -> MachineLearningInterface:
    """The task's model (same initial weights as everyone's) on a participant's private file."""
    from learners.data import load_data_file, split_holdout

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
    learner: MachineLearningInterface = task.learner_on(
        train, vote, test, seed=seed, learner_seed=seed * 1_000_003 + index, name=name, dp=dp
    )
    return learner
