"""SALLY: a local score estimator t_hat(x), the optimal observable near a reference point.

The score t(x|theta_0) = grad_theta log p(x|theta_0) is a sufficient statistic for theta in the
neighbourhood of theta_0 (Brehmer, Cranmer, Louppe, Pavez 2018). The joint score t(x, z|theta_0)
of events simulated at theta_0 is an unbiased estimate of it given x, so a network regressing on
it with a (weighted) squared error converges to t(x|theta_0): its n_parameters outputs compress
the observables into as many numbers, which can be histogrammed into templates and fitted.

A SALLY model is not a likelihood ratio: its ONNX export has the output ``score`` and the
metadata ``output: "score"``, ``method: "sally"``, which :func:`roosbi.learned_ratio` refuses.
:func:`onnxruntime_score` evaluates it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.sample import ScoreSample
from ..exceptions import InputError
from ..onnx import load_model, onnxruntime_session, read_metadata, save_model, set_metadata
from . import losses
from .resources import _torch, resolve_device
from .torch_mlp import TorchEnsembleSettings, export_sequential

log = logging.getLogger(__name__)

#: The ``roosbi.output`` metadata of a SALLY export, and the name of its graph output.
SCORE_OUTPUT = "score"


class SallyEstimator(TorchEnsembleSettings):
    """Local score estimator: an ensemble of torch MLPs regressing t_hat(x) on the joint score.

    Parameters
    ----------
    hidden, n_members, activation, learning_rate, batch_size, max_epochs, validation_fraction, \
