"""Dense networks: the form in which the C++ class ``RooLearnedRatio`` evaluates a network.

A :class:`DenseNetwork` is a list of dense layers, ``h <- act_l(W_l @ h + b_l)``, with the
activations of :data:`ACTIVATION_CODES`; it can also be evaluated in numpy. The ONNX operators
defined here are those such a network is written with: affine operators (folded into the
layers), activations, and no-ops; :mod:`roosbi.onnx.translator` turns a graph of them into a
:class:`DenseNetwork`, and :data:`SUPPORTED_OPS` lists them for its messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
