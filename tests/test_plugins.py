"""Learner plug-ins: the bundled tasks register themselves, a user's package registers through an
entry point, and every consumer (run, learner, audit, selector training) builds from the registry."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import weights_to_onnx
from colearn_chain.learner_spec import LearnerSpec
from colearn_chain.plugins import (
    ENTRY_POINT_GROUP,
    LearnerSource,
    PluginRegistry,
    build_all,
    default_registry,
    learner_source,
    load_registry,
)

BUILT_IN = ["digits-mlp", "digits-cnn", "breast-cancer-mlp", "wine-mlp"]


def test_the_bundled_learners_register_every_built_in_task() -> None:
    registry = default_registry()
    assert registry.task_names[: len(BUILT_IN)] == BUILT_IN
    for name in BUILT_IN:
        source = registry.task(name)
        assert isinstance(source, LearnerSource) and source.name == name
    with pytest.raises(ColearnValueError, match=r"unknown task 'nope': choose one of digits-mlp, digits-cnn"):
        registry.task("nope")


def test_one_builder_gives_run_and_participants_the_same_learners() -> None:
    source = learner_source("wine-mlp")
    built = build_all(source, 3, seed=4, partition="dirichlet:2")
    assert built.evaluate is not None and built.centralized is not None
    spec = LearnerSpec("wine-mlp", None, seed=4, count=3)
    for index, learner in enumerate(built.learners):
        mine = spec.build(index, partition="dirichlet:2")
        proposal, again = learner.mli_propose_weights(), mine.mli_propose_weights()
        assert weights_to_onnx(proposal) == weights_to_onnx(again)
    score = built.evaluate(built.learners[0].mli_get_current_weights())
    assert score is not None and 0.0 <= score <= 1.0
    with pytest.raises(ColearnValueError, match="unknown partition"):
        build_all(source, 3, seed=4, partition="sorted")


def test_a_user_factory_is_a_source_without_a_public_model() -> None:
    source = learner_source(factory="learners.tasks:breast_cancer_mlp")
    built = build_all(source, 2, seed=0, partition="anything: the factory owns its data")
    assert len(built.learners) == 2 and built.evaluate is None and built.centralized is None
    with pytest.raises(ColearnValueError, match="--evaluate needs a built-in task"):
        source.file_scorer(Path("data.npz"))
    with pytest.raises(ColearnValueError, match="sets its own training"):
        source.with_local_epochs(1)


def test_two_plugins_cannot_claim_one_task_name() -> None:
    registry = PluginRegistry()
    registry.add_task(default_registry().task("digits-mlp"))
    with pytest.raises(ColearnValueError, match="two plug-ins register a task named 'digits-mlp'"):
        registry.add_task(default_registry().task("digits-mlp"))
    with pytest.raises(ColearnValueError, match="no installed plug-in learns a data file"):
        registry.data_file_task(Path("x.csv"))


def _user_package(root: Path) -> None:
    """A user's installed package declaring a plug-in: its module and its dist-info entry point."""
    (root / "toy_tasks.py").write_text(
        textwrap.dedent(
            """
            from colearn_chain.plugins import PluginRegistry


            def register(registry: PluginRegistry) -> None:
                # a user's task: the bundled wine model under another name, built only when used
                registry.add_lazy_task("toy-wine", lambda: registry.task("wine-mlp").with_local_epochs(2))
            """
        )
    )
    info = root / "toy_tasks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-tasks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntoy = toy_tasks:register\n")


def test_a_users_package_registers_a_task_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _user_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry()
    assert "toy-wine" in registry.task_names and registry.task_names[: len(BUILT_IN)] == BUILT_IN
    learner = learner_source("toy-wine", registry=registry).make_learner(0, 2, seed=1)
    assert learner.mli_propose_weights() is not None


def test_a_plugin_that_cannot_be_loaded_is_one_line() -> None:
    with pytest.raises(ColearnValueError, match="learner plug-in 'no_such_module:register' cannot be loaded"):
        load_registry(["no_such_module:register"])
