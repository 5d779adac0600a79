"""A user's learner by import path: every way it can fail is one line naming the spec."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.learner_guard import GuardedLearner
from learners.plugin import load_learner_factory, make_user_learner
from learners.torch_learner import TorchLearner

WriteModule = Callable[[str, str], str]

GOOD = """
from learners.tasks import TASKS

calls = []

def factory(index, count, seed):
    calls.append((index, count, seed))
    return TASKS["wine-mlp"].make_learner(index, count, seed)

class Learners:
    @staticmethod
    def create(index, count, seed):
        return factory(index, count, seed)

NOT_CALLABLE = 42

def raises(index, count, seed):
    raise RuntimeError("no GPU here")

def returns_something_else(index, count, seed):
    return {"index": index}
"""


def test_factory_is_called_positionally_with_index_count_seed(write_module: WriteModule) -> None:
    module = write_module("userpkg_a.learner", GOOD)
    learner = make_user_learner(f"{module}:factory", 2, 5, 99)
    assert isinstance(learner, GuardedLearner) and isinstance(learner.inner, TorchLearner)
    import userpkg_a.learner as loaded

    assert loaded.calls == [(2, 5, 99)]


def test_dotted_attribute_paths_are_followed(write_module: WriteModule) -> None:
    module = write_module("userpkg_b", GOOD)
    factory = load_learner_factory(f"{module}:Learners.create")
    assert isinstance(factory(0, 3, 1), TorchLearner)


def test_built_in_factories_load_by_import_path() -> None:
    learner = make_user_learner("learners.tasks:breast_cancer_mlp", 0, 2, 0)
    assert isinstance(learner, GuardedLearner) and isinstance(learner.inner, TorchLearner)
    assert isinstance(make_user_learner("learners.tasks:breast_cancer_mlp", 0, 2, 0, guarded=False), TorchLearner)


@pytest.mark.parametrize(
    "spec", ["no_colon", "module:", ":factory", "two words:f", "a:b:c", "mod-name:f", "mod:f()", ""]
)
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(ColearnValueError, match=r"is not an import path: write it as package\.module:factory"):
        load_learner_factory(spec)


def test_module_that_does_not_exist() -> None:
    with pytest.raises(ColearnValueError, match=r"no module named 'surely_absent_pkg\.mod': check the name"):
        load_learner_factory("surely_absent_pkg.mod:factory")


def test_module_whose_own_import_is_missing(write_module: WriteModule) -> None:
    module = write_module("userpkg_c", "import surely_absent_dependency\n")
    with pytest.raises(ColearnValueError, match="module 'userpkg_c' failed to import: No module named"):
        load_learner_factory(f"{module}:factory")


def test_module_that_raises_while_importing(write_module: WriteModule) -> None:
    module = write_module("userpkg_d", "raise ValueError('bad config')\n")
    with pytest.raises(ColearnValueError, match="importing module 'userpkg_d' raised ValueError: bad config"):
        load_learner_factory(f"{module}:factory")


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("missing", "'userpkg_e' has no attribute 'missing'"),
        ("Learners.missing", "has no attribute 'Learners.missing'"),
        ("NOT_CALLABLE", "'NOT_CALLABLE' is a int, not a callable factory"),
    ],
)
def test_bad_attributes(write_module: WriteModule, attribute: str, message: str) -> None:
    module = write_module("userpkg_e", GOOD)
    with pytest.raises(ColearnValueError, match=message):
        load_learner_factory(f"{module}:{attribute}")


def test_factory_that_raises(write_module: WriteModule) -> None:
    module = write_module("userpkg_f", GOOD)
    with pytest.raises(ColearnValueError, match=r"factory\(1, 3, 7\) raised RuntimeError: no GPU here") as info:
        make_user_learner(f"{module}:raises", 1, 3, 7)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_factory_that_returns_something_else(write_module: WriteModule) -> None:
    module = write_module("userpkg_g", GOOD)
    with pytest.raises(ColearnValueError, match="returned a dict, which lacks mli_propose_weights") as info:
        make_user_learner(f"{module}:returns_something_else", 0, 1, 0)
    message = str(info.value)
    assert "userpkg_g:returns_something_else" in message
    assert "\n" not in message
