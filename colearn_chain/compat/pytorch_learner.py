"""colearn's ``PytorchLearner``, with colearn's constructor arguments, on this platform.

Weights are the model's state dict (tensors); the platform turns them into a canonical ONNX
weights container and back. With ``diff_priv_config`` the learner trains with DP-SGD through
opacus (:mod:`colearn_chain.dp_sgd`): every proposal carries its budget in
``training_summary.dp_budget``, and once the next proposal would exceed ``target_epsilon`` it
returns its current weights with ``ErrorCodes.DP_BUDGET_EXCEEDED``, as colearn's did.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.utils.data
from torch import nn

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
from colearn_chain.weights.export import export_torch_model

if TYPE_CHECKING:
    from colearn_chain.dp_sgd import DPSGD

__all__ = ["PytorchLearner"]

_DEFAULT_DEVICE = torch.device("cpu")


class PytorchLearner(MachineLearningInterface):
    """A learner for any torch module and DataLoaders, as colearn's ``PytorchLearner``.

    Parameters
    ----------
    model, optimizer, train_loader, vote_loader, test_loader
        The module, its optimizer, and the data (``test_loader`` optional: scores 0 without it).
    need_reset_optimizer
        Clear the optimizer's state (momenta) before each proposal's training.
    device
        Where the model and batches live.
    criterion
        The training loss, and the vote score when ``vote_criterion`` is not given.
    minimise_criterion
        True: lower vote scores are better (a loss); False: higher (an accuracy).
    vote_criterion
        ``f(outputs, labels) -> float`` over the whole vote set, instead of the mean loss.
    num_train_batches, num_test_batches
        Batches per proposal (default: one pass) and per score (default: all).
    diff_priv_config
        Train with differential privacy (DP-SGD through opacus).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train_loader: torch.utils.data.DataLoader,  # type: ignore[type-arg]
        vote_loader: torch.utils.data.DataLoader,  # type: ignore[type-arg]
        test_loader: torch.utils.data.DataLoader | None = None,  # type: ignore[type-arg]
        need_reset_optimizer: bool = True,
        device: torch.device = _DEFAULT_DEVICE,
        criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        minimise_criterion: bool = True,
        vote_criterion: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
        num_train_batches: int | None = None,
        num_test_batches: int | None = None,
        diff_priv_config: DiffPrivConfig | None = None,
    ) -> None:
        if criterion is None:
            raise ColearnValueError("PytorchLearner needs a criterion (the training loss), e.g. torch.nn.NLLLoss()")
        self.model = model.to(device)
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.vote_loader = vote_loader
        self.test_loader = test_loader
        self.need_reset_optimizer = need_reset_optimizer
        self.device = device
        self.criterion = criterion
        self.minimise_criterion = minimise_criterion
        self.vote_criterion = vote_criterion
        self.num_train_batches = num_train_batches or len(train_loader)
        self.num_test_batches = num_test_batches
        self.dp_config = diff_priv_config
        self._dp: DPSGD | None = None
        if diff_priv_config is not None:
            from colearn_chain.dp_sgd import DPSGD

            size = len(train_loader.dataset)  # type: ignore[arg-type]
            batch = train_loader.batch_size or 1
            self._dp = DPSGD(self.model, diff_priv_config, size, batch, type(model).__name__)
        self._proposals = 0
        self.vote_score = self.test(self.vote_loader)

    # ------------------------------------------------------------------ helpers
    def set_weights(self, weights: Weights) -> None:
        """Load a state dict (tensors or arrays, as the platform hands them back)."""
        held = weights.weights
        if not isinstance(held, dict):
            raise ColearnValueError(f"PytorchLearner loads a state dict, got {type(held).__name__}")
        state = OrderedDict((k, torch.as_tensor(v).to(self.device)) for k, v in held.items())
        self.model.load_state_dict(state)

    def reset_optimizer(self) -> None:
        """Clear the optimizer's state (momenta, step counts), as colearn did."""
        self.optimizer.__setstate__({"state": defaultdict(dict)})

    def _batches(self, loader: torch.utils.data.DataLoader, limit: int | None) -> Iterator[Any]:  # type: ignore[type-arg]
        for index, batch in enumerate(loader):
            if limit is not None and index == limit:
                return
            yield batch

    def train(self) -> None:
        """One proposal's training of :attr:`model` on the train loader."""
        if self._dp is not None:
            self._train_private()
            return
        if self.need_reset_optimizer:
            self.reset_optimizer()
        self.model.train()
        for data, labels in self._batches(self.train_loader, self.num_train_batches):
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(data.to(self.device)), labels.to(self.device))
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()

    def _train_private(self) -> None:
        assert self._dp is not None
        dp = self._dp
        dp.inner.load_state_dict(self.model.state_dict())
        kind, defaults = type(self.optimizer), dict(self.optimizer.defaults)

        def factory(params: Any) -> torch.optim.Optimizer:
            return kind(params, **defaults)

        self._proposals += 1
        dp.train(self.train_loader, factory, self.criterion, self.num_train_batches, seed=self._proposals)
        self.model.load_state_dict(dp.inner.state_dict())

    def test(self, loader: torch.utils.data.DataLoader) -> float:  # type: ignore[type-arg]
        """The vote criterion over ``loader`` (the mean loss without one)."""
        self.model.eval()
        outputs, labels_seen, total, seen = [], [], 0.0, 0
        with torch.no_grad():
            for data, labels in self._batches(loader, self.num_test_batches):
                output = self.model(data.to(self.device))
                labels = labels.to(self.device)
                seen += int(labels.shape[0])
                if self.vote_criterion is not None:
                    outputs.append(output)
                    labels_seen.append(labels)
                else:
                    total += float(self.criterion(output, labels)) * int(labels.shape[0])
        if seen == 0:
            raise ColearnValueError("PytorchLearner: no batches in the loader to score on")
        if self.vote_criterion is not None:
            return float(self.vote_criterion(torch.cat(outputs), torch.cat(labels_seen)))
        return total / seen

    def vote(self, new_score: float) -> bool:
        """Approve iff strictly better than the current model (colearn's rule)."""
        if not math.isfinite(new_score):
            return False
        return new_score < self.vote_score if self.minimise_criterion else new_score > self.vote_score

    def get_training_summary(self) -> TrainingSummary | None:
        """The privacy budget spent, with DP_BUDGET_EXCEEDED once the next proposal would pass it."""
        return None if self._dp is None else self._dp.summary(self.num_train_batches)

    # -------------------------------------------------------------- interface
    def mli_get_current_weights(self) -> Weights:
        """A copy of the state dict, with the privacy budget when training privately."""
        state = OrderedDict((k, v.detach().clone()) for k, v in self.model.state_dict().items())
        return Weights(weights=state, training_summary=self.get_training_summary())

    def mli_get_current_model(self) -> ColearnModel:
        """The current model as runnable ONNX, traced on one vote sample."""
        example, _ = next(iter(self.vote_loader))
        model = export_torch_model(self.model, example[:1].to(self.device))
        return ColearnModel(model_format=ModelFormat.ONNX, model_file="", model=model)

    def mli_propose_weights(self) -> Weights:
        """Train, return the new weights and restore the current ones (colearn's order)."""
        current = self.mli_get_current_weights()
        summary = current.training_summary
        if summary is not None and summary.error_code is ErrorCodes.DP_BUDGET_EXCEEDED:
            return current
        saved = copy.deepcopy(self.optimizer.state_dict())
        self.train()
        new = self.mli_get_current_weights()
        self.set_weights(current)
        self.optimizer.load_state_dict(saved)
        if self._dp is not None:
            new.training_summary = TrainingSummary(dp_budget=self._dp.budget())
        return new

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Score ``weights`` on the vote and test loaders and vote; the current model is restored."""
        current = self.mli_get_current_weights()
        self.set_weights(weights)
        vote_score = self.test(self.vote_loader)
        test_score = self.test(self.test_loader) if self.test_loader is not None else 0.0
        self.set_weights(current)
        vote = self.vote(vote_score)
        return ProposedWeights(weights=weights, vote_score=vote_score, test_score=test_score, vote=vote)

    def mli_accept_weights(self, weights: Weights) -> None:
        """Adopt ``weights`` and re-score the vote set."""
        self.set_weights(weights)
        self.vote_score = self.test(self.vote_loader)
