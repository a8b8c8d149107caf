"""The morphing baseline: ``RooMomentMorphFuncND`` over histogram templates, as in ROOT's rf615/rf617.

Templates are binned samples of the target pdf at grid points of the parameter, so the baseline
sees simulated events just like the learned ratio (rf615 gives it 5 x 10 000 events for the
learned ratio's 50 000 target events).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping

import numpy as np

from .data.problems import Problem
from .exceptions import InputError
from .interrupts import checkpoint
from .library import import_root

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
    templates: Mapping | None = None,
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
    templates : dict, optional
        Histograms you already have instead of simulated ones: ``{grid point: histogram}``, a
        grid point a number (one parameter), a tuple of numbers in the order of the problem's
        parameters, or a dict ``{parameter: value}``; a histogram a ``RooDataHist`` of the
        problem's observables (e.g. filled from events simulated at that point). The points must
        make a complete product grid (any spacing, at least 2 values per parameter, inside the
        parameters' ranges). ``n_templates``, ``n_events``, ``n_bins`` and ``seed`` are then not
        used; the histograms are copied (each bin gets one event more, as simulated templates do).

    Returns
    -------
    ROOT.RooAbsPdf
        The pdf as held by the workspace.

    Raises
    ------
    InputError
        A dict given in place of the problem, an incomplete grid, a point outside a parameter's
        range, or a histogram that is not a RooDataHist of the observables.
    """
    if isinstance(problem, Mapping):
        raise InputError(
            "morphed_pdf takes the problem first (its workspace, observables and parameters); give histograms as "
            "morphed_pdf(problem, templates={grid point: RooDataHist})"
        )
    if templates is not None:
        return _morph_templates(problem, templates, setting, name)
    ROOT = import_root()
    n_total = _check_grid(n_templates, len(problem.parameters), setting)
    ws = problem.workspace
    observables = [problem.var(n) for n in problem.observables]
    params = [problem.var(n) for n in problem.parameters]
    for x in observables:
        x.setBins(n_bins)
    obs_set = ROOT.RooArgSet(*observables)
    target = ws.pdf(problem.target_pdf)
    saved = [p.getVal() for p in params]
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    histograms = []
    for index, point in grid_points(params, n_templates):
        checkpoint()
        for par, value in zip(params, point, strict=True):
            par.setVal(float(value))
        histograms.append((index, target.generateBinned(obs_set, n_events)))
    for par, value in zip(params, saved, strict=True):
        par.setVal(value)
    _morph(ws, params, observables, n_templates, histograms, setting, name)
    log.info("morphing: %d templates of %d events, setting %s", n_total, n_events, setting)
    return ws.pdf(name)


