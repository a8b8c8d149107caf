"""Profile likelihoods with nuisance parameters: constrained pdfs, profile curves, intervals and impacts.

A problem with nuisance parameters nu (``Problem.nuisance_parameters``) names a constraint pdf for
each (an auxiliary measurement, ``Problem.constraints``). :func:`constrained_pdf` multiplies a
pdf of the observables by them (a ``RooProdPdf``: RooFit adds each constraint term to the NLL
itself, in Python and in ``macros/fit_workspace.C``); an NLL of it minimised with nu floating
*profiles* nu. From such an NLL and its best fit:

- :func:`profile_scan`: Delta NLL of the parameter of interest with nu minimised at every point
  (the profile likelihood), and :func:`fixed_scan`, with nu fixed at their nominal values;
- :func:`fit_without_systematics`: the fit with nu fixed at their nominal values (the
  statistical-only interval, next to the profile interval of the full fit);
- :func:`impacts`: the post-fit value and error of each nu, and the shift of the parameter of
  interest's best fit when that nu is fixed at its post-fit value +- its post-fit error (and at
  its nominal +- its pre-fit width), the others profiled: the standard HEP impact.

The nominal value and pre-fit width of a nuisance are the mean and standard deviation of its
constraint pdf over its range (:func:`nuisance_priors`), so any one-dimensional constraint works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..checks import require_object
from ..data.problems import Problem
from ..exceptions import InputError
from ..inference import FitResult, fit_nll, minuit
from ..interrupts import checkpoint
from ..library import import_root

log = logging.getLogger(__name__)

#: Points of the grid over a nuisance's range on which its constraint's mean and width are computed.
PRIOR_GRID = 4001


@dataclass
class NuisancePrior:
    """What the constraint of one nuisance parameter says before the fit.

    ``nominal`` and ``sigma`` are the mean and standard deviation of the constraint pdf over the
    nuisance's range; for a nuisance without constraint, its value when asked and None.
    """

    name: str
    constraint: str
    nominal: float
    sigma: float | None
    range: tuple[float, float]

    def as_dict(self) -> dict:
        """The prior as results.json writes it."""
        return {
            "constraint": self.constraint or None,
            "nominal": self.nominal,
            "prefit_error": self.sigma,
            "range": list(self.range),
        }


def nuisance_priors(problem: Problem) -> dict[str, NuisancePrior]:
    """Nominal value and pre-fit width of each nuisance parameter, from its constraint pdf.

    The constraint is evaluated on a grid of :data:`PRIOR_GRID` points over the nuisance's range
    (normalised over the nuisance) and its mean and standard deviation taken: for
    ``Gaussian(alpha_obs | alpha, 1)`` with alpha_obs = 0 they are 0 and 1 (to the cut of the range).
    """
    ROOT = import_root()
    out = {}
    for name in problem.nuisance_parameters:
        var = problem.var(name)
        lo, hi = var.getMin(), var.getMax()
        constraint = problem.constraint_of(name)
        if not constraint:
            out[name] = NuisancePrior(name, "", var.getVal(), None, (lo, hi))
            continue
        pdf = problem.workspace.pdf(constraint)
        norm = ROOT.RooArgSet(var)
        saved = var.getVal()
        grid = np.linspace(lo, hi, PRIOR_GRID)
        density = np.empty(PRIOR_GRID)
        for i, value in enumerate(grid):
            var.setVal(float(value))
            density[i] = pdf.getVal(norm)
        var.setVal(saved)
        weights = density / density.sum()
        mean = float(np.sum(weights * grid))
        sigma = float(np.sqrt(np.sum(weights * (grid - mean) ** 2)))
        out[name] = NuisancePrior(name, constraint, mean, sigma, (lo, hi))
    return out


def constrained_pdf(problem: Problem, pdf, name: str):
    """``pdf`` times the problem's constraint pdfs: a ``RooProdPdf`` (not imported), or ``pdf`` if there are none.

    RooFit recognises the factors that do not depend on the observables as constraint terms and
    adds -log of each to the NLL (``createNLL``, ``fitTo`` and the macro alike); an extended
    ``pdf`` keeps its expected number of events.

    Parameters
    ----------
    problem : Problem
        Names the constraints (in its workspace).
    pdf : ROOT.RooAbsPdf
        A pdf of the observables (learned, morphed or analytic).
    name : str
        Name of the product.
    """
    ROOT = import_root()
    require_object(pdf, "pdf", "RooAbsPdf")
    if not problem.constraints:
        return pdf
    factors = ROOT.RooArgList(pdf, *[problem.workspace.pdf(c) for c in problem.constraints])
    product = ROOT.RooProdPdf(name, f"{pdf.GetName()} x constraints", factors)
    product._roosbi_keepalive = (pdf, factors)
    return product


def _constraint_terms(pdf, observables, parameters: Sequence) -> list:
    """The pdf's constraint terms on ``parameters``: its factors that do not depend on ``observables``."""
    ROOT = import_root()
    terms = pdf.getAllConstraints(observables, ROOT.RooArgSet(*parameters), True)
    ROOT.SetOwnership(terms, True)
    return list(terms)