patience, weight_decay, schedule, device, seed, progress
        As in :class:`~roosbi.estimators.torch_mlp.TorchEnsembleSettings` (the settings of
        :class:`~roosbi.estimators.TorchRatioEstimator`). The estimate is the members' mean.

    Attributes
    ----------
    history_ : dict
        ``{"train_loss": [...], "val_loss": [...]}``: the weighted mean of |t_hat - t(x, z)|^2
        per epoch (summed over the parameters).

    Examples
    --------
    >>> est = SallyEstimator(max_epochs=10).fit(score_sample)  # doctest: +SKIP
    >>> est.score(x)  # (n, n_parameters)  # doctest: +SKIP
    """

    name = "sally"

    def fit(self, sample: ScoreSample) -> SallyEstimator:
        """Train on events simulated at one point, with their joint score; returns ``self``."""
        if not isinstance(sample, ScoreSample):
            raise InputError(
                f"SallyEstimator.fit needs a ScoreSample (events at one point with their joint score), not "
                f"{type(sample).__name__}; a TrainingSample trains a ratio with TorchRatioEstimator(method=...)"
            )
        self._check_sample(sample)
        self.observables_, self.parameters_ = list(sample.observables), list(sample.parameters)
        self.point_ = {name: float(sample.point[name]) for name in sample.parameters}
        x = sample.x
        self.input_ranges_ = {
            name: [float(lo), float(hi)]
            for name, lo, hi in zip(self.observables_, x.min(axis=0), x.max(axis=0), strict=True)
        }
        self.input_mean_ = x.mean(axis=0)
        self.input_scale_ = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        self._fit(x, sample.joint_score, sample.weights)
        log.info("sally: %d epochs, best validation loss %.5f", self.n_epochs_, min(self.history_["val_loss"]))
        return self

    def _check_sample(self, sample: ScoreSample) -> None:
        self._check_settings()
        total = float(np.sum(sample.weights))
        if not total > 0.0:
            raise InputError(f"the event weights sum to {total:.6g}; a score sample needs a positive total weight")

    def _fit(self, x: np.ndarray, joint_score: np.ndarray, weights: np.ndarray) -> None:
        torch = _torch()
        self.device_ = dev = resolve_device(self.device)
        held_out = torch.as_tensor(self._held_out(len(x)), dtype=torch.float32, device=dev)
        w = torch.as_tensor(weights, dtype=torch.float32, device=dev)[:, None]
        train_w, val_w = w * (1.0 - held_out), w * held_out
        inputs = torch.as_tensor(x, dtype=torch.float32, device=dev)
        target = torch.as_tensor(joint_score, dtype=torch.float32, device=dev)[:, None, :]
        net = self._network(x.shape[1], self.input_mean_, self.input_scale_, n_outputs=joint_score.shape[1])
        mean_w = float(train_w.sum()) / len(x)  # as in TorchRatioEstimator: robust to negative weights

        def squared_error(rows, member_w):
            score_hat = net.members(inputs[rows]).permute(1, 0, 2)  # (n, K, n_parameters)
            return (losses.score_loss(score_hat, target[rows]) * member_w[rows]).sum()

        def batch_loss(rows):
            return squared_error(rows, train_w) / (mean_w * len(rows))

        val_rows = torch.nonzero(held_out.any(dim=1)).flatten()

        def validation_loss():
            with torch.no_grad():
                return float(squared_error(val_rows, val_w) / val_w[val_rows].sum())

        self._train(net, len(x), batch_loss, validation_loss, "training (sally)")

    def score(self, x: np.ndarray) -> np.ndarray:
        """The estimated score t_hat(x) at the training point, shape ``(n, n_parameters)``."""
        if not hasattr(self, "history_"):
            raise InputError("SallyEstimator is not fitted yet; call fit(score_sample) first")
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if x.shape[1] != len(self.observables_):
            raise InputError(
                f"expected {len(self.observables_)} observables ({', '.join(self.observables_)}), got {x.shape[1]}"
            )
        torch = _torch()
        with torch.no_grad():
            members = self.network_.members(torch.as_tensor(x, dtype=torch.float32, device=self.device_))
        return members.mean(dim=0).double().cpu().numpy()

    def to_onnx(self, path: str | os.PathLike) -> Path:
        """Export to ONNX (raw observables in, ``score`` (n, n_parameters) out), checked; written atomically."""
        self.score(np.zeros((1, len(self.observables_))))  # refuses an unfitted estimator
        model = export_sequential(self.network_.as_sequential(), len(self.observables_), SCORE_OUTPUT)
        set_metadata(model, self._metadata())
        path = save_model(model, path)
        # The exported graph must compute what the estimator computes.
        probe = self.input_mean_ + self.input_scale_ * np.linspace(-1.5, 1.5, 7)[:, None]
        expected = self.score(probe)
        diff = np.max(np.abs(onnxruntime_score(path, probe) - expected))
        if diff > 1e-3 * max(1.0, float(np.max(np.abs(expected)))):
            raise RuntimeError(f"ONNX export of sally disagrees with the trained model by {diff:.2g}")
        return path

    def _metadata(self) -> dict:
        return {
            "inputs": self.observables_,
            "observables": self.observables_,
            "parameters": self.parameters_,
            "point": self.point_,
            "input_ranges": self.input_ranges_,
            "output": SCORE_OUTPUT,
            "estimator": self.name,
            "method": self.name,
            "hidden": list(self.hidden),
            "n_members": self.n_members,
            "activation": self.activation,
            "batch_size": getattr(self, "batch_size_", None),
            "learning_rate": getattr(self, "learning_rate_", None),
            "version": __version__,
        }


def onnxruntime_score(model, x: np.ndarray) -> np.ndarray:
    """Evaluate an exported SALLY model with onnxruntime: t_hat(x), float64, shape ``(n, n_parameters)``.

    Parameters
    ----------
    model : str, path, bytes or onnx.ModelProto
        A model written by :meth:`SallyEstimator.to_onnx`.
    x : ndarray, shape (n, n_observables)
        Raw observables, in the order of the ``observables`` metadata.
    """
    proto = load_model(model)
    meta = read_metadata(proto)
    if meta.get("output") != SCORE_OUTPUT:
        raise InputError(
            f"the model's roosbi.output metadata is {meta.get('output')!r}, not {SCORE_OUTPUT!r}: it is not a SALLY "
            "score model (evaluate a ratio model with roosbi.onnx.onnxruntime_log_ratio)"
        )
    session, name, dtype = onnxruntime_session(proto)
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), -1), dtype=dtype)
    out = session.run([SCORE_OUTPUT], {name: x})[0]
    return np.asarray(out, dtype=np.float64).reshape(len(x), len(meta.get("parameters", [])) or -1)
