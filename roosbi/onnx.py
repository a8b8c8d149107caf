"""ONNX: metadata, atomic saving, onnxruntime evaluation, and translation into dense layers.

roosbi's convention: a model has one input of shape ``(n, d)`` holding the raw network inputs
(observables, then parameters, in the order recorded in the metadata) and one output of shape
``(n, 1)`` holding log r(x|theta). Input scaling lives inside the graph.

What a model's output holds is one of :data:`MODEL_OUTPUTS` (log r, a probability, two class
probabilities, two logits). :func:`resolve_output` decides it: from the caller's ``model_output``,
else from the ``roosbi.output`` metadata (roosbi's exports, or :func:`annotate_model` for a foreign
model), else only from what is unambiguous (skl2onnx's classifier outputs; an output computed by
a linear layer, which is a logit); anything else is refused rather than guessed.

:func:`translate` turns such a graph into a :class:`DenseNetwork`, the list of dense layers and
activations that the C++ class ``RooLearnedRatio`` evaluates. It understands the graphs that
torch's exporter and skl2onnx write for multilayer perceptrons: Gemm / MatMul / Add / Sub / Mul /
Div / Scaler nodes (folded into the dense layers), the usual activations, SiLU written as
``x * Sigmoid(x)``, no-op nodes (Identity, Cast, Dropout), and a final Sigmoid or 2-class Softmax
when the output is a probability. Anything else is refused with an
:class:`~roosbi.exceptions.UnsupportedModelError` that names the operator (and, for convolutions,
recurrent networks, tree ensembles..., the kind of model) and points to the onnxruntime backend.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from .exceptions import InputError, UnsupportedModelError

#: Activations the C++ class evaluates, with their code in ``RooLearnedRatio::Activation``.
ACTIVATION_CODES = {
    "identity": 0,
    "tanh": 1,
    "relu": 2,
    "sigmoid": 3,
    "leaky_relu": 4,
    "elu": 5,
    "selu": 6,
    "softplus": 7,
    "silu": 8,
    "gelu": 9,
}
_ONNX_ACTIVATIONS = {
    "Tanh": "tanh",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "LeakyRelu": "leaky_relu",
    "Elu": "elu",
    "Selu": "selu",
    "Softplus": "softplus",
    "Gelu": "gelu",
}
_NO_OPS = {"Identity", "Cast", "Dropout"}
_AFFINE_OPS = {"Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Scaler"}
SUPPORTED_OPS = sorted(_AFFINE_OPS | set(_ONNX_ACTIVATIONS) | _NO_OPS)
# Operators a dense network is built from: the above, Constant nodes, and Erf inside an erf-written
# GELU. A Softmax counts only as the graph's last operator (a 2-class classifier's probabilities).
_BUILDING_BLOCKS = _AFFINE_OPS | set(_ONNX_ACTIVATIONS) | _NO_OPS | {"Constant", "Erf"}
# Operators that tell what kind of model a graph is, for the refusal message (first match wins).
_MODEL_KINDS = [
    (
        {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool"}
        | {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"},
        "a convolutional network",
    ),
    ({"LSTM", "GRU", "RNN"}, "a recurrent network"),
    ({"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}, "a tree ensemble (boosted trees, a forest)"),
    ({"Attention", "MultiHeadAttention"}, "an attention network"),
    ({"SVMClassifier", "SVMRegressor"}, "a support vector machine"),
    ({"LinearClassifier", "LinearRegressor"}, "a linear model as skl2onnx writes it"),
    ({"Loop", "Scan", "If"}, "a graph with control flow (Loop, Scan or If)"),
    (
        {"BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization"},
        "a network with normalisation layers",
    ),
]
# Appended, in one place (translate), to every UnsupportedModelError of the translator.
_ONNXRUNTIME_HINT = (
    'To evaluate this model anyway, use learned_ratio(..., backend="onnxruntime"): a Python callback '
    "through onnxruntime, which cannot be saved in a workspace file or used from C++."
)

METADATA_PREFIX = "roosbi."

#: What a model's output can hold: ``model_output`` of :func:`roosbi.learned_ratio`, and the
#: ``roosbi.output`` metadata. Values: (number of columns, meaning). Class 1 is the target
#: p(x|theta), class 0 the reference, as in roosbi's training samples.
MODEL_OUTPUTS = {
    "log_ratio": (1, "log r itself, i.e. the logit of a classifier of target (1) against reference (0)"),
    "probability": (1, "p, the probability of the target class (e.g. after a Sigmoid); log r = log(p / (1 - p))"),
    "probabilities": (2, "(p_reference, p_target), e.g. a 2-class Softmax or skl2onnx's output; log r = log(p1 / p0)"),
    "logits": (2, "(z_reference, z_target), the logits before a 2-class Softmax; log r = z1 - z0"),
}
_OUTPUT_ALIASES = {"score": "probability"}  # translate()'s older name for a Sigmoid output
_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.UNDEFINED,  # hand-written graphs may leave the type out
}
# Probabilities are clipped to [_P_MIN, 1] before the log. A tree ensemble gives p = 0 exactly
# wherever its leaves saw one class only, and float32 rounding gives 0 or 1 far in the tails;
# log 0 = -inf would make r = 0 and the NLL infinite, or NaN as inf - inf, with no message. With
# the clip |log r| <= 691, so r = e^(log r) stays finite in double precision (which overflows only
# beyond e^709) and a fit is pushed away from such points by a large but finite NLL. Values outside
# [0, 1] are not clipped: they are not probabilities, and give NaN (the callback) or an error.
_P_MIN = 1e-300
_P_TOLERANCE = 1e-6  # float32 rounding may put a probability just outside [0, 1]
_ZIPMAP_HINT = (
    "it gives its probabilities as a sequence of maps (a ZipMap node, which skl2onnx adds to classifiers by "
    "default); roosbi needs them as a tensor: convert with "
    'skl2onnx.to_onnx(model, X, options={id(model): {"zipmap": False}})'
)

log = logging.getLogger(__name__)


@dataclass
class DenseNetwork:
    """A feed-forward network as dense layers: ``h <- act_l(W_l @ h + b_l)``.

    Attributes
    ----------
    weights : list of ndarray
        ``W_l`` of shape ``(n_out, n_in)``, float64.
    biases : list of ndarray
        ``b_l`` of shape ``(n_out,)``, float64.
    activations : list of str
        Keys of :data:`ACTIVATION_CODES`, one per layer.
    activation_params : list of float
        Slope of leaky_relu, alpha of elu, else 0.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]
    activation_params: list[float] = field(default_factory=list)

    @property
    def layer_sizes(self) -> list[int]:
        """Widths of all layers, input first."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    def log_ratio(self, inputs: np.ndarray) -> np.ndarray:
        """Evaluate the network in numpy (float64); ``inputs`` has shape ``(n, n_inputs)``."""
        h = np.asarray(inputs, dtype=np.float64)
        for w, b, act, par in zip(self.weights, self.biases, self.activations, self.activation_params, strict=True):
            h = _numpy_activation(act, par, h @ w.T + b)
        return h[:, 0]


def _numpy_activation(kind: str, param: float, v: np.ndarray) -> np.ndarray:
    from scipy.special import erfc, expit

    funcs = {
        "identity": lambda z: z,
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0.0),
        "sigmoid": expit,
        "leaky_relu": lambda z: np.where(z > 0, z, param * z),
        "elu": lambda z: np.where(z > 0, z, param * np.expm1(np.minimum(z, 0.0))),
        "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0.0))),
        "softplus": lambda z: np.logaddexp(0.0, z),
        "silu": lambda z: z * expit(z),
        "gelu": lambda z: 0.5 * z * erfc(-z / np.sqrt(2.0)),
    }
    return funcs[kind](v)


# ----------------------------------------------------------------------------- metadata and I/O


def set_metadata(model: onnx.ModelProto, metadata: dict) -> None:
    """Record roosbi metadata (JSON-encoded values) in ``model.metadata_props``."""
    existing = {p.key: p for p in model.metadata_props}
    for key, value in metadata.items():
        full = METADATA_PREFIX + key
        text = value if isinstance(value, str) else json.dumps(value)
        if full in existing:
            existing[full].value = text
        else:
            model.metadata_props.add(key=full, value=text)


def read_metadata(model: onnx.ModelProto | str | os.PathLike | bytes) -> dict:
    """Return the roosbi metadata of a model (keys without the ``roosbi.`` prefix)."""
    model = load_model(model)
    out = {}
    for prop in model.metadata_props:
        if prop.key.startswith(METADATA_PREFIX):
            try:
                out[prop.key[len(METADATA_PREFIX) :]] = json.loads(prop.value)
            except json.JSONDecodeError:
                out[prop.key[len(METADATA_PREFIX) :]] = prop.value
    return out


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` if the block succeeds.

    A reader of ``path`` sees its old content or the whole new one, never a part. The file gets
    the permissions of any new file (``mkstemp`` makes it private); on an error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def save_model(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Check the model and write it atomically."""
    onnx.checker.check_model(model)
    return write_atomic(path, model.SerializeToString())