def global_observables(pdf, observables, parameters: Sequence) -> list:
    """The global observables of ``pdf``: the constant parameters of its constraint terms on ``parameters``.

    They are the auxiliary measurements (``alpha_obs`` of ``Gaussian(alpha_obs | alpha, 1)``, HistFactory's
    ``nom_alpha_*`` and ``nom_gamma_stat_*``), which a toy must draw beside its events.
    """
    found = {}
    for term in _constraint_terms(pdf, observables, parameters):
        found.update((var.GetName(), var) for var in _term_globals(term, observables))
    return list(found.values())


def _term_globals(term, observables) -> list:
    """The constant RooRealVars of one constraint term that are not observables."""
    return [
        var
        for var in term.getVariables()
        if var.isConstant() and var.InheritsFrom("RooRealVar") and not observables.find(var.GetName())
    ]


def draw_global_observables(pdf, observables, parameters: Sequence) -> dict[str, float]:
    """Draw each global observable from its constraint term at the parameters' current values, and set it.

    Uses ROOT's random generator (seed it first). Returns the values drawn.
    """
    ROOT = import_root()
    drawn = {}
    for term in _constraint_terms(pdf, observables, parameters):
        targets = _term_globals(term, observables)
        if not targets:
            continue
        sample = term.generate(ROOT.RooArgSet(*targets), 1)
        ROOT.SetOwnership(sample, True)
        row = sample.get(0)
        for var in targets:
            var.setVal(row.getRealValue(var.GetName()))
            drawn[var.GetName()] = var.getVal()
    return drawn


@contextmanager
def _fixed(parameters: Mapping):
    """Parameters (RooRealVars) set constant at the given values inside the block, restored after."""
    saved = [(par, par.getVal(), par.isConstant()) for par in parameters]
    try:
        for par, value in parameters.items():
            par.setVal(float(value))
            par.setConstant(True)
        yield
    finally:
        for par, value, constant in saved:
            par.setVal(value)
            par.setConstant(constant)


def _migrad(nll, floating: Sequence, start: Mapping[str, float], error_wall: bool = True) -> tuple[float, int]:
    """MIGRAD alone (the settings of :func:`~roosbi.inference.fit_nll`) from ``start``; the minimum and the status."""
    for par in floating:
        par.setVal(start[par.GetName()])
        par.setError(0.1 * (par.getMax() - par.getMin()))
    status = minuit(nll, error_wall).migrad()
    return float(nll.getVal()), int(status)


