"""Balanced softmax: plain cross-entropy on balanced labels, no push against absent classes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from learners.losses import balanced_softmax_loss


def test_equals_cross_entropy_when_labels_are_balanced() -> None:
    logits, target = torch.randn(12, 3), torch.arange(12) % 3
    loss = balanced_softmax_loss(np.arange(30) % 3, 3)
    torch.testing.assert_close(loss(logits, target), nn.functional.cross_entropy(logits, target))


def test_classes_absent_locally_are_not_trained_against() -> None:
    logits = torch.zeros(4, 3, requires_grad=True)
    target = torch.tensor([0, 0, 1, 1])
    balanced_softmax_loss(np.array([0, 0, 1, 1]), 3)(logits, target).backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    assert logits.grad[:, 2].abs().max() < 1e-5  # class 2 never seen: its logit is left alone
    plain = torch.zeros(4, 3, requires_grad=True)
    nn.functional.cross_entropy(plain, target).backward()  # type: ignore[no-untyped-call]
    assert plain.grad is not None
    assert plain.grad[:, 2].min() > 0.05  # plain cross-entropy pushes it down
