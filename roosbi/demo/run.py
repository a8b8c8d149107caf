"""The demo's driver: settings checks, the pipeline's stages in order, the fits and the files."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..checks import check_training_memory
from ..data.problems import Problem, make_problem
from ..data.simulate import simulate
from ..exceptions import InputError
from ..inference import create_nll, fit_nll, fit_pdfs
from ..interrupts import checkpoint, deferred_interrupts
from ..library import LIBRARY_FILES, import_root, load_library
from ..morphing import MAX_TEMPLATES
from ..onnx import atomic_path, write_atomic
from ..output_dir import publish, staging
from ..report import markdown_report, results_dict, write_json
from ..report.demo_figures import mixture_figures, problem_figures
from ..workspace import mark_fits
from . import terms as term_stages
from .diagnostics import check_seed, marginal_normalization_report, normalization_notes, normalization_report
from .methods import learn, simulate_training, training_summary
from .pdfs import member_pdf, mixture_pdfs, morphing_pdfs, term_pdfs
from .settings import (
    CALIBRATION_SHARE,
    DEMO_DEFAULTS,
    STUDY_DEFAULTS,
    check_demo_settings,
    check_methods,
)

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
    n_train: int | None = None,
    estimator_settings: dict | None = None,
    normalize: bool = True,
    morph_setting: str = "Linear",
    n_templates: int | None = None,
    progress: bool = True,
    plots: bool = True,
    n_bins: int | None = None,
    methods: Sequence[str] | str = ("carl",),
    bootstrap: bool = False,
    calibration: str | None = None,
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
    methods : sequence of str, or str
        Training methods (:data:`DEMO_METHODS`; a comma-separated string works too): ``"carl"``
        (the classifier), the gold methods of :mod:`roosbi.estimators.losses` (``"alices"``,
        ``"rascal"`` …, which need a problem whose simulator knows the joint ratio and score:
        every problem with latent variables, and the others through their exact pdf), and
        ``"sally"`` (the local score at the reference point, with a template fit of it). With one
        method its fit is called ``learned`` and its model ``model.onnx``; with several, each is
        ``learned_<method>`` with ``model_<method>.onnx``.
    bootstrap : bool
        Torch ratio methods: train each ensemble member on its own bootstrap resample of the
        training sample (``TorchRatioEstimator(bootstrap=True)``), then fit each member's own
        learned pdf (normalised as the main one) to the observed data, without MINOS. The standard
        deviation of a parameter over the members is the learned likelihood's training-statistics
        uncertainty: ``fits[key]["params"][p]["training_error"]`` in results.json, each member's
        fit under ``fits[key]["members"]``, and a table in report.md. The member fits are not
        marked in the workspace. Not for SALLY or the term-sample problems (eft).
    calibration : {"normalization", "isotonic", "histogram", "none"}, optional
        Mixture only (its default: ``"normalization"``): :data:`CALIBRATION_SHARE` of the training
        events is held out from the network, and the calibration of r
        (:func:`roosbi.stats.calibration.fit_calibration`) is fitted on them and stored in the
        ``RooLearnedRatio``. results.json records it under ``"calibration"`` (the normalisation
        check E_b[r] with its error, the correction, the reliability curves) whatever the method,
        ``"none"`` included.

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
        check_demo_settings(
            problem,
            seed,
            estimator,
            device,
            n_train,
            n_templates,
            n_bins,
            morph_setting,
            methods,
            bootstrap,
            calibration,
        )
        methods = check_methods(methods, problem, estimator)
        return staged_pipeline(
            out,
            interrupts,
            problem=problem,
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
            methods=methods,
            bootstrap=bool(bootstrap),
            calibration=calibration or "normalization",
        )


def staged_pipeline(out: Path, interrupts, **settings) -> dict:
    """:func:`pipeline` into a staging directory inside ``out``, its files moved into place at the end.

    ``interrupts`` is the :func:`~roosbi.interrupts.deferred_interrupts` guard of the caller: once
    the files are in place, a later Ctrl-C does not undo them.
    """
    with staging(out) as stage:
        results = pipeline(out=out, stage=stage, **settings)
        checkpoint()
        publish(stage, out)
        interrupts.done()
    log.info("wrote %s", out)
    return results


def pipeline(
    *,
    problem: str | Problem,
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
    methods: list[str],
    bootstrap: bool = False,
    calibration: str = "normalization",
    reference: str | None = None,
    analytic: str | None = None,
    source: dict | None = None,
    extra_notes: list[str] | None = None,
) -> dict:
    """The stages of :func:`run_demo`, writing into ``stage``; what is written names ``out``.

    ``problem`` is a built-in problem's name (:func:`run_demo`) or a ready Problem
    (:func:`~roosbi.run.study.run_problem`, which alone passes ``reference``, ``analytic``,
    ``source`` and ``extra_notes``).
    """
    t_start = time.perf_counter()
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    library = load_library()

    seed_data, seed_sample, seed_net, seed_templates = stage_seeds(seed)
    builtin = isinstance(problem, str)
    if builtin:
        prob = make_problem(problem, seed=seed_data)
        defaults = DEMO_DEFAULTS.get(problem, DEMO_DEFAULTS["gauss1d"])
    else:
        prob, defaults = problem, STUDY_DEFAULTS
    if prob.nuisance_parameters:  # profiled nuisance parameters: roosbi/demo/syst.py
        from .syst import syst_pipeline

        syst_settings = {
            "seed": seed,
            "estimator": estimator,
            "device": device,
            "n_train": defaults["n_train"] if n_train is None else n_train,
            "estimator_settings": estimator_settings,
            "morph_setting": morph_setting,
            "n_templates": defaults.get("n_templates", 5) if n_templates is None else n_templates,
            "progress": progress,
            "plots": plots,
            "analytic": analytic,
            "source": source,
            "notes": list(extra_notes or []),
        }
        return syst_pipeline(prob, out=out, stage=stage, settings=syst_settings, t_start=t_start, library=library)
    is_mixture = "signal" in prob.components and "background" in prob.components
    marginal = reference == "marginal"
    if marginal:  # p(x) is unknown: -sum log r is the NLL up to a constant in theta
        normalize = False
    n_train = defaults["n_train"] if n_train is None else n_train
    # Target and reference rows; columns: observables, parameters, label, weight, and the gold.
    n_columns = len(prob.observables) + 2 * len(prob.parameters) + 3
    check_training_memory(2 * n_train, n_columns)
    if "n_templates" in defaults:
        n_templates = defaults["n_templates"] if n_templates is None else n_templates
        if n_templates ** len(prob.parameters) > MAX_TEMPLATES:
            raise InputError(
                f"{n_templates} templates per parameter make a grid of {n_templates ** len(prob.parameters)} "
                f"templates for the {len(prob.parameters)} parameters of '{prob.name}', more than {MAX_TEMPLATES}: "
                + ("lower --templates" if builtin else "lower --morph-grid")
            )
    checkpoint()
    t0 = time.perf_counter()
    # A generator's term sample (the eft problem) replaces simulation at parameter points.
    terms = None
    if builtin and prob.name in term_stages.TERM_SAMPLES:
        terms = term_stages.term_sample(prob, n_train, seed_sample)
    if terms is not None:
        sample = term_stages.training_sample(prob, terms, n_train, seed_sample)
    elif marginal:  # no gold against the marginal: run_study refuses the methods that need it
        sample = simulate(prob, n_target=n_train, seed=seed_sample, reference="marginal")
    else:
        sample = simulate_training(prob, n_train, seed_sample, methods, is_mixture)
    held_out = None
    if is_mixture:  # the calibration's events, which the network never sees
        sample, held_out = sample.split(CALIBRATION_SHARE, seed_sample)
    simulate_s = time.perf_counter() - t0

    settings = {
        "estimator": estimator,
        "device": device,
        "settings": estimator_settings,
        "progress": progress,
        "bootstrap": bootstrap,
    }
    learned = [learn(prob, sample, method, methods, settings, seed_net, stage, n_train, terms) for method in methods]
    t0 = time.perf_counter()  # the learned pdfs and the baselines (the morphing templates are simulated here)
    if is_mixture:
        pdfs, notes, ratio_calibration = mixture_pdfs(
            prob, learned[0].ratio, sample, n_bins or defaults["n_bins"], held_out, calibration
        )
    elif terms is not None:
        pdfs, notes = term_pdfs(prob, learned, terms, normalize, n_bins or defaults["n_bins"])
    else:
        pdfs, notes = morphing_pdfs(prob, learned, normalize, morph_setting, n_templates, n_train, seed_templates)
    if analytic:
        pdfs["analytic"] = analytic
    notes[:0] = extra_notes or []  # where the model came from, first
    pdfs_s = time.perf_counter() - t0
    checkpoint()

    t0 = time.perf_counter()
    # Polynomial models have several local minima (a coupling's sign): a grid scan picks MIGRAD's start.
    fits, nlls = _fit_all(prob, pdfs, global_search=terms is not None)
    fit_s = time.perf_counter() - t0
    checkpoint()

    save_workspace(prob.workspace, stage, library, pdfs, prob.observed_data, prob.parameters)
    checkpoint()
    figures = {}
    if plots:
        # Against the marginal there is no density p(x) to draw the exact ratio with.
        ratios = {} if marginal else {item.key: item.ratio for item in learned if item.ratio is not None}
        histories = {item.method: item.estimator.history_ for item in learned}
        if is_mixture:
            figures = mixture_figures(
                prob, learned[0].estimator, learned[0].ratio, sample, fits, nlls, stage, ratio_calibration
            )
        else:
            figures = problem_figures(prob, histories, ratios, fits, nlls, stage, pdfs=pdfs)
    train_s = sum(item.train_s for item in learned)
    timings = {"simulate_s": simulate_s, "train_s": train_s, "pdfs_s": pdfs_s, "fit_s": fit_s}
    if bootstrap:
        t0 = time.perf_counter()
        members = _member_fits(prob, learned, normalize, is_mixture, (held_out, calibration))
        timings["member_fit_s"] = time.perf_counter() - t0
        notes.append(
            "Training-statistics uncertainty: each ensemble member trained on its own bootstrap resample of the "
            "training sample (Poisson(1) event weights) and its own learned pdf fitted to the observed data; the "
            "standard deviation of the fitted values over the members is the training error."
        )
    timings["total_s"] = time.perf_counter() - t_start
    results = results_dict(
        problem=prob.name,
        seed=seed,
        truth=prob.truth,
        fits=fits,
        training=training_summary(estimator, sample, learned),
        timings=timings,
    )
    if source is not None:
        results["source"] = source
    if bootstrap:
        add_member_fits(results, members)
    if is_mixture:
        results["calibration"] = {"held_out_share": CALIBRATION_SHARE, **ratio_calibration.as_dict()}
    elif marginal:
        results["normalization_check"] = marginal_normalization_report(prob, learned, check_seed(seed))
        notes.extend(normalization_notes(results["normalization_check"]))
    elif terms is None:
        results["normalization_check"] = normalization_report(prob, learned, check_seed(seed))
        notes.extend(normalization_notes(results["normalization_check"]))
    write_json(results, stage / "results.json")
    notes.append(
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")' "
        f"(library: {library})."
    )
    report = with_data_origin(markdown_report(results, fits, figures, notes), prob, source)
    write_atomic(stage / "report.md", report.encode())
    return results


def _fit_all(prob: Problem, pdfs: dict[str, str], global_search: bool = False):
    """Fit each pdf's NLL on the observed data from the same start (or each from its grid scan); fits and NLLs."""
    params = [prob.var(n) for n in prob.parameters]
    return fit_pdfs(prob.workspace, pdfs, prob.data(), params, global_search)


