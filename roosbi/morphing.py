"""The morphing baseline: ``RooMomentMorphFuncND`` over histogram templates, as in ROOT's rf615.

Templates are binned samples of the target pdf at grid points of the parameter, so the baseline
sees simulated events just like the learned ratio (rf615 gives it 5 x 10 000 events for the
learned ratio's 50 000 target events).
"""

from __future__ import annotations

import logging

from .exceptions import InputError
from .library import import_root
from .problems import Problem

log = logging.getLogger(__name__)

SETTINGS = ("Linear", "NonLinear", "NonLinearPosFractions", "NonLinearLinFractions", "SineLinear")


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
        Must have one parameter (the grid is one-dimensional).
    n_templates : int
        Grid points, evenly spaced over the parameter's range, ends included.
    n_events : int
        Simulated events per template.
    n_bins : int
        Bins of each template histogram in the observable.
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
    if len(problem.parameters) != 1 or len(problem.observables) != 1:
        raise InputError("the morphing baseline supports one observable and one parameter so far")
    if setting not in SETTINGS:
        raise InputError(f"unknown morphing setting '{setting}'; choose one of: {', '.join(SETTINGS)}")
    if n_templates < 2:
        raise InputError("morphing needs at least 2 templates")
    ws = problem.workspace
    x, par = problem.var(problem.observables[0]), problem.var(problem.parameters[0])
    lo, hi = par.getMin(), par.getMax()
    grid = ROOT.RooMomentMorphFuncND.Grid(ROOT.RooBinning(n_templates - 1, lo, hi))
    x.setBins(n_bins)
    target = ws.pdf(problem.target_pdf)
    saved = par.getVal()
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    for i in range(n_templates):
        par.setVal(lo + (hi - lo) * i / (n_templates - 1))
        hist = target.generateBinned(ROOT.RooArgSet(x), n_events)
        hist.SetName(f"{name}_hist{i}")
        for b in range(hist.numEntries()):  # no empty bins: log(0) would end the fit
            hist.add(hist.get(b), 1.0)
        template = ROOT.RooHistPdf(f"{name}_template{i}", f"template {i}", ROOT.RooArgSet(x), hist, 1)
        ws.Import(template, Silence=True)
        grid.addPdf(ws.pdf(template.GetName()), i)
    par.setVal(saved)
    setting_code = getattr(ROOT.RooMomentMorphFuncND, setting)
    func = ROOT.RooMomentMorphFuncND(
        f"{name}_func", "moment morphing", ROOT.RooArgList(par), ROOT.RooArgList(x), grid, setting_code
    )
    pdf = ROOT.RooWrapperPdf(name, "morphed pdf", func, True)
    ws.Import(pdf, Silence=True)
    log.info("morphing: %d templates of %d events, setting %s", n_templates, n_events, setting)
    return ws.pdf(name)
