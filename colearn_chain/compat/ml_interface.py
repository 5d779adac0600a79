"""colearn's ``colearn.ml_interface``: the interface and its pydantic models, plus prediction requests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from colearn_chain.interface import (
    ColearnModel,
    DiffPrivBudget,
    DiffPrivConfig,
    ErrorCodes,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    TrainingSummary,
    Weights,
)

__all__ = [
    "ColearnModel",
    "DiffPrivBudget",
    "DiffPrivConfig",
    "ErrorCodes",
    "MachineLearningInterface",
    "ModelFormat",
    "Prediction",
    "PredictionRequest",
    "ProposedWeights",
    "TrainingSummary",
    "Weights",
]


class PredictionRequest(BaseModel):
    """colearn's request for a prediction (``mli_make_prediction``; the platform never calls it)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    input_data: Any
    pred_dataloader_key: str | None = None


class Prediction(BaseModel):
    """colearn's answer to a :class:`PredictionRequest`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    prediction_data: Any
