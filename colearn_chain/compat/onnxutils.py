"""colearn's ``colearn.onnxutils``: ``convert_model_to_onnx`` for torch modules and scikit-learn models.

colearn converted through onnxmltools and refused torch models; here scikit-learn goes through
skl2onnx and torch through ``torch.onnx`` (:func:`colearn_chain.weights.export.export_torch_model`).
The result is canonical: the same model converts to the same bytes (skl2onnx names each graph
with a random UUID, which is replaced by the model's class name).
"""

from __future__ import annotations

from typing import Any

import onnx

from colearn_chain.errors import ColearnValueError

__all__ = ["SKLEARN_OPSETS", "convert_model_to_onnx", "sklearn_to_onnx_bytes"]

#: The opsets scikit-learn models are converted to (onnxruntime supports both).
SKLEARN_OPSETS = {"": 17, "ai.onnx.ml": 3}


def _is_torch_module(model: Any) -> bool:
    return any(f"{c.__module__}.{c.__name__}" == "torch.nn.modules.module.Module" for c in type(model).__mro__)


def _is_sklearn_estimator(model: Any) -> bool:
    return any(c.__module__.startswith("sklearn.") and c.__name__ == "BaseEstimator" for c in type(model).__mro__)


def _torch_example(model: Any) -> Any:
    """One input for tracing, from the first layer's size (a Linear's in_features)."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            return torch.zeros(1, module.in_features)
        if isinstance(module, torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Conv3d):
            break
    raise ColearnValueError(
        f"convert_model_to_onnx cannot guess the input of {type(model).__name__} (its first layer is not "
        "nn.Linear): pass example_input=one input batch"
    )


def sklearn_to_onnx_bytes(model: Any) -> bytes:
    """A fitted scikit-learn model as canonical ONNX bytes (classifiers give plain probability tensors)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    features = getattr(model, "n_features_in_", None)
    if features is None:
        raise ColearnValueError(f"convert_model_to_onnx: {type(model).__name__} is not fitted yet: fit it first")
    options = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    try:
        proto = convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, int(features)]))],
            options=options,
            target_opset=SKLEARN_OPSETS,
        )
    except Exception as exc:  # skl2onnx raises many kinds for unsupported models
        raise ColearnValueError(f"skl2onnx cannot convert {type(model).__name__}: {exc}") from exc
    proto.graph.name = type(model).__name__
    return bytes(proto.SerializeToString(deterministic=True))


def convert_model_to_onnx(model: Any, example_input: Any = None) -> onnx.ModelProto:
    """The ONNX form of a torch module or a fitted scikit-learn model (colearn's helper).

    Returns an ``onnx.ModelProto`` as colearn's did; ``ColearnModel(model=...)`` accepts it (or
    its serialized bytes).

    Raises
    ------
    ColearnValueError
        For another kind of model, or one the converters cannot handle.
    """
    if _is_torch_module(model):
        from colearn_chain.weights.export import export_torch_model

        blob = export_torch_model(model, example_input if example_input is not None else _torch_example(model))
        return onnx.load_model_from_string(blob)
    if _is_sklearn_estimator(model):
        return onnx.load_model_from_string(sklearn_to_onnx_bytes(model))
    raise ColearnValueError(
        f"convert_model_to_onnx supports torch modules and scikit-learn models, not {type(model).__name__}"
    )