def load_model(model: onnx.ModelProto | str | os.PathLike | bytes) -> onnx.ModelProto:
    """Accept a ModelProto, serialised bytes or a file path.

    A missing file, an empty file or empty bytes, bytes that are not ONNX, and a model without a
    graph are each an :class:`~roosbi.exceptions.InputError` that says which.
    """
    if isinstance(model, onnx.ModelProto):
        proto, source = model, "the given ModelProto"
    else:
        if isinstance(model, bytes):
            if not model:
                raise InputError("the given bytes are empty (0 bytes), not an ONNX model")
            source, load = "the given bytes", lambda: onnx.load_from_string(model)
        else:
            path = Path(model)
            if not path.is_file():
                raise InputError(f"ONNX file '{path}' does not exist")
            if path.stat().st_size == 0:
                # onnx.load reads 0 bytes as an empty model, which would surface later as a model
                # "without input names"; an empty file is usually a write that did not finish.
                raise InputError(f"ONNX file '{path}' is empty (0 bytes); was it written completely?")
            source, load = f"'{path}'", lambda: onnx.load(str(path))
        try:
            proto = load()
        except Exception as err:  # protobuf raises its own DecodeError, which is not worth importing
            raise InputError(f"{source} is not an ONNX model: {err}") from err
    if not proto.HasField("graph"):
        raise InputError(f"{source} parses as ONNX but holds no graph, so it is not a model roosbi can evaluate")
    return proto


