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
from .exceptions import InputError
from .inference import create_nll, fit_nll
from .interrupts import checkpoint, deferred_interrupts, interruptible
from .library import LIBRARY_FILES, import_root, load_library
from .mixture import mixture_pdf, simulate_components, template_pdf
from .morphing import MAX_TEMPLATES, SETTINGS, morphed_pdf
from .onnx import atomic_path, write_atomic
from .output_dir import publish, staging
from .problems import Problem, make_problem
from .report import markdown_report, results_dict, write_json
from .report.demo_figures import mixture_figures, problem_figures
from .roofit import evaluate_log_ratio, learned_pdf, learned_ratio
from .simulate import simulate
from .workspace import mark_fits

log = logging.getLogger(__name__)


#: Each built-in problem's training budget, as in the ROOT tutorial it follows: the morphing
#: baseline gets n_templates points per parameter of n_train / n_templates events each; the
#: mixture's template baseline fills n_bins score bins from the training sample itself.
DEMO_DEFAULTS = {
    "gauss1d": {"n_train": 50_000, "n_templates": 5},  # rf615
    "gauss2d": {"n_train": 40_000, "n_templates": 4},  # rf617: a 4 x 4 grid of 10 000 events
    "mixture": {"n_train": 50_000, "n_bins": 30},  # rf618: signal vs background, no parameter input
}


def stage_seeds(seed: int) -> tuple[int, int, int, int]:
    """Seeds of the observed data, the training sample, the network and the templates.

    Independent streams drawn from one seed: seeds like ``seed`` and ``seed + 1000`` collide
    between runs, and numpy streams seeded alike are identical (which would, for example, tie the
    events a network holds out to the prior draws of the sample).
    """
    return tuple(int(s) for s in np.random.SeedSequence(seed).generate_state(4))


#: Fewest training events (per class) run_demo accepts: fewer leave the held-out validation
#: events and the score templates nearly empty.
MIN_N_TRAIN = 100
#: Fewest events per morphing template (n_train // n_templates).
MIN_TEMPLATE_EVENTS = 10