def _morph_templates(problem: Problem, templates: Mapping, setting: str, name: str):
    """:func:`morphed_pdf` from given ``{grid point: RooDataHist}``: the grid checked, the histograms copied."""
    ROOT = import_root()
    if setting not in SETTINGS:
        raise InputError(f"unknown morphing setting '{setting}'; choose one of: {', '.join(SETTINGS)}")
    ws = problem.workspace
    params = [problem.var(n) for n in problem.parameters]
    observables = [problem.var(n) for n in problem.observables]
    points = {}
    for key, hist in templates.items():
        point = _grid_point(key, problem.parameters)
        if point in points:
            raise InputError(f"the grid point {dict(zip(problem.parameters, point, strict=True))} is given twice")
        if not isinstance(hist, ROOT.RooDataHist):
            raise InputError(
                f"the template at {key!r} is a {type(hist).__name__}; give a RooDataHist of the observables"
            )
        names = [v.GetName() for v in hist.get()]
        missing = [n for n in problem.observables if n not in names]
        if missing:
            raise InputError(
                f"the template at {key!r} has no {', '.join(map(repr, missing))}; it has {', '.join(names)}"
            )
        points[point] = hist
    axes = [sorted({p[i] for p in points}) for i in range(len(params))]
    for par, axis in zip(params, axes, strict=True):
        if len(axis) < 2:
            raise InputError(f"the templates hold one value of '{par.GetName()}'; morphing needs at least 2")
        if axis[0] < par.getMin() or axis[-1] > par.getMax():
            raise InputError(
                f"the templates' '{par.GetName()}' values span [{axis[0]:g}, {axis[-1]:g}], outside its range "
                f"[{par.getMin():g}, {par.getMax():g}]"
            )
    missing = [p for p in itertools.product(*axes) if p not in points]
    if missing:
        shown = "; ".join(
            ", ".join(f"{n}={v:g}" for n, v in zip(problem.parameters, p, strict=True)) for p in missing[:5]
        )
        raise InputError(
            f"the templates do not make a complete grid: {len(missing)} of {len(list(itertools.product(*axes)))} "
            f"points missing ({shown}{' ...' if len(missing) > 5 else ''})"
        )
    if len(points) > MAX_TEMPLATES:
        raise InputError(f"{len(points)} templates are more than {MAX_TEMPLATES}")
    binnings = []
    for axis in axes:
        binning = ROOT.RooBinning(axis[0], axis[-1])
        for value in axis[1:-1]:
            binning.addBoundary(value)
        binnings.append(binning)
    histograms = []
    # The morph adds the templates' raw bin contents: templates of different totals (events
    # simulated per point, weights, held-out events) would weigh its interpolation and bias it.
    # Each copy is scaled to the templates' mean total, as simulated templates have one total.
    totals = {point: hist.sumEntries() for point, hist in points.items()}
    if any(not total > 0 for total in totals.values()):
        empty = ", ".join(str(p) for p, t in totals.items() if not t > 0)
        raise InputError(f"the template(s) at {empty} hold no events (sum of weights <= 0)")
    mean_total = float(np.mean(list(totals.values())))
    for i, (point, hist) in enumerate(sorted(points.items())):
        index = tuple(axis.index(v) for axis, v in zip(axes, point, strict=True))
        copy = hist.Clone(f"{name}_given{i}")  # _morph adds one event per bin to its histograms
        ROOT.SetOwnership(copy, True)
        _scale_histogram(copy, mean_total / totals[point])
        histograms.append((index, copy))
    _morph(ws, params, observables, binnings, histograms, setting, name)
    log.info(
        "morphing: %d given templates (%s), setting %s", len(points), " x ".join(map(str, map(len, axes))), setting
    )
    return ws.pdf(name)


def _scale_histogram(hist, factor: float) -> None:
    """Multiply every bin of a RooDataHist by ``factor`` (in place)."""
    if factor == 1.0:
        return
    for i in range(hist.numEntries()):
        hist.get(i)
        hist.set(i, hist.weight(i) * factor, -1.0)


def _grid_point(key, parameters: list[str]) -> tuple[float, ...]:
    """A grid point as given (a number, a tuple, or a dict by parameter) → a tuple in the parameters' order."""
    if isinstance(key, Mapping):
        if sorted(key) != sorted(parameters):
            raise InputError(f"the grid point {dict(key)} must give a value for each of {', '.join(parameters)}")
        values = [key[p] for p in parameters]
    else:
        values = list(key) if isinstance(key, (tuple, list)) else [key]
    if len(values) != len(parameters):
        raise InputError(f"the grid point {key!r} needs {len(parameters)} value(s), one per parameter: {parameters}")
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"the grid point {key!r} is not made of numbers") from None


def _check_grid(n_templates: int, n_parameters: int, setting: str = "Linear") -> int:
    """Refuse an unknown setting or a grid too small or too large; return the number of templates."""
    if setting not in SETTINGS:
        raise InputError(f"unknown morphing setting '{setting}'; choose one of: {', '.join(SETTINGS)}")
    if n_templates < 2:
        raise InputError("morphing needs at least 2 templates per parameter")
    n_total = n_templates**n_parameters
    if n_total > MAX_TEMPLATES:
        raise InputError(f"a grid of {n_templates}^{n_parameters} = {n_total} templates is too large")
    return n_total


def grid_points(params: list, n_templates: int):
    """(index, point) of each grid point: ``n_templates`` evenly spaced values per parameter, ends included."""
    axes = [np.linspace(p.getMin(), p.getMax(), n_templates) for p in params]
    for index in itertools.product(range(n_templates), repeat=len(params)):
        yield index, np.array([axis[k] for axis, k in zip(axes, index, strict=True)])