def annotate_model(
    model: onnx.ModelProto | str | os.PathLike | bytes,
    *,
    output: str,
    inputs: list[str] | None = None,
    parameters: list[str] | None = None,
    parameter_ranges: dict | None = None,
    output_tensor: str | None = None,
    path: str | os.PathLike | None = None,
) -> onnx.ModelProto:
    """Record roosbi metadata in a model that roosbi did not write (torch, skl2onnx, ...).

    With it, :func:`roosbi.learned_ratio` needs neither ``inputs`` nor ``model_output``.

    Parameters
    ----------
    model : ModelProto, bytes or path
        The model. A ModelProto given here is not changed: the annotated copy is returned.
    output : str
        What the output holds, a key of :data:`MODEL_OUTPUTS`: ``"log_ratio"`` (log r, a logit),
        ``"probability"`` (one column, p of the target class), ``"probabilities"`` (two columns,
        p of the reference then of the target class) or ``"logits"`` (two softmax logits).
    inputs : list of str, optional
        Names of the network inputs in order (observables, then parameters): the RooFit
        variables ``learned_ratio`` looks up in a workspace.
    parameters : list of str, optional
        Which of ``inputs`` are parameters; the others are recorded as observables.
    parameter_ranges : dict, optional
        ``{parameter: (low, high)}``, the training ranges; ``learned_ratio`` warns beyond them.
    output_tensor : str, optional
        The graph output to read, for a model with several floating-point outputs.
    path : str or path, optional
        Where to write the annotated model (checked, written atomically). Defaults to the file
        ``model`` was read from; a model given as bytes or a ModelProto is only returned.

    Returns
    -------
    onnx.ModelProto
        The annotated model.

    Raises
    ------
    InputError
        If ``output`` is unknown, the names do not fit the graph, or the chosen output is not a
        tensor of the width ``output`` needs.
    """
    source_path = None if isinstance(model, onnx.ModelProto | bytes) else Path(model)
    proto = onnx.ModelProto()
    proto.CopyFrom(load_model(model))
    kind = output_kind(output, "output")
    metadata: dict = {"output": kind}
    if output_tensor is not None:
        metadata["output_tensor"] = output_tensor
    out = _choose_output(proto.graph, metadata)
    _check_width(out, kind, "output")
    if len(proto.graph.output) > 1:  # say which one, so that nothing has to be inferred later
        metadata["output_tensor"] = out.name
    if inputs is not None:
        inputs = [str(name) for name in inputs]
        if len(set(inputs)) != len(inputs) or not inputs:
            raise InputError(f"inputs must be distinct names, at least one, not {inputs}")
        width = _input_width(proto.graph)
        if width and width != len(inputs):
            raise InputError(f"the model takes {width} inputs but {len(inputs)} names were given ({', '.join(inputs)})")
        metadata["inputs"] = inputs
    if parameters is not None:
        unknown = [p for p in parameters if inputs is None or p not in inputs]
        if unknown:
            raise InputError(f"parameters {unknown} are not among the inputs {inputs}")
        metadata["parameters"] = list(parameters)
        metadata["observables"] = [name for name in inputs if name not in parameters]
    if parameter_ranges is not None:
        ranges = {}
        for name, value in parameter_ranges.items():
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                low = high = float("nan")
            if name not in (parameters or []) or not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise InputError(f"parameter range {name}: {value} needs a parameter among {parameters} and low < high")
            ranges[name] = [low, high]
        metadata["parameter_ranges"] = ranges
    from . import __version__

    metadata["annotated_by"] = f"roosbi {__version__}"
    set_metadata(proto, metadata)
    path = path if path is not None else source_path
    if path is not None:
        save_model(proto, path)
    return proto


def output_kind(value: str, argument: str = "model_output") -> str:
    """``value`` checked against :data:`MODEL_OUTPUTS` (``"score"`` is read as ``"probability"``)."""
    kind = _OUTPUT_ALIASES.get(value, value) if isinstance(value, str) else value
    if kind not in MODEL_OUTPUTS:
        choices = ", ".join(f"'{k}' ({n} column{'s' * (n > 1)})" for k, (n, _) in MODEL_OUTPUTS.items())
        raise InputError(f"{argument} must be one of {choices} (see roosbi.onnx.MODEL_OUTPUTS), not {value!r}")
    return kind