def profile_scan(
    nll, poi, nuisances: Sequence, values: np.ndarray, fit: FitResult, error_wall: bool = True
) -> np.ndarray:
    """Delta NLL of the parameter of interest with the nuisance parameters profiled (minimised) at each point.

    Parameters
    ----------
    nll : ROOT.RooAbsReal
        The NLL of a constrained pdf (:func:`constrained_pdf`).
    poi : ROOT.RooRealVar
        The parameter of interest, fixed at each of ``values`` in turn.
    nuisances : list of ROOT.RooRealVar
        The nuisance parameters, minimised over at each point (MIGRAD, started at their best fit).
    values : ndarray
        Points of the parameter of interest.
    fit : FitResult
        The global fit (its ``nll_min`` and best-fit values; the curve is relative to the minimum).
    error_wall : bool
        As in :func:`~roosbi.inference.fit_nll` (off for moment morphs).

    Returns
    -------
    ndarray
        ``min_nu NLL(poi, nu) - nll_min`` at each point (>= 0 up to the minimiser's tolerance).
    """
    best = {p.GetName(): fit.params[p.GetName()].value for p in nuisances if p.GetName() in fit.params}
    start = {p.GetName(): best.get(p.GetName(), p.getVal()) for p in nuisances}
    saved = {p: p.getVal() for p in [poi, *nuisances]}
    out = np.empty(len(values))
    try:
        for i, value in enumerate(values):
            checkpoint()
            with _fixed({poi: value}):
                if nuisances:
                    minimum, _ = _migrad(nll, nuisances, start, error_wall)
                else:
                    minimum = float(nll.getVal())
            out[i] = minimum - fit.nll_min
    finally:
        for par, value in saved.items():
            par.setVal(value)
    return out


def fixed_scan(
    nll, poi, fixed: Mapping, values: np.ndarray, nll_min: float, others: Sequence = (), error_wall: bool = True
) -> np.ndarray:
    """Delta NLL of the parameter of interest with the parameters of ``fixed`` ({RooRealVar: value}) held there.

    ``others`` (the other parameters of interest) are minimised at each point, as :func:`profile_scan` does.
    """
    start = {p.GetName(): p.getVal() for p in others}
    saved = {p: p.getVal() for p in [poi, *others]}
    out = np.empty(len(values))
    with _fixed(fixed):
        try:
            for i, value in enumerate(values):
                checkpoint()
                poi.setVal(float(value))
                if others:
                    with _fixed({poi: value}):
                        minimum, _ = _migrad(nll, others, start, error_wall)
                else:
                    minimum = float(nll.getVal())
                out[i] = minimum - nll_min
        finally:
            for par, value in saved.items():
                par.setVal(value)
    return out


def fit_without_systematics(
    nll,
    poi,
    nuisances: Sequence,
    priors: Mapping[str, NuisancePrior],
    start: Mapping[str, float],
    others: Sequence = (),
    **fit_options,
) -> FitResult:
    """The fit with every nuisance parameter fixed at its nominal value: the statistical-only result.

    ``others`` (the other parameters of interest) float too. ``fit_options`` go to
    :func:`~roosbi.inference.fit_nll` (MIGRAD, HESSE and MINOS over the floating parameters).
    """
    floating = [poi, *others]
    with _fixed({p: priors[p.GetName()].nominal for p in nuisances}):
        starts = {p.GetName(): start.get(p.GetName(), p.getVal()) for p in floating}
        return fit_nll(nll, floating, starts, **fit_options)


