"""The interface every ratio estimator follows, and what they share."""

from __future__ import annotations

import copy
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.sample import TrainingSample
from ..exceptions import InputError
from ..onnx import onnxruntime_log_ratio, save_model, set_metadata
from . import losses

log = logging.getLogger(__name__)

ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "elu", "selu", "softplus", "silu", "gelu")


class RatioEstimator(ABC):
    """A parameterized classifier whose logit estimates log r(x|theta).

    Subclasses take every setting as a keyword in ``__init__`` (``method`` and ``score_weight``
    among them when they train more than CARL) and set, after :meth:`fit`, ``history_``
    (``{"train_loss": [...], "val_loss": [...]}``, the method's mean loss per epoch: binary
    cross-entropy for CARL), ``n_epochs_``, ``fit_time_s_`` and ``device_``.
    """

    name: str = "base"

    def fit(self, sample: TrainingSample) -> RatioEstimator:
        """Train on a labelled sample (target y=1, reference y=0); returns ``self``.

        The method and the gold it needs are checked first: a sample without the joint columns
        that ``method`` trains on is refused before any training.
        """
        self._check_activation()
        self._check_method(sample)
        self.input_names_ = sample.input_names
        self.observables_ = list(sample.observables)
        self.parameters_ = list(sample.parameters)
        self.parameter_ranges_ = dict(sample.parameter_ranges)
        self.reference_ = sample.reference
        self.reference_uniform_ = sample.reference_uniform
        sample.check_weights()
        inputs = sample.inputs
        # Where the network has seen data: observables over the sample's extent, parameters over
        # their training (prior) range. RooLearnedRatio warns when it is evaluated outside.
        self.input_ranges_ = {
            name: [float(lo), float(hi)]
            for name, lo, hi in zip(sample.input_names, inputs.min(axis=0), inputs.max(axis=0), strict=True)
        }
        self.input_ranges_.update({k: [float(v[0]), float(v[1])] for k, v in self.parameter_ranges_.items()})
        self.input_mean_ = inputs.mean(axis=0)
        self.input_scale_ = np.where(inputs.std(axis=0) > 0, inputs.std(axis=0), 1.0)
        gold = {name: getattr(sample, name) for name in self.method_.needs}
        self._fit(inputs, sample.y, sample.weights, gold)
        best = min(self.history_["val_loss"])
        log.info("%s (%s): %d epochs, best validation loss %.5f", self.name, self.method_.name, self.n_epochs_, best)
        return self

    @abstractmethod
    def _fit(self, inputs: np.ndarray, y: np.ndarray, weights: np.ndarray, gold: dict) -> None:
        """Train; ``gold`` maps the joint columns the method needs (``method_.needs``) to arrays."""

    def _check_method(self, sample: TrainingSample) -> None:
        """Set ``method_`` (a :class:`~roosbi.estimators.losses.Method`); refuse a sample without its gold."""
        self.method_ = losses.get_method(getattr(self, "method", "carl"))
        losses.check_score_weight(getattr(self, "score_weight", 0.0))
        losses.check_gold(self.method_, sample)

    @abstractmethod
    def _log_ratio(self, inputs: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _onnx_model(self):
        """The trained model as an onnx.ModelProto with raw inputs and log r output."""

    def log_ratio(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Learned log r(x|theta) for rows of ``x`` (n, n_obs) and ``theta`` (n, n_par) or (n_par,)."""
        return self._log_ratio(self._inputs(x, theta))

    def _inputs(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The network's raw inputs: rows of ``x`` beside ``theta``, checked against the fitted input names."""
        self._check_fitted()
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), (len(x), len(self.parameters_)))
        inputs = np.hstack([x, theta])
        if inputs.shape[1] != len(self.input_names_):
            raise InputError(
                f"expected {len(self.input_names_)} inputs ({', '.join(self.input_names_)}), got {inputs.shape[1]}"
            )
        return inputs

    def to_onnx(self, path: str | os.PathLike) -> Path:
        """Export to ONNX (raw inputs in, log r out) with roosbi metadata; written atomically."""
        self._check_fitted()
        return self._save_onnx(self._with_metadata(self._onnx_model()), path, self._log_ratio)

    def _with_metadata(self, model, extra: dict | None = None):
        """``model`` with roosbi's metadata (inputs, ranges, method, network …) and ``extra`` entries set."""
        method = getattr(self, "method_", losses.METHODS["carl"])
        set_metadata(
            model,
            {
                "inputs": self.input_names_,
                "observables": self.observables_,
                "parameters": self.parameters_,
                "parameter_ranges": {k: list(v) for k, v in self.parameter_ranges_.items()},
                "input_ranges": self.input_ranges_,
                "output": "log_ratio",
                "reference": self.reference_,
                "reference_uniform": self.reference_uniform_,
                "estimator": self.name,
                "method": method.name,
                # Only a score method has a score term to weigh: null for the others.
                "score_weight": self.score_weight if method.uses_score else None,
                "hidden": list(self.hidden),
                "n_members": getattr(self, "n_members", 1),
                "activation": self.activation,
                "version": __version__,
                **(extra or {}),
            },
        )
        return model

    def _save_onnx(self, model, path: str | os.PathLike, log_ratio) -> Path:
        """Write ``model`` atomically and check that it computes ``log_ratio(inputs)`` (the estimator's own)."""
        path = save_model(model, path)
        # The exported graph must compute what the estimator computes.
        probe = self.input_mean_ + self.input_scale_ * np.linspace(-1.5, 1.5, 7)[:, None]
        diff = np.max(np.abs(onnxruntime_log_ratio(path, probe) - log_ratio(probe)))
        if diff > 1e-3:
            raise RuntimeError(f"ONNX export of {self.name} disagrees with the trained model by {diff:.2g}")
        return path

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise InputError(f"{type(self).__name__} is not fitted yet; call fit(sample) first")

    def _check_activation(self) -> None:
        if self.activation not in self.supported_activations:
            raise InputError(
                f"activation {self.activation!r} is not available for {self.name}; "
                f"choose one of: {', '.join(self.supported_activations)}"
            )

    supported_activations: tuple[str, ...] = ACTIVATIONS


class EpochTracker:
    """Records the losses of each epoch, keeps a copy of the best model, and applies patience.

    Parameters
    ----------
    patience : int
        ``record`` returns True once this many epochs in a row brought no better validation loss.
    """

    def __init__(self, patience: int):
        self.patience = patience
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        self.best_loss = np.inf
        self.best_model = None
        self._stale = 0

    def record(self, train_loss: float, val_loss: float, model) -> bool:
        """Record one epoch; copy ``model`` if it is the best so far; return True to stop."""
        self.history["train_loss"].append(train_loss)
        self.history["val_loss"].append(val_loss)
        if val_loss < self.best_loss - 1e-6:
            self.best_loss, self.best_model, self._stale = val_loss, copy.deepcopy(model), 0
            return False
        self._stale += 1
        return self._stale >= self.patience


def validation_split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled indices of the training and validation parts."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"validation_fraction must be in (0, 1), not {fraction}")
    order = rng.permutation(n)
    n_val = max(1, int(round(fraction * n)))
    return order[n_val:], order[:n_val]


def weighted_bce(logit: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Mean weighted binary cross-entropy of logits (numerically stable)."""
    loss = np.logaddexp(0.0, logit) - y * logit
    return float(np.sum(w * loss) / np.sum(w))