@dataclass(frozen=True)
class ModelOutput:
    """Which graph output holds the model's answer, and what it holds.

    Attributes
    ----------
    tensor : str
        Name of the graph output.
    kind : str
        A key of :data:`MODEL_OUTPUTS`.
    source : str
        How it was decided (argument, metadata, or what was inferred), for messages.
    """

    tensor: str
    kind: str
    source: str


def resolve_output(model: onnx.ModelProto | str | os.PathLike | bytes, model_output: str | None = None) -> ModelOutput:
    """Decide which output of a model to read, and whether it is log r, probabilities or logits.

    Parameters
    ----------
    model : ModelProto, bytes or path
        The model.
    model_output : str, optional
        A key of :data:`MODEL_OUTPUTS`. None: the ``roosbi.output`` metadata; without it, only
        what is unambiguous: skl2onnx's classifier outputs (an int64 label and a float tensor of
        two class probabilities, classes 0 and 1) are ``"probabilities"``; a single output
        computed by a linear layer (Gemm, MatMul, Add...; no Sigmoid or Softmax after it) cannot be
        a probability and is ``"log_ratio"``.

    Raises
    ------
    InputError
        If the meaning is ambiguous (say, an output after a Sigmoid, with no metadata), the output
        is a ZipMap (sequence of maps), or it does not have the columns its meaning needs.
    """
    proto = load_model(model)
    graph = proto.graph
    meta = read_metadata(proto)
    out = _choose_output(graph, meta)
    if model_output is not None:
        kind, source = output_kind(model_output, "model_output"), "the model_output argument"
        recorded = meta.get("output")
        if recorded is not None and _OUTPUT_ALIASES.get(recorded, recorded) != kind:
            log.warning("model_output=%r overrides the model's roosbi.output metadata %r", kind, recorded)
    elif "output" in meta:
        kind = output_kind(str(meta["output"]), "the model's roosbi.output metadata")
        source = "the model's roosbi.output metadata"
    else:
        kind, source = _infer_output(graph, out)
    _check_width(out, kind, "model_output" if model_output is not None else source)
    return ModelOutput(out.name, kind, source)


def _is_float_tensor(value) -> bool:
    return value.type.HasField("tensor_type") and value.type.tensor_type.elem_type in _FLOAT_TYPES


def _choose_output(graph, meta: dict):
    """The graph output that holds the answer: the one named in the metadata, or the only float tensor."""
    names = ", ".join(f"'{o.name}'" for o in graph.output) or "none"
    wanted = meta.get("output_tensor")
    if wanted is not None:
        match = [o for o in graph.output if o.name == wanted]
        if not match:
            raise InputError(f"the model records output tensor '{wanted}', which is not a graph output ({names})")
        candidates = match
    else:
        candidates = [o for o in graph.output if _is_float_tensor(o)]
        if len(candidates) > 1:
            raise InputError(
                f"the model has several floating-point outputs ({names}); say which holds the answer with "
                "roosbi.annotate_model(path, output=..., output_tensor=...)"
            )
    if candidates and _is_float_tensor(candidates[0]):
        return candidates[0]
    if any(o.type.HasField("sequence_type") or o.type.HasField("map_type") for o in graph.output):
        raise InputError(f"the model has no tensor output roosbi can read: {_ZIPMAP_HINT}")
    raise InputError(f"the model has no floating-point tensor output to read log r from (outputs: {names})")


def _output_columns(value) -> int | None:
    """Values per row of an ``(n,)``, ``(n, k)``, ``(n, k, ...)`` output (1 for ``(n,)``); None if unknown."""
    if not value.type.tensor_type.HasField("shape") or not value.type.tensor_type.shape.dim:
        return None
    trailing = [d.dim_value for d in value.type.tensor_type.shape.dim[1:]]
    return int(np.prod(trailing)) if all(trailing) else None


def _check_width(value, kind: str, source: str) -> None:
    width, needed = _output_columns(value), MODEL_OUTPUTS[kind][0]
    if width is not None and width != needed:
        shape = [d.dim_value or d.dim_param or "?" for d in value.type.tensor_type.shape.dim]
        raise InputError(
            f"output '{value.name}' has shape {shape}, but {kind!r} (from {source}) needs {needed} column(s) per row"
        )


def _input_width(graph) -> int | None:
    consts = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 2:
        return None
    return dims[1].dim_value or None


def _final_operator(graph, name: str):
    """The node that computes tensor ``name``, looking through Identity / Cast / Dropout; None if none."""
    producers = {out: node for node in graph.node for out in node.output}
    node = producers.get(name)
    for _ in range(len(graph.node)):  # bounded: a broken graph may loop
        if node is None or node.op_type not in _NO_OPS or not node.input:
            break
        node = producers.get(node.input[0])
    return node


def _class_labels(graph) -> list | None:
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_int64s", "classlabels_ints", "classlabels_strings"):
                return list(onnx.helper.get_attribute_value(attr))
    return None


