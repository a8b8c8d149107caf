"""Polynomial-in-parameter models given by their terms: the output of an EFT generator.

An effective-field-theory (EFT) prediction is a polynomial in the couplings theta,

    dsigma(z | theta) = sum_i c_i(theta) dsigma_i(z),        sigma(theta) = sum_i c_i(theta) sigma_i,

with monomials c_i(theta) (1, c1, c2, c1^2, c1 c2, c2^2 for two couplings at second order) and
fixed term shapes dsigma_i: the SM, the interference (linear) terms and the squared and cross
(quadratic) terms. Generators with reweighting (MadGraph's reweight module, MadMiner) hand these
over as one set of events with one weight per term, w_i (interference weights may be negative);
histogram-based analyses as one histogram per term. The density is
p(x, z | theta) = sum_i c_i(theta) w_i / sigma(theta) and the expected number of events is
sigma(theta) L, so both the shape and the rate depend on theta, and the extended likelihood must
be fitted.

This module takes that form directly:

- :class:`TermSample` holds the events (observables x, optionally latents z) and their term
  weights, with the event weight w(theta), the cross section sigma(theta) and their gradients.
- :func:`sample_from_terms` draws a :class:`~roosbi.data.sample.TrainingSample` at any theta from
  it, with the joint log ratio and joint score computed from the weights, as MadMiner does.
- :mod:`roosbi.term_morph` turns the terms into RooFit: term histograms (numpy, ``TH1``,
  ``RooDataHist``), the polynomial morph sum_i c_i(theta) L T_i(x) (the morphing baseline, an
  extended ``RooRealSumPdf`` of ``RooHistFunc`` terms) and sigma(theta) L as a RooFit function,
  to extend a learned shape pdf.

Why not ``RooLagrangianMorphFunc``: it is the same function space (its output is also a sum of
``RooHistFunc`` s times polynomials in the couplings), but it is built from *samples at benchmark
coupling points* read from a ROOT file, and solves a morphing matrix to get the term weights back.
With the terms themselves in hand, feeding it would mean making benchmark samples out of the terms
only for it to invert them again (numerically worse: the matrix is ill-conditioned when the
benchmarks are close). The sum of term histograms with monomial coefficients is the morph with the
inversion already done, and is an ordinary, persistable RooFit pdf.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ..exceptions import InputError
from .sample import TrainingSample

log = logging.getLogger(__name__)

#: Most grid points :meth:`TermSample.check_cross_section` evaluates sigma(theta) on.
MAX_CHECK_POINTS = 100_000
#: sigma(theta) at or below this fraction of its largest possible size in the box counts as zero.
SIGMA_TOLERANCE = 1e-12
#: Rounds of vectorised accept-reject in :func:`sample_from_terms` before the few parameter points
#: that are still without an event are drawn exactly (one pass over all events each).
MAX_ROUNDS = 200
#: Event weights above -tolerance x their envelope count as zero, not negative: a sum of terms that
#: cancels (an amplitude near a zero) rounds to tiny negative values.
NEGATIVE_TOLERANCE = 1e-12


def quadratic_monomials(parameters: Sequence[str]) -> list[tuple[int, ...]]:
    """The monomials of a second-order EFT in the usual order: 1, each c_i, then c_i c_j (i <= j).

    For ``["c1", "c2"]``: ``[(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]``, i.e. 1, c1, c2,
    c1^2, c1 c2, c2^2 (SM, interference, squared and cross terms).
    """
    n = len(parameters)
    unit = np.eye(n, dtype=int)
    linear = [tuple(unit[i]) for i in range(n)]
    quadratic = [tuple(unit[i] + unit[j]) for i, j in itertools.combinations_with_replacement(range(n), 2)]
    return [(0,) * n, *linear, *quadratic]


def monomial_exponents(monomials, parameters: Sequence[str]) -> np.ndarray:
    """Integer exponents, shape ``(n_terms, n_parameters)``, from monomials given as tuples or dicts.

    Parameters
    ----------
    monomials : sequence
        One per term: a tuple of exponents in the order of ``parameters`` (``(1, 1)`` is c1 c2),
        or a dict of parameter name to exponent (``{"c1": 1, "c2": 1}``; ``{}`` is the constant).
    parameters : sequence of str
        The parameter names.
    """
    parameters = list(parameters)
    rows = []
    for i, mono in enumerate(monomials):
        if isinstance(mono, Mapping):
            unknown = sorted(set(mono) - set(parameters))
            if unknown:
                raise InputError(
                    f"monomial {i} ({dict(mono)}) names unknown parameter(s) {', '.join(unknown)}; "
                    f"the parameters are {', '.join(parameters)}"
                )
            row = [mono.get(name, 0) for name in parameters]
        else:
            row = list(np.atleast_1d(mono))
            if len(row) != len(parameters):
                raise InputError(
                    f"monomial {i} {tuple(row)} has {len(row)} exponent(s) but there are {len(parameters)} parameters "
                    f"({', '.join(parameters)}); give one exponent per parameter, or a dict such as {{'c1': 2}}"
                )
        if not all(float(e).is_integer() and e >= 0 for e in row):
            raise InputError(f"monomial {i} has exponents {row}; they must be integers >= 0")
        rows.append([int(e) for e in row])
    exponents = np.array(rows, dtype=int).reshape(len(rows), len(parameters))
    if len({tuple(r) for r in exponents}) != len(exponents):
        raise InputError("two terms have the same monomial; add their weights into one column")
    return exponents


def term_name(exponent: Sequence[int], parameters: Sequence[str]) -> str:
    """A readable name of a monomial: ``"1"``, ``"c1"``, ``"c1^2"``, ``"c1*c2"``."""
    factors = [name if e == 1 else f"{name}^{e}" for name, e in zip(parameters, exponent, strict=True) if e]
    return "*".join(factors) or "1"


def coefficients(theta: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """The monomials c_i(theta) at each row of ``theta`` (m, n_parameters); shape ``(m, n_terms)``."""
    return np.prod(theta[:, None, :] ** exponents[None, :, :], axis=2)


def coefficient_gradients(theta: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """The derivatives d c_i / d theta_p at each row of ``theta``; shape ``(m, n_terms, n_parameters)``."""
    out = np.empty((len(theta), *exponents.shape))
    for p in range(exponents.shape[1]):
        lowered = exponents.copy()
        lowered[:, p] = np.maximum(lowered[:, p] - 1, 0)
        out[:, :, p] = exponents[None, :, p] * coefficients(theta, lowered)
    return out


@dataclass
class TermSample:
    """Events with one weight per term of a polynomial in the parameters (a generator's EFT output).

    Attributes
    ----------
    x : ndarray, shape (n, n_observables)
        Observed (reconstructed) quantities of each event.
    weights : ndarray, shape (n, n_terms)
        w_i of each event: the weights of term i, in cross-section units (the sum over events of
        column i is the term cross section sigma_i). Interference terms may be negative.
    monomials : sequence
        c_i(theta) of each column, as tuples of exponents (in the order of ``parameters``) or
        dicts (``{"c1": 1, "c2": 1}``); :func:`quadratic_monomials` gives the usual set.
    observables, parameters : list of str
        Names of the columns of x, and of the parameters the monomials are in.
    z : ndarray, shape (n, n_latents), optional
        Latent (parton-level) quantities, for the record: the weights already are functions of them.
    latents : list of str
        Names of the columns of z.
    term_names : list of str, optional
        Names of the terms (default from the monomials: ``"1"``, ``"c1"``, ``"c1^2"``, ...).
    """

    x: np.ndarray
    weights: np.ndarray
    monomials: Sequence
    observables: list[str]
    parameters: list[str]
    z: np.ndarray | None = None
    latents: list[str] = field(default_factory=list)
    term_names: list[str] | None = None

    def __post_init__(self) -> None:
        if not self.parameters or len(set(self.parameters)) != len(self.parameters):
            raise InputError(f"parameters must be distinct names, at least one; got {self.parameters}")
        self.exponents = monomial_exponents(self.monomials, self.parameters)
        self.x = _as_columns(self.x, "x", self.observables, "observables")
        n = len(self.x)
        if n == 0:
            raise InputError("the term sample has no events")
        self.weights = np.asarray(self.weights, dtype=np.float64)
        if self.weights.ndim == 1 and len(self.exponents) == 1:
            self.weights = self.weights.reshape(-1, 1)
        if self.weights.shape != (n, len(self.exponents)):
            raise InputError(
                f"weights must have one row per event and one column per term, shape ({n}, {len(self.exponents)}) "
                f"for {len(self.exponents)} monomials, not {self.weights.shape}"
            )
        if self.z is not None:
            self.z = _as_columns(self.z, "z", self.latents, "latents")
            if len(self.z) != n:
                raise InputError(f"z has {len(self.z)} rows but x has {n}")
        elif self.latents:
            raise InputError(f"latents {self.latents} are named but no z columns are given")
        for name in ("x", "weights", "z"):
            _check_finite(getattr(self, name), name)
        if self.term_names is None:
            self.term_names = [term_name(e, self.parameters) for e in self.exponents]
        if len(self.term_names) != len(self.exponents):
            raise InputError(f"{len(self.term_names)} term names for {len(self.exponents)} terms")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_terms(self) -> int:
        """Number of terms (columns of ``weights``)."""
        return len(self.exponents)

    @property
    def cross_sections(self) -> np.ndarray:
        """sigma_i, the sum of each term's weights; shape ``(n_terms,)``."""
        return self.weights.sum(axis=0)

    def as_points(self, theta) -> np.ndarray:
        """``theta`` (one point, or rows of points) as an array of shape ``(m, n_parameters)``."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        if theta.shape[1] != len(self.parameters):
            raise InputError(
                f"theta has {theta.shape[1]} column(s) but the terms are in {len(self.parameters)} parameters "
                f"({', '.join(self.parameters)})"
            )
        return theta

    def sigma(self, theta) -> np.ndarray:
        """The cross section, the sum over terms of c_i(theta) sigma_i, at each point; shape ``(m,)``."""
        return coefficients(self.as_points(theta), self.exponents) @ self.cross_sections

    def sigma_gradient(self, theta) -> np.ndarray:
        """The gradient of sigma(theta) at each point; shape ``(m, n_parameters)``."""
        return np.einsum("mtp,t->mp", coefficient_gradients(self.as_points(theta), self.exponents), self.cross_sections)

    def event_weights(self, theta, index=None) -> np.ndarray:
        """w(theta) = sum_i c_i(theta) w_i of the events ``index`` (default all); shape ``(n,)``.

        ``theta`` is one point (the same for every event) or one row per event.
        """
        weights = self.weights if index is None else self.weights[index]
        coef = coefficients(self.as_points(theta), self.exponents)
        return weights @ coef[0] if len(coef) == 1 else np.einsum("nt,nt->n", weights, coef)

    def event_weight_gradients(self, theta, index=None) -> np.ndarray:
        """The gradient of w(theta) of the events ``index`` (default all); shape ``(n, n_parameters)``."""
        weights = self.weights if index is None else self.weights[index]
        grad = coefficient_gradients(self.as_points(theta), self.exponents)
        return weights @ grad[0] if len(grad) == 1 else np.einsum("nt,ntp->np", weights, grad)

    def check_cross_section(self, parameter_ranges: Mapping[str, tuple[float, float]]) -> tuple[float, np.ndarray]:
        """Refuse parameter ranges inside which sigma(theta) <= 0: the terms are no density there.

        sigma is evaluated on a grid over the box and minimised from the lowest grid point
        (bounded, with its analytic gradient), so a minimum between grid points is found too.

        Returns
        -------
        (float, ndarray)
            The smallest sigma in the box and where it is.

        Raises
        ------
        InputError
            Where sigma is zero or negative somewhere in the box (to rounding).
        """
        box = self.box(parameter_ranges)
        n_axis = max(2, min(41, int(MAX_CHECK_POINTS ** (1.0 / len(self.parameters)))))
        axes = [np.linspace(lo, hi, n_axis) for lo, hi in box]
        grid = np.array(list(itertools.product(*axes)))
        values = self.sigma(grid)
        start = grid[np.argmin(values)]
        best = minimize(
            lambda t: (self.sigma(t)[0], self.sigma_gradient(t)[0]), start, jac=True, method="L-BFGS-B", bounds=box
        )
        low, where = (best.fun, best.x) if best.fun < values.min() else (values.min(), start)
        # a zero that rounding leaves a hair above 0 (a double root) is no density either
        scale = np.abs(self.cross_sections) @ np.prod(np.max(np.abs(box), axis=1) ** self.exponents, axis=1)
        if not low > SIGMA_TOLERANCE * scale:
            point = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.parameters, where, strict=True))
            raise InputError(
                f"the total cross section sigma(theta) = sum_i c_i(theta) sigma_i is {low:.4g} <= 0 at {point}, inside "
                f"the parameter ranges {dict(zip(self.parameters, box, strict=True))}: the terms are no density "
                "there. Narrow the ranges, or check the signs of the interference weights and that each monomial "
                "belongs to its weight column"
            )
        return float(low), np.asarray(where)

    def box(self, parameter_ranges: Mapping[str, tuple[float, float]]) -> list[tuple[float, float]]:
        """The ranges in the order of ``parameters``, checked (finite, low < high, one per parameter)."""
        missing = [name for name in self.parameters if name not in parameter_ranges]
        unknown = sorted(set(parameter_ranges) - set(self.parameters))
        if missing or unknown:
            raise InputError(
                f"parameter_ranges must give a range for each of {', '.join(self.parameters)} "
                f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})"
            )
        box = []
        for name in self.parameters:
            lo, hi = (float(v) for v in parameter_ranges[name])
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise InputError(f"the range of {name} must be finite with low < high, not ({lo}, {hi})")
            box.append((lo, hi))
        return box


def _as_columns(values, label: str, names: Sequence[str], what: str) -> np.ndarray:
    """``values`` as a float array of shape (n, len(names)); a 1-D array is one column."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise InputError(f"{label} must have shape (n, {len(names)}), one column per name in {what}, not {arr.shape}")
    return arr


def _check_finite(values, label: str) -> None:
    if values is None:
        return
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.nonzero(bad)[0][0])
        raise InputError(
            f"term sample column '{label}' holds {int(bad.sum())} NaN/Inf value(s), first in event {row}; "
            "remove or fix those events"
        )


# --- the gold from the weights ------------------------------------------------------------------------------------


def joint_log_ratio(terms: TermSample, theta, reference_point, index=None) -> np.ndarray:
    """The joint log ratio log [w(theta) / sigma(theta)] - log [w(theta_0) / sigma(theta_0)] per event.

    The event weights of a generator are p(x, z | theta) / q(x, z) up to the cross section, so
    their ratio at two points is the joint likelihood ratio, with no need to know the proposal q
    (MadMiner's "gold"). ``theta`` is one point or one row per event of ``index``.

    Raises
    ------
    InputError
        Where an event weight at theta or at the reference point is not positive (a negative
        weight, or an event that only an interference term produces): its log ratio is undefined.
    """
    theta, point = terms.as_points(theta), terms.as_points(reference_point)
    w, w0 = terms.event_weights(theta, index), terms.event_weights(point, index)
    events = None if index is None else np.arange(len(terms))[index]
    _require_positive(w, "at theta", events)
    _require_positive(w0, "at the reference point", events)
    return np.log(w) - np.log(terms.sigma(theta)) - np.log(w0) + np.log(terms.sigma(point))


def joint_score(terms: TermSample, theta, index=None) -> np.ndarray:
    """t(x, z | theta) = grad log w(theta) - grad log sigma(theta) per event; shape ``(n, n_parameters)``."""
    theta = terms.as_points(theta)
    w = terms.event_weights(theta, index)
    _require_positive(w, "at theta", None if index is None else np.arange(len(terms))[index])
    grad_w = terms.event_weight_gradients(theta, index)
    return grad_w / w[:, None] - terms.sigma_gradient(theta) / terms.sigma(theta)[:, None]


def _require_positive(weights: np.ndarray, where: str, events) -> None:
    """Refuse weights <= 0, naming the first such event (``events``: the term sample's event numbers)."""
    bad = np.nonzero(~(weights > 0))[0]
    if bad.size:
        event = bad[0] if events is None else events[bad[0]]
        raise InputError(
            f"{bad.size} event(s) have a weight <= 0 {where} (first: event {event}, w = {weights[bad[0]]:.4g}), so "
            "their joint log ratio and score are undefined; pass gold=False to sample without them, or remove "
            "negative-weight events"
        )


# --- training samples ---------------------------------------------------------------------------------------------


def sample_from_terms(
    terms: TermSample,
    parameters: Sequence[str],
    parameter_ranges: Mapping[str, tuple[float, float]],
    n_target: int,
    reference_point,
    n_reference: int | None = None,
    seed: int = 1,
    method: str = "unweighted",
    gold: bool = True,
) -> TrainingSample:
    """A labelled training sample at parameters drawn from the uniform prior, from the terms alone.

    Target events (y = 1): for each one, theta is drawn from the uniform prior over
    ``parameter_ranges``, then an event of the term sample at that theta. Reference events
    (y = 0): events at ``reference_point``, paired with the target's theta values (cycled), as
    :func:`roosbi.data.simulate.simulate` pairs them.

    ``method="unweighted"`` (default) resamples: an event is drawn with probability
    w_e(theta) / sum_e' w_e'(theta), by accept-reject from the envelope
    u_e = sum_i max_box |c_i| |w_ie| >= |w_e(theta)| (vectorised over all theta at once; the few
    theta where the envelope fits badly, near a destructive interference, get an exact draw). Every
    event then has weight 1 and its own continuous theta, and an event weighted up at theta is
    simply drawn more often: no weight variance reaches the training. It needs w_e(theta) >= 0 at
    the drawn theta (true for |amplitude|^2 weights); a sample with negative event weights is
    refused, since an unweighted draw would also need the theta-dependent normalisation
    sum_e |w_e(theta)| per event. ``method="weighted"`` keeps each event once with weight
    n w_e(theta_e) / sigma(theta_e) (unbiased, negative weights allowed), at the price of weight
    variance in the loss.

    Each class's weights are scaled to sum to its number of events (only a constant).

    Parameters
    ----------
    terms : TermSample
        The generator's events with their term weights.
    parameters : sequence of str
        The parameters in network input order (the same names as ``terms.parameters``).
    parameter_ranges : dict
        Range of each parameter: the uniform prior and the training range.
    n_target : int
        Target events.
    reference_point : dict or sequence
        theta_0 of the reference class (a dict by name, or values in the order of ``parameters``).
    n_reference : int, optional
        Reference events (default ``n_target``).
    seed : int
        Seeds every draw: same seed, same sample.
    method : {"unweighted", "weighted"}
        See above.
    gold : bool
        Add the joint log ratio and joint score (:func:`joint_log_ratio`, :func:`joint_score`) at
        each event's own theta.

    Returns
    -------
    TrainingSample
    """
    parameters = list(parameters)
    if sorted(parameters) != sorted(terms.parameters):
        raise InputError(f"parameters {parameters} must be the term sample's parameters {terms.parameters}")
    if method not in ("unweighted", "weighted"):
        raise InputError(f"method must be 'unweighted' or 'weighted', not {method!r}")
    n_reference = n_target if n_reference is None else n_reference
    if n_target < 1 or n_reference < 1:
        raise InputError("n_target and n_reference must be positive")
    box = terms.box(parameter_ranges)
    terms.check_cross_section(parameter_ranges)
    point = _reference_point(terms, reference_point, parameters, box)
    rng = np.random.default_rng(seed)
    theta = np.column_stack([rng.uniform(lo, hi, n_target) for lo, hi in box])  # in the terms' order
    theta_ref = theta[np.arange(n_reference) % n_target]
    draw = _draw_unweighted if method == "unweighted" else _draw_weighted
    index, w_target, index_ref, w_ref = draw(terms, theta, point, n_reference, box, rng)
    order = [terms.parameters.index(name) for name in parameters]
    all_index, all_theta = np.concatenate([index, index_ref]), np.vstack([theta, theta_ref])
    columns = _gold_columns(terms, all_index, all_theta, point, order) if gold else {}
    log.info(
        "sampled %d target and %d reference events from %d term events (%d distinct), method %s",
        n_target,
        n_reference,
        len(terms),
        len(np.unique(all_index)),
        method,
    )
    return TrainingSample(
        x=terms.x[all_index],
        theta=all_theta[:, order],
        y=np.concatenate([np.ones(n_target), np.zeros(n_reference)]),
        weights=np.concatenate([_to_count(w_target), _to_count(w_ref)]),
        observables=list(terms.observables),
        parameters=parameters,
        parameter_ranges={name: box[terms.parameters.index(name)] for name in parameters},
        reference="point " + ", ".join(f"{name}={point[0, terms.parameters.index(name)]:g}" for name in parameters),
        **columns,
    )


def _reference_point(terms: TermSample, reference_point, parameters: list[str], box) -> np.ndarray:
    """theta_0 as a (1, n_parameters) row in the terms' order, checked to lie inside the ranges."""
    if isinstance(reference_point, Mapping):
        if sorted(reference_point) != sorted(parameters):
            raise InputError(f"the reference point must give a value for each of {', '.join(parameters)}")
        values = {name: float(reference_point[name]) for name in parameters}
    else:
        row = np.atleast_1d(np.asarray(reference_point, dtype=np.float64))
        if row.shape != (len(parameters),):
            raise InputError(f"the reference point needs {len(parameters)} values ({', '.join(parameters)})")
        values = dict(zip(parameters, row, strict=True))
    for name, (lo, hi) in zip(terms.parameters, box, strict=True):
        if not lo <= values[name] <= hi:
            raise InputError(f"reference point {name}={values[name]} is outside its range [{lo}, {hi}]")
    return np.array([[values[name] for name in terms.parameters]])


def _gold_columns(terms: TermSample, index, theta, point, order) -> dict:
    """The joint log ratio and score (in network parameter order) of events ``index`` at their theta."""
    return {
        "joint_log_ratio": joint_log_ratio(terms, theta, point, index),
        "joint_score": joint_score(terms, theta, index)[:, order],
    }


def _to_count(weights: np.ndarray) -> np.ndarray:
    """Weights scaled to sum to their number (a class total that is not positive is left for the check)."""
    total = weights.sum()
    return weights * (len(weights) / total) if total > 0 else weights


def _draw_unweighted(terms: TermSample, theta: np.ndarray, point: np.ndarray, n_reference: int, box, rng):
    """Target and reference event indices and weights, resampled (weights 1, or the sign at the reference)."""
    index = _resample(terms, theta, box, rng)
    index_ref, sign_ref = _draw_at_point(terms, point, n_reference, rng)
    return index, np.ones(len(theta)), index_ref, sign_ref


def _draw_weighted(terms: TermSample, theta: np.ndarray, point: np.ndarray, n_reference: int, box, rng):
    """Target and reference event indices drawn uniformly, with weights n w_e(theta) / sigma(theta)."""
    n = len(terms)
    index = rng.choice(n, len(theta), replace=len(theta) > n)
    index_ref = rng.choice(n, n_reference, replace=n_reference > n)
    w_target = n * terms.event_weights(theta, index) / terms.sigma(theta)
    return index, w_target, index_ref, n * terms.event_weights(point, index_ref) / terms.sigma(point)


def _resample(terms: TermSample, theta: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """One event index per row of ``theta``, drawn with probability proportional to w_e(theta)."""
    box_max = np.prod(np.max(np.abs(np.array(box)), axis=1)[None, :] ** terms.exponents, axis=1)
    envelope = np.abs(terms.weights) @ box_max  # >= |w_e(theta)| for every theta in the box
    cdf = np.cumsum(envelope)
    coef = coefficients(theta, terms.exponents)
    out = np.full(len(theta), -1)
    pending = np.arange(len(theta))
    for _ in range(MAX_ROUNDS):
        if not pending.size:
            break
        proposal = np.minimum(np.searchsorted(cdf, rng.uniform(0.0, cdf[-1], pending.size), side="right"), len(cdf) - 1)
        w = np.einsum("mt,mt->m", coef[pending], terms.weights[proposal])
        _refuse_negative(w, envelope[proposal], theta[pending], proposal, terms.parameters)
        accept = rng.uniform(size=pending.size) * envelope[proposal] < w
        out[pending[accept]] = proposal[accept]
        pending = pending[~accept]
    for k in pending:  # theta where the envelope is loose (destructive interference): draw exactly
        w = terms.weights @ coef[k]
        _refuse_negative(w, envelope, theta[k], np.arange(len(w)), terms.parameters)
        cumulative = np.cumsum(np.maximum(w, 0.0))
        out[k] = min(np.searchsorted(cumulative, rng.uniform(0.0, cumulative[-1]), side="right"), len(w) - 1)
    if len(pending):
        log.info("%d of %d parameter points needed an exact draw", len(pending), len(theta))
    return out


def _refuse_negative(w, envelope, theta, index, parameters) -> None:
    """Refuse event weights below zero (beyond rounding) at ``theta`` (one row, or one per event)."""
    bad = np.nonzero(w < -NEGATIVE_TOLERANCE * envelope)[0]
    if bad.size:
        k = bad[0]
        row = theta if np.ndim(theta) == 1 else theta[k]
        where = ", ".join(f"{n}={v:.4g}" for n, v in zip(parameters, row, strict=True))
        raise InputError(
            f"event {index[k]} has a negative weight {w[k]:.4g} at {where}: an unweighted draw at a varying theta "
            "cannot represent negative weights; use method='weighted'"
        )


def _draw_at_point(terms: TermSample, point: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` event indices at one point, drawn proportional to |w_e|, with the signs of w_e as weights."""
    w = terms.event_weights(point)
    cdf = np.cumsum(np.abs(w))
    index = np.minimum(np.searchsorted(cdf, rng.uniform(0.0, cdf[-1], n), side="right"), len(w) - 1)
    return index, np.sign(w[index])
