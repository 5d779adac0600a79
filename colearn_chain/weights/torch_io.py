"""Move weights between a torch module's state dict and the codec's named numpy arrays."""

from __future__ import annotations

import numpy as np
import torch

from colearn_chain.weights.codec import Array, WeightsLike, WeightsSpec, normalize_weights

__all__ = ["load_module_weights", "module_spec", "module_weights"]


def module_weights(module: torch.nn.Module) -> dict[str, Array]:
    """The module's state dict as numpy copies, named as torch names them, sorted.

    Copies, so that later training of the module does not change weights already
    encoded or proposed.

    Raises
    ------
    ColearnValueError
        If a parameter or buffer has a dtype a weights blob cannot hold (e.g. bool).
    """
    return normalize_weights(
        {name: tensor.detach().cpu().numpy().copy() for name, tensor in module.state_dict().items()}
    )


def module_spec(module: torch.nn.Module) -> WeightsSpec:
    """The names, dtypes and shapes a blob must have to be loaded into ``module``."""
    return WeightsSpec.from_weights(module_weights(module))


def load_module_weights(module: torch.nn.Module, weights: WeightsLike) -> None:
    """Copy ``weights`` into ``module`` in place, after checking they fit it exactly.

    Raises
    ------
    WeightsSpecMismatch
        If names, dtypes or shapes differ from the module's state dict; the module is
        then left unchanged.
    """
    named = normalize_weights(weights)
    module_spec(module).check(named)
    module.load_state_dict(
        {name: torch.from_numpy(np.array(array, copy=True)) for name, array in named.items()},
        strict=True,
    )
