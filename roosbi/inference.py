"""Fit negative log-likelihoods with Minuit: one code path for every NLL, so results compare.

Each NLL is minimised by ``RooMinimizer`` with Minuit2, error level 0.5 (an NLL, not a chi2),
strategy 1: MIGRAD, then HESSE, then MINOS for every parameter of interest, from the same
starting point. :func:`grid_start` finds that starting point by a global grid search, for
likelihoods with several local minima (polynomial morphs, EFTs).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .checks import require_object
from .exceptions import InputError
from .interrupts import checkpoint
from .library import import_root
from .roofit import check_data_coverage

log = logging.getLogger(__name__)


#: How far below the reported minimum (in NLL units) a scanned point must be to flag a local
#: minimum. Minuit stops with EDM ~ 1e-5 at roosbi's tolerance, so a lower point at 0.01 is real.
LOWER_POINT_TOLERANCE = 0.01
#: Points per parameter of the scan over each parameter's whole range that :func:`fit_nll` runs
#: after the fit to look for a lower point.
CHECK_POINTS = 21
#: Most NLL evaluations :func:`grid_start` makes (n_per_axis ** number of parameters).
MAX_GRID_POINTS = 20_000


@dataclass
class ParameterResult:
    """Best-fit value, HESSE error and MINOS interval (signed: lower is negative)."""

    value: float
    error: float
    minos: tuple[float, float]


@dataclass
class FitResult:
    """Outcome of one NLL minimisation."""

    status: int
    nll_min: float
    time_s: float
    params: dict[str, ParameterResult]
    hesse_status: int = 0
    minos_status: int = 0
    edm: float = 0.0
    #: Parameters whose best-fit value lies on a limit of their range: the minimum is not an
    #: interior one, and neither HESSE's error nor Minuit's status 0 describes it.
    at_limit: list[str] = field(default_factory=list)
    #: A point where the NLL is lower than at the reported minimum (by more than
    #: :data:`LOWER_POINT_TOLERANCE`), found by a scan: the fit ended in a local minimum.
    lower_point: dict[str, float] | None = None
    #: The NLL at ``lower_point``.
    lower_nll: float | None = None
    #: Why MINOS failed (the interval is then HESSE's), or None.
    minos_failure: str | None = None

    @property
    def flags(self) -> list[str]:
        """What is wrong with the minimum beyond Minuit's status, in words (empty if nothing)."""
        out = [f"{name} at a limit of its range" for name in self.at_limit]
        if self.lower_point is not None:
            where = ", ".join(f"{k}={v:.4g}" for k, v in self.lower_point.items())
            out.append(f"not the global minimum: NLL lower by {self.nll_min - self.lower_nll:.3g} at {where}")
        if self.minos_failure:
            out.append(f"MINOS failed ({self.minos_failure}); the interval shown is HESSE's")
        return out

    def note_lower_point(self, point: dict[str, float], nll: float) -> None:
        """Record ``point`` if its NLL is below the minimum by more than the tolerance (and below any earlier one)."""
        if nll < self.nll_min - LOWER_POINT_TOLERANCE and (self.lower_nll is None or nll < self.lower_nll):
            self.lower_point, self.lower_nll = dict(point), float(nll)


@dataclass
class Scan:
    """Delta NLL along one parameter: ``nll(values) - nll_min``."""

    parameter: str
    values: np.ndarray
    delta_nll: dict[str, np.ndarray] = field(default_factory=dict)


def create_nll(pdf, data, backend: str = "cpu"):
    """NLL of ``pdf`` on ``data`` with no offset.

    No offset, so that the minimum reported is the NLL itself and comparable across runs.
    ``backend`` is RooFit's evaluation backend: "cpu" (vectorised, the default) or "legacy".
    """
    ROOT = import_root()
    require_object(pdf, "pdf", "RooAbsPdf")
    require_object(data, "data", "RooAbsData")
    check_data_coverage(pdf, data)  # warns about events far outside a learned ratio's training range
    nll = pdf.createNLL(data, ROOT.RooFit.Offset("none"), EvalBackend=backend)
    ROOT.SetOwnership(nll, True)
    return nll