def check_demo_settings(
    problem: str = "gauss1d",
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    n_templates: int | None = None,
    n_bins: int | None = None,
    morph_setting: str = "Linear",
) -> None:
    """Check :func:`run_demo`'s settings before any work (ROOT is not needed; torch is, for its device).

    Raises
    ------
    InputError
        Naming the first bad setting and what it may be.
    """
    from .estimators.torch_mlp import resolve_device
    from .problems import PROBLEMS

    if problem not in PROBLEMS:
        raise InputError(f"unknown problem '{problem}'; choose one of: {', '.join(PROBLEMS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"the seed must be an integer >= 0 (numpy seeds are non-negative), not {seed!r}")
    if estimator not in ("torch", "sklearn"):
        raise InputError(f"estimator must be 'torch' or 'sklearn', not {estimator!r}")
    if estimator == "torch":
        try:
            resolve_device(device)
        except ModuleNotFoundError as err:
            raise InputError(str(err)) from err
    defaults = DEMO_DEFAULTS.get(problem, DEMO_DEFAULTS["gauss1d"])
    n_train = defaults["n_train"] if n_train is None else n_train
    if n_train < MIN_N_TRAIN:
        raise InputError(f"n_train must be at least {MIN_N_TRAIN} events, not {n_train}")
    if "n_bins" in defaults:
        if n_bins is not None and n_bins < 2:
            raise InputError(f"the score templates need at least 2 bins, not {n_bins}")
        return
    n_templates = defaults["n_templates"] if n_templates is None else n_templates
    if n_templates < 2:
        raise InputError(f"morphing needs at least 2 templates per parameter, not {n_templates}")
    if n_train // n_templates < MIN_TEMPLATE_EVENTS:
        raise InputError(
            f"{n_train} training events make templates of {n_train // n_templates} events ({n_templates} per "
            f"parameter); each needs at least {MIN_TEMPLATE_EVENTS}: raise n_train or lower n_templates"
        )
    if morph_setting not in SETTINGS:
        raise InputError(f"unknown morphing setting '{morph_setting}'; choose one of: {', '.join(SETTINGS)}")


def run_demo(
    problem: str = "gauss1d",
    out: str | os.PathLike = "roosbi-demo",
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    estimator_settings: dict | None = None,
    normalize: bool = True,
    morph_setting: str = "Linear",
    n_templates: int | None = None,
    progress: bool = True,
    plots: bool = True,
    n_bins: int | None = None,
) -> dict:
    """Run roosbi end to end and write results.json, report.md, PNGs, model.onnx, workspace.root.

    Parameters
    ----------
    problem : str
        Built-in problem name. ``"mixture"`` (rf618) learns the signal/background ratio without
        parameter input and compares the learned mixture NLL with a score template fit instead
        of morphing.
    out : path
        Output directory (created if needed). The run writes into a staging directory inside it
        (``.roosbi-partial-*``) and moves its files into place only at the end, removing an
        earlier run's files that it did not write again (names of :data:`roosbi.output_dir.OUTPUT_FILES` only);
        other files in ``out`` stay. On an error or Ctrl-C, ``out`` is left as it was.
    seed : int
        Seeds the observed data, the training sample, the network and the templates.
    estimator : {"torch", "sklearn"}
        Which classifier to train.
    device : {"auto", "cpu", "cuda"}
        Torch only.
    n_train : int, optional
        Target (mixture: signal) events for training; as many reference (background) events are
        drawn. Default: the problem's entry in :data:`DEMO_DEFAULTS`.
    estimator_settings : dict, optional
        Extra keyword arguments for the estimator.
    normalize : bool
        Normalise the learned pdf over the observables (see :func:`roosbi.roofit.learned_pdf`).
        Not used by the mixture (see :func:`roosbi.mixture.mixture_pdf`).
    morph_setting, n_templates
        Morphing baseline settings: ``n_templates`` grid points per parameter, each template gets
        ``n_train / n_templates`` events. Not used by the mixture.
    progress : bool
        Progress bars.
    plots : bool
        Write the PNG figures.
    n_bins : int, optional
        Mixture only: bins of the score templates (default in :data:`DEMO_DEFAULTS`).

    Returns
    -------
    dict
        The content of results.json.

    Raises
    ------
    InputError
        For a bad setting (:func:`check_demo_settings`) or an output directory that cannot be
        written (:func:`roosbi.output_dir.check_output_dir`), before any work.
    KeyboardInterrupt
        On Ctrl-C, at the next safe point (:mod:`roosbi.interrupts`), ``out`` as it was.
    """
    out = Path(out)
    # Ctrl-C is honoured at safe points only (roosbi.interrupts). Every file is written into a
    # staging directory inside `out` (making it is also the check that `out` is writable, before
    # any work) and moved into place when the run is complete: an interrupted or failed run leaves
    # `out` exactly as it was.
    with deferred_interrupts() as interrupts:
        check_demo_settings(problem, seed, estimator, device, n_train, n_templates, n_bins, morph_setting)
        with staging(out) as stage:
            results = _pipeline(
                problem=problem,
                out=out,
                stage=stage,
                seed=seed,
                estimator=estimator,
                device=device,
                n_train=n_train,
                estimator_settings=estimator_settings,
                normalize=normalize,
                morph_setting=morph_setting,
                n_templates=n_templates,
                progress=progress,
                plots=plots,
                n_bins=n_bins,
            )
            checkpoint()
            publish(stage, out)
            interrupts.done()  # the results are in place: a later Ctrl-C does not undo them
    log.info("wrote %s", out)
    return results


def _pipeline(
    *,
    problem: str,
    out: Path,
    stage: Path,
    seed: int,
    estimator: str,
    device: str,
    n_train: int | None,
    estimator_settings: dict | None,
    normalize: bool,
    morph_setting: str,
    n_templates: int | None,
    progress: bool,
    plots: bool,
    n_bins: int | None,
) -> dict:
    """The stages of :func:`run_demo`, writing into ``stage``; what is written names ``out``."""
    t_start = time.perf_counter()
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    library = load_library()

    seed_data, seed_sample, seed_net, seed_templates = stage_seeds(seed)
    prob = make_problem(problem, seed=seed_data)
    is_mixture = bool(prob.components)
    defaults = DEMO_DEFAULTS.get(problem, DEMO_DEFAULTS["gauss1d"])
    n_train = defaults["n_train"] if n_train is None else n_train
    if not is_mixture:
        n_templates = defaults["n_templates"] if n_templates is None else n_templates
        if n_templates ** len(prob.parameters) > MAX_TEMPLATES:
            raise InputError(
                f"{n_templates} templates per parameter make a grid of {n_templates ** len(prob.parameters)} "
                f"templates for the {len(prob.parameters)} parameters of '{problem}', more than {MAX_TEMPLATES}: "
                "lower --templates"
            )
    checkpoint()
    t0 = time.perf_counter()
    if is_mixture:
        sample = simulate_components(prob, n_signal_events=n_train, seed=seed_sample)
    else:
        sample = simulate(prob, n_target=n_train, seed=seed_sample)
    simulate_s = time.perf_counter() - t0

    with interruptible():  # torch or scikit-learn only: Ctrl-C may stop it at once
        est, train_s = _train(sample, estimator, device, estimator_settings, seed_net, progress)
    onnx_path = est.to_onnx(stage / "model.onnx")
    checkpoint()
    ratio = learned_ratio(onnx_path, workspace=prob.workspace, name="learned_ratio")
    if is_mixture:
        pdfs, notes = _mixture_pdfs(prob, ratio, sample, n_bins or defaults["n_bins"])
    else:
        pdfs, notes = _morphing_pdfs(prob, ratio, normalize, morph_setting, n_templates, n_train, seed_templates)
    checkpoint()

    t0 = time.perf_counter()
    fits, nlls = _fit_all(prob, pdfs)
    fit_s = time.perf_counter() - t0
    checkpoint()

    _annotate_workspace(prob, pdfs)
    _write_workspace(prob.workspace, stage / "workspace.root")
    _copy_library(library, stage)
    checkpoint()
    figures = {}
    if plots:
        if is_mixture:
            figures = mixture_figures(prob, est, ratio, sample, fits, nlls, stage)
        else:
            figures = problem_figures(prob, est, ratio, fits, nlls, stage)
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
    write_json(results, stage / "results.json")
    notes.append(
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")' "
        f"(library: {library})."
    )
    write_atomic(stage / "report.md", markdown_report(results, fits, figures, notes).encode())
    return results


def _train(sample, estimator: str, device: str, settings: dict | None, seed: int, progress: bool):
    """Fit the named estimator on the sample; return it and the training time."""
    settings = dict(settings or {})
    settings.setdefault("seed", seed)
    settings.setdefault("progress", progress)
    if estimator == "torch":
        settings.setdefault("device", device)
    est = make_estimator(estimator, **settings)
    t0 = time.perf_counter()
    est.fit(sample)
    return est, time.perf_counter() - t0


def _morphing_pdfs(
    prob: Problem, ratio, normalize: bool, morph_setting: str, n_templates: int, n_train: int, seed: int
) -> tuple[dict[str, str], list[str]]:
    """The learned pdf r p_ref and the morphing baseline, in the workspace; their names and report notes."""
    ws = prob.workspace
    observables = [prob.var(n) for n in prob.observables]
    pdf = learned_pdf(ratio, observables, ws.pdf(prob.reference_pdf), name="learned_pdf", normalize=normalize)
    ws.Import(pdf, Silence=True)
    n_template = n_train // n_templates
    morphed_pdf(prob, n_templates=n_templates, n_events=n_template, setting=morph_setting, seed=seed)
    # RooMomentMorphFuncND over several parameters: the vectorised backend takes seconds to set up
    # and gives a different NLL (ROOT's rf617 has the same note), so that one uses the legacy one.
    if len(prob.parameters) > 1:
        ws.pdf("morphed_pdf").setStringAttribute("roosbi_backend", "legacy")
        # It also integrates the moments of each multi-dimensional template adaptively and, when
        # the objects are deleted, prints a warning per template and moment that the target
        # precision was not always reached (harmless for the fit): 64 lines for a 4 x 4 grid.
        ROOT = import_root()
        msg = ROOT.RooMsgService.instance()
        for i in range(msg.numStreams()):
            msg.getStream(i).removeTopic(ROOT.RooFit.NumericIntegration)
    how = "normalised over x by fixed Gauss-Legendre quadrature" if normalize else "self-normalised"
    notes = [
        f"Learned pdf: RooLearnedRatio {how}.",
        f"Morphing: RooMomentMorphFuncND ({morph_setting}), {n_templates ** len(prob.parameters)} templates of "
        f"{n_template} events ({n_templates} per parameter).",
    ]
    return {"analytic": prob.target_pdf, "learned": "learned_pdf", "morphed": "morphed_pdf"}, notes


def _mixture_pdfs(prob: Problem, ratio, sample, n_bins: int) -> tuple[dict[str, str], list[str]]:
    """The learned mixture pdf and the score template baseline, in the workspace; names and notes."""
    ws = prob.workspace
    comp = prob.components
    mu = prob.var(prob.parameters[0])
    pdf = mixture_pdf(ratio, mu, ws.var(comp["n_signal"]), ws.var(comp["n_background"]), name="learned_pdf")
    ws.Import(pdf, Silence=True)
    template_pdf(prob, ratio, sample, n_bins=n_bins, name="template_pdf")
    # The integral of r p_b over x is 1 for the exact ratio. A learned ratio off by a factor c makes
    # the mixture density integrate to (mu S c + B) / (mu S + B), and the fitted mu moves up for
    # c > 1. The mean over the training background catches a gross miscalibration only: the
    # classifier was fitted to those very events, so their statistical error does not show.
    calibration = float(np.mean(np.exp(evaluate_log_ratio(ratio, sample.x[sample.y == 0]))))
    n_signal, n_background = ws.var(comp["n_signal"]).getVal(), ws.var(comp["n_background"]).getVal()
    notes = [
        f"Mixture (rf618): S = {n_signal:g} signal events at mu = 1, B = {n_background:g} background events; "
        "the classifier learns r(x) = p_s(x)/p_b(x) with no parameter input.",
        "Learned pdf: f(x|mu) = (mu S r(x) + B)/(mu S + B), RooWrapperPdf (self-normalised) in a RooExtendPdf with "
        "mu S + B expected events: the NLL is mu S + B - sum log(mu S r(x_i) + B) + const, the mixture likelihood.",
        f"Calibration check: mean learned r over the background training events = {calibration:.4f} (the integral "
        "of r p_b, 1 for the exact ratio; a factor c > 1 makes the mixture density integrate to more than 1 and "
        "pulls mu up).",
        f"Template baseline: {n_bins} equal bins of the score r/(1+r) in [0, 1] filled with the training sample "
        "(+1 per bin), RooHistPdf templates, extended RooAddPdf mu S T_s + B T_b fitted to the observed scores.",
    ]
    return {"analytic": prob.target_pdf, "learned": "learned_pdf", "template": "template_pdf"}, notes


def _fit_all(prob: Problem, pdfs: dict[str, str]):
    """Fit each pdf's NLL on the observed data from the same start; return fits and NLLs."""
    ws = prob.workspace
    data = prob.data()
    params = [prob.var(n) for n in prob.parameters]
    start = {p.GetName(): 0.5 * (p.getMin() + p.getMax()) for p in params}
    fits, nlls = {}, {}
    ROOT = import_root()
    for name, pdf_name in pdfs.items():
        checkpoint()
        # RooMomentMorphFuncND evaluates its unused non-linear terms (0 * inf) whenever the
        # parameters move, which RooFit reports as evaluation errors although the value is fine:
        # count them instead of printing them, and keep them from steering MIGRAD.
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
        ROOT.RooAbsReal.clearEvalErrorLog()
        pdf = ws.pdf(pdf_name)
        # A pdf of another observable (the mixture's score templates) names its own dataset.
        own_data = pdf.getStringAttribute("roosbi_data")
        nlls[name] = create_nll(
            pdf, ws.data(own_data) if own_data else data, backend=pdf.getStringAttribute("roosbi_backend") or "cpu"
        )
        fits[name] = fit_nll(nlls[name], params, start, error_wall=name != "morphed")
        if n_errors := ROOT.RooAbsReal.numEvalErrors():
            # Expected for the morph (see above); anywhere else it is worth a look.
            level = logging.INFO if name == "morphed" else logging.WARNING
            log.log(level, "%s NLL: %d RooFit evaluation errors counted", name, n_errors)
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
    return fits, nlls


def _annotate_workspace(prob: Problem, pdfs: dict[str, str]) -> None:
    """Record, inside the workspace, what macros/fit_workspace.C should fit and on which data."""
    mark_fits(prob.workspace, pdfs, prob.observed_data, prob.parameters)


def _copy_library(library: Path, out: Path) -> None:
    """Put the library (with its rootmap and dictionary .pcm) beside workspace.root for macros."""
    for name in LIBRARY_FILES:
        with atomic_path(out / name) as tmp:
            shutil.copyfile(library.parent / name, tmp)


def _write_workspace(ws, path: Path) -> None:
    """Write the workspace atomically (temporary file, then rename)."""
    with atomic_path(path, suffix=".tmp.root") as tmp:
        ws.writeToFile(tmp, True)
        if not os.path.getsize(tmp):
            raise OSError(f"could not write the workspace to {path}")
