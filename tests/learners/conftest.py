"""Fixtures for the learner tests: small digits sets and a fast torch learner built on them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from learners.data import Dataset, load_sklearn_dataset, make_rng, stratified_order
from learners.models import DigitsMLP
from learners.torch_learner import TorchLearner, VoteCriterion


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """All of scikit-learn's digits, flat (n, 64)."""
    return load_sklearn_dataset("digits")


@pytest.fixture(scope="session")
def digits_splits(digits: Dataset) -> tuple[Dataset, Dataset, Dataset]:
    """Disjoint (train, vote, test) digits sets of 300/120/120 samples, near-stratified."""
    order = stratified_order(digits.y, make_rng(7))
    return (
        digits.subset(order[:300], "train"),
        digits.subset(order[300:420], "vote"),
        digits.subset(order[420:540], "test"),
    )


MakeLearner = Callable[..., TorchLearner]


@pytest.fixture
def make_learner(digits_splits: tuple[Dataset, Dataset, Dataset]) -> MakeLearner:
    """Build a small, fast digits learner (MLP 64-16-10, one local epoch) with overrides."""

    def build(*, seed: int = 0, vote_criterion: VoteCriterion = "loss", **kwargs: object) -> TorchLearner:
        import torch

        train, vote, test = digits_splits
        torch.manual_seed(1234)  # the same initial model for every learner a test builds
        model = DigitsMLP(hidden=16)
        return TorchLearner(
            model,
            kwargs.pop("train", train),  # type: ignore[arg-type]
            kwargs.pop("vote", vote),  # type: ignore[arg-type]
            kwargs.pop("test", test),  # type: ignore[arg-type]
            vote_criterion=vote_criterion,
            seed=seed,
            **kwargs,  # type: ignore[arg-type]
        )

    return build


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], str]]:
    """Write a throw-away importable module; returns a function (name, source) -> name.

    The directory is put on sys.path and every module written is dropped from sys.modules
    afterwards, so tests cannot see each other's modules.
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.parents:
            if parent == tmp_path:
                break
            (parent / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
        written.append(name)
        return name

    yield write
    tops = {name.split(".")[0] for name in written}
    for name in list(sys.modules):
        if name.split(".")[0] in tops:
            sys.modules.pop(name, None)