def _member_fits(prob: Problem, learned, normalize: bool, is_mixture: bool, calibration) -> dict[str, list]:
    """Fit each member of each torch ratio method on the observed data (MIGRAD and HESSE); fits by method key.

    Every fit starts where the main fits start (the middle of each parameter's range). The members'
    pdfs are built by :func:`~roosbi.demo.pdfs.member_pdf` and never enter the workspace.
    """
    data = prob.data()
    params = [prob.var(n) for n in prob.parameters]
    start = {p.GetName(): 0.5 * (p.getMin() + p.getMax()) for p in params}
    out = {}
    for item in learned:
        if item.ratio is None or not getattr(item.estimator, "bootstrap", False):
            continue
        fits = []
        for k in range(item.estimator.n_members):
            checkpoint()
            pdf, ratio = member_pdf(prob, item, k, normalize, is_mixture, calibration)
            nll = create_nll(pdf, data)
            fits.append(fit_nll(nll, params, start, minos=False))
            del nll, pdf, ratio
        out[item.key] = fits
        values = {p: [f.params[p].value for f in fits] for p in prob.parameters}
        log.info("%s members: %s", item.key, values)
    return out


def add_member_fits(results: dict, members: dict[str, list]) -> None:
    """Put each member's fitted values and their spread (the training error) into ``results["fits"]``.

    ``fits[key]["members"]`` lists ``{"status", "at_limit", "params": {p: value}}`` per member, and
    ``fits[key]["params"][p]["training_error"]`` is the standard deviation over the members
    (``ddof=1``; 0 for a single member).
    """
    for key, fits in members.items():
        entry = results["fits"][key]
        entry["members"] = [
            {"status": f.status, "at_limit": list(f.at_limit), "params": {p: r.value for p, r in f.params.items()}}
            for f in fits
        ]
        for p, summary in entry["params"].items():
            values = np.array([f.params[p].value for f in fits])
            summary["training_error"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def with_data_origin(report: str, prob: Problem, source: dict | None) -> str:
    """report.md with its first line naming the observed data when they were given, not generated."""
    if prob.truth:
        return report
    origin = f" of '{source['workspace']}'" if source and "workspace" in source else ""
    return report.replace(
        "Observed data generated with . ",
        f"Observed data: '{prob.observed_data}'{origin} ({prob.data().numEntries()} entries). ",
        1,
    )


def save_workspace(ws, stage: Path, library: Path, pdfs: dict[str, str], data, parameters) -> None:
    """Mark the fits (:func:`roosbi.mark_fits`), write ``stage/workspace.root`` and put the library beside it.

    Every command that writes a workspace does it this way, so that ``macros/fit_workspace.C``,
    ``roosbi validate``, ``roosbi hypotest`` and ``roosbi fit`` can read any of them.
    """
    mark_fits(ws, pdfs, data, parameters)
    _write_workspace(ws, stage / "workspace.root")
    _copy_library(library, stage)


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
