"""The morphing baseline: ``RooMomentMorphFuncND`` over histogram templates, as in ROOT's rf615/rf617.

Templates are binned samples of the target pdf at grid points of the parameter, so the baseline
sees simulated events just like the learned ratio (rf615 gives it 5 x 10 000 events for the
learned ratio's 50 000 target events).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from .exceptions import InputError
from .interrupts import checkpoint
from .library import import_root
from .problems import Problem

log = logging.getLogger(__name__)

SETTINGS = ("Linear", "NonLinear", "NonLinearPosFractions", "NonLinearLinFractions", "SineLinear")
#: Most templates a morphing grid may hold (n_templates ** number of parameters).
MAX_TEMPLATES = 4096


def morphed_pdf(
    problem: Problem,
    n_templates: int = 5,
    n_events: int = 10_000,
    n_bins: int = 50,
    setting: str = "Linear",
    seed: int = 1,
    name: str = "morphed_pdf",
):
    """Build the morphed pdf and import it (with its templates) into the problem's workspace.

    Parameters
    ----------
    problem : Problem
        Any number of observables and parameters; the grid is the product of one evenly spaced
        axis per parameter (n_templates ** n_parameters templates, as in ROOT's rf617).
    n_templates : int
        Grid points per parameter, evenly spaced over its range, ends included.
    n_events : int
        Simulated events per template.
    n_bins : int
        Bins of each template histogram along each observable.
    setting : str
        ``RooMomentMorphFuncND`` setting: one of Linear, NonLinear, NonLinearPosFractions,
        NonLinearLinFractions, SineLinear.
    seed : int
        Seed of RooFit's generator for the templates.
    name : str
        Name of the pdf in the workspace.

    Returns
    -------
    ROOT.RooAbsPdf
        The pdf as held by the workspace.
    """
    ROOT = import_root()
    if setting not in SETTINGS:
        raise InputError(f"unknown morphing setting '{setting}'; choose one of: {', '.join(SETTINGS)}")
    if n_templates < 2:
        raise InputError("morphing needs at least 2 templates per parameter")
    n_total = n_templates ** len(problem.parameters)
    if n_total > MAX_TEMPLATES:
        raise InputError(f"a grid of {n_templates}^{len(problem.parameters)} = {n_total} templates is too large")
    ws = problem.workspace
    observables = [problem.var(n) for n in problem.observables]
    params = [problem.var(n) for n in problem.parameters]
    axes = [np.linspace(p.getMin(), p.getMax(), n_templates) for p in params]
    grid = ROOT.RooMomentMorphFuncND.Grid(*[ROOT.RooBinning(n_templates - 1, p.getMin(), p.getMax()) for p in params])
    for x in observables:
        x.setBins(n_bins)
    obs_set = ROOT.RooArgSet(*observables)
    target = ws.pdf(problem.target_pdf)
    saved = [p.getVal() for p in params]
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    for i, index in enumerate(itertools.product(range(n_templates), repeat=len(params))):
        checkpoint()
        for par, axis, k in zip(params, axes, index, strict=True):
            par.setVal(float(axis[k]))
        hist = target.generateBinned(obs_set, n_events)
        hist.SetName(f"{name}_hist{i}")
        for b in range(hist.numEntries()):  # no empty bins: log(0) would end the fit
            hist.add(hist.get(b), 1.0)
        template = ROOT.RooHistPdf(f"{name}_template{i}", f"template {index}", obs_set, hist, 1)
        ws.Import(template, Silence=True)
        grid.addPdf(ws.pdf(template.GetName()), *index)
    for par, value in zip(params, saved, strict=True):
        par.setVal(value)
    setting_code = getattr(ROOT.RooMomentMorphFuncND, setting)
    func = ROOT.RooMomentMorphFuncND(
        f"{name}_func", "moment morphing", ROOT.RooArgList(*params), ROOT.RooArgList(*observables), grid, setting_code
    )
    pdf = ROOT.RooWrapperPdf(name, "morphed pdf", func, True)
    ws.Import(pdf, Silence=True)
    log.info("morphing: %d templates of %d events, setting %s", n_total, n_events, setting)
    return ws.pdf(name)
