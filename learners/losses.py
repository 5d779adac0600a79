"""Training losses for learners whose local labels are skewed (non-IID shards)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

#: Count added to every class before taking the log prior: absent classes get a prior so
#: small that their logits are all but left out of the local softmax.
_ABSENT_CLASS_COUNT = 1e-6


def balanced_softmax_loss(labels: np.ndarray, num_classes: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy on logits shifted by the log of the local label frequencies.

    With a skewed shard, plain cross-entropy mostly teaches "predict my frequent classes"
    and pushes down the logits of classes the learner never sees, which ruins the model
    for every other learner, who then vote it down. Adding ``log prior(y)`` to the logits
    during training (balanced softmax, also called logit adjustment, as in FedLC and
    FedRS) leaves the local prior to the shift, so the weights learn class evidence that
    holds for everyone, and absent classes are not trained against. Scoring uses plain
    logits.

    Parameters
    ----------
    labels
        The learner's training labels, from which the prior is counted.
    num_classes
        The task's number of classes (classes absent from ``labels`` included).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    prior = (counts + _ABSENT_CLASS_COUNT) / (counts.sum() + num_classes * _ABSENT_CLASS_COUNT)
    shift = torch.from_numpy(np.log(prior).astype(np.float32))

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits + shift, target)

    return loss
