"""What a model's output holds, log r from it, and evaluation with onnxruntime.

What a model's output holds is one of :data:`MODEL_OUTPUTS` (log r, a probability, two class
probabilities, two logits). :func:`resolve_output` decides it: from the caller's ``model_output``,
else from the ``roosbi.output`` metadata (roosbi's exports, or :func:`annotate_model` for a foreign
model), else only from what is unambiguous (skl2onnx's classifier outputs; an output computed by
a linear layer, which is a logit); anything else is refused rather than guessed.
:func:`log_ratio_from_output` turns such an output into log r, and :func:`onnxruntime_log_ratio`
evaluates a model with onnxruntime.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..exceptions import InputError
from .io import load_model, read_metadata, save_model, set_metadata
from .network import _AFFINE_OPS, _NO_OPS

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
    from .. import __version__

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
        is a ZipMap (sequence of maps), it does not have the columns its meaning needs, or the
        model is a SALLY score estimator (whatever ``model_output`` says).
    """
    proto = load_model(model)
    graph = proto.graph
    meta = read_metadata(proto)
    _refuse_score_model(meta)
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


def _refuse_score_model(meta: dict) -> None:
    """Refuse a SALLY export: its output is the score t_hat(x), from which no ratio follows.

    Its ``roosbi.output`` is ``"score"``, which :func:`output_kind` would read as the older name of
    ``"probability"``; the ``method`` metadata tells the two apart.
    """
    if "sally" not in (meta.get("method"), meta.get("estimator")):
        return
    raise InputError(
        "the model is a SALLY local score estimator: its output is the score t_hat(x) = grad_theta log p(x|theta) "
        f"at the point {meta.get('point')}, not a likelihood ratio, so it cannot make a learned ratio. Evaluate it "
        "with roosbi.estimators.onnxruntime_score (to histogram it into templates, say), or train a ratio with "
        "TorchRatioEstimator(method=...)"
    )


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