def minuit(nll, error_wall: bool = True):
    """A ``RooMinimizer`` of ``nll`` with roosbi's settings: Minuit2, error level 0.5, strategy 1, tolerance 0.01.

    Every minimisation in roosbi (fits, profiles, toys) goes through it, so that they agree.
    """
    ROOT = import_root()
    minimizer = ROOT.RooMinimizer(nll)
    minimizer.setMinimizerType("Minuit2")
    minimizer.setErrorLevel(0.5)
    minimizer.setStrategy(1)
    # Minuit's default tolerance stops at EDM ~ 1e-3, which can leave the value ~0.02 sigma from
    # the minimum; 100x tighter costs a few more calls and makes fits of different NLLs comparable.
    minimizer.setEps(0.01)
    minimizer.setPrintLevel(-1)
    minimizer.setPrintEvalErrors(-1)  # callers count RooFit's evaluation errors and log them
    minimizer.setEvalErrorWall(error_wall)
    minimizer.setVerbose(False)
    return minimizer


def fit_nll(
    nll,
    parameters,
    start: dict[str, float],
    minos: bool = True,
    error_wall: bool = True,
    check_points: int = CHECK_POINTS,
) -> FitResult:
    """Minimise ``nll`` over ``parameters`` (RooRealVars), starting from ``start``.

    Parameters
    ----------
    nll : ROOT.RooAbsReal
        The NLL (from :func:`create_nll`).
    parameters : list of ROOT.RooRealVar
        Floating parameters of interest (MINOS is run for each).
    start : dict
        Starting value of each parameter.
    minos : bool
        Run MINOS after HESSE.
    error_wall : bool
        RooFit's evaluation-error wall: where the NLL reports an evaluation error, MINUIT sees a
        large value and backs away. Turn it off only for an NLL whose errors are known to be
        harmless (RooMomentMorphFuncND reports its unused non-linear terms at every step).
    check_points : int
        After the fit, the NLL is scanned at this many points over each parameter's whole range
        (the others at their best-fit values); a point lower than the minimum is reported in
        ``FitResult.lower_point`` (a local minimum). 0 turns the scan off.

    Returns
    -------
    FitResult
        Minuit's statuses, and ``at_limit`` / ``lower_point``, which Minuit's status does not
        show: a fit that ends on a parameter's limit or in a local minimum can have status 0.
    """
    ROOT = import_root()
    require_object(nll, "nll", "RooAbsReal")
    parameters = [require_object(par, f"parameters[{i}]", "RooRealVar") for i, par in enumerate(parameters)]
    for par in parameters:
        par.setVal(start[par.GetName()])
        par.setError(0.1 * (par.getMax() - par.getMin()))
    minimizer = minuit(nll, error_wall)
    t0 = time.perf_counter()
    status = minimizer.migrad()
    hesse_status = minimizer.hesse()
    minos_status, minos_error = 0, None
    if minos:
        pars = ROOT.RooArgSet()
        for par in parameters:
            pars.add(par)
        best = [(par.getVal(), par.getError()) for par in parameters]
        try:
            minos_status = minimizer.minos(pars)
        except Exception as err:  # noqa: BLE001 -- ROOT's std::invalid_argument, e.g. a MINOS step beyond a range
            # The fit stands; its MINOS interval does not: keep the minimum and HESSE's errors.
            minos_status, minos_error = -1, str(err).splitlines()[-1].strip()
            for par, (value, error) in zip(parameters, best, strict=True):
                par.setVal(value)
                par.setError(error)
                par.setAsymError(-error, error)
    elapsed = time.perf_counter() - t0
    result = minimizer.save()
    ROOT.SetOwnership(result, True)
    params = {
        par.GetName(): ParameterResult(
            value=par.getVal(),
            error=par.getError(),
            minos=(par.getErrorLo(), par.getErrorHi()) if minos else (-par.getError(), par.getError()),
        )
        for par in parameters
    }
    fit = FitResult(
        status=int(status),
        nll_min=float(result.minNll()),
        time_s=elapsed,
        params=params,
        hesse_status=int(hesse_status),
        minos_status=int(minos_status),
        edm=float(result.edm()),
    )
    fit.minos_failure = minos_error
    fit.at_limit = [par.GetName() for par in parameters if _at_limit(par)]
    if check_points:
        _scan_for_lower_point(nll, parameters, fit, check_points)
    log.info("fit: status %d, %s", fit.status, {k: f"{v.value:.4f} +- {v.error:.4f}" for k, v in params.items()})
    for flag in fit.flags:
        log.warning("fit over %s: %s", ", ".join(params), flag)
    return fit


