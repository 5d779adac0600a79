"""Loading a user's own learner by import path: ``--learner package.module:factory``."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, cast

from colearn_chain.check import MLI_METHODS
from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import MachineLearningInterface
from colearn_chain.learner_guard import GuardedLearner

LearnerFactory = Callable[[int, int, int], MachineLearningInterface]

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_USAGE = "write it as package.module:factory"


def load_learner_factory(spec: str) -> LearnerFactory:
    """Import the factory named by ``spec`` (``package.module:factory``; the factory part may
    be dotted, e.g. ``module:Class.create``).

    The factory is called later as ``factory(index, count, seed)``: this learner's index
    from 0, the number of learners, and the experiment's seed.

    Raises
    ------
    ColearnValueError
        If the spec is malformed, the module cannot be imported, the attribute is missing
        or not callable; the one-line message names the spec.
    """
    module_name, sep, attr_path = spec.strip().partition(":")
    if not sep or not _DOTTED.match(module_name) or not _DOTTED.match(attr_path):
        raise ColearnValueError(f"learner {spec!r} is not an import path: {_USAGE}")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing != module_name and not module_name.startswith(missing + "."):
            # the module exists, but something it imports does not
            raise ColearnValueError(f"learner {spec!r}: module {module_name!r} failed to import: {exc}") from exc
        raise ColearnValueError(
            f"learner {spec!r}: no module named {module_name!r}: check the name and that its package is on PYTHONPATH"
        ) from exc
    except Exception as exc:
        raise ColearnValueError(
            f"learner {spec!r}: importing module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ColearnValueError(f"learner {spec!r}: {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise ColearnValueError(
            f"learner {spec!r}: {attr_path!r} is a {type(target).__name__}, not a callable factory(index, count, seed)"
        )
    return cast(LearnerFactory, target)


def make_user_learner(
    spec: str, index: int, count: int, seed: int, *, guarded: bool = True
) -> MachineLearningInterface:
    """Build learner ``index`` of ``count`` with the user's factory, and check what it made.

    The result must implement the five ``mli_*`` methods (a subclass of
    :class:`~colearn_chain.interface.MachineLearningInterface` does; duck typing is
    accepted). Run :func:`colearn_chain.check.check_learner` on it for the full contract.
    ``guarded`` (the default) wraps it in a
    :class:`~colearn_chain.learner_guard.GuardedLearner`, so that a method that raises or
    returns the wrong type later is one line naming the learner and the method; ``check``
    inspects the learner itself.

    Raises
    ------
    ColearnValueError
        If the factory cannot be loaded, raises, or returns something that is not a
        learner; the one-line message names the spec.
    """
    factory = load_learner_factory(spec)
    try:
        learner = factory(index, count, seed)
    except Exception as exc:
        raise ColearnValueError(
            f"learner {spec!r}: factory({index}, {count}, {seed}) raised {type(exc).__name__}: {exc}"
        ) from exc
    missing = [name for name in MLI_METHODS if not callable(getattr(learner, name, None))]
    if missing:
        raise ColearnValueError(
            f"learner {spec!r}: factory returned a {type(learner).__name__}, which lacks "
            f"{', '.join(missing)}: return an object implementing MachineLearningInterface"
        )
    return GuardedLearner(learner, f"learner {index} ({spec})") if guarded else learner
