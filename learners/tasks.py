"""The built-in tasks: a dataset, a model and training defaults, ready to make learners."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import DiffPrivConfig, Weights
from colearn_chain.plugins import SETTINGS
from learners.data import (
    Dataset,
    load_data_file,
    load_sklearn_dataset,
    make_rng,
    split_holdout,
    stratified_order,
)
from learners.losses import balanced_softmax_loss
from learners.models import DigitsCNN, DigitsMLP, TabularMLP
from learners.partition import IID, PartitionSpec
from learners.torch_learner import (
    TorchLearner,
    VoteCriterion,
    accuracy,
    load_weights,
)

ModelFactory = Callable[[Dataset], nn.Module]

#: The task the CLI runs when none is named.
DEFAULT_TASK = "digits-mlp"


@lru_cache(maxsize=8)
def _sklearn(name: str, as_images: bool) -> Dataset:
    """scikit-learn's bundled set, read from disk once per process (tasks share it read-only)."""
    return load_sklearn_dataset(name, as_images=as_images)


@dataclass(frozen=True)
class Task:
    """A dataset, a model and the training defaults that make a convincing experiment.

    Every learner of an experiment gets a disjoint shard of the task's data (by the
    partition), split into its own train, vote and test sets; a holdout taken out first is
    seen by no learner, so accuracy on it measures the collective model fairly. All
    learners start from the same initial weights (drawn from the experiment's seed), as
    the chain's ``initialModel`` requires.

    Attributes
    ----------
    name
        The registry name (``--task``).
    description
        One line for listings.
    load
        Returns the whole dataset.
    model_factory
        Builds a fresh, untrained model for a dataset's feature shape and classes.
    lr, local_epochs, batch_size, update_scale, vote_criterion
        The learners' training settings (see :class:`learners.torch_learner.TorchLearner`).
        The defaults were chosen by simulating 10 learners on digits (IID and
        Dirichlet 0.5): each of ``update_scale`` < 1, ``balanced_loss`` and the loss
        criterion closed several points of the gap to centralized training.
    balanced_loss
        Train with :func:`learners.losses.balanced_softmax_loss` (against label skew).
    holdout_fraction
        The share of all data held out from every learner.
    vote_fraction, test_fraction
        The shares of each learner's shard used as its vote and test sets.
    """

    name: str
    description: str
    load: Callable[[], Dataset] = field(repr=False)
    model_factory: ModelFactory = field(repr=False)
    lr: float = 6e-3
    local_epochs: int = 20
    batch_size: int = 32
    update_scale: float = 0.5
    balanced_loss: bool = True
    vote_criterion: VoteCriterion = "loss"
    holdout_fraction: float = 0.2
    vote_fraction: float = 0.15
    test_fraction: float = 0.15

    # ------------------------------------------------------------------ data
    def split(self, seed: int) -> tuple[Dataset, Dataset]:
        """(the learners' pool, the holdout), deterministic by seed."""
        return split_holdout(self.load(), self.holdout_fraction, seed)

    def holdout(self, seed: int) -> Dataset:
        """Data held out from every learner, for the collective model's global accuracy."""
        return self.split(seed)[1]

    def shard(
        self, index: int, count: int, seed: int, *, partition: PartitionSpec = IID
    ) -> tuple[Dataset, Dataset, Dataset]:
        """Learner ``index``'s (train, vote, test) sets: its shard of the pool, split apart.

        Raises
        ------
        ColearnValueError
            If ``index`` is not in ``[0, count)`` or the partition leaves it too little data.
        """
        if count < 1 or not 0 <= index < count:
            raise ColearnValueError(f"learner index {index} is out of range for {count} learners (0..{count - 1})")
        pool, _ = self.split(seed)
        mine = pool.subset(partition.apply(pool.y, count, seed)[index])
        order = stratified_order(mine.y, make_rng(seed, index, 0x5E7))
        n_vote = max(1, round(len(mine) * self.vote_fraction))
        n_test = max(1, round(len(mine) * self.test_fraction))
        if len(mine) - n_vote - n_test < 1:
            raise ColearnValueError(
                f"learner {index} of {count} has {len(mine)} samples, too few for train, vote "
                "and test sets: use fewer learners or another partition"
            )
        vote, test, train = (
            order[:n_vote],
            order[n_vote : n_vote + n_test],
            order[n_vote + n_test :],
        )
        tag = f"{self.name}-{index}"
        return (
            mine.subset(train, f"{tag}-train"),
            mine.subset(vote, f"{tag}-vote"),
            mine.subset(test, f"{tag}-test"),
        )

    # ---------------------------------------------------------------- models
    def make_model(self, seed: int) -> nn.Module:
        """A fresh model whose initial weights depend on ``seed`` only (not on a learner)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed % 2**63)
            return self.model_factory(self.load())

    def optimizer(self, params: object) -> torch.optim.Optimizer:
        """The task's optimizer: Adam at the task's learning rate."""
        return torch.optim.Adam(params, lr=self.lr)  # type: ignore[arg-type]

    def make_learner(
        self,
        index: int,
        count: int,
        seed: int,
        *,
        partition: PartitionSpec = IID,
        dp: DiffPrivConfig | None = None,
    ) -> TorchLearner:
        """Learner ``index`` of ``count``, with its own shard split into train/vote/test."""
        train, vote, test = self.shard(index, count, seed, partition=partition)
        return self.learner_on(
            train,
            vote,
            test,
            seed=seed,
            learner_seed=int(make_rng(seed, index, 0x1EA).integers(2**62)),
            name=f"{self.name} learner {index}",
            dp=dp,
        )

    def learner_on(
        self,
        train: Dataset,
        vote: Dataset,
        test: Dataset,
        *,
        seed: int,
        learner_seed: int,
        name: str,
        dp: DiffPrivConfig | None = None,
    ) -> TorchLearner:
        """A learner with this task's model and settings on given data (e.g. a participant's own file).

        ``seed`` is the experiment's (it fixes the shared initial model); ``learner_seed`` this
        learner's own (its shuffling); ``dp`` trains it with differential privacy.
        """
        return TorchLearner(
            self.make_model(seed),
            train,
            vote,
            test,
            optimizer_factory=self.optimizer,
            train_loss_fn=balanced_softmax_loss(train.y, train.num_classes) if self.balanced_loss else None,
            local_epochs=self.local_epochs,
            batch_size=self.batch_size,
            update_scale=self.update_scale,
            vote_criterion=self.vote_criterion,
            seed=learner_seed,
            name=name,
            dp=dp,
        )

    # ------------------------------------------------------------ evaluation
    def evaluate(self, weights: Weights, data: Dataset) -> float:
        """The accuracy of ``weights`` (a list, a state dict or ONNX bytes) on ``data``."""
        return self.evaluator(data)(weights)

    def evaluator(self, data: Dataset) -> Callable[[Weights], float]:
        """Scores weights on ``data`` (see :meth:`evaluate`), into one model built here once.

        A run evaluates every new global model: building a fresh model each time (seeding
        torch's generators included) cost several milliseconds per evaluation. Loading
        replaces every parameter and buffer, so reusing the model changes no score.
        """
        model = self.make_model(0)

        def evaluate(weights: Weights) -> float:
            load_weights(model, weights, f"task {self.name}")
            return accuracy(model, data)

        return evaluate

    def centralized_accuracy(self, seed: int, epochs: int = 30) -> float:
        """Holdout accuracy of the model trained on the whole pool at once: the upper bound.

        The pool is everything any learner could hold (all data but the holdout), trained
        with the learners' own optimizer and batch size for ``epochs`` passes.
        """
        pool, holdout = self.split(seed)
        # The whole pool is one learner's train set; vote/test are unused but required.
        learner = TorchLearner(
            self.make_model(seed),
            pool,
            holdout,
            holdout,
            optimizer_factory=self.optimizer,
            local_epochs=epochs,
            batch_size=self.batch_size,
            seed=seed,
            name=f"{self.name} centralized",
        )
        return learner.evaluate(learner.mli_propose_weights(), holdout)


def _digits_mlp(data: Dataset) -> nn.Module:
    """The default digits model: 64-64-10."""
    return DigitsMLP(hidden=64, num_classes=data.num_classes)


def _digits_cnn(data: Dataset) -> nn.Module:
    """The small digits CNN."""
    return DigitsCNN(num_classes=data.num_classes)


def _tabular_mlp(data: Dataset) -> nn.Module:
    """A tabular MLP sized to the data's features and classes."""
    features = 1
    for dim in data.feature_shape:
        features *= dim
    return TabularMLP(features, data.num_classes)


TASKS: Mapping[str, Task] = {
    task.name: task
    for task in (
        Task(
            "digits-mlp",
            "scikit-learn digits (8x8, 10 classes), MLP 64-64-10",
            lambda: _sklearn("digits", False),
            _digits_mlp,
        ),
        Task(
            "digits-cnn",
            "scikit-learn digits as 1x8x8 images, a two-layer CNN",
            lambda: _sklearn("digits", True),
            _digits_cnn,
            lr=1e-2,
            local_epochs=10,  # half the CNN's training time for the same accuracy (measured)
        ),
        Task(
            "breast-cancer-mlp",
            "scikit-learn breast cancer (30 features, 2 classes), MLP 30-32-2",
            lambda: _sklearn("breast_cancer", False),
            _tabular_mlp,
        ),
        Task(
            "wine-mlp",
            "scikit-learn wine (13 features, 3 classes), MLP 13-32-3",
            lambda: _sklearn("wine", False),
            _tabular_mlp,
        ),
    )
}


def get_task(name: str) -> Task:
    """The built-in task called ``name``.

    Raises
    ------
    ColearnValueError
        For an unknown name, listing the known ones.
    """
    try:
        return TASKS[name]
    except KeyError:
        raise ColearnValueError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}") from None