def _morph(ws, params: list, observables: list, n_templates, histograms: list, setting: str, name: str):
    """RooHistPdf templates from ``(grid index, RooDataHist)`` pairs, morphed by RooMomentMorphFuncND.

    ``n_templates`` is the number of evenly spaced points per parameter over its range, or a list
    of ``RooBinning`` (one per parameter) whose boundaries are the grid points. Every bin gets one
    event more: an empty bin would make log(0) and end the fit.
    """
    ROOT = import_root()
    if isinstance(n_templates, int):
        binnings = [ROOT.RooBinning(n_templates - 1, p.getMin(), p.getMax()) for p in params]
    else:
        binnings = list(n_templates)
    grid = ROOT.RooMomentMorphFuncND.Grid(*binnings)
    obs_set = ROOT.RooArgSet(*observables)
    for i, (index, hist) in enumerate(histograms):
        hist.SetName(f"{name}_hist{i}")
        for b in range(hist.numEntries()):
            hist.add(hist.get(b), 1.0)
        template = ROOT.RooHistPdf(f"{name}_template{i}", f"template {index}", obs_set, hist, 1)
        ws.Import(template, Silence=True)
        grid.addPdf(ws.pdf(template.GetName()), *index)
    setting_code = getattr(ROOT.RooMomentMorphFuncND, setting)
    func = ROOT.RooMomentMorphFuncND(
        f"{name}_func", "moment morphing", ROOT.RooArgList(*params), ROOT.RooArgList(*observables), grid, setting_code
    )
    pdf = ROOT.RooWrapperPdf(name, "morphed pdf", func, True)
    ws.Import(pdf, Silence=True)
    # RooMomentMorphFuncND evaluates its unused non-linear terms (0 * inf) whenever the parameters
    # move, which RooFit counts as evaluation errors although the value is fine: fits of this pdf
    # (the demo's and macros/fit_workspace.C) must not let them stop MIGRAD.
    ws.pdf(name).setStringAttribute("roosbi_eval_errors", "expected")


def score_morphed_pdf(
    problem: Problem,
    estimator,
    n_templates: int = 5,
    n_events: int = 10_000,
    n_bins: int = 40,
    setting: str = "Linear",
    seed: int = 1,
    name: str = "sally_pdf",
):
    """SALLY's baseline: histogram templates of the learned score t(x), morphed over the parameters.

    The components of the local score t(x) = grad_theta log p(x|theta) at the reference point are
    the optimal observables near it (one per parameter): a binned fit of their distribution loses
    no information there, and it is the template fit physicists already trust. Templates are
    simulated at the grid points of :func:`morphed_pdf` (through the latent variables, as the
    training sample was), mapped to t(x), binned and morphed with RooMomentMorphFuncND; the
    observed events are mapped to t(x) the same way.

    Parameters
    ----------
    problem : Problem
        Supplies the simulator, the parameters (and their ranges: the grid) and the observed data.
    estimator : roosbi.estimators.sally.SallyEstimator
        Fitted; its ``score(x)`` gives t(x), shape ``(n, n_parameters)``.
    n_templates, n_events, setting, seed, name
        As for :func:`morphed_pdf`.
    n_bins : int
        Bins in all: with d parameters (score components) each axis gets round(n_bins ** (1/d)),
        at least 6, so that a template of a few thousand events still fills its bins (40 x 40
        bins for 2000 events are mostly the one event every bin gets, and the morph is then
        flat). Each axis spans the 0.1 % to 99.9 % quantiles of the template events (padded by
        5 %); values outside go into the edge bins, in templates and data alike.

    Returns
    -------
    ROOT.RooAbsPdf
        The pdf of the score variables ``<name>_t_<parameter>``, held by the workspace. Its string
        attribute ``roosbi_data`` names the observed data mapped to t(x) (``<name>_data``).
    """
    from .data.simulate import generate_target

    _check_grid(n_templates, len(problem.parameters), setting)
    n_bins = max(6, round(n_bins ** (1.0 / len(problem.parameters))))
    ws = problem.workspace
    params = [problem.var(n) for n in problem.parameters]
    rng = np.random.default_rng(seed)
    scores = []
    for index, point in grid_points(params, n_templates):
        checkpoint()
        x = generate_target(problem, np.tile(point, (n_events, 1)), int(rng.integers(1, 2**31 - 1)))
        scores.append((index, estimator.score(x)))
    observed = problem.data().to_numpy()
    observed_t = estimator.score(np.column_stack([observed[n] for n in problem.observables]))
    # Standardised (over the template events): a score component of width 0.1 makes bins too
    # narrow for RooMomentMorphFuncND's numerical moments with two or more components.
    every = np.vstack([t for _, t in scores])
    centre, spread = every.mean(axis=0), np.where(every.std(axis=0) > 0, every.std(axis=0), 1.0)
    scores = [(index, (t - centre) / spread) for index, t in scores]
    observed_t = (observed_t - centre) / spread
    every = (every - centre) / spread
    lo, hi = np.quantile(every, [0.001, 0.999], axis=0)
    pad = 0.05 * np.maximum(hi - lo, 1e-12)
    lo, hi = lo - pad, hi + pad
    titles = [
        f"(t_{{{par}}}(x) - {c:.4g}) / {s:.4g}" for par, c, s in zip(problem.parameters, centre, spread, strict=True)
    ]
    variables = score_variables(ws, name, problem.parameters, lo, hi, titles, n_bins)
    histograms = []
    for index, t in scores:
        clipped = clip_into(t, lo, hi)
        counts, _ = np.histogramdd(clipped, bins=[n_bins] * len(variables), range=list(zip(lo, hi, strict=True)))
        histograms.append((index, _datahist(counts, variables, lo, hi, f"{name}_counts{len(histograms)}")))
    _morph(ws, params, variables, n_templates, histograms, setting, name)
    pdf = attach_score_data(ws, name, variables, clip_into(observed_t, lo, hi))
    log.info("SALLY templates: %d grid points of %d events, %d bins per score component", len(scores), n_events, n_bins)
    return pdf


