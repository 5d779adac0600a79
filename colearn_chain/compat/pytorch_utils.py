"""colearn's ``colearn_pytorch.utils``: the vote criteria its examples use."""

from __future__ import annotations

import torch

__all__ = ["categorical_accuracy"]


def categorical_accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of samples whose highest output is their label."""
    return float((outputs.argmax(dim=1) == labels.reshape(-1)).float().mean())
