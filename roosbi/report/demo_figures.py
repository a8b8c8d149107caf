"""The demo's figures: Delta NLL scans and contours of every fit, learned vs exact ratio, training.

The scans also check the fits: a scanned point below a fit's minimum flags that fit (see
:meth:`roosbi.inference.FitResult.note_lower_point`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.problems import Problem
from ..inference import Grid2D, Scan, scan_nll, scan_nll_2d, scan_range
from ..interrupts import checkpoint
from ..library import import_root
from ..mixture import component_log_ratio, score_histograms
from ..roofit import evaluate_log_ratio


def problem_figures(
    prob: Problem, histories: dict, ratios: dict, fits, nlls, out: Path, pdfs: dict[str, str] | None = None
) -> dict[str, str]:
    """Delta NLL scans (and contours for two or more parameters), learned vs exact ratio, training.

    ``histories`` maps each method to its estimator's ``history_``; ``ratios`` maps each ratio
    method's fit name to its RooLearnedRatio; with ``pdfs`` (fit name -> pdf name) and a model
    that is not extended, also the MINOS error against the number of observed events.
    """
    from .plots import plot_contours, plot_delta_nll, plot_training

    params = [prob.var(n) for n in prob.parameters]
    scans = [_slice_scan(par, params, fits, nlls) for par in params]
    plot_delta_nll(scans, fits, prob.truth, out / "delta_nll.png")
    checkpoint()
    figures = {"Delta NLL": "delta_nll.png"}
    if len(params) >= 2:
        grid = _contour_grid(params[0], params[1], params, fits, nlls)
        plot_contours(grid, fits, prob.truth, out / "contours.png")
        checkpoint()
        figures["Delta NLL contours"] = "contours.png"
    if ratios:
        _ratio_figure(prob, params, ratios, out)
        figures["learned vs exact ratio"] = "ratio.png"
    plot_training(histories, out / "training.png")
    figures["training"] = "training.png"
    if pdfs and not prob.workspace.pdf(prob.target_pdf).canBeExtended():
        _error_figure(prob, pdfs, fits, out)
        figures["MINOS error against the number of events"] = "errors_vs_n.png"
    _set_parameters(params, fits["analytic"])
    return figures


def _error_figure(prob: Problem, pdfs: dict[str, str], fits, out: Path, n_sizes: int = 5) -> None:
    """errors_vs_n.png: each NLL's MINOS error on the first n observed events, n from N/16 to N.

    The classic picture of maximum-likelihood estimation: the half-width of the Delta NLL = 0.5
    interval falls as 1/sqrt(n); the dashed line is the analytic error on all N events scaled so.
    Fits of pdfs with their own dataset (a template fit of a score) are left out.
    """
    from ..inference import create_nll, fit_nll
    from .plots import plot_errors_vs_events

    ROOT = import_root()
    ws, data = prob.workspace, prob.data()
    params = [prob.var(n) for n in prob.parameters]
    sizes = np.unique(np.geomspace(max(20, data.numEntries() // 16), data.numEntries(), n_sizes).astype(int))
    names = [name for name, pdf in pdfs.items() if not ws.pdf(pdf).getStringAttribute("roosbi_data")]
    errors = {name: {p.GetName(): [] for p in params} for name in names}
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)  # the morphs' harmless ones
    try:
        for n in sizes:
            subset = data.reduce(ROOT.RooFit.EventRange(0, int(n)))
            for name in names:
                checkpoint()
                pdf = ws.pdf(pdfs[name])
                nll = create_nll(pdf, subset, backend=pdf.getStringAttribute("roosbi_backend") or "cpu")
                start = {p: r.value for p, r in fits[name].params.items()}
                wall = pdf.getStringAttribute("roosbi_eval_errors") != "expected"
                fit = fit_nll(nll, params, start, error_wall=wall, check_points=0)
                for p, r in fit.params.items():
                    errors[name][p].append(0.5 * (r.minos[1] - r.minos[0]))
    finally:
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
    plot_errors_vs_events(sizes, errors, out / "errors_vs_n.png")
    checkpoint()


def _ratio_figure(prob: Problem, params: list, ratios: dict, out: Path) -> None:
    """ratio.png: learned vs exact ratio along the first observable.

    The other observables sit at the median of the observed data, the other parameters at their
    true values.
    """
    from .plots import plot_ratio

    x = prob.var(prob.observables[0])
    observed = prob.data().to_numpy()
    points = np.empty((400, len(prob.observables)))
    points[:, 0] = np.linspace(x.getMin(), x.getMax(), len(points))
    for i, name in enumerate(prob.observables[1:], start=1):
        points[:, i] = np.median(observed[name])
    par = params[0]
    theta = np.array([prob.truth.get(p.GetName(), 0.5 * (p.getMin() + p.getMax())) for p in params])
    curves = {}
    for value in sorted({par.getMin() + 0.25 * (par.getMax() - par.getMin()), theta[0]}):
        theta[0] = value
        inputs = np.column_stack([points, np.tile(theta, (len(points), 1))])
        learned = {key: np.exp(evaluate_log_ratio(ratio, inputs)) for key, ratio in ratios.items()}
        curves[value] = (
            learned if len(learned) > 1 else next(iter(learned.values())),
            _exact_ratio(prob, points, theta),
        )
    plot_ratio(points[:, 0], curves, x.GetName(), par.GetName(), out / "ratio.png")
    checkpoint()


def mixture_figures(prob: Problem, est, ratio, sample, fits, nlls, out: Path, calibration) -> dict[str, str]:
    """Delta NLL of the three fits, learned vs exact r(x) = p_s/p_b, the score templates, calibration, training."""
    from .plots import plot_calibration, plot_delta_nll, plot_ratio, plot_templates, plot_training

    mu = prob.var(prob.parameters[0])
    plot_delta_nll([_slice_scan(mu, [mu], fits, nlls)], fits, prob.truth, out / "delta_nll.png")
    checkpoint()
    x = prob.var(prob.observables[0])
    points = np.linspace(x.getMin(), x.getMax(), 400)[:, None]
    curve = (np.exp(evaluate_log_ratio(ratio, points)), np.exp(component_log_ratio(prob, points)))
    plot_ratio(points[:, 0], {0.0: curve}, x.GetTitle(), None, out / "ratio.png", ylabel=r"$r(x) = p_s(x)\,/\,p_b(x)$")

    ws = prob.workspace
    template = ws.pdf("template_pdf")
    edges, counts = score_histograms(ratio, sample, n_bins=ws.var("score").getBins())
    scores = ws.data(template.getStringAttribute("roosbi_data")).to_numpy()["score"]
    mu_hat = fits["template"].params[mu.GetName()].value
    n_signal = mu_hat * ws.var(prob.components["n_signal"]).getVal()
    n_background = ws.var(prob.components["n_background"]).getVal()
    expected = {
        "background": n_background * counts["background"] / counts["background"].sum(),
        f"signal, {mu.GetName()} = {mu_hat:.2f}": n_signal * counts["signal"] / counts["signal"].sum(),
    }
    observed = np.histogram(scores, bins=edges)[0].astype(float)
    plot_templates(edges, expected, observed, "classifier score r/(1+r)", out / "templates.png")
    checkpoint()
    plot_calibration(calibration, out / "calibration.png")
    plot_training({"carl": est.history_}, out / "training.png")
    _set_parameters([mu], fits["analytic"])
    return {
        "Delta NLL": "delta_nll.png",
        "learned vs exact r = p_s/p_b": "ratio.png",
        "score templates": "templates.png",
        "calibration on held-out events": "calibration.png",
        "training": "training.png",
    }


def _set_parameters(params: list, fit) -> None:
    for par in params:
        par.setVal(fit.params[par.GetName()].value)


def _slice_scan(par, params: list, fits, nlls) -> Scan:
    """Delta NLL along one parameter, the others at each NLL's own best fit."""
    scan = Scan(par.GetName(), scan_range(fits, par))
    for name, nll in nlls.items():
        _set_parameters(params, fits[name])
        scan.delta_nll[name] = scan_nll(nll, par, scan.values, fits[name].nll_min)
        _note_lower_points(fits[name], params, {par.GetName(): scan.values}, scan.delta_nll[name])
    return scan