def _infer_output(graph, out) -> tuple[str, str]:
    """What an output holds when nobody said: only the unambiguous cases, else an InputError."""
    advice = (
        "pass model_output= to learned_ratio: 'log_ratio' (log r, a logit), 'probability' (one column, p of the "
        "target class), 'probabilities' (two columns, p of reference and target) or 'logits' (two softmax logits); "
        "or record it in the model with roosbi.annotate_model(path, output=...)"
    )
    others = [o for o in graph.output if o.name != out.name]
    label_types = {onnx.TensorProto.INT64, onnx.TensorProto.STRING}
    if len(others) == 1 and others[0].type.tensor_type.elem_type in label_types:
        # skl2onnx's classifier: (label, probabilities), the columns in the order of the classes.
        labels = _class_labels(graph)
        if labels is not None and len(labels) != 2:
            raise InputError(
                f"the model is a classifier of {len(labels)} classes {labels}; a likelihood ratio needs a binary "
                "classifier of reference (0) against target (1)"
            )
        if others[0].type.tensor_type.elem_type == onnx.TensorProto.STRING or (
            labels is not None and [str(v) for v in labels] != ["0", "1"]
        ):
            raise InputError(
                f"the classifier's classes are {labels}, not 0 (reference) and 1 (target), so which column of "
                f"'{out.name}' is the target is not clear; {advice}"
            )
        if _output_columns(out) not in (2, None):
            raise InputError(f"classifier output '{out.name}' is not two class probabilities; {advice}")
        return "probabilities", f"the classifier outputs ('{others[0].name}', '{out.name}') as skl2onnx writes them"
    final = _final_operator(graph, out.name)
    if not others and final is not None and final.op_type in _AFFINE_OPS and _output_columns(out) in (1, None):
        return "log_ratio", f"output '{out.name}' being computed by a linear layer ({final.op_type}), i.e. a logit"
    op = final.op_type if final is not None else None
    made_by = f", and the output is computed by {op}" if op else ""
    likely = {
        "Sigmoid": " (after a Sigmoid it is likely model_output='probability')",
        "Softmax": " (after a Softmax it is likely model_output='probabilities')",
    }.get(op, "")
    raise InputError(
        f"it is ambiguous what output '{out.name}' holds: the model has no roosbi metadata{made_by}; roosbi does "
        f"not guess between log r and a probability{likely}. To say it, {advice}"
    )


