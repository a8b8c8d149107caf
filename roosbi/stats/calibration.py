"""Calibration and normalisation of a learned ratio, from held-out events, with no analytic pdf.

A classifier's r = s / (1 - s) is the exact density ratio only if the classifier is calibrated
and its output has the right scale. Two checks need nothing but events the network did not train
on:

* the **normalisation** E_ref[r(x|theta)] = 1: the exact ratio averages 1 over reference events.
  A learned mixture ratio that averages c over background events makes the mixture density
  integrate to (mu S c + B) / (mu S + B), and the fitted signal strength moves by a factor 1 / c
  (:func:`normalization_check`, with its statistical error);
* the **reliability curve**: among held-out events with score s (classes weighted to equal
  totals, so that s = r / (1 + r) is what a calibrated classifier returns), a fraction s should be
  of class 1 (:func:`reliability_curve`).

:func:`fit_calibration` fits a correction on held-out labelled events, as carl does: the network's
log r in equal-frequency bins, the class fractions per bin (+ half an event of each class, so that
no bin gives log 0), made monotone by isotonic regression (``"isotonic"``) or not
(``"histogram"``); then the normalisation, so that the calibrated ratio averages exactly 1 over
the held-out reference events. ``"normalization"`` applies only the latter. The result is set on
the ``RooLearnedRatio`` (:meth:`RatioCalibration.apply`, class version 3), where it is part of
every value the object returns and is written with the workspace.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, logit

from ..exceptions import InputError

log = logging.getLogger(__name__)

#: Calibration methods of :func:`fit_calibration`.
CALIBRATION_METHODS = ("isotonic", "histogram", "normalization", "none")
#: Pseudo-events of each class added to every calibration bin (Jeffreys' prior: half an event).
PSEUDO_COUNT = 0.5


@dataclass(frozen=True)
class NormalizationCheck:
    """E_ref[r] over reference events, its standard error and the effective number of events."""

    mean: float
    error: float
    n_events: int
    n_effective: float

    @property
    def pull(self) -> float:
        """(mean - 1) / error: how many standard errors the ratio is off its normalisation."""
        return (self.mean - 1.0) / self.error if self.error > 0 else math.inf * np.sign(self.mean - 1.0)

    def as_dict(self) -> dict:
        """The check as results.json records it (with the pull)."""
        return {
            "mean": self.mean,
            "error": self.error,
            "pull": self.pull,
            "n_events": self.n_events,
            "n_effective": self.n_effective,
        }


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise InputError(f"got {len(w)} weights for {n} events")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise InputError("event weights must be finite, non-negative and not all zero")
    return w


def normalization_check(log_r: np.ndarray, weights: np.ndarray | None = None) -> NormalizationCheck:
    """The weighted mean of r = exp(log_r) over reference events, with its standard error.

    Parameters
    ----------
    log_r : ndarray, shape (n,)
        The learned log r at reference events the network did not train on.
    weights : ndarray, optional
        Event weights; the error uses the effective number of events (sum w)^2 / sum w^2.

    Returns
    -------
    NormalizationCheck

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=100_000)  # reference N(0, 1); target N(0.5, 1): log r = 0.5 x - 0.125
    >>> check = normalization_check(0.5 * x - 0.125)
    >>> abs(check.mean - 1) < 3 * check.error
    True
    """
    log_r = np.asarray(log_r, dtype=np.float64).reshape(-1)
    if len(log_r) < 2:
        raise InputError("the normalisation check needs at least 2 reference events")
    if not np.all(np.isfinite(log_r)):
        raise InputError("the learned log r is not finite at some reference events")
    w = _weights(weights, len(log_r))
    r = np.exp(log_r)
    mean = float(np.sum(w * r) / w.sum())
    n_eff = float(w.sum() ** 2 / np.sum(w**2))
    # Variance of a weighted mean: sum w^2 (r - mean)^2 / (sum w)^2, with the n/(n-1) correction.
    var = float(np.sum(w**2 * (r - mean) ** 2) / w.sum() ** 2) * n_eff / max(n_eff - 1.0, 1.0)
    return NormalizationCheck(mean=mean, error=math.sqrt(var), n_events=len(log_r), n_effective=n_eff)


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per score bin: mean predicted s, the observed class-1 fraction, its error, the events."""

    predicted: np.ndarray
    observed: np.ndarray
    observed_error: np.ndarray
    n_events: np.ndarray

    def as_dict(self) -> dict:
        """The curve as lists, for results.json."""
        return {k: [float(v) for v in getattr(self, k)] for k in ("predicted", "observed", "observed_error")} | {
            "n_events": [int(n) for n in self.n_events]
        }


