"""A stable-baselines3 policy's parameters as named numpy arrays, and SB3 kept quiet.

The named arrays are an RL learner's ``Weights.weights``: the platform encodes them as the same
deterministic ONNX weights blob as a classifier's, so the store, the codec's checks and every
aggregator apply unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger

from colearn_chain.errors import ColearnValueError

__all__ = ["load_parameters", "parameters", "silence"]


def parameters(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """Copies of every tensor of ``module``'s state_dict, by name (float32 as SB3 keeps them)."""
    return {name: tensor.detach().cpu().numpy().copy() for name, tensor in module.state_dict().items()}


def load_parameters(module: torch.nn.Module, arrays: Mapping[str, np.ndarray], who: str) -> None:
    """Load named arrays into ``module``; names and shapes must be exactly the module's.

    Raises
    ------
    ColearnValueError
        Naming the first missing, unexpected or misshapen tensor (a policy of another
        architecture), so a vote rejects it with the reason.
    """
    state = module.state_dict()
    missing = sorted(set(state) - set(arrays))
    extra = sorted(set(arrays) - set(state))
    if missing or extra:
        raise ColearnValueError(
            f"{who}: the policy has another architecture (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    loaded: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        array = np.asarray(arrays[name])
        if tuple(array.shape) != tuple(tensor.shape):
            raise ColearnValueError(
                f"{who}: tensor {name} has shape {tuple(array.shape)}, the policy's is {tuple(tensor.shape)}"
            )
        loaded[name] = torch.as_tensor(np.array(array, dtype=np.float32 if tensor.is_floating_point() else None))
    module.load_state_dict(loaded)


def silence(model: BaseAlgorithm) -> BaseAlgorithm:
    """Give ``model`` a logger that writes nothing anywhere.

    Without a logger of its own, SB3's ``learn`` configures one that creates an ``SB3-<date>``
    folder in the temporary directory on every call; a learner trains every round, so that
    would leave a folder per proposal behind.
    """
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model
