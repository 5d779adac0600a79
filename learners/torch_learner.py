"""A MachineLearningInterface for any torch classifier: local training, voting, accepting."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    DiffPrivConfig,
    ErrorCodes,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    TrainingSummary,
    Weights,
)
from colearn_chain.weights.codec import WeightsSpec, decode_weights, normalize_weights
from colearn_chain.weights.export import export_torch_model
from learners.data import Dataset

if TYPE_CHECKING:
    from colearn_chain.dp_sgd import DPSGD

VoteCriterion = Literal["loss", "accuracy", "approve-all"]
OptimizerFactory: TypeAlias = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
LossFn: TypeAlias = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DataSource: TypeAlias = Dataset | DataLoader  # type: ignore[type-arg]

#: The default vote criterion; see :class:`TorchLearner` for why it is the loss.
DEFAULT_VOTE_CRITERION: VoteCriterion = "loss"


def default_optimizer(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam at lr 1e-3: a safe start for a user's model (the built-in tasks set their own)."""
    return torch.optim.Adam(params, lr=1e-3)


class _Data:
    """One of a learner's data sets, as in-memory tensors or a user's DataLoader.

    In-memory tensors are batched by hand: for these small sets that is several times
    faster than a DataLoader, and the shuffling generator makes it deterministic.
    """

    def __init__(self, source: DataSource, role: str) -> None:
        self.role = role
        self.loader: DataLoader | None = None  # type: ignore[type-arg]
        if isinstance(source, Dataset):
            if len(source) == 0:
                raise ColearnValueError(f"the {role} set is empty: every learner needs {role} data")
            self.x = torch.from_numpy(np.ascontiguousarray(source.x, dtype=np.float32))
            self.y = torch.from_numpy(np.ascontiguousarray(source.y, dtype=np.int64))
        elif isinstance(source, DataLoader):
            self.loader = source
        else:
            raise ColearnValueError(
                f"the {role} data must be a learners.data.Dataset or a torch DataLoader (got {type(source).__name__})"
            )

    def __len__(self) -> int:
        """The number of samples (for a DataLoader: of its dataset, when it says)."""
        if self.loader is None:
            return int(self.y.shape[0])
        return len(self.loader.dataset)  # type: ignore[arg-type]

    def example(self) -> torch.Tensor:
        """One sample with a batch dimension, to trace the model for ONNX export."""
        if self.loader is None:
            return self.x[:1].clone()
        x, _ = next(iter(self.loader))
        return torch.as_tensor(x[:1]).float()

    def batches(
        self, batch_size: int, generator: torch.Generator | None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the data: shuffled mini-batches with a generator, else everything."""
        if self.loader is not None:
            for x, y in self.loader:
                yield torch.as_tensor(x), torch.as_tensor(y)
            return
        if generator is None:
            yield self.x, self.y
            return
        order = torch.randperm(self.y.shape[0], generator=generator)
        for start in range(0, order.shape[0], batch_size):
            idx = order[start : start + batch_size]
            yield self.x[idx], self.y[idx]


def _damped(old: np.ndarray, new: np.ndarray, scale: float) -> np.ndarray:
    """``old + scale * (new - old)`` for floating arrays; counters (integers) take ``new``."""
    if not np.issubdtype(new.dtype, np.floating):
        return new
    mixed: np.ndarray = (old + scale * (new - old)).astype(new.dtype)
    return mixed


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _seed_for(seed: int, counter: int) -> int:
    """A 63-bit torch seed determined by the learner's seed and a call counter."""
    mixed = np.random.SeedSequence([seed % 2**64, counter]).generate_state(2, np.uint32)
    return int(mixed[0]) << 31 ^ int(mixed[1])


def state_arrays(module: nn.Module) -> list[np.ndarray]:
    """Copies of the module's state (parameters and buffers), in state_dict order.

    This list is the built-in learners' ``Weights.weights``: buffers are included so that a
    module with batch-norm statistics round-trips exactly.
    """
    return [t.detach().cpu().numpy().copy() for t in module.state_dict().values()]


def weights_to_arrays(module: nn.Module, weights: Weights, who: str = "model") -> list[np.ndarray]:
    """The arrays of ``weights`` in the state_dict order of ``module``, checked against it.

    Accepts what :func:`state_arrays` gives (a list, numpy arrays or tensors), a dict keyed
    by state_dict names, or ONNX weights bytes made from either.

    Raises
    ------
    ColearnValueError
        If the weights do not fit the module (count, names or shapes), naming ``who``.
    """
    state = module.state_dict()
    names = list(state.keys())
    held = weights.weights
    if isinstance(held, bytes | bytearray):
        mine = normalize_weights(state_arrays(module))
        decoded = decode_weights(bytes(held), spec=WeightsSpec.from_weights(mine))
        return [decoded[key] for key in mine]
    if isinstance(held, Mapping):
        missing = [key for key in names if key not in held]
        if missing or len(held) != len(names):
            raise ColearnValueError(
                f"{who}: the weights dict does not match the model's state "
                f"({len(held)} entries for {len(names)}, missing {missing[:3]})"
            )
        values: Sequence[object] = [held[key] for key in names]
    elif isinstance(held, Sequence) and not isinstance(held, str):
        values = held
    else:
        raise ColearnValueError(
            f"{who}: cannot load weights of type {type(held).__name__}: "
            "expected a list of arrays, a dict, or ONNX bytes"
        )
    if len(values) != len(names):
        raise ColearnValueError(f"{who}: got {len(values)} weight arrays, the model has {len(names)}")
    arrays = []
    for key, value in zip(names, values, strict=True):
        array = np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value)
        if tuple(array.shape) != tuple(state[key].shape):
            raise ColearnValueError(
                f"{who}: weight {key!r} has shape {tuple(array.shape)}, the model needs {tuple(state[key].shape)}"
            )
        arrays.append(array)
    return arrays