def score_variables(ws, name: str, parameters: list[str], lo, hi, titles: list[str], n_bins: int = 100) -> list:
    """One RooRealVar per score component, ``<name>_t_<parameter>`` over [lo, hi], in the workspace."""
    ROOT = import_root()
    variables = []
    for k, par in enumerate(parameters):
        var = ROOT.RooRealVar(f"{name}_t_{par}", titles[k], float(lo[k]), float(hi[k]))
        var.setBins(n_bins)
        ws.Import(var, Silence=True)
        variables.append(ws.var(var.GetName()))
    return variables


def clip_into(t: np.ndarray, lo, hi) -> np.ndarray:
    """Values of each column inside [lo, hi): outliers go into the edge bins (RooFit would drop them)."""
    return np.clip(t, lo, np.nextafter(hi, lo))


def attach_score_data(ws, name: str, variables: list, t: np.ndarray):
    """Import the observed events mapped to the score as ``<name>_data`` and point pdf ``name`` at it.

    The pdf's string attribute ``roosbi_data`` names the dataset its fits use (the demo's and
    macros/fit_workspace.C). Returns the pdf.
    """
    ROOT = import_root()
    data = ROOT.RooDataSet.from_numpy(
        {v.GetName(): np.ascontiguousarray(t[:, k]) for k, v in enumerate(variables)},
        ROOT.RooArgSet(*variables),
        name=f"{name}_data",
    )
    ws.Import(data, Silence=True)
    pdf = ws.pdf(name)
    pdf.setStringAttribute("roosbi_data", f"{name}_data")
    return pdf


def _datahist(counts: np.ndarray, variables: list, lo: np.ndarray, hi: np.ndarray, name: str):
    """A RooDataHist holding ``counts`` (as from ``np.histogramdd`` over [lo, hi] per variable).

    Filled bin by bin through the bin centres RooDataHist reports: its ``from_numpy`` reads the
    weights as one flat array in its own bin order, which it does not document for several
    variables (and a 2-D array fails its length check).
    """
    ROOT = import_root()
    n_bins = counts.shape
    for var, n, a, b in zip(variables, n_bins, lo, hi, strict=True):
        var.setBinning(ROOT.RooUniformBinning(float(a), float(b), int(n)))
    hist = ROOT.RooDataHist(name, name, ROOT.RooArgSet(*variables))
    width = (hi - lo) / np.array(n_bins)
    for i in range(hist.numEntries()):
        row = hist.get(i)
        centre = np.array([row.getRealValue(v.GetName()) for v in variables])
        index = tuple(np.clip(((centre - lo) / width).astype(int), 0, np.array(n_bins) - 1))
        hist.set(i, float(counts[index]), -1.0)
    return hist
