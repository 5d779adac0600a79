"""The learner interface: colearn's MachineLearningInterface, its models, ONNX conversion."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights.codec import (
    Array,
    WeightsSpec,
    decode_weights,
    encode_weights,
    normalize_weights,
)
from colearn_chain.weights.errors import InvalidWeightsBlob
from colearn_chain.weights.onnx_model import check_onnx_model, is_full_model

__all__ = [
    "ColearnModel",
    "DiffPrivBudget",
    "DiffPrivConfig",
    "ErrorCodes",
    "MachineLearningInterface",
    "ModelFormat",
    "ProposedWeights",
    "TrainingSummary",
    "UnpublishableWeights",
    "Weights",
    "check_learner_bytes",
    "onnx_to_weights",
    "publishable_onnx",
    "weights_to_onnx",
]


class _Model(BaseModel):
    """Shared pydantic settings: numpy arrays and bytes may be held, unknown fields are typos."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")


class DiffPrivBudget(_Model):
    """The differential-privacy budget a learner set out with and how much of it is spent."""

    target_epsilon: float
    target_delta: float
    consumed_epsilon: float
    consumed_delta: float


class ErrorCodes(Enum):
    """Why a learner's training stopped short (colearn's codes, same members and values)."""

    DP_BUDGET_EXCEEDED = 1


class TrainingSummary(_Model):
    """What a learner reports about the training that produced a set of weights."""

    dp_budget: DiffPrivBudget | None = None
    error_code: ErrorCodes | None = None


class Weights(_Model):
    """A model's weights as a learner hands them over.

    ``weights`` is whatever the learner understands: the platform converts a list (or a
    name -> array mapping) of numpy arrays to ONNX and back, and passes ONNX bytes through
    unchanged. Optional fields default to ``None`` as they did in colearn (pydantic v1), so
    ``Weights(weights=arrays)`` keeps working in ported learners.
    """

    weights: Any
    training_summary: TrainingSummary | None = None


class DiffPrivConfig(_Model):
    """The settings of differentially private training (DP-SGD), as colearn names them."""

    target_epsilon: float
    target_delta: float
    max_grad_norm: float
    noise_multiplier: float


class ProposedWeights(_Model):
    """A voter's verdict on a proposal: its scores on the vote and test sets, and its vote.

    ``vote`` is ``None`` until the learner has decided; colearn's rule is to approve iff the
    proposal is strictly better than the learner's current model on its vote set.
    """

    weights: Weights
    vote_score: float
    test_score: float
    vote: bool | None = None


class ModelFormat(Enum):
    """How a :class:`ColearnModel` stores its model (colearn's members and values)."""

    PICKLE_WEIGHTS_ONLY = 1
    ONNX = 2


class ColearnModel(_Model):
    """A complete model that others can run: ``model`` holds it (ONNX bytes for ``ONNX``)."""

    model_format: ModelFormat
    model_file: str | None = None
    model: Any | None = None


class MachineLearningInterface(abc.ABC):
    """What every learner implements; the platform only ever talks to learners through it.

    The contract the experiment relies on (and :func:`colearn_chain.check.check_learner`
    verifies): proposing and testing never change the current weights, accepting does.
    """

    @abc.abstractmethod
    def mli_propose_weights(self) -> Weights:
        """Train on local data and return new weights, leaving the current model unchanged."""

    @abc.abstractmethod
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Score ``weights`` on the vote and test sets and vote, leaving the model unchanged."""

    @abc.abstractmethod
    def mli_accept_weights(self, weights: Weights) -> None:
        """Make ``weights`` the current model (the proposal was accepted)."""

    @abc.abstractmethod
    def mli_get_current_weights(self) -> Weights:
        """Return the current model's weights."""

    @abc.abstractmethod
    def mli_get_current_model(self) -> ColearnModel:
        """Return the current model in a form others can run (ONNX for the built-in learners)."""