def load_arrays(module: nn.Module, arrays: Sequence[np.ndarray]) -> None:
    """Copy ``arrays`` (state_dict order, shapes already checked) into the module's state."""
    with torch.no_grad():
        for target, array in zip(module.state_dict().values(), arrays, strict=True):
            target.copy_(torch.from_numpy(np.array(array, copy=True)))


def load_weights(module: nn.Module, weights: Weights, who: str = "model") -> None:
    """Load ``weights`` into ``module`` after checking they fit (see :func:`weights_to_arrays`)."""
    load_arrays(module, weights_to_arrays(module, weights, who))


def score_module(
    module: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], loss_fn: LossFn
) -> tuple[float, float]:
    """Mean loss and accuracy of ``module`` over ``batches``, in eval mode without gradients.

    Raises
    ------
    ColearnValueError
        If the batches hold no samples.
    """
    was_training = module.training
    module.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for x, y in batches:
            logits = module(x)
            total_loss += float(loss_fn(logits, y)) * int(y.shape[0])
            correct += int((logits.argmax(dim=1) == y).sum())
            seen += int(y.shape[0])
    module.train(was_training)
    if seen == 0:
        raise ColearnValueError("cannot score a model on data with no samples")
    return total_loss / seen, correct / seen


#: torch's intra-op threads while a learner trains or scores, and while a model is evaluated.
LEARNER_TORCH_THREADS = 1


def accuracy(module: nn.Module, data: DataSource, num_threads: int | None = LEARNER_TORCH_THREADS) -> float:
    """The accuracy of ``module`` on a Dataset or DataLoader, on ``num_threads`` torch threads.

    One thread by default, the learners' setting: evaluating the global model between two
    learners' calls with torch's default pool would rebuild that pool (measured 19-24 ms per
    holdout evaluation on digits against about 2 ms on one thread, on a 2-core machine).
    ``None`` leaves torch's setting alone.
    """
    with _torch_threads(num_threads):
        return score_module(module, _Data(data, "evaluation").batches(1024, None), nn.functional.cross_entropy)[1]