#: The learner settings: the platform's default, and Homogeneous Learning's (``hl``).
#: Local epochs of the ``hl`` setting. Homogeneous Learning trains one epoch over a node's MNIST
#: shard (thousands of samples, about 190 mini-batches); a digits shard has about 100 training
#: samples, so one epoch is 3-4 steps and round-robin was still at 50-60% holdout accuracy
#: after 40 rounds (measured, 10 learners); 5 epochs (about 20 steps) reach 80% in about 21.
HL_LOCAL_EPOCHS = 5
#: The split each setting is meant for, used when no partition is given.
SETTING_PARTITIONS: Mapping[str, str] = {"platform": "iid", "hl": "dominant"}


def with_setting(task: Task, setting: str) -> Task:
    """``task`` with the learners trained and voting as ``setting`` says.

    ``platform`` is the task as defined (its local epochs, damped updates, class-balanced
    loss, a vote on the loss). ``hl`` is Homogeneous Learning's (Sun and Ochiai, 2022): the
    selected node trains the global model briefly (:data:`HL_LOCAL_EPOCHS`) with the plain
    loss and its update is proposed whole (no damping); every valid proposal is approved (HL has no vote),
    so each update becomes the global model. In that setting the order of the proposers
    matters, which is what an RL node selector exploits.

    Raises
    ------
    ColearnValueError
        For an unknown setting, listing the known ones.
    """
    if setting == "platform":
        return task
    if setting == "hl":
        return dataclasses.replace(
            task, local_epochs=HL_LOCAL_EPOCHS, balanced_loss=False, update_scale=1.0, vote_criterion="approve-all"
        )
    raise ColearnValueError(f"unknown setting {setting!r}: choose one of {', '.join(SETTINGS)}")


