"""Small torch models for the built-in tasks, sized to train in milliseconds on a CPU."""

from __future__ import annotations

import torch
from torch import nn


class DigitsMLP(nn.Module):
    """A one-hidden-layer perceptron for 8x8 digits (64 -> hidden -> 10).

    Accepts flat ``(n, 64)`` or image ``(n, 1, 8, 8)`` input, so one dataset serves every
    digits model.
    """

    def __init__(self, hidden: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        out: torch.Tensor = self.net(x)
        return out


class DigitsCNN(nn.Module):
    """A small convolutional network for 8x8 digits: two 3x3 conv layers, then a linear head.

    Deliberately tiny (about 3.5k parameters) so that a local epoch stays in milliseconds;
    takes flat ``(n, 64)`` or image ``(n, 1, 8, 8)`` input.
    """

    def __init__(self, channels: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        images = x.reshape(-1, 1, 8, 8)
        out: torch.Tensor = self.head(self.features(images))
        return out


class TabularMLP(nn.Module):
    """A one-hidden-layer perceptron for standardized tabular features."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        out: torch.Tensor = self.net(x)
        return out
