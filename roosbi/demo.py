"""The whole pipeline on a built-in problem: simulate, train, export, wrap, fit, report."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from . import __version__
from .estimators import make_estimator
from .inference import Scan, create_nll, fit_nll, scan_nll, scan_range
from .library import import_root, load_library
from .morphing import morphed_pdf
from .onnx import write_atomic
from .problems import Problem, make_problem
from .report import markdown_report, results_dict, write_json
from .roofit import evaluate_log_ratio, learned_pdf, learned_ratio
from .simulate import simulate

log = logging.getLogger(__name__)


def stage_seeds(seed: int) -> tuple[int, int, int, int]:
    """Seeds of the observed data, the training sample, the network and the templates.

    Independent streams drawn from one seed: seeds like ``seed`` and ``seed + 1000`` collide
    between runs, and numpy streams seeded alike are identical (which would, for example, tie the
    events a network holds out to the prior draws of the sample).
    """
    return tuple(int(s) for s in np.random.SeedSequence(seed).generate_state(4))


def run_demo(
    problem: str = "gauss1d",
    out: str | os.PathLike = "roosbi-demo",
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int = 50_000,
    estimator_settings: dict | None = None,
    normalize: bool = True,
    morph_setting: str = "Linear",
    n_templates: int = 5,
    progress: bool = True,
    plots: bool = True,
) -> dict:
    """Run roosbi end to end and write results.json, report.md, PNGs, model.onnx, workspace.root.

    Parameters
    ----------
    problem : str
        Built-in problem name.
    out : path
        Output directory (created).
    seed : int
        Seeds the observed data, the training sample, the network and the templates.
    estimator : {"torch", "sklearn"}
        Which parameterized classifier to train.
    device : {"auto", "cpu", "cuda"}
        Torch only.
    n_train : int
        Target events for training; as many reference events are drawn.
    estimator_settings : dict, optional
        Extra keyword arguments for the estimator.
    normalize : bool
        Normalise the learned pdf over the observables (see :func:`roosbi.roofit.learned_pdf`).
    morph_setting, n_templates
        Morphing baseline settings; each template gets ``n_train / n_templates`` events.
    progress : bool
        Progress bars.
    plots : bool
        Write the PNG figures.

    Returns
    -------
    dict
        The content of results.json.
    """
    t_start = time.perf_counter()
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    library = load_library()

    seed_data, seed_sample, seed_net, seed_templates = stage_seeds(seed)
    prob = make_problem(problem, seed=seed_data)
    ws = prob.workspace
    t0 = time.perf_counter()
    sample = simulate(prob, n_target=n_train, seed=seed_sample)
    simulate_s = time.perf_counter() - t0

    settings = dict(estimator_settings or {})
    settings.setdefault("seed", seed_net)
    settings.setdefault("progress", progress)
    if estimator == "torch":
        settings.setdefault("device", device)
    est = make_estimator(estimator, **settings)
    t0 = time.perf_counter()
    est.fit(sample)
    train_s = time.perf_counter() - t0
    onnx_path = est.to_onnx(out / "model.onnx")

    ratio = learned_ratio(onnx_path, workspace=ws, name="learned_ratio")
    observables = [prob.var(n) for n in prob.observables]
    pdf = learned_pdf(ratio, observables, ws.pdf(prob.reference_pdf), name="learned_pdf", normalize=normalize)
    ws.Import(pdf, Silence=True)
    morphed_pdf(
        prob, n_templates=n_templates, n_events=n_train // n_templates, setting=morph_setting, seed=seed_templates
    )

    t0 = time.perf_counter()
    pdfs = {"analytic": prob.target_pdf, "learned": "learned_pdf", "morphed": "morphed_pdf"}
    fits, nlls = _fit_all(prob, pdfs)
    fit_s = time.perf_counter() - t0

    _annotate_workspace(prob, pdfs)
    _write_workspace(ws, out / "workspace.root")
    _copy_library(library, out)
    figures = _figures(prob, est, ratio, fits, nlls, out) if plots else {}
    timings = {
        "simulate_s": simulate_s,
        "train_s": train_s,
        "fit_s": fit_s,
        "total_s": time.perf_counter() - t_start,
    }
    results = results_dict(
        problem=prob.name,
        seed=seed,
        versions={"roosbi": __version__, "root": str(ROOT.gROOT.GetVersion())},
        truth=prob.truth,
        fits=fits,
        training={
            "estimator": estimator,
            "n_train": len(sample),
            "epochs": est.n_epochs_,
            "time_s": train_s,
            "device": est.device_,
        },
        timings=timings,
    )
    write_json(results, out / "results.json")
    how = "normalised over x by fixed Gauss-Legendre quadrature" if normalize else "self-normalised"
    n_template = n_train // n_templates
    notes = [
        f"Learned pdf: RooLearnedRatio {how}.",
        f"Morphing: RooMomentMorphFuncND ({morph_setting}), {n_templates} templates of {n_template} events.",
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")' "
        f"(library: {library}).",
    ]
    write_atomic(out / "report.md", markdown_report(results, fits, figures, notes).encode())
    log.info("wrote %s", out)
    return results


def _fit_all(prob: Problem, pdfs: dict[str, str]):
    """Fit each pdf's NLL on the observed data from the same start; return fits and NLLs."""
    ws = prob.workspace
    data = prob.data()
    params = [prob.var(n) for n in prob.parameters]
    start = {p.GetName(): 0.5 * (p.getMin() + p.getMax()) for p in params}
    fits, nlls = {}, {}
    ROOT = import_root()
    for name, pdf_name in pdfs.items():
        # RooMomentMorphFuncND evaluates its unused non-linear terms (0 * inf) when it is set up,
        # which RooFit reports as evaluation errors; count them instead of printing them.
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
        ROOT.RooAbsReal.clearEvalErrorLog()
        nlls[name] = create_nll(ws.pdf(pdf_name), data)
        fits[name] = fit_nll(nlls[name], params, start)
        if n_errors := ROOT.RooAbsReal.numEvalErrors():
            # Expected for the morph (see above); anywhere else it is worth a look.
            level = logging.INFO if name == "morphed" else logging.WARNING
            log.log(level, "%s NLL: %d RooFit evaluation errors counted", name, n_errors)
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
    return fits, nlls