def _to_numpy(value: Any, where: str) -> np.ndarray:
    """Turn one weight (a numpy array, a torch tensor, a number) into a numpy array.

    Torch tensors are accepted by duck typing so that ported colearn PyTorch learners, which
    hand over tensors, work without this module importing torch.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # e.g. a ragged nested list
        raise ColearnValueError(f"weights {where} is not an array: {exc}") from exc
    if array.dtype == object:
        raise ColearnValueError(
            f"weights {where} is not a numeric array (got {type(value).__name__}): "
            "hand over numpy arrays, or ONNX bytes"
        )
    return array


def _arrays_of(weights: Weights) -> list[np.ndarray] | dict[str, np.ndarray]:
    """The arrays held by ``weights``, as a list or a name -> array dict (same kind as held)."""
    held = weights.weights
    if isinstance(held, Mapping):
        return {str(name): _to_numpy(value, repr(name)) for name, value in held.items()}
    if isinstance(held, Sequence) and not isinstance(held, str | bytes | bytearray):
        return [_to_numpy(value, f"[{i}]") for i, value in enumerate(held)]
    raise ColearnValueError(
        f"Weights.weights holds a {type(held).__name__}: hand over a list or a name -> array "
        "dict of numpy arrays, or ONNX bytes"
    )


class UnpublishableWeights(ColearnValueError):
    """Bytes a learner handed over are not a valid ONNX model: the platform will not publish them."""


def check_learner_bytes(blob: bytes, like: bytes | None = None) -> bytes:
    """Check bytes that stand for a model: a canonical weights container or a checked full ONNX model.

    Nothing else crosses the wire: a pickle (colearn's random forest example pickles its model)
    does not parse as ONNX and is refused here, before any learner sees it. With ``like`` (the
    receiving learner's own bytes), the blob must be of the same kind, and a weights container
    must have exactly its names, dtypes and shapes.

    Raises
    ------
    InvalidWeightsBlob
        With the reason (see :func:`~colearn_chain.weights.codec.decode_weights` and
        :func:`~colearn_chain.weights.onnx_model.check_onnx_model`).
    """
    data = bytes(blob)
    if like is not None and is_full_model(like):
        check_onnx_model(data)
        return data
    if like is None and is_full_model(data):
        check_onnx_model(data)
        return data
    spec = WeightsSpec.from_weights(decode_weights(like)) if like is not None else None
    decode_weights(data, spec=spec)
    return data


def weights_to_onnx(weights: Weights) -> bytes:
    """Serialize a learner's weights to the ONNX bytes that travel and get hashed.

    Arrays (a list, or a name -> array mapping) go through the deterministic codec, so the
    same weights always give the same bytes and hence the same hash; ONNX bytes a learner
    made itself are checked (:func:`check_learner_bytes`) and passed through unchanged.

    Raises
    ------
    UnpublishableWeights
        If the learner's bytes are not a valid ONNX model (a pickle, say).
    ColearnValueError
        If ``weights.weights`` is neither bytes nor a list/dict of numeric arrays.
    """
    held = weights.weights
    if isinstance(held, bytes | bytearray | memoryview):
        try:
            return check_learner_bytes(bytes(held))
        except InvalidWeightsBlob as exc:
            raise UnpublishableWeights(
                f"the bytes it handed over are not a valid ONNX model, so they are not published ({exc}); "
                "hand over numpy arrays, or ONNX (colearn_chain.compat.convert_model_to_onnx), never a pickle"
            ) from exc
    return encode_weights(_arrays_of(weights))


def publishable_onnx(weights: Weights, who: str) -> bytes:
    """:func:`weights_to_onnx`, with an error that names the learner ``who``."""
    try:
        return weights_to_onnx(weights)
    except ColearnValueError as exc:
        raise UnpublishableWeights(f"{who}: {exc}") from exc


def _is_torch_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch."""
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _like_element(decoded: np.ndarray, original: Any) -> Any:
    """Give a decoded array the type of the element it replaces (torch tensors stay tensors)."""
    if _is_torch_tensor(original):
        import torch  # only reached when the learner already uses torch

        return torch.from_numpy(np.array(decoded, copy=True))
    return decoded


#: Checks and decodes a blob against a layout (:func:`~colearn_chain.weights.codec.decode_weights`).
DecodeWeights = Callable[[bytes, WeightsSpec], dict[str, Array]]


def _decode(blob: bytes, spec: WeightsSpec) -> dict[str, Array]:
    return decode_weights(blob, spec=spec)


def onnx_to_weights(blob: bytes, like: Weights, decode: DecodeWeights = _decode) -> Weights:
    """Turn ONNX bytes back into weights of the same kind as ``like``.

    A learner gets back what it handed over: a list when it gave a list, a dict with the same
    names when it gave a dict, bytes when it gave bytes. The blob is checked against the
    layout (names, shapes, dtypes) of ``like``, so a blob for another model is refused
    rather than loaded. ``decode`` does the checking and decoding (a cache shares that work
    between learners of one process: it must hand each caller arrays of its own).

    Raises
    ------
    ColearnValueError
        If the blob is not valid weights, or does not fit the layout of ``like``.
    """
    held = like.weights
    if isinstance(held, bytes | bytearray | memoryview):
        return Weights(weights=check_learner_bytes(bytes(blob), like=bytes(held)))
    normalized = normalize_weights(_arrays_of(like))
    decoded = decode(blob, WeightsSpec.from_weights(normalized))
    if isinstance(held, Mapping):
        return Weights(weights={name: _like_element(decoded[str(name)], value) for name, value in held.items()})
    return Weights(weights=[_like_element(decoded[name], value) for name, value in zip(normalized, held, strict=True)])