class TorchLearner(MachineLearningInterface):
    """colearn's learner for any torch classifier, with its train, vote and test sets.

    Proposing trains a copy of the current model for a few local epochs (or steps) on the
    train set; testing scores weights on the vote set (``vote_score``) and the test set
    (``test_score``) by the vote criterion, and approves iff they are strictly better than
    the current model on the vote set (colearn's rule); accepting loads them. Neither
    proposing nor testing touches the current model.

    The default criterion is the vote-set **loss**: on the few dozen vote samples a learner
    holds, accuracy moves in coarse steps, so a real improvement often ties and is
    rejected, while the loss registers it. Simulated on digits (10 learners, Dirichlet 0.5,
    30 rounds, 5 seeds, the built-in task's settings), voting on loss accepted 13-16
    proposals and reached 95.4% holdout accuracy; voting on accuracy accepted 2-6 and
    reached 90.3%. Pass ``vote_criterion="accuracy"`` to vote on accuracy instead.

    Parameters
    ----------
    model
        The module to train; its current weights are the learner's starting model.
    train, vote, test
        The three disjoint data sets, as :class:`learners.data.Dataset` (fast, batched
        here) or torch DataLoaders yielding ``(x, y)`` batches.
    optimizer_factory
        Builds a fresh optimizer for each proposal from the parameters (default Adam 1e-3).
    loss_fn
        Scoring loss on (logits, labels), mean over the batch (default cross-entropy); it
        is also the training loss unless ``train_loss_fn`` is given.
    train_loss_fn
        A different loss for local training only, e.g.
        :func:`learners.losses.balanced_softmax_loss` against label skew.
    local_epochs
        Passes over the train set per proposal (ignored when ``local_steps`` is given).
    local_steps
        Exactly this many mini-batches per proposal, cycling through the train set.
    batch_size
        Mini-batch size for a Dataset train set.
    update_scale
        Propose ``current + update_scale * (trained - current)``: 1 proposes the trained
        weights as colearn does; less damps each proposal, which on skewed (non-IID)
        shards keeps a proposal from drifting towards the proposer's own classes, so more
        proposals pass the vote and the model keeps improving for everyone.
    vote_criterion
        ``"loss"`` (lower is better), ``"accuracy"`` (higher is better), or ``"approve-all"``:
        score by the loss but approve every proposal that could be tested (Homogeneous
        Learning has no vote: each update simply becomes the global model).
    seed
        Makes shuffling (and any randomness in the module) reproducible.
    example_input
        One input batch for ONNX export; by default the first training sample.
    num_threads
        torch's intra-op threads while this learner trains or scores, restored afterwards;
        ``None`` leaves torch's setting alone. One thread is the default because for
        models this small, thread coordination costs more than it saves (measured 3-4x
        faster than two threads on a 2-core machine).
    name
        A label for messages.
    dp
        Train with differential privacy (DP-SGD through opacus, see
        :mod:`colearn_chain.dp_sgd`): each proposal's ``training_summary.dp_budget`` holds the
        budget spent so far, and once the next proposal would exceed ``target_epsilon`` the
        learner proposes nothing new: it returns its current weights with
        ``ErrorCodes.DP_BUDGET_EXCEEDED`` (colearn's rule). It keeps voting. A model opacus
        cannot train privately (e.g. with BatchNorm) or bad settings are refused here.
    """

    def __init__(
        self,
        model: nn.Module,
        train: DataSource,
        vote: DataSource,
        test: DataSource,
        *,
        optimizer_factory: OptimizerFactory | None = None,
        loss_fn: LossFn | None = None,
        train_loss_fn: LossFn | None = None,
        local_epochs: int = 1,
        local_steps: int | None = None,
        batch_size: int = 32,
        update_scale: float = 1.0,
        vote_criterion: VoteCriterion = DEFAULT_VOTE_CRITERION,
        seed: int = 0,
        example_input: torch.Tensor | None = None,
        num_threads: int | None = LEARNER_TORCH_THREADS,
        name: str = "learner",
        dp: DiffPrivConfig | None = None,
    ) -> None:
        if vote_criterion not in ("loss", "accuracy", "approve-all"):
            raise ColearnValueError(
                f"vote_criterion must be 'loss', 'accuracy' or 'approve-all' (got {vote_criterion!r})"
            )
        if local_epochs < 1:
            raise ColearnValueError(f"local_epochs must be at least 1 (got {local_epochs})")
        if local_steps is not None and local_steps < 1:
            raise ColearnValueError(f"local_steps must be at least 1 (got {local_steps})")
        if not 0.0 < update_scale <= 1.0:
            raise ColearnValueError(f"update_scale must be in (0, 1] (got {update_scale})")
        if batch_size < 1:
            raise ColearnValueError(f"batch_size must be at least 1 (got {batch_size})")
        self.name = name
        self.model = model
        self._scratch = copy.deepcopy(model)
        self.train_data = _Data(train, "train")
        self.vote_data = _Data(vote, "vote")
        self.test_data = _Data(test, "test")
        self.optimizer_factory = optimizer_factory or default_optimizer
        self.loss_fn: LossFn = loss_fn or nn.functional.cross_entropy
        self.train_loss_fn: LossFn = train_loss_fn or self.loss_fn
        self.local_epochs = local_epochs
        self.local_steps = local_steps
        self.batch_size = batch_size
        self.update_scale = update_scale
        self.vote_criterion: VoteCriterion = vote_criterion
        self.seed = seed
        self.num_threads = num_threads
        self._example = example_input if example_input is not None else self.train_data.example()
        self._proposals = 0
        self._current_vote_score: float | None = None
        self.dp = dp
        self._dp: DPSGD | None = None
        if dp is not None:
            from colearn_chain.dp_sgd import DPSGD  # opacus is imported only by private learners

            self._dp = DPSGD(model, dp, len(self.train_data), batch_size, name)

    @property
    def training_count(self) -> int:
        """Trainings done so far: the next one is seeded from it (``run --resume`` sets it back)."""
        return self._proposals

    @training_count.setter
    def training_count(self, value: int) -> None:
        self._proposals = int(value)

    # -------------------------------------------------------------- evaluation
    def _scores(self, module: nn.Module, data: _Data) -> tuple[float, float]:
        """Mean loss and accuracy of ``module`` on one of this learner's sets."""
        return score_module(module, data.batches(self.batch_size, None), self.loss_fn)

    def _criterion(self, module: nn.Module, data: _Data) -> float:
        """The vote criterion's value of ``module`` on ``data``."""
        loss, accuracy = self._scores(module, data)
        return accuracy if self.vote_criterion == "accuracy" else loss

    def is_better(self, score: float, than: float) -> bool:
        """colearn's rule: strictly lower loss, or strictly higher accuracy (approve-all: any finite score)."""
        if not math.isfinite(score):
            return False
        if self.vote_criterion == "approve-all":
            return True
        return score > than if self.vote_criterion == "accuracy" else score < than

    @property
    def current_vote_score(self) -> float:
        """The current model's vote-set score, cached until the next accept."""
        if self._current_vote_score is None:
            self._current_vote_score = self._criterion(self.model, self.vote_data)
        return self._current_vote_score

    def evaluate(self, weights: Weights, dataset: DataSource) -> float:
        """The accuracy of ``weights`` on any data (e.g. a holdout nobody trained on)."""
        load_weights(self._scratch, weights, self.name)
        return accuracy(self._scratch, dataset, self.num_threads)

    # ---------------------------------------------- abilities aggregators use
    def train_sample_count(self) -> int:
        """The number of training samples behind this learner's proposals (FedAvg's weight)."""
        return len(self.train_data)

    def embed_vote_inputs(self, weights: Weights) -> np.ndarray:
        """``(samples, features)`` embeddings of the vote inputs under ``weights``.

        The embedding is the input of the module's last ``nn.Linear`` (the penultimate
        activations), or the output when it has none: what an attention aggregator compares
        between models (FedFormer), taken on this learner's own vote set so nothing leaves it.
        """
        load_weights(self._scratch, weights, self.name)
        linears = [m for m in self._scratch.modules() if isinstance(m, nn.Linear)]
        captured: list[torch.Tensor] = []
        hook = (
            linears[-1].register_forward_pre_hook(
                lambda _m, args: captured.append(args[0].reshape(args[0].shape[0], -1))
            )
            if linears
            else None
        )
        parts: list[np.ndarray] = []
        try:
            with _torch_threads(self.num_threads), torch.no_grad():
                self._scratch.eval()
                for x, _ in self.vote_data.batches(self.batch_size, None):
                    out = self._scratch(x)
                    parts.append((captured.pop() if hook is not None else out.reshape(out.shape[0], -1)).numpy())
        finally:
            if hook is not None:
                hook.remove()
        return np.concatenate(parts).astype(np.float32)

    # --------------------------------------------------------------- training
    def _train(self, module: nn.Module, generator: torch.Generator) -> None:
        """Local training of ``module`` on the train set, for the configured epochs/steps."""
        module.train()
        optimizer = self.optimizer_factory(module.parameters())
        steps_left = self.local_steps  # None: count whole epochs instead
        epochs_done = 0
        while True:
            stepped = False
            for x, y in self.train_data.batches(self.batch_size, generator):
                optimizer.zero_grad(set_to_none=True)
                loss = self.train_loss_fn(module(x), y)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                stepped = True
                if steps_left is not None:
                    steps_left -= 1
                    if steps_left == 0:
                        return
            if not stepped:
                raise ColearnValueError(f"{self.name}: the train set yielded no batches")
            epochs_done += 1
            if steps_left is None and epochs_done >= self.local_epochs:
                return

    def steps_per_proposal(self) -> int:
        """The optimizer steps one proposal takes (local_steps, or local_epochs passes)."""
        if self.local_steps is not None:
            return self.local_steps
        if self._dp is not None:
            return self.local_epochs * self._dp.batches_per_epoch
        return self.local_epochs * max(1, math.ceil(len(self.train_data) / self.batch_size))

    def training_summary(self) -> TrainingSummary | None:
        """The privacy budget spent so far (None without DP); DP_BUDGET_EXCEEDED once spent."""
        return None if self._dp is None else self._dp.summary(self.steps_per_proposal())

    # ---------------------------------------------------------- the interface
    def mli_propose_weights(self) -> Weights:
        """Train a copy of the current model locally; the current model is untouched.

        With differential privacy, a proposal that would exceed the budget is not trained:
        the current weights come back with ``ErrorCodes.DP_BUDGET_EXCEEDED``.
        """
        current = state_arrays(self.model)
        if self._dp is not None:
            summary = self._dp.summary(self.steps_per_proposal())
            if summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED:
                return Weights(weights=current, training_summary=summary)
        seed = _seed_for(self.seed, self._proposals)
        self._proposals += 1
        with _torch_threads(self.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # for dropout and the like inside the module
            if self._dp is None:
                load_arrays(self._scratch, current)
                self._train(self._scratch, torch.Generator().manual_seed(seed))
                trained = state_arrays(self._scratch)
            else:
                load_arrays(self._dp.inner, current)
                loader = self.train_data.loader
                data = loader if loader is not None else (self.train_data.x, self.train_data.y)
                self._dp.train(data, self.optimizer_factory, self.train_loss_fn, self.steps_per_proposal(), seed)
                trained = state_arrays(self._dp.inner)
        if self.update_scale != 1.0:
            trained = [_damped(old, new, self.update_scale) for old, new in zip(current, trained, strict=True)]
        spent = None if self._dp is None else TrainingSummary(dp_budget=self._dp.budget())  # this one was paid for
        return Weights(weights=trained, training_summary=spent)

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Score ``weights`` on the vote and test sets; approve iff strictly better."""
        load_weights(self._scratch, weights, self.name)
        with _torch_threads(self.num_threads):
            vote_score = self._criterion(self._scratch, self.vote_data)
            test_score = self._criterion(self._scratch, self.test_data)
            current = self.current_vote_score
        return ProposedWeights(
            weights=weights,
            vote_score=vote_score,
            test_score=test_score,
            vote=self.is_better(vote_score, current),
        )

    def mli_accept_weights(self, weights: Weights) -> None:
        """Make ``weights`` the current model and refresh the cached vote score."""
        load_weights(self.model, weights, self.name)
        self._current_vote_score = None

    def mli_get_current_weights(self) -> Weights:
        """A copy of the current model's weights (a list of arrays in state_dict order).

        With differential privacy, ``training_summary`` holds the budget spent so far, with
        ``DP_BUDGET_EXCEEDED`` once the next proposal would pass the target (as in colearn).
        """
        return Weights(weights=state_arrays(self.model), training_summary=self.training_summary())

    def mli_get_current_model(self) -> ColearnModel:
        """The current model as a runnable ONNX model taking a batch of features."""
        return ColearnModel(model_format=ModelFormat.ONNX, model=export_torch_model(self.model, self._example))
