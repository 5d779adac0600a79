"""Meta-World MT10 tasks as environment families, and how the tasks are split among agents.

Each MT10 task (``reach-v3``, ``push-v3``, ...) is a family whose variants are its 50 goal
configurations (parameter ``goal``, an index into Meta-World's ``MT1(task).train_tasks``), so
``learner_variant``/``heldout_variants`` give every agent its own goals and keep held-out goals
apart, exactly as for the physics families. Meta-World and MuJoCo are imported only when an
environment is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache, partial
from typing import Any

import gymnasium as gym

from colearn_chain.errors import ColearnValueError
from learners.rl.environments import EnvFamily

__all__ = ["GOALS", "metaworld_family", "mt10_task_names", "split_tasks"]

#: Goal configurations per task in Meta-World's MT1/MT10 train tasks.
GOALS = 50


@lru_cache(maxsize=1)
def mt10_task_names() -> tuple[str, ...]:
    """The ten MT10 task names, in Meta-World's order."""
    import metaworld

    return tuple(metaworld.MT10(seed=0).train_classes)  # type: ignore[no-untyped-call]


@lru_cache(maxsize=16)
def _benchmark(task: str) -> Any:
    import metaworld

    return metaworld.MT1(task, seed=0)  # type: ignore[no-untyped-call]


def _build(task: str, params: Mapping[str, float], max_steps: int | None) -> gym.Env[Any, Any]:
    benchmark = _benchmark(task)
    env = benchmark.train_classes[task]()
    env.set_task(benchmark.train_tasks[round(params["goal"])])
    return gym.wrappers.TimeLimit(env, max_episode_steps=max_steps or env.max_path_length)


def metaworld_family(task: str, max_episode_steps: int = 500) -> EnvFamily:
    """The family of MT10 task ``task`` (episodes capped at ``max_episode_steps``, at most 500).

    Raises
    ------
    ColearnValueError
        For a name that is not an MT10 task, listing the valid ones.
    """
    names = mt10_task_names()
    if task not in names:
        raise ColearnValueError(f"unknown Meta-World MT10 task {task!r}: choose one of {', '.join(names)}")
    if not 1 <= max_episode_steps <= 500:
        raise ColearnValueError(f"max_episode_steps must be in 1..500 (Meta-World's limit), got {max_episode_steps}")
    return EnvFamily(
        f"mt10-{task}",
        task,
        ranges={"goal": (0.0, float(GOALS - 1))},
        nominal={"goal": 0.0},
        build=partial(_build, task),
        max_episode_steps=max_episode_steps,
    )


def split_tasks(tasks: list[str], agents: int, overlap: int = 0) -> list[list[str]]:
    """Each agent's tasks: ``1 + overlap`` consecutive tasks, agent ``k`` starting at task ``k``.

    With ``overlap=0`` and as many agents as tasks every agent holds a different task (the
    paper's split); ``overlap`` makes neighbouring agents share tasks.

    Raises
    ------
    ColearnValueError
        For no tasks, no agents, or an overlap that would give an agent every task twice.
    """
    if not tasks or agents < 1:
        raise ColearnValueError(f"need at least one task and one agent, got {len(tasks)} tasks and {agents} agents")
    if not 0 <= overlap < len(tasks):
        raise ColearnValueError(f"overlap must be in 0..{len(tasks) - 1} for {len(tasks)} tasks, got {overlap}")
    return [[tasks[(k + j) % len(tasks)] for j in range(1 + overlap)] for k in range(agents)]
