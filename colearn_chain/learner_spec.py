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
from colearn_chain.plugins import LearnerSource, learner_source
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

    def build(self, index: int, *, partition: str = "iid", data_file: Path | None = None) -> MachineLearningInterface:
        """Learner ``index``: its shard of the task's data by ``partition``, or its own ``data_file``.

        A user factory owns its data, so ``partition`` and ``data_file`` do not apply to it.
        """
        if not 0 <= index < self.count:
            raise ColearnValueError(f"learner index {index} is out of range for {self.count} learners")
        source = self.source()
        if data_file is not None:
            return source.learner_on_file(data_file, index, self.seed)
        return source.make_learner(index, self.count, self.seed, partition=partition)

    def source(self) -> LearnerSource:
        """Where this experiment's learners come from (the registered task, or the user's factory)."""
        source = learner_source(task=self.task, factory=self.factory)
        return source.with_training(dp=dp_config_from_params(self.dp)) if self.dp is not None else source