def interval_from_curve(values: np.ndarray, delta_nll: np.ndarray, level: float = 0.5) -> tuple[float, float]:
    """The interval where a Delta NLL curve is below ``level`` (0.5: 68 %), by linear interpolation.

    An end where the curve never crosses the level is the end of the scanned range (NaN-free).
    """
    values, delta_nll = np.asarray(values, dtype=float), np.asarray(delta_nll, dtype=float)
    if len(values) < 2 or not np.all(np.isfinite(delta_nll)):
        raise InputError("the curve needs at least 2 finite points")
    i_min = int(np.argmin(delta_nll))
    lo, hi = values[0], values[-1]
    for i in range(i_min, 0, -1):
        if delta_nll[i - 1] >= level > delta_nll[i] or delta_nll[i - 1] > level >= delta_nll[i]:
            lo = float(np.interp(level, [delta_nll[i], delta_nll[i - 1]], [values[i], values[i - 1]]))
            break
    for i in range(i_min, len(values) - 1):
        if delta_nll[i + 1] >= level > delta_nll[i] or delta_nll[i + 1] > level >= delta_nll[i]:
            hi = float(np.interp(level, [delta_nll[i], delta_nll[i + 1]], [values[i], values[i + 1]]))
            break
    return float(lo), float(hi)


def _refit_at(nll, poi, nu, at: float, floating: Sequence, start: Mapping[str, float], error_wall: bool) -> float:
    """The parameter of interest's best fit with ``nu`` fixed at ``at`` (inside its range), ``floating`` minimised."""
    checkpoint()
    with _fixed({nu: min(max(at, nu.getMin()), nu.getMax())}):
        _migrad(nll, floating, start, error_wall)
        return poi.getVal()


def impacts(
    nll,
    poi,
    nuisances: Sequence,
    fit: FitResult,
    priors: Mapping[str, NuisancePrior],
    error_wall: bool = True,
    others: Sequence = (),
) -> dict[str, dict]:
    """Pulls, constraints and impacts of each nuisance parameter on the parameter of interest.

    For each nuisance nu_k: its post-fit value and HESSE error from ``fit`` (which must have
    floated it), its pull ``(nu_hat - nominal) / prefit_error`` and constraint
    ``error / prefit_error``; then nu_k is fixed at ``nu_hat +- error`` (post-fit impact) and at
    ``nominal +- prefit_error`` (pre-fit impact; not for an unconstrained nuisance) and the
    parameter of interest refitted (MIGRAD) with the other nuisances and ``others`` (the other
    parameters of interest) floating. The impact is the shift of its best fit.

    Returns
    -------
    dict
        ``{nu: {"value", "error", "pull", "constraint", "postfit": {"up", "down"}, "prefit": {"up",
        "down"} or None}}``, the shifts of the parameter of interest (signed).
    """
    poi_name = poi.GetName()
    mu_hat = fit.params[poi_name].value
    best = {name: r.value for name, r in fit.params.items()}
    saved = {p: p.getVal() for p in [poi, *others, *nuisances]}
    out = {}
    try:
        for nu in nuisances:
            name = nu.GetName()
            if name not in fit.params:
                raise InputError(f"the fit did not float the nuisance parameter '{name}'")
            value, error = fit.params[name].value, fit.params[name].error
            prior = priors[name]
            floating = [poi, *others, *[p for p in nuisances if p is not nu]]
            start = {p.GetName(): best.get(p.GetName(), p.getVal()) for p in floating}

            def shift(at: float, nu=nu, floating=floating, start=start) -> float:
                return _refit_at(nll, poi, nu, at, floating, start, error_wall) - mu_hat

            entry = {
                "value": value,
                "error": error,
                "pull": (value - prior.nominal) / prior.sigma if prior.sigma else None,
                "constraint": error / prior.sigma if prior.sigma else None,
                "postfit": {"up": shift(value + error), "down": shift(value - error)},
                "prefit": None,
            }
            if prior.sigma:
                entry["prefit"] = {"up": shift(prior.nominal + prior.sigma), "down": shift(prior.nominal - prior.sigma)}
            out[name] = entry
            log.info(
                "impact of %s on %s: %+.4f / %+.4f (post-fit), pull %s",
                name,
                poi_name,
                entry["postfit"]["up"],
                entry["postfit"]["down"],
                "n/a" if entry["pull"] is None else f"{entry['pull']:+.3f}",
            )
    finally:
        for par, v in saved.items():
            par.setVal(v)
    return out