def _at_limit(par) -> bool:
    """True if the value sits on a limit (Minuit's parameter transformation stops it just inside)."""
    tolerance = 1e-5 * (par.getMax() - par.getMin())
    return par.getVal() - par.getMin() < tolerance or par.getMax() - par.getVal() < tolerance


def _scan_for_lower_point(nll, parameters, fit: FitResult, n: int) -> None:
    """Scan each parameter over its range, the others at the best fit; note any lower point."""
    best = {par.GetName(): par.getVal() for par in parameters}
    for par in parameters:
        values = np.linspace(par.getMin(), par.getMax(), n)
        for value, delta in zip(values, scan_nll(nll, par, values, fit.nll_min), strict=True):
            fit.note_lower_point({**best, par.GetName(): float(value)}, fit.nll_min + delta)


def scan_nll(nll, parameter, values: np.ndarray, nll_min: float) -> np.ndarray:
    """``nll(value) - nll_min`` along one parameter (the others stay where they are)."""
    saved = parameter.getVal()
    out = np.empty(len(values))
    try:
        for i, v in enumerate(values):
            checkpoint()  # a deferred Ctrl-C stops the scan here (roosbi.interrupts)
            parameter.setVal(float(v))
            out[i] = nll.getVal() - nll_min
    finally:
        parameter.setVal(saved)
    return out


@dataclass
class Grid2D:
    """Delta NLL on a grid of two parameters: ``delta_nll[name][i, j]`` at ``(x[j], y[i])``."""

    parameter_x: str
    parameter_y: str
    x: np.ndarray
    y: np.ndarray
    delta_nll: dict[str, np.ndarray] = field(default_factory=dict)


def scan_nll_2d(nll, par_x, par_y, xs: np.ndarray, ys: np.ndarray, nll_min: float) -> np.ndarray:
    """``nll - nll_min`` on the grid ``ys x xs`` (rows follow ``ys``); the others stay where they are."""
    saved = par_x.getVal(), par_y.getVal()
    out = np.empty((len(ys), len(xs)))
    try:
        for i, y in enumerate(ys):
            par_y.setVal(float(y))
            for j, x in enumerate(xs):
                checkpoint()  # a deferred Ctrl-C stops the scan here (roosbi.interrupts)
                par_x.setVal(float(x))
                out[i, j] = nll.getVal() - nll_min
    finally:
        par_x.setVal(saved[0])
        par_y.setVal(saved[1])
    return out


def scan_range(fits: dict[str, FitResult], parameter, width: float = 3.5, n: int = 61) -> np.ndarray:
    """Scan points covering every fit's value +- ``width`` errors, inside the parameter's range."""
    name = parameter.GetName()
    lows = [f.params[name].value - width * f.params[name].error for f in fits.values()]
    highs = [f.params[name].value + width * f.params[name].error for f in fits.values()]
    lo, hi = max(min(lows), parameter.getMin()), min(max(highs), parameter.getMax())
    return np.linspace(lo, hi, n)