def _balanced(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weights rescaled so that both classes have the same total (prior 1/2: s = r / (1 + r))."""
    out = w.copy()
    for label in (0.0, 1.0):
        select = y == label
        total = w[select].sum()
        if not total > 0:
            raise InputError(f"calibration needs held-out events of both classes; class {int(label)} has none")
        out[select] *= 0.5 * w.sum() / total
    return out


def _labels(log_r, y, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    log_r = np.asarray(log_r, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(y) != len(log_r):
        raise InputError(f"got {len(y)} labels for {len(log_r)} events")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise InputError("labels must be 0 (reference) or 1 (target)")
    if not np.all(np.isfinite(log_r)):
        raise InputError("the learned log r is not finite at some held-out events")
    return log_r, y, _weights(weights, len(log_r))


def _quantile_bins(log_r: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each event: equal-frequency bins of log r (ties kept in one bin)."""
    edges = np.unique(np.quantile(log_r, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, log_r, side="right")


def reliability_curve(
    log_r: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, n_bins: int = 10
) -> ReliabilityCurve:
    """The reliability (calibration) curve of the classifier s = r / (1 + r) on held-out events.

    The classes are weighted to equal totals, so that a calibrated classifier's s equals the
    class-1 fraction. Bins hold equal numbers of events.

    Parameters
    ----------
    log_r : ndarray, shape (n,)
        Learned log r of held-out events.
    y : ndarray, shape (n,)
        1 for target (signal) events, 0 for reference (background) events.
    weights : ndarray, optional
        Event weights.
    n_bins : int
        Number of score bins.

    Returns
    -------
    ReliabilityCurve

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> y = np.repeat([1.0, 0.0], 20_000)
    >>> x = rng.normal(loc=0.5 * y)
    >>> curve = reliability_curve(0.5 * x - 0.125, y)  # the exact log r: a calibrated classifier
    >>> bool(np.all(np.abs(curve.observed - curve.predicted) < 4 * curve.observed_error))
    True
    """
    log_r, y, w = _labels(log_r, y, weights)
    if n_bins < 2:
        raise InputError(f"a reliability curve needs at least 2 bins, not {n_bins}")
    w = _balanced(y, w)
    bins = _quantile_bins(log_r, n_bins)
    s = expit(log_r)
    predicted, observed, error, counts = [], [], [], []
    for b in np.unique(bins):
        select = bins == b
        wb = w[select]
        frac = float(np.sum(wb * y[select]) / wb.sum())
        n_eff = wb.sum() ** 2 / np.sum(wb**2)
        predicted.append(float(np.sum(wb * s[select]) / wb.sum()))
        observed.append(frac)
        error.append(math.sqrt(max(frac * (1 - frac), 0.25 / n_eff) / n_eff))
        counts.append(int(select.sum()))
    return ReliabilityCurve(np.array(predicted), np.array(observed), np.array(error), np.array(counts))


def shrunk_log_correction(check: NormalizationCheck) -> float:
    """Log of the normalisation correction, shrunk toward 0 by its own statistical error.

    t = log E_ref[r] is measured with the error s = error / mean. A held-out sample gives t
    with noise: for a mixture fitted to B background events, the fitted signal strength moves by
    about t sqrt(B) / sd_b(r) standard errors, so a correction from fewer held-out events than B
    adds more scatter than it removes when the ratio is already nearly normalised (measured in
    benchmarks/calibration_samples.py). The positive-part James-Stein factor max(0, 1 - s^2/t^2)
    keeps a clear miscalibration (|t| >> s) almost whole and drops one the held-out sample cannot
    tell from noise (|t| <= s).
    """
    t = math.log(check.mean)
    s = check.error / check.mean
    if t == 0.0:
        return 0.0
    return t * max(0.0, 1.0 - (s / t) ** 2)


@dataclass
class RatioCalibration:
    """A fitted calibration of log r: knots of a piecewise-linear map g, and log E_ref[r].

    The calibrated log r is g(log r_net) - ``log_normalization``; g interpolates linearly between
    the knots and continues with slope 1 beyond them (the same as ``RooLearnedRatio::calibrate``).
    """

    method: str
    knots_in: np.ndarray
    knots_out: np.ndarray
    log_normalization: float
    n_target: int
    n_reference: int
    #: E_ref[r] of the network itself over the held-out reference events.
    before: NormalizationCheck
    #: E_ref[r] after the map g, before the normalisation (the correction is its mean, shrunk by
    #: its error: :func:`shrunk_log_correction`).
    after_map: NormalizationCheck
    reliability_before: ReliabilityCurve | None = field(default=None, repr=False)
    reliability_after: ReliabilityCurve | None = field(default=None, repr=False)

    @property
    def correction(self) -> float:
        """The factor the mapped ratio is divided by: exp(log_normalization)."""
        return math.exp(self.log_normalization)

    def transform(self, log_r: np.ndarray) -> np.ndarray:
        """The calibrated log r for the network's log r (numpy, as the C++ object computes it)."""
        log_r = np.asarray(log_r, dtype=np.float64)
        x, y = self.knots_in, self.knots_out
        if len(x) == 0:
            return log_r - self.log_normalization
        g = np.interp(log_r, x, y)
        g = np.where(log_r < x[0], y[0] + (log_r - x[0]), g)
        g = np.where(log_r > x[-1], y[-1] + (log_r - x[-1]), g)
        return g - self.log_normalization

    def apply(self, ratio) -> None:
        """Set this calibration on a ``RooLearnedRatio``: every value it returns is calibrated then."""
        from ..checks import require_object

        require_object(ratio, "ratio", "RooLearnedRatio")
        x, y = np.asarray(self.knots_in, dtype=np.float64), np.asarray(self.knots_out, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise InputError(f"the calibration needs one output per knot, not {y.shape} for {x.shape}")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and math.isfinite(self.log_normalization)):
            raise InputError("the calibration's knots and normalisation must be finite")
        if np.any(np.diff(x) <= 0):
            raise InputError("the calibration's knots must be strictly increasing")
        ratio.setCalibration(
            [float(v) for v in self.knots_in], [float(v) for v in self.knots_out], self.log_normalization
        )

    def as_dict(self) -> dict:
        """What results.json records: the method, the correction, the checks and curves."""
        out = {
            "method": self.method,
            "correction": self.correction,
            "log_normalization": self.log_normalization,
            "n_knots": len(self.knots_in),
            "n_target": self.n_target,
            "n_reference": self.n_reference,
            "normalization_before": self.before.as_dict(),
            "normalization_after_map": self.after_map.as_dict(),
        }
        for key in ("reliability_before", "reliability_after"):
            curve = getattr(self, key)
            out[key] = curve.as_dict() if curve is not None else None
        return out


def _map_knots(log_r: np.ndarray, y: np.ndarray, w: np.ndarray, n_bins: int, monotone: bool):
    """Knots of g: per equal-frequency bin, the mean log r and the calibrated log r of the bin."""
    bins = _quantile_bins(log_r, n_bins)
    x, p, bin_w = [], [], []
    for b in np.unique(bins):
        select = bins == b
        wb = w[select]
        w1 = float(np.sum(wb * y[select])) + PSEUDO_COUNT
        w0 = float(np.sum(wb * (1 - y[select]))) + PSEUDO_COUNT
        x.append(float(np.sum(wb * log_r[select]) / wb.sum()))
        p.append(w1 / (w1 + w0))
        bin_w.append(w1 + w0)
    x, p = np.array(x), np.array(p)
    if monotone:
        from sklearn.isotonic import IsotonicRegression

        p = IsotonicRegression(increasing=True).fit_transform(x, p, sample_weight=np.array(bin_w))
    keep = np.concatenate([[True], np.diff(x) > 0])  # strictly increasing knots
    return x[keep], logit(p[keep])


def fit_calibration(
    log_r: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    method: str = "isotonic",
    n_bins: int = 20,
) -> RatioCalibration:
    """Fit a calibration of the learned log r on held-out labelled events.

    Parameters
    ----------
    log_r : ndarray, shape (n,)
        The network's own log r (uncalibrated: ``evaluate_log_ratio(ratio, x, calibrated=False)``)
        at held-out events it did not train on.
    y : ndarray, shape (n,)
        1 for target (signal), 0 for reference (background) events.
    weights : ndarray, optional
        Event weights.
    method : {"isotonic", "histogram", "normalization", "none"}
        ``"histogram"``: the class fractions in ``n_bins`` equal-frequency bins of log r (carl's
        histogram calibration, interpolated linearly between the bins' mean log r);
        ``"isotonic"``: the same made monotone by isotonic regression; ``"normalization"``: no
        map; ``"none"``: nothing at all (the checks are still computed). All but ``"none"`` then
        divide by the mapped ratio's mean over the held-out reference events, shrunk toward 1 by
        its statistical error (:func:`shrunk_log_correction`).
    n_bins : int
        Bins of the map (a few hundred held-out events per bin keep its noise small).

    Returns
    -------
    RatioCalibration

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> y = np.repeat([1.0, 0.0], 20_000)
    >>> x = rng.normal(loc=0.5 * y)
    >>> off = 0.5 * x - 0.125 + 0.2  # a ratio 22 % too large everywhere
    >>> cal = fit_calibration(off, y, method="normalization")
    >>> round(cal.correction, 1)
    1.2
    """
    if method not in CALIBRATION_METHODS:
        raise InputError(f"unknown calibration method '{method}'; choose one of {', '.join(CALIBRATION_METHODS)}")
    log_r, y, w = _labels(log_r, y, weights)
    n_target, n_reference = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n_bins < 2:
        raise InputError(f"the calibration needs at least 2 bins, not {n_bins}")
    balanced = _balanced(y, w)
    if min(n_target, n_reference) < 2 * n_bins and method in ("isotonic", "histogram"):
        raise InputError(
            f"{n_target} target and {n_reference} reference held-out events are too few for a {n_bins}-bin "
            "calibration; hold out more events, use fewer bins, or method='normalization'"
        )
    reference = y == 0
    before = normalization_check(log_r[reference], w[reference])
    if method in ("isotonic", "histogram"):
        knots_in, knots_out = _map_knots(log_r, y, balanced, n_bins, monotone=method == "isotonic")
    else:
        knots_in = knots_out = np.empty(0)
    cal = RatioCalibration(method, knots_in, knots_out, 0.0, n_target, n_reference, before, before)
    mapped = cal.transform(log_r)
    cal.after_map = normalization_check(mapped[reference], w[reference])
    if method != "none":
        cal.log_normalization = shrunk_log_correction(cal.after_map)
    cal.reliability_before = reliability_curve(log_r, y, w)
    cal.reliability_after = reliability_curve(cal.transform(log_r), y, w)
    log.info(
        "calibration (%s) on %d + %d held-out events: E_ref[r] = %.4f +- %.4f before, correction %.4f",
        method,
        n_target,
        n_reference,
        before.mean,
        before.error,
        cal.correction,
    )
    return cal


def normalization_checks(
    ratio, x_reference: np.ndarray, points: list[dict[str, float]], weights: np.ndarray | None = None
) -> list[dict]:
    """:func:`normalization_check` of a ``RooLearnedRatio`` at each parameter point.

    Parameters
    ----------
    ratio : ROOT.RooLearnedRatio
        Inputs: the observables, then the parameters (roosbi's order).
    x_reference : ndarray, shape (n, n_observables)
        Reference events the network did not train on (fresh ones are best).
    points : list of dict
        Each a value for every parameter input of ``ratio`` (by name); ``[{}]`` for a ratio without
        parameters.
    weights : ndarray, optional
        Event weights.

    Returns
    -------
    list of dict
        Per point: ``{"point": {...}, "mean", "error", "pull", "n_events", "n_effective"}``.
    """
    from ..roofit import evaluate_log_ratio

    x_reference = np.asarray(x_reference, dtype=np.float64)
    x_reference = x_reference.reshape(len(x_reference), -1)
    names = [ratio.inputs()[i].GetName() for i in range(len(ratio.inputs()))][x_reference.shape[1] :]
    out = []
    for point in points:
        missing = [n for n in names if n not in point]
        if missing:
            raise InputError(f"the parameter point {point} has no value for {', '.join(missing)}")
        theta = np.tile([float(point[n]) for n in names], (len(x_reference), 1))
        log_r = evaluate_log_ratio(ratio, np.hstack([x_reference, theta]))
        out.append({"point": {n: float(point[n]) for n in names}, **normalization_check(log_r, weights).as_dict()})
    return out
