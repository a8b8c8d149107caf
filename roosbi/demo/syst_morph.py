"""The template baseline of ``roosbi demo syst``: histograms on a grid of the nuisances, interpolated vertically.

Each mixture component's shape is simulated at the points of a grid over its parameters (the
nuisances), binned, normalised, and interpolated piecewise-linearly in every parameter between
the grid points (a tensor product of hat functions): HistFactory's piecewise-linear vertical
interpolation of shape templates, the way analyses model shape systematics today. The result is
a ``RooRealSumPdf`` of ``RooHistFunc`` templates with coefficient functions that sum to 1, so it
is normalised over the observables at every parameter point, as an extended mixture needs.

Why not ``RooMomentMorphFuncND`` (:mod:`roosbi.morphing`), measured on ROOT 6.40 with the syst
problem: for the exponential background's slope, every setting moves part of the template across
the range's edges between grid points (1-2 % of the events: a change of yield in an extended
fit), the legacy backend's NLL jumps by several units between neighbouring values of the slope,
and inside a ``RooAddPdf`` the vectorised backend's NLL ignored alpha_scale altogether.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from ..data.problems import Problem
from ..interrupts import checkpoint
from ..library import import_root

log = logging.getLogger(__name__)


def interpolated_pdf(problem: Problem, n_templates: int, n_events: int, seed: int, name: str, n_bins: int = 60) -> str:
    """Templates of the problem's target pdf on a grid of its parameters, interpolated; the pdf's name.

    Parameters
    ----------
    problem : Problem
        One observable; the grid has ``n_templates`` evenly spaced points per parameter (ends included).
    n_templates : int
        Grid points per parameter (at least 2).
    n_events : int
        Simulated events per template (each bin gets one more, as the morphing templates do).
    seed : int
        Seed of RooFit's generator.
    name : str
        Name of the pdf imported into the problem's workspace.
    n_bins : int
        Bins of each template over the observable's range.

    Returns
    -------
    str
        The pdf's name in the workspace.
    """
    ROOT = import_root()
    ws = problem.workspace
    (x,) = [problem.var(n) for n in problem.observables]
    params = [problem.var(n) for n in problem.parameters]
    axes = [np.linspace(p.getMin(), p.getMax(), n_templates) for p in params]
    edges = np.linspace(x.getMin(), x.getMax(), n_bins + 1)
    target = ws.pdf(problem.target_pdf)
    obs = ROOT.RooArgSet(x)
    saved = [p.getVal() for p in params]
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    funcs, coefs = ROOT.RooArgList(), ROOT.RooArgList()
    keep = []
    for i, index in enumerate(itertools.product(range(n_templates), repeat=len(params))):
        checkpoint()
        for par, axis, k in zip(params, axes, index, strict=True):
            par.setVal(float(axis[k]))
        events = target.generate(obs, n_events).to_numpy()[x.GetName()]
        counts = np.histogram(events, bins=edges)[0] + 1.0
        density = counts / (counts.sum() * np.diff(edges))  # integrates to 1 over the range
        hist = ROOT.RooDataHist.from_numpy(
            density, [x], bins=[edges], weights_squared_sum=density**2, name=f"{name}_hist{i}"
        )
        func = ROOT.RooHistFunc(f"{name}_template{i}", f"template {index}", obs, hist, 0)
        factors = []
        for par, axis, k in zip(params, axes, index, strict=True):
            step = float(axis[1] - axis[0])
            factors.append(f"TMath::Max(0., 1. - TMath::Abs({par.GetName()} - ({float(axis[k])!r}))/{step!r})")
        weight = ROOT.RooFormulaVar(f"{name}_weight{i}", "hat weight", "*".join(factors), ROOT.RooArgList(*params))
        funcs.add(func)
        coefs.add(weight)
        keep += [hist, func, weight]
    for par, value in zip(params, saved, strict=True):
        par.setVal(value)
    pdf = ROOT.RooRealSumPdf(name, "interpolated templates", funcs, coefs, False)
    ws.Import(pdf, RecycleConflictNodes=True, Silence=True)
    del keep
    log.info(
        "template interpolation '%s': %d templates of %d events over %s", name, len(funcs), n_events, problem.parameters
    )
    return name