def log_ratio_from_output(values: np.ndarray, kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Log r from ``n`` rows of a model output holding ``kind`` (a key of :data:`MODEL_OUTPUTS`).

    Returns
    -------
    log_r : ndarray
        Float64, shape ``(n,)``. Probabilities are clipped to [1e-300, 1] first (see ``_P_MIN``).
    invalid : ndarray of bool
        Rows whose probabilities lie outside [0, 1]; their log r is NaN.

    Raises
    ------
    InputError
        If the output does not have the number of columns ``kind`` needs.
    """
    width = MODEL_OUTPUTS[kind][0]
    values = np.asarray(values, dtype=np.float64)
    if values.size != n * width:
        raise InputError(
            f"the model gave an output of shape {values.shape} for {n} rows; {kind!r} needs {width} column(s) per row"
        )
    values = values.reshape(n, width)
    if kind == "log_ratio":
        return values[:, 0], np.zeros(n, dtype=bool)
    if kind == "logits":
        return values[:, 1] - values[:, 0], np.zeros(n, dtype=bool)
    p0, p1 = (1.0 - values[:, 0], values[:, 0]) if kind == "probability" else (values[:, 0], values[:, 1])
    invalid = (np.minimum(p0, p1) < -_P_TOLERANCE) | (np.maximum(p0, p1) > 1.0 + _P_TOLERANCE)
    with np.errstate(invalid="ignore"):
        log_r = np.log(np.clip(p1, _P_MIN, 1.0)) - np.log(np.clip(p0, _P_MIN, 1.0))
    log_r[invalid] = np.nan
    return log_r, invalid


def onnxruntime_session(proto: onnx.ModelProto, threads: int | None = 1):
    """An onnxruntime session on the CPU; returns (session, input name, input dtype).

    ``threads``: onnxruntime's intra- and inter-op threads; None leaves onnxruntime's default.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    return session, spec.name, (np.float64 if spec.type == "tensor(double)" else np.float32)


def onnxruntime_log_ratio(
    model: onnx.ModelProto | str | os.PathLike | bytes, inputs: np.ndarray, model_output: str | None = None
) -> np.ndarray:
    """Evaluate an ONNX model with onnxruntime (one thread); returns float64 log r.

    ``model_output`` says what the output holds (see :func:`resolve_output`); probabilities are
    turned into log r. Probabilities outside [0, 1] are an :class:`~roosbi.exceptions.InputError`.
    """
    proto = load_model(model)
    choice = resolve_output(proto, model_output)
    session, name, dtype = onnxruntime_session(proto)
    inputs = np.ascontiguousarray(inputs, dtype=dtype)
    out = session.run([choice.tensor], {name: inputs})[0]
    log_r, invalid = log_ratio_from_output(out, choice.kind, len(inputs))
    if invalid.any():
        raise InputError(
            f"{int(invalid.sum())} of {len(inputs)} rows of output '{choice.tensor}' are not probabilities in [0, 1]; "
            f"is {choice.kind!r} (from {choice.source}) what the model gives?"
        )
    return log_r


# ----------------------------------------------------------------------------- translation


@dataclass
class _Affine:
    w: np.ndarray  # (n_out, n_in)
    b: np.ndarray  # (n_out,)


def translate(model: onnx.ModelProto | str | os.PathLike | bytes, output: str | None = None) -> DenseNetwork:
    """Translate an ONNX multilayer perceptron into a :class:`DenseNetwork` that returns log r.

    Parameters
    ----------
    model : ModelProto, bytes or path
        The model: one input ``(n, d)``, one output.
    output : str, optional
        What the graph's output holds, a key of :data:`MODEL_OUTPUTS` (``model_output`` of
        :func:`roosbi.learned_ratio`); None: decided by :func:`resolve_output` (the metadata,
        else only what is unambiguous). ``"probability"`` (or its older name ``"score"``): the
        graph must end in a Sigmoid, which is dropped so that the network returns the logit, i.e.
        log r. ``"probabilities"``: the graph must end in a Softmax over two classes, replaced by
        the difference of the two logits. ``"logits"``: two outputs, replaced by their difference.

    Raises
    ------
    UnsupportedModelError
        The graph holds an operator or a topology (skip connections, several inputs) that dense
        layers cannot express. The message names the operator, the kind of model where the
        operators tell (convolutional, recurrent, tree ensemble...), and ends with how to use the
        onnxruntime backend instead.
    InputError
        The output's meaning is ambiguous and was not given (see :func:`resolve_output`).
    """
    proto = load_model(model)
    try:
        return _translate(proto, output)
    except UnsupportedModelError as err:
        err.args = (f"{str(err).rstrip('. ')}. {_ONNXRUNTIME_HINT}",)
        raise


def _refuse_foreign_operators(graph) -> None:
    """Refuse, before anything else, a graph holding an operator that is no dense-layer building block.

    The message names the first such operator in graph order and, when an operator tells, the
    kind of model (a Conv is usually preceded by an Unsqueeze or Reshape, which alone says little).
    """
    final = _final_operator(graph, graph.output[0].name) if len(graph.output) == 1 else None
    nodes = list(graph.node)  # positions, not protobuf wrappers, identify a node below
    is_final = [final is not None and list(n.output) == list(final.output) for n in nodes]
    foreign = [i for i, n in enumerate(nodes) if n.op_type not in _BUILDING_BLOCKS and not is_final[i]]
    if not foreign:
        return
    first = nodes[foreign[0]]
    kind, at = None, None
    for i, node in enumerate(nodes):
        kind = next((text for ops, text in _MODEL_KINDS if node.op_type in ops), None)
        if kind is None and node.op_type == "Softmax" and not is_final[i]:
            kind = "an attention-like network (a Softmax inside the graph)"
        if kind is not None:
            at = i
            break
    where = f"ONNX operator '{first.op_type}' (node '{first.name or first.output[0]}')"
    if kind is None:
        raise UnsupportedModelError(
            f"{where} is not a dense-layer building block, so the RooLearnedRatio translator cannot express it; "
            f"supported operators: {', '.join(SUPPORTED_OPS)}, and Softmax as the last one"
        )
    named = f"ONNX operator '{nodes[at].op_type}' (node '{nodes[at].name or nodes[at].output[0]}')"
    also = "" if at == foreign[0] else f"; the first operator that is not a dense-layer building block is {where}"
    raise UnsupportedModelError(
        f"the graph is {kind}: {named} is not a dense-layer building block, and RooLearnedRatio evaluates only "
        f"chains of dense layers{also}"
    )


def _translate(proto: onnx.ModelProto, output: str | None) -> DenseNetwork:
    graph = proto.graph
    if len(graph.output) and len(graph.node):
        _refuse_foreign_operators(graph)
    consts = {init.name: numpy_helper.to_array(init).astype(np.float64) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = _constant_value(node)
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedModelError(
            f"the ONNX graph has {len(inputs)} inputs and {len(graph.output)} outputs; RooLearnedRatio needs "
            "exactly one input of shape (n, n_inputs) and one output"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[1].dim_value:
        raise UnsupportedModelError("the ONNX input must have shape (n, n_inputs) with a fixed n_inputs")
    width = dims[1].dim_value

    consumers: dict[str, list] = {}
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    steps: list = []
    current, target = inputs[0].name, graph.output[0].name
    visited = set()
    while current != target:
        if current in visited:
            raise UnsupportedModelError(f"the ONNX graph has a cycle through tensor '{current}'")
        visited.add(current)
        users = consumers.get(current, [])
        if len(users) == 1:
            node = users[0]
            width = _append_step(node, current, consts, width, steps)
            current = node.output[0]
        elif _is_silu(users, current):
            steps.append(("silu", 0.0))
            current = next(n for n in users if n.op_type == "Mul").output[0]
        elif (end := _match_erf_gelu(users, current, consumers, consts)) is not None:
            steps.append(("gelu", 0.0))
            current = end
        else:
            ops = ", ".join(sorted(n.op_type for n in users)) or "nothing"
            raise UnsupportedModelError(
                f"tensor '{current}' feeds {ops}; RooLearnedRatio supports chains of dense layers "
                "(no branches except x * Sigmoid(x))"
            )
    # What the output holds decides the end of the network; decided after the walk, so that a
    # broken graph is reported as such rather than as an output of unclear meaning.
    kind = output_kind(output, "output") if output is not None else resolve_output(proto).kind
    ends_in_softmax = bool(steps) and isinstance(steps[-1], tuple) and steps[-1][0] == "softmax"
    if kind == "probability":
        if not steps or steps[-1] != ("sigmoid", 0.0):
            raise UnsupportedModelError(
                "a probability output (model_output='probability') needs a graph that ends in a Sigmoid, which is "
                "dropped to give the logit"
            )
        steps.pop()
    elif kind == "probabilities" and not ends_in_softmax:
        raise UnsupportedModelError(
            "two class probabilities (model_output='probabilities') need a graph that ends in a Softmax over two "
            "classes, which is replaced by the difference of the logits"
        )
    elif kind != "probabilities" and ends_in_softmax:
        raise UnsupportedModelError(
            f"the graph ends in a Softmax, which gives probabilities, not {kind!r}; for a 2-class classifier pass "
            "model_output='probabilities'"
        )
    if kind in ("probabilities", "logits"):
        if ends_in_softmax:
            steps.pop()
        if width != 2:
            raise UnsupportedModelError(f"{kind!r} needs two classes, but the network ends with {width} outputs")
        # log(softmax_1 / softmax_0) = z_1 - z_0: one more (linear) layer, folded into the last one.
        steps.append(_Affine(np.array([[-1.0, 1.0]]), np.zeros(1)))
    network = _to_layers(steps, dims[1].dim_value)
    if network.layer_sizes[-1] != 1:
        raise UnsupportedModelError(f"the network has {network.layer_sizes[-1]} outputs; it must have one (log r)")
    return network


def _constant_value(node) -> np.ndarray:
    """The value of a Constant node (tensor, float or floats attribute) as float64."""
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value).astype(np.float64)
        if isinstance(value, float | int) or (isinstance(value, list) and value):
            return np.asarray(value, dtype=np.float64)
    raise UnsupportedModelError(f"Constant node '{node.name or node.output[0]}' holds no numeric value")


def _is_silu(users: list, name: str) -> bool:
    ops = sorted(n.op_type for n in users)
    if ops != ["Mul", "Sigmoid"]:
        return False
    sig = next(n for n in users if n.op_type == "Sigmoid")
    mul = next(n for n in users if n.op_type == "Mul")
    return set(mul.input) == {name, sig.output[0]}


def _match_erf_gelu(users: list, name: str, consumers: dict, consts: dict) -> str | None:
    """Match GELU as older exporters write it: ``(x * (Erf(x / sqrt 2) + 1)) * 0.5``; return its output."""

    def only(tensor: str, op: str):
        nodes = consumers.get(tensor, [])
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op else None

    def const_is(node, value: float) -> bool:
        others = [consts.get(i) for i in node.input if i in consts]
        return len(others) == 1 and others[0].size == 1 and abs(float(others[0].ravel()[0]) - value) < 1e-5

    if sorted(n.op_type for n in users) != ["Div", "Mul"]:
        return None
    div = next(n for n in users if n.op_type == "Div")
    mul = next(n for n in users if n.op_type == "Mul")
    erf = only(div.output[0], "Erf")
    add = erf and only(erf.output[0], "Add")
    half = only(mul.output[0], "Mul")
    if not (erf and add and half and const_is(div, np.sqrt(2.0)) and const_is(add, 1.0) and const_is(half, 0.5)):
        return None
    if set(mul.input) != {name, add.output[0]}:
        return None
    return half.output[0]


def _attr(node, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _append_step(node, current: str, consts: dict, width: int, steps: list) -> int:
    """Append the step for ``node`` (whose dynamic input is ``current``); return the new width."""
    op = node.op_type
    if op in _NO_OPS:
        return width
    if op in _ONNX_ACTIVATIONS:
        kind = _ONNX_ACTIVATIONS[op]
        param = 0.0
        if op == "LeakyRelu":
            param = float(_attr(node, "alpha", 0.01))
        elif op == "Elu":
            param = float(_attr(node, "alpha", 1.0))
        elif op == "Selu" and (
            abs(_attr(node, "alpha", 1.6732632) - 1.6732632) > 1e-6
            or abs(_attr(node, "gamma", 1.050701) - 1.050701) > 1e-6
        ):
            raise UnsupportedModelError("Selu with non-default alpha or gamma is not supported")
        elif op == "Gelu" and _attr(node, "approximate", b"none") not in (b"none", "none"):
            raise UnsupportedModelError("Gelu with approximate='tanh' is not supported; use the exact form")
        steps.append((kind, param))
        return width
    if op == "Softmax":  # only the last operator gets here (see _refuse_foreign_operators)
        if _attr(node, "axis", -1) not in (-1, 1):
            raise UnsupportedModelError(f"Softmax node '{node.name or node.output[0]}' is not over the classes axis")
        steps.append(("softmax", 0.0))
        return width
    if op not in _AFFINE_OPS:
        raise UnsupportedModelError(
            f"ONNX operator '{op}' (node '{node.name or node.output[0]}') is not supported by the "
            f"RooLearnedRatio translator here; supported operators: {', '.join(SUPPORTED_OPS)}"
        )
    affine = _affine(node, current, consts, width)
    if affine.w.ndim != 2 or affine.w.shape[1] != width or affine.b.shape != (affine.w.shape[0],):
        raise UnsupportedModelError(
            f"node '{node.name or node.output[0]}' ({op}) has weights of shape {affine.w.shape} and biases of "
            f"shape {affine.b.shape}, which do not fit an input of width {width}"
        )
    if not (np.all(np.isfinite(affine.w)) and np.all(np.isfinite(affine.b))):
        raise UnsupportedModelError(f"node '{node.name or node.output[0]}' ({op}) holds NaN or Inf constants")
    steps.append(affine)
    return affine.w.shape[0]


def _const(node, name: str, consts: dict) -> np.ndarray:
    if name not in consts:
        raise UnsupportedModelError(
            f"node '{node.name or node.output[0]}' ({node.op_type}) combines two computed tensors; "
            "only products and sums with constants can be folded into dense layers"
        )
    return consts[name]


def _vector(value: np.ndarray, width: int, node) -> np.ndarray:
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.size == 1:
        return np.full(width, flat[0])
    if flat.size != width:
        raise UnsupportedModelError(f"constant of size {flat.size} in node '{node.name}' does not match width {width}")
    return flat


def _affine(node, current: str, consts: dict, width: int) -> _Affine:
    op = node.op_type
    eye = np.eye(width)
    if op == "Gemm":
        if _attr(node, "transA", 0):
            raise UnsupportedModelError("Gemm with transA=1 is not supported")
        w = _const(node, node.input[1], consts)
        w = w if _attr(node, "transB", 0) else w.T  # now (n_out, n_in)
        alpha, beta = _attr(node, "alpha", 1.0), _attr(node, "beta", 1.0)
        if w.ndim != 2:
            raise UnsupportedModelError(f"Gemm node '{node.name or node.output[0]}' has a weight of rank {w.ndim}")
        b = _const(node, node.input[2], consts) if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0])
        return _Affine(alpha * w, beta * _vector(b, w.shape[0], node))
    if op == "MatMul":
        if node.input[0] != current:
            raise UnsupportedModelError("MatMul with the constant on the left is not supported")
        w = _const(node, node.input[1], consts)
        if w.ndim != 2:
            raise UnsupportedModelError(f"MatMul node '{node.name or node.output[0]}' has a weight of rank {w.ndim}")
        return _Affine(w.T, np.zeros(w.shape[1]))
    if op == "Scaler":
        offset = _vector(np.array(_attr(node, "offset", [0.0])), width, node)
        scale = _vector(np.array(_attr(node, "scale", [1.0])), width, node)
        return _Affine(np.diag(scale), -offset * scale)
    other = node.input[1] if node.input[0] == current else node.input[0]
    c = _vector(_const(node, other, consts), width, node)
    left = node.input[0] == current
    if op == "Add":
        return _Affine(eye, c)
    if op == "Sub":
        return _Affine(eye, -c) if left else _Affine(-eye, c)
    if op == "Mul":
        return _Affine(np.diag(c), np.zeros(width))
    if not left:  # Div
        raise UnsupportedModelError("Div of a constant by a computed tensor is not supported")
    return _Affine(np.diag(1.0 / c), np.zeros(width))


def _to_layers(steps: list, n_inputs: int) -> DenseNetwork:
    """Fold consecutive affine steps and pair each with the activation after it."""
    net = DenseNetwork([], [], [], [])
    pending: _Affine | None = None
    width = n_inputs
    for step in steps:
        if isinstance(step, _Affine):
            pending = step if pending is None else _Affine(step.w @ pending.w, step.w @ pending.b + step.b)
            width = step.w.shape[0]
            continue
        if pending is None:  # an activation straight after another one
            pending = _Affine(np.eye(width), np.zeros(width))
        kind, param = step
        net.weights.append(pending.w)
        net.biases.append(pending.b)
        net.activations.append(kind)
        net.activation_params.append(param)
        pending = None
    if pending is not None:
        net.weights.append(pending.w)
        net.biases.append(pending.b)
        net.activations.append("identity")
        net.activation_params.append(0.0)
    if not net.weights:
        raise UnsupportedModelError("the ONNX graph holds no dense layer")
    return net
