"""ONNX: metadata, atomic saving, onnxruntime evaluation, and translation into dense layers.

roosbi's convention: a model has one input of shape ``(n, d)`` holding the raw network inputs
(observables, then parameters, in the order recorded in the metadata) and one output of shape
``(n, 1)`` holding log r(x|theta). Input scaling lives inside the graph.

:func:`translate` turns such a graph into a :class:`DenseNetwork`, the list of dense layers and
activations that the C++ class ``RooLearnedRatio`` evaluates. It understands the graphs that
torch's exporter and skl2onnx write for multilayer perceptrons: Gemm / MatMul / Add / Sub / Mul /
Div / Scaler nodes (folded into the dense layers), the usual activations, SiLU written as
``x * Sigmoid(x)``, and no-op nodes (Identity, Cast, Dropout). Anything else is refused with an
:class:`~roosbi.exceptions.UnsupportedModelError` that names the operator.
"""

from __future__ import annotations

import json
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

METADATA_PREFIX = "roosbi."


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
    """Accept a ModelProto, serialised bytes or a file path; a missing file is an InputError."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes):
        source, load = "the given bytes", lambda: onnx.load_from_string(model)
    else:
        path = Path(model)
        if not path.is_file():
            raise InputError(f"ONNX file '{path}' does not exist")
        source, load = f"'{path}'", lambda: onnx.load(str(path))
    try:
        return load()
    except Exception as err:  # protobuf raises its own DecodeError, which is not worth importing
        raise InputError(f"{source} is not an ONNX model: {err}") from err


def onnxruntime_log_ratio(model: onnx.ModelProto | str | os.PathLike | bytes, inputs: np.ndarray) -> np.ndarray:
    """Evaluate a roosbi ONNX model with onnxruntime (one thread); returns float64 log r."""
    import onnxruntime as ort

    proto = load_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    dtype = np.float64 if spec.type == "tensor(double)" else np.float32
    out = session.run(None, {spec.name: np.ascontiguousarray(inputs, dtype=dtype)})[0]
    return np.asarray(out, dtype=np.float64).reshape(len(inputs), -1)[:, 0]


# ----------------------------------------------------------------------------- translation


@dataclass
class _Affine:
    w: np.ndarray  # (n_out, n_in)
    b: np.ndarray  # (n_out,)


def translate(model: onnx.ModelProto | str | os.PathLike | bytes, output: str = "log_ratio") -> DenseNetwork:
    """Translate an ONNX multilayer perceptron into a :class:`DenseNetwork`.

    Parameters
    ----------
    model : ModelProto, bytes or path
        The model: one input ``(n, d)``, one output ``(n, 1)``.
    output : {"log_ratio", "score"}
        What the graph's output is. With ``"score"`` the graph must end in a Sigmoid, which is
        dropped so that the network returns the logit, i.e. log r.

    Raises
    ------
    UnsupportedModelError
        The graph holds an operator or a topology (skip connections, several inputs) that dense
        layers cannot express. The message names the operator.
    """
    proto = load_model(model)
    graph = proto.graph
    consts = {init.name: numpy_helper.to_array(init).astype(np.float64) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = _constant_value(node)
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedModelError(
            f"the ONNX graph has {len(inputs)} inputs and {len(graph.output)} outputs; RooLearnedRatio needs "
            "exactly one input of shape (n, n_inputs) and one output of shape (n, 1)"
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
    if output == "score":
        if not steps or steps[-1] != ("sigmoid", 0.0):
            raise UnsupportedModelError("output='score' needs a graph that ends in a Sigmoid")
        steps.pop()
    elif output != "log_ratio":
        raise InputError(f"output must be 'log_ratio' or 'score', not {output!r}")
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
    if op not in _AFFINE_OPS:
        raise UnsupportedModelError(
            f"ONNX operator '{op}' (node '{node.name or node.output[0]}') is not supported by the "
            f"RooLearnedRatio translator; supported operators: {', '.join(SUPPORTED_OPS)}. "
            "Use roosbi's onnxruntime backend for such models."
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