def grid_start(nll, parameters, n_per_axis: int = 11) -> dict[str, float]:
    """A global search before MIGRAD: the best point of a grid over the parameters' ranges.

    MIGRAD is a local minimiser: it descends into the minimum nearest its start. Likelihoods of
    polynomial models (an EFT's sigma(theta) = sum_i c_i(theta) sigma_i, a polynomial morph) have
    several local minima, most often near the sign-flipped coupling, where the squared terms give
    the same rate; started from the middle of the ranges, a fit can end in the wrong one with
    Minuit status 0. This evaluates the NLL at the centres of ``n_per_axis`` equal cells along
    each parameter's range (centres, so that no start sits on a limit, where Minuit's parameter
    transformation is singular) and returns the lowest point, to pass to :func:`fit_nll` as its
    ``start``. The parameters are left where they were.

    Parameters
    ----------
    nll : ROOT.RooAbsReal
        The NLL (from :func:`create_nll`).
    parameters : list of ROOT.RooRealVar
        The parameters to search over; each needs a finite range.
    n_per_axis : int
        Grid points per parameter: the cell width (range / n_per_axis) must be smaller than the
        distance between the minima to be told apart.

    Returns
    -------
    dict
        The grid point with the lowest finite NLL, by parameter name.
    """
    require_object(nll, "nll", "RooAbsReal")
    parameters = [require_object(par, f"parameters[{i}]", "RooRealVar") for i, par in enumerate(parameters)]
    if n_per_axis < 1 or n_per_axis ** len(parameters) > MAX_GRID_POINTS:
        raise InputError(
            f"a grid of {n_per_axis} points per parameter over {len(parameters)} parameters is not between 1 and "
            f"{MAX_GRID_POINTS} points; lower n_per_axis"
        )
    for par in parameters:
        if not (par.hasMin() and par.hasMax()):
            raise InputError(f"parameter '{par.GetName()}' needs a finite range to be searched over")
    axes = [
        par.getMin() + (np.arange(n_per_axis) + 0.5) * (par.getMax() - par.getMin()) / n_per_axis for par in parameters
    ]
    saved = [par.getVal() for par in parameters]
    best, best_nll = None, np.inf
    try:
        for point in itertools.product(*axes):
            checkpoint()  # a deferred Ctrl-C stops the search here (roosbi.interrupts)
            for par, value in zip(parameters, point, strict=True):
                par.setVal(float(value))
            value = nll.getVal()
            if np.isfinite(value) and value < best_nll:
                best, best_nll = point, value
    finally:
        for par, value in zip(parameters, saved, strict=True):
            par.setVal(value)
    if best is None:
        raise InputError("the NLL is not finite at any grid point: check that the pdf is positive over the ranges")
    start = {par.GetName(): float(v) for par, v in zip(parameters, best, strict=True)}
    log.info("grid start: %s (NLL %.3f, %d points)", start, best_nll, n_per_axis ** len(parameters))
    return start


def fit_pdfs(workspace, pdfs: dict[str, str], data, parameters, global_search: bool = False, minos: bool = True):
    """Fit each named pdf of ``workspace`` to ``data`` as the demo does; ``({name: FitResult}, {name: NLL})``.

    Every fit starts in the middle of the parameters' ranges (or, with ``global_search``, at its
    own :func:`grid_start`). A pdf with the string attribute ``roosbi_data`` (the mixture's score
    templates, in another observable) is fitted to the dataset it names instead. The moment
    morphs' expected evaluation errors are counted, not printed, and do not steer MIGRAD.

    Parameters
    ----------
    workspace : ROOT.RooWorkspace
        Holds the pdfs (and the datasets that ``roosbi_data`` names).
    pdfs : dict
        ``{fit name: pdf name}``, fitted in this order.
    data : ROOT.RooAbsData
        The observed data.
    parameters : list of ROOT.RooRealVar
        The floating parameters.
    global_search : bool
        Start each fit at its grid scan's best point.
    minos : bool
        Run MINOS after HESSE.
    """
    ROOT = import_root()
    start = {p.GetName(): 0.5 * (p.getMin() + p.getMax()) for p in parameters}
    fits, nlls = {}, {}
    for name, pdf_name in pdfs.items():
        checkpoint()
        # RooMomentMorphFuncND evaluates its unused non-linear terms (0 * inf) whenever the
        # parameters move, which RooFit reports as evaluation errors although the value is fine:
        # count them instead of printing them, and keep them from steering MIGRAD.
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
        ROOT.RooAbsReal.clearEvalErrorLog()
        pdf = workspace.pdf(pdf_name)
        own_data = pdf.getStringAttribute("roosbi_data")
        backend = pdf.getStringAttribute("roosbi_backend") or "cpu"
        nlls[name] = create_nll(pdf, workspace.data(own_data) if own_data else data, backend=backend)
        fit_start = grid_start(nlls[name], parameters) if global_search else start
        # Moment morphs (the morphing baseline, SALLY's templates) are marked: see morphing._morph.
        expected_errors = name == "morphed" or pdf.getStringAttribute("roosbi_eval_errors") == "expected"
        fits[name] = fit_nll(nlls[name], parameters, fit_start, minos=minos, error_wall=not expected_errors)
        if n_errors := ROOT.RooAbsReal.numEvalErrors():
            # Expected for the morph (see above); anywhere else it is worth a look.
            level = logging.INFO if expected_errors else logging.WARNING
            log.log(level, "%s NLL: %d RooFit evaluation errors counted", name, n_errors)
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
    return fits, nlls