def data_file_task(path: str | Path, **settings: object) -> Task:
    """A task on a user's own ``.npz``/``.csv`` data, with a tabular MLP.

    The file is read once, here, so a malformed file fails before any learner is made.

    Raises
    ------
    ColearnFileError
        If the file is missing or malformed (see :func:`learners.data.load_data_file`).
    """
    data = load_data_file(path)
    return Task(
        f"file:{Path(path).name}",
        f"{Path(path).name}: {len(data)} samples, {data.num_classes} classes, tabular MLP",
        lambda: data,
        _tabular_mlp,
        **settings,  # type: ignore[arg-type]
    )


def digits_mlp(index: int, count: int, seed: int) -> TorchLearner:
    """Factory for ``--learner learners.tasks:digits_mlp``: the digits MLP, IID shards."""
    return TASKS["digits-mlp"].make_learner(index, count, seed)


def digits_cnn(index: int, count: int, seed: int) -> TorchLearner:
    """Factory for ``--learner learners.tasks:digits_cnn``: the digits CNN, IID shards."""
    return TASKS["digits-cnn"].make_learner(index, count, seed)


def breast_cancer_mlp(index: int, count: int, seed: int) -> TorchLearner:
    """Factory for ``--learner learners.tasks:breast_cancer_mlp``: IID shards."""
    return TASKS["breast-cancer-mlp"].make_learner(index, count, seed)