def _annotate_workspace(prob: Problem, pdfs: dict[str, str]) -> None:
    """Record, inside the workspace, what macros/fit_workspace.C should fit and on which data."""
    ROOT = import_root()
    ws = prob.workspace
    for name, pdf_name in pdfs.items():
        ws.pdf(pdf_name).setStringAttribute("roosbi_nll", name)
    ws.defineSet("roosbi_parameters", ",".join(prob.parameters))
    ws.Import(ROOT.TNamed("roosbi_observed_data", prob.observed_data), True)


def _copy_library(library: Path, out: Path) -> None:
    """Put the library (with its rootmap and dictionary .pcm) beside workspace.root for macros."""
    for src in library.parent.iterdir():
        if src.suffix in (".so", ".pcm", ".rootmap"):
            tmp = out / f".{src.name}.tmp"
            shutil.copy2(src, tmp)
            os.replace(tmp, out / src.name)


def _write_workspace(ws, path: Path) -> None:
    """Write the workspace atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp.root")
    ws.writeToFile(str(tmp), True)
    if not tmp.is_file():
        raise OSError(f"could not write the workspace to {path}")
    os.replace(tmp, path)


def _figures(prob: Problem, est, ratio, fits, nlls, out: Path) -> dict[str, str]:
    from .plotting import plot_delta_nll, plot_ratio, plot_training

    ws = prob.workspace
    par = prob.var(prob.parameters[0])
    values = scan_range(fits, par)
    scan = Scan(par.GetName(), values)
    for name, nll in nlls.items():
        scan.delta_nll[name] = scan_nll(nll, par, values, fits[name].nll_min)
    plot_delta_nll(scan, fits, prob.truth.get(par.GetName()), out / "delta_nll.png")

    x = prob.var(prob.observables[0])
    xs = np.linspace(x.getMin(), x.getMax(), 400)
    curves = {}
    truth = prob.truth.get(par.GetName(), 0.5 * (par.getMin() + par.getMax()))
    for value in sorted({par.getMin() + 0.25 * (par.getMax() - par.getMin()), truth}):
        learned = evaluate_log_ratio(ratio, np.column_stack([xs, np.full_like(xs, value)]))
        curves[value] = (np.exp(learned), _exact_ratio(prob, xs, value))
    plot_ratio(xs, curves, x.GetName(), par.GetName(), out / "ratio.png")
    plot_training(est.history_, est.name, out / "training.png")
    ws.var(par.GetName()).setVal(fits["analytic"].params[par.GetName()].value)
    return {"Delta NLL": "delta_nll.png", "learned vs exact ratio": "ratio.png", "training": "training.png"}


def _pdf_values(pdf, var, xs: np.ndarray) -> np.ndarray:
    """A pdf normalised over ``var`` at each point of ``xs`` (a few hundred points: a loop is fine)."""
    ROOT = import_root()
    norm = ROOT.RooArgSet(var)
    saved = var.getVal()
    out = np.empty(len(xs))
    for i, value in enumerate(xs):
        var.setVal(float(value))
        out[i] = pdf.getVal(norm)
    var.setVal(saved)
    return out


def _exact_ratio(prob: Problem, xs: np.ndarray, value: float) -> np.ndarray:
    """p(x|theta) / p_ref(x) from the workspace's pdfs."""
    ws = prob.workspace
    par, x = prob.var(prob.parameters[0]), prob.var(prob.observables[0])
    saved = par.getVal()
    par.setVal(value)
    ratio = _pdf_values(ws.pdf(prob.target_pdf), x, xs) / _pdf_values(ws.pdf(prob.reference_pdf), x, xs)
    par.setVal(saved)
    return ratio
