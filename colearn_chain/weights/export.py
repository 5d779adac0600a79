"""Export a torch module as a full runnable ONNX model (graph + weights) for mli_get_current_model.

This is for a learner's *own* model, which it hands out to be run; weights received from
peers go through :func:`colearn_chain.weights.codec.decode_weights`, which never runs a
graph. torch 2.13's default exporter is the dynamo one, which needs the ``onnxscript``
package; this module uses the TorchScript exporter (``dynamo=False``), which needs
nothing beyond torch and gives identical bytes for identical modules.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import onnx
import torch

from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.weights.codec import WEIGHTS_OPSET, uses_external_data

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "export_torch_model"]

#: Name of the exported model's single input; its first axis (the batch) is dynamic.
INPUT_NAME = "input"
#: Name of the exported model's single output; its first axis (the batch) is dynamic.
OUTPUT_NAME = "output"

# The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript; we
# use it on purpose, so its deprecation notices are noise for our callers.
_EXPORTER_NOTICES = (
    r".*legacy TorchScript-based ONNX export.*",
    r"The feature will be removed.*",
)


def export_torch_model(
    module: torch.nn.Module,
    example_input: torch.Tensor,
    *,
    opset: int = WEIGHTS_OPSET,
    dynamic_batch: bool = True,
) -> bytes:
    """Serialize ``module`` as a runnable ONNX model with one input and one output.

    The module is traced in eval mode (dropout off, batch-norm statistics frozen) under
    ``torch.no_grad`` and then put back in the mode it was in. The result is checked with
    ``onnx.checker`` and has all weights inline.

    Parameters
    ----------
    module
        A module whose ``forward`` takes one tensor and returns one tensor.
    example_input
        An input of the right shape and dtype; its batch size does not matter when
        ``dynamic_batch`` is true.
    opset
        ONNX opset to target (default: :data:`~colearn_chain.weights.codec.WEIGHTS_OPSET`).
    dynamic_batch
        Whether the first axis of input and output may vary (named ``batch``).

    Returns
    -------
    bytes
        The model, with input :data:`INPUT_NAME` and output :data:`OUTPUT_NAME`.

    Raises
    ------
    ColearnRuntimeError
        If torch cannot export the module (an unsupported operator, several inputs or
        outputs, ...) or the exported model does not pass ``onnx.checker``.
    """
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    was_training = module.training
    module.eval()
    try:
        # torch.onnx.export documents a path as its target, so write to a private temp dir.
        with (
            tempfile.TemporaryDirectory(prefix="colearn-export-") as tmp,
            torch.no_grad(),
            warnings.catch_warnings(),
        ):
            for notice in _EXPORTER_NOTICES:
                warnings.filterwarnings("ignore", message=notice, category=DeprecationWarning)
            target = Path(tmp) / "model.onnx"
            torch.onnx.export(
                module,
                (example_input,),
                target,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
            )
            blob = target.read_bytes()
    except Exception as exc:  # torch raises many kinds; the caller needs one
        raise ColearnRuntimeError(
            f"torch could not export {type(module).__name__} to ONNX ({type(exc).__name__}: "
            f"{exc}); the module must take one tensor and return one tensor, using operators "
            f"of ONNX opset {opset}"
        ) from exc
    finally:
        module.train(was_training)
    try:
        model = onnx.load_from_string(blob)
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ColearnRuntimeError(f"the ONNX model exported from {type(module).__name__} is invalid ({exc})") from exc
    external = [t.name for t in model.graph.initializer if uses_external_data(t)]
    if external:  # torch moves weights out of a model over protobuf's 2 GB limit
        raise ColearnRuntimeError(
            f"{type(module).__name__} is too large for a single ONNX file (weights {external[:3]} "
            "went to external files); export a smaller model"
        )
    return blob
