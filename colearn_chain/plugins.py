"""Learner plug-ins: what the platform needs from a task, the registry tasks join, and the one builder.

The platform never imports a concrete learner package. A package (the bundled ``learners/``, or
a user's) *registers* its learner sources here: named tasks, the task that learns a user's
``.npz``/``.csv`` file, and the loader of user factories (``--learner module:function``). It is
found through the Python entry point group :data:`ENTRY_POINT_GROUP` (declared in a package's
``pyproject.toml``)::

    [project.entry-points."colearn_chain.plugins"]
    mytasks = "mypackage.plugin:register"     # register(registry: PluginRegistry) -> None

or, for the bundled learners, through :data:`BUILTIN_PLUGINS` (an import path, so a checkout
works before it is installed). ``run``, ``deploy``/``learner``, the audit's re-evaluation and the
RL selector's training all get their learners from :func:`learner_source` and
:func:`build_all`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface, Weights

#: The entry point group a package registers its learner sources under.
ENTRY_POINT_GROUP = "colearn_chain.plugins"
#: Plug-ins loaded by import path even when no installed distribution declares them.
BUILTIN_PLUGINS = ("learners.registration:register",)

#: How a source's learners may train and vote (see :meth:`LearnerSource.with_training`): the
#: platform's own rule, or Homogeneous Learning's (``hl``: plain local epochs, every proposal approved).
SETTINGS = ("platform", "hl")

#: Scores a global model on data no learner trains on (None where it cannot).
Evaluator = Callable[[Weights], float | None]


@runtime_checkable
class LearnerSource(Protocol):
    """Makes the learners of one experiment (a task), and whatever else the platform asks of them.

    Implementations raise :class:`~colearn_chain.errors.ColearnValueError` (one line, naming what
    is wrong) for anything a user got wrong.
    """

    @property
    def name(self) -> str:
        """The name users select it by (``--task``), or what it was made from."""
        ...

    def check_partition(self, partition: str) -> None:
        """Raise if this source cannot split its data by ``partition`` (before any learner is made)."""
        ...

    def make_learner(self, index: int, count: int, seed: int, *, partition: str = "iid") -> MachineLearningInterface:
        """Learner ``index`` of ``count``: its shard of the data by ``partition``; every learner of a
        seed starts from the same model."""
        ...

    def learner_on_file(self, path: Path, index: int, seed: int) -> MachineLearningInterface:
        """Learner ``index`` with this source's model (the same initial weights) on a private data file."""
        ...

    def evaluator(self, seed: int) -> Evaluator | None:
        """Scores a global model on data held out from every learner; None if the source has none."""
        ...

    def centralized(self, seed: int) -> Callable[[int], float] | None:
        """How to compute the upper bound (the model trained ``epochs`` epochs on all the learners'
        data at once, scored like :meth:`evaluator`); None if the source cannot."""
        ...

    def file_scorer(self, path: Path) -> Callable[[bytes], float]:
        """Scores a weights blob (ONNX) with this source's model on an auditor's data file."""
        ...

    def with_local_epochs(self, epochs: int) -> LearnerSource:
        """The same source whose learners train ``epochs`` local epochs per proposal."""
        ...

    def with_training(self, *, dp: Any = None, setting: str = "platform") -> LearnerSource:
        """The same source whose learners train with differential privacy ``dp`` (colearn's
        ``DiffPrivConfig``, None for none) in ``setting`` (``platform``, or ``hl``: Homogeneous
        Learning's plain local epochs); raises if the source cannot."""
        ...