def _note_lower_points(fit, params: list, axes: dict[str, np.ndarray], delta_nll: np.ndarray) -> None:
    """Flag the fit if a scanned point lies below its minimum (the scans are drawn, so they must agree)."""
    best = {p.GetName(): fit.params[p.GetName()].value for p in params}
    grids = np.meshgrid(*axes.values(), indexing="xy") if len(axes) > 1 else list(axes.values())
    i = int(np.nanargmin(delta_nll)) if np.isfinite(delta_nll).any() else None
    if i is not None:
        point = {**best, **{name: float(g.ravel()[i]) for name, g in zip(axes, grids, strict=True)}}
        fit.note_lower_point(point, fit.nll_min + float(delta_nll.ravel()[i]))


def _contour_grid(par_x, par_y, params: list, fits, nlls, n: int = 21) -> Grid2D:
    """Delta NLL on an n x n grid of two parameters (any others at each NLL's best fit)."""
    grid = Grid2D(par_x.GetName(), par_y.GetName(), scan_range(fits, par_x, n=n), scan_range(fits, par_y, n=n))
    for name, nll in nlls.items():
        _set_parameters(params, fits[name])
        grid.delta_nll[name] = scan_nll_2d(nll, par_x, par_y, grid.x, grid.y, fits[name].nll_min)
        axes = {par_x.GetName(): grid.x, par_y.GetName(): grid.y}
        _note_lower_points(fits[name], params, axes, grid.delta_nll[name])
    return grid


def _pdf_values(pdf, observables: list, points: np.ndarray) -> np.ndarray:
    """A pdf normalised over ``observables`` at each row of ``points`` (a few hundred: a loop is fine)."""
    ROOT = import_root()
    norm = ROOT.RooArgSet(*observables)
    saved = [x.getVal() for x in observables]
    out = np.empty(len(points))
    for i, row in enumerate(points):
        for x, value in zip(observables, row, strict=True):
            x.setVal(float(value))
        out[i] = pdf.getVal(norm)
    for x, value in zip(observables, saved, strict=True):
        x.setVal(value)
    return out


def _exact_ratio(prob: Problem, points: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """p(x|theta) / p_ref(x) from the workspace's pdfs at each row of ``points``."""
    ws = prob.workspace
    params = [prob.var(n) for n in prob.parameters]
    observables = [prob.var(n) for n in prob.observables]
    saved = [p.getVal() for p in params]
    for par, value in zip(params, theta, strict=True):
        par.setVal(float(value))
    target = _pdf_values(ws.pdf(prob.target_pdf), observables, points)
    reference = _pdf_values(ws.pdf(prob.reference_pdf), observables, points)
    for par, value in zip(params, saved, strict=True):
        par.setVal(value)
    return target / reference
