"""ONNX: metadata, atomic saving, onnxruntime evaluation, and translation into dense layers.

roosbi's convention: a model has one input of shape ``(n, d)`` holding the raw network inputs
(observables, then parameters, in the order recorded in the metadata) and one output of shape
``(n, 1)`` holding log r(x|theta). Input scaling lives inside the graph.

The subpackage, one concern a module:

- :mod:`roosbi.onnx.io`: roosbi metadata in a model (``roosbi.*`` keys), loading a model from a
  ModelProto, bytes or a file, atomic writes (:func:`atomic_path`, :func:`write_atomic`,
  :func:`save_model`);
- :mod:`roosbi.onnx.outputs`: what a model's output holds (:data:`MODEL_OUTPUTS`,
  :func:`resolve_output`), :func:`annotate_model` for a foreign model, log r from an output, and
  evaluation with onnxruntime (:func:`onnxruntime_log_ratio`);
- :mod:`roosbi.onnx.network`: :class:`DenseNetwork`, the dense layers and activations that the
  C++ class ``RooLearnedRatio`` evaluates, and the ONNX operators they are written with;
- :mod:`roosbi.onnx.translator`: :func:`translate`, an ONNX multilayer perceptron into a
  :class:`DenseNetwork`, refusing anything else with a message that names the operator.

Every public name is importable from ``roosbi.onnx`` itself, as before the split.
"""

from .io import METADATA_PREFIX, atomic_path, load_model, read_metadata, save_model, set_metadata, write_atomic
from .network import ACTIVATION_CODES, SUPPORTED_OPS, DenseNetwork
from .outputs import (
    MODEL_OUTPUTS,
    ModelOutput,
    annotate_model,
    log_ratio_from_output,
    onnxruntime_log_ratio,
    onnxruntime_session,
    output_kind,
    resolve_output,
)
from .translator import translate

__all__ = [
    "ACTIVATION_CODES",
    "METADATA_PREFIX",
    "MODEL_OUTPUTS",
    "SUPPORTED_OPS",
    "DenseNetwork",
    "ModelOutput",
    "annotate_model",
    "atomic_path",
    "load_model",
    "log_ratio_from_output",
    "onnxruntime_log_ratio",
    "onnxruntime_session",
    "output_kind",
    "read_metadata",
    "resolve_output",
    "save_model",
    "set_metadata",
    "translate",
    "write_atomic",
]
