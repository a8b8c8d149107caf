"""Translation of an ONNX multilayer perceptron into dense layers.

:func:`translate` turns a graph that follows roosbi's convention into a :class:`DenseNetwork`,
the list of dense layers and activations that the C++ class ``RooLearnedRatio`` evaluates. It
understands the graphs that torch's exporter and skl2onnx write for multilayer perceptrons: Gemm /
MatMul / Add / Sub / Mul / Div / Scaler nodes (folded into the dense layers), the usual
activations, SiLU written as ``x * Sigmoid(x)``, no-op nodes (Identity, Cast, Dropout), and a
final Sigmoid or 2-class Softmax when the output is a probability. Anything else is refused with
an :class:`~roosbi.exceptions.UnsupportedModelError` that names the operator (and, for
convolutions, recurrent networks, tree ensembles..., the kind of model) and points to the
onnxruntime backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from ..exceptions import UnsupportedModelError
from .io import load_model
from .network import _AFFINE_OPS, _NO_OPS, _ONNX_ACTIVATIONS, SUPPORTED_OPS, DenseNetwork
from .outputs import _final_operator, output_kind, resolve_output

# Operators a dense network is built from: those of .network (affine, activations, no-ops), Constant
# nodes, and Erf inside an erf-written GELU. A Softmax counts only as the graph's last operator (a
# 2-class classifier's probabilities).
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
