"""Differentially private local training (DP-SGD through opacus) and its privacy budget.

A learner configured with colearn's :class:`~colearn_chain.interface.DiffPrivConfig` trains
each proposal with DP-SGD: per-sample gradients clipped to ``max_grad_norm``, Gaussian noise of
``noise_multiplier * max_grad_norm`` added to their sum, and Poisson-sampled batches, all done
by opacus (``GradSampleModule``, ``DPOptimizer``, ``DPDataLoader``). The spent budget is kept by
opacus' RDP accountant, which is finite from the first step (PRV's estimate is not, for very
few steps), across all of the learner's proposals: privacy loss adds up over an experiment.

Before each proposal the learner asks :meth:`DPSGD.would_exceed`: when the proposal would take
the consumed epsilon past ``target_epsilon`` the learner does not train at all and reports
``ErrorCodes.DP_BUDGET_EXCEEDED`` instead (colearn's rule), so the target is never crossed.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant
from opacus.data_loader import DPDataLoader
from opacus.optimizers import DPOptimizer
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from colearn_chain.errors import ColearnValueError
from colearn_chain.interface import DiffPrivBudget, DiffPrivConfig, ErrorCodes, TrainingSummary
from colearn_chain.privacy import check_dp_config

__all__ = ["DPSGD", "check_dp_model"]

# opacus warns about secure RNG and about the accountant's alphas on every run; they are not news.
_OPACUS_NOTICES = (
    r".*Secure RNG turned off.*",
    r".*Optimal order is the (largest|smallest) alpha.*",
    r".*Using a non-full backward hook.*",
    r".*[Ff]ull backward hook is firing.*",
)


def check_dp_model(model: nn.Module, who: str) -> None:
    """Refuse, in one line, a model opacus cannot train privately (e.g. one with BatchNorm).

    Raises
    ------
    ColearnValueError
        Naming the first offending layer kind and what to use instead.
    """
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        first = str(errors[0]).split(". ")[0].strip().rstrip(".")
        raise ColearnValueError(
            f"{who}: differential privacy cannot train this model: {first} "
            "(use GroupNorm or LayerNorm instead; opacus.validators.ModuleValidator.fix does it)"
        )


class DPSGD:
    """DP-SGD local training of one learner, and the budget it has spent so far.

    Parameters
    ----------
    model
        The learner's model; a private copy is wrapped for per-sample gradients.
    config
        The budget and the mechanism's settings (checked here).
    train_size
        The number of training samples (for the sampling rate).
    batch_size
        The expected batch size; the Poisson sampling rate is ``batch_size / train_size``.
    who
        A label for messages.
    """

    def __init__(self, model: nn.Module, config: DiffPrivConfig, train_size: int, batch_size: int, who: str) -> None:
        check_dp_config(config)
        check_dp_model(model, who)
        if train_size < 1:
            raise ColearnValueError(f"{who}: differential privacy needs training samples")
        self.config = config
        self.sample_rate = min(1.0, batch_size / train_size)
        self.expected_batch_size = max(1, round(self.sample_rate * train_size))
        self.accountant = RDPAccountant()
        self.steps_taken = 0
        self._summary: tuple[int, int, TrainingSummary] | None = None
        self.inner = copy.deepcopy(model)
        with warnings.catch_warnings():
            _quiet()
            self.module = GradSampleModule(self.inner)

    @property
    def batches_per_epoch(self) -> int:
        """Batches in one pass of Poisson sampling (opacus' ``DPDataLoader`` makes ``1 / q``)."""
        return max(1, int(1 / self.sample_rate))

    def epsilon(self, accountant: RDPAccountant | None = None) -> float:
        """The epsilon spent so far at the target delta (0 before the first step)."""
        accountant = accountant or self.accountant
        if not accountant.history:
            return 0.0
        with warnings.catch_warnings():
            _quiet()
            return float(accountant.get_epsilon(delta=self.config.target_delta))

    def epsilon_after(self, steps: int) -> float:
        """The epsilon that would be spent after ``steps`` more DP-SGD steps."""
        future = copy.deepcopy(self.accountant)
        for _ in range(steps):
            future.step(noise_multiplier=self.config.noise_multiplier, sample_rate=self.sample_rate)
        return self.epsilon(future)

    def would_exceed(self, steps: int) -> bool:
        """Whether ``steps`` more steps would take the spent epsilon past the target."""
        return self.epsilon_after(steps) > self.config.target_epsilon

    def budget(self) -> DiffPrivBudget:
        """The target and the consumed budget (delta is fixed for the whole training, as in colearn)."""
        return DiffPrivBudget(
            target_epsilon=self.config.target_epsilon,
            target_delta=self.config.target_delta,
            consumed_epsilon=self.epsilon(),
            consumed_delta=self.config.target_delta if self.accountant.history else 0.0,
        )

    def summary(self, steps: int) -> TrainingSummary:
        """The budget, with ``DP_BUDGET_EXCEEDED`` when ``steps`` more steps would pass the target.

        Cached until the next step: voters ask for it with every ``mli_get_current_weights``.
        """
        if self._summary is None or self._summary[:2] != (self.steps_taken, steps):
            code = ErrorCodes.DP_BUDGET_EXCEEDED if self.would_exceed(steps) else None
            self._summary = (self.steps_taken, steps, TrainingSummary(dp_budget=self.budget(), error_code=code))
        return self._summary[2].model_copy(deep=True)

    def train(
        self,
        data: Iterable[tuple[torch.Tensor, torch.Tensor]] | tuple[torch.Tensor, torch.Tensor],
        optimizer_factory: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        steps: int,
        seed: int,
    ) -> None:
        """Run ``steps`` DP-SGD steps on :attr:`inner` (load the starting weights into it first).

        ``data`` is the train set as ``(x, y)`` tensors, or a DataLoader (re-sampled by
        Poisson sampling over its dataset). Every step is charged to the accountant.
        """
        sampling = torch.Generator().manual_seed(seed)
        noise = torch.Generator().manual_seed(seed ^ 0x6E015E)
        if isinstance(data, tuple):
            dataset = TensorDataset(*data)
            loader: DataLoader[Any] = DPDataLoader(dataset, sample_rate=self.sample_rate, generator=sampling)
        else:
            loader = DPDataLoader.from_data_loader(data, generator=sampling)
        self.module.train()
        with warnings.catch_warnings():
            _quiet()
            optimizer = DPOptimizer(
                optimizer_factory(self.module.parameters()),
                noise_multiplier=self.config.noise_multiplier,
                max_grad_norm=self.config.max_grad_norm,
                expected_batch_size=self.expected_batch_size,
                generator=noise,
            )
            done = 0
            while done < steps:
                for x, y in loader:
                    optimizer.zero_grad(set_to_none=True)
                    loss_fn(self.module(x), y).backward()  # type: ignore[no-untyped-call]
                    optimizer.step()
                    self.accountant.step(noise_multiplier=self.config.noise_multiplier, sample_rate=self.sample_rate)
                    done += 1
                    self.steps_taken += 1
                    if done == steps:
                        break
        optimizer.zero_grad(set_to_none=True)


def _quiet() -> None:
    """Silence opacus' per-run notices inside a ``warnings.catch_warnings`` block."""
    for notice in _OPACUS_NOTICES:
        warnings.filterwarnings("ignore", message=notice)