class PluginRegistry:
    """The learner sources plug-ins registered: named tasks, the data-file task, user factories."""

    def __init__(self) -> None:
        self._tasks: dict[str, Callable[[], LearnerSource]] = {}
        self._loaded: dict[str, LearnerSource] = {}
        self._data_file: Callable[[Path], LearnerSource] | None = None
        self._factory: Callable[[str], LearnerSource] | None = None

    # -- registering ----------------------------------------------------------------------
    def add_task(self, source: LearnerSource) -> None:
        """Register a task under its ``name``.

        Raises
        ------
        ColearnValueError
            If another task already has that name.
        """
        self.add_lazy_task(source.name, lambda: source)

    def add_lazy_task(self, name: str, load: Callable[[], LearnerSource]) -> None:
        """Register task ``name``, built by ``load()`` the first time it is used (for heavy imports)."""
        if name in self._tasks:
            raise ColearnValueError(f"two plug-ins register a task named {name!r}")
        self._tasks[name] = load

    def set_data_file_task(self, make: Callable[[Path], LearnerSource]) -> None:
        """Register what learns a user's own data file (``--data FILE``)."""
        self._data_file = make

    def set_user_factory(self, make: Callable[[str], LearnerSource]) -> None:
        """Register what turns ``module:function`` into a learner source (``--learner M:F``)."""
        self._factory = make

    # -- looking up -----------------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        """The registered tasks, in registration order."""
        return list(self._tasks)

    def task(self, name: str) -> LearnerSource:
        """The task called ``name``.

        Raises
        ------
        ColearnValueError
            For an unknown name, listing the known ones.
        """
        if name not in self._tasks:
            raise ColearnValueError(f"unknown task {name!r}: choose one of {', '.join(self._tasks)}")
        if name not in self._loaded:
            self._loaded[name] = self._tasks[name]()
        return self._loaded[name]

    def data_file_task(self, path: Path) -> LearnerSource:
        """The source that learns ``path`` (read now, so a malformed file fails before any learner)."""
        if self._data_file is None:
            raise ColearnValueError("no installed plug-in learns a data file (--data)")
        return self._data_file(Path(path))

    def user_factory(self, spec: str) -> LearnerSource:
        """The source of a user's factory ``module:function``."""
        if self._factory is None:
            raise ColearnValueError("no installed plug-in loads user learner factories (--learner)")
        return self._factory(spec)


def _load(path: str) -> Callable[[PluginRegistry], None]:
    module_name, _, attribute = path.partition(":")
    try:
        target: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ColearnValueError(f"learner plug-in {path!r} cannot be loaded: {exc}") from exc
    if not callable(target):
        raise ColearnValueError(f"learner plug-in {path!r} is not a function register(registry)")
    return target


def load_registry(plugins: Sequence[str] = ()) -> PluginRegistry:
    """A registry filled by every installed entry point, :data:`BUILTIN_PLUGINS` and ``plugins``.

    Each plug-in (``module:function``) is loaded once, even when several of these name it.
    """
    paths = [point.value for point in entry_points(group=ENTRY_POINT_GROUP)]
    registry = PluginRegistry()
    for path in dict.fromkeys([*BUILTIN_PLUGINS, *paths, *plugins]):
        _load(path)(registry)
    return registry


@cache
def default_registry() -> PluginRegistry:
    """The registry of the installed plug-ins, loaded on first use and then kept."""
    return load_registry()


def learner_source(
    task: str | None = None,
    factory: str | None = None,
    data: Path | None = None,
    registry: PluginRegistry | None = None,
) -> LearnerSource:
    """The source an experiment's learners come from: a user's factory, a data file, or a task."""
    registry = registry or default_registry()
    if factory is not None:
        return registry.user_factory(factory)
    if data is not None:
        return registry.data_file_task(data)
    if task is None:
        raise ColearnValueError("give a task, a data file or a learner factory")
    return registry.task(task)


@dataclass(frozen=True)
class BuiltLearners:
    """An experiment's learners and what the source can say about their models."""

    learners: list[MachineLearningInterface]
    evaluate: Evaluator | None
    #: ``centralized(epochs)``: the centralized upper bound, computed (trained) only when called.
    centralized: Callable[[int], float] | None


def build_all(source: LearnerSource, count: int, seed: int, partition: str = "iid") -> BuiltLearners:
    """All ``count`` learners of ``source`` (the partition checked first), its evaluator and baseline."""
    source.check_partition(partition)
    learners = [source.make_learner(i, count, seed, partition=partition) for i in range(count)]
    return BuiltLearners(learners, source.evaluator(seed), source.centralized(seed))
