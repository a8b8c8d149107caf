"""The pipeline of a parameterized study from sample files: train r(x|θ), build the pdfs, fit, write the files.

:func:`run_parameterized` runs on what :func:`~roosbi.run.parameterized.parameterized_from_samples`
read. Decisions:

- The learned likelihood is r(x|θ) = p(x|θ)/p_ref(x). With a reference from a sample (a file, or
  the marginal) p_ref is unknown but does not depend on θ, so the learned pdf is self-normalised
  (``learned_pdf(..., normalize=False)``): NLL(θ) = -Σ log r(x_i|θ) + const, the same minimum
  and intervals as the true NLL. It is no density of x, so it is marked with the observed data
  as its own dataset (no toys are drawn from it, as for the mixture).
- Each reference event takes the θ of a target event (the marginal: a permutation of the target's
  θ; a reference file: every target event once before any twice, as
  :func:`~roosbi.data.samples.sample_from_trees`) and that event's weight as a factor, so that
  both classes have the same weighted θ distribution even where the grid points carry different
  weights (else log r would learn an offset in θ). Each class's weights are then scaled to the
  same total (:func:`~roosbi.data.samples.balance_classes`).
- :data:`CHECK_SHARE` of the events is held out of the training for the normalisation check
  E_ref[r(x|θ)] = 1 at the grid points (or at points over the ranges).
- The morphing baseline, when the target's θ sits on a complete product grid: a histogram per
  grid point of the training target events there (sums of weights; a negative bin is set to 0,
  and the morph adds one event per bin), ``morphed_pdf(problem, templates=...)``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from .parameterized import ParameterizedSamples, parameterized_from_samples, point_text
from .samples import _truth, run_staged

log = logging.getLogger(__name__)

#: Share of the target (and reference) events held out of the training for the normalisation check.
CHECK_SHARE = 0.1
#: The morphing templates' default binning: about this many events per bin at the smallest grid point.
EVENTS_PER_BIN = 10
#: Largest number of grid points the normalisation check visits (more: points over the ranges).
MAX_CHECK_POINTS = 25


def training_sample(samples: ParameterizedSamples, n_train: int | None, seed: int):
    """The labelled sample, the held-out reference events ``(x, w)`` for the check, and the target rows trained on."""
    from ..data.samples import balance_classes, sample_from_arrays

    rng = np.random.default_rng(seed)
    target, theta, prob = samples.target, samples.theta, samples.problem
    rows, check_rows = _split(len(target), n_train, rng)
    w_t = target.w[rows] / _scale(target.w)
    if samples.reference is None:  # the marginal: the same x, their theta permuted
        x_r, w_r = target.x[rows], w_t
        check = (target.x[check_rows], target.w[check_rows] / _scale(target.w))
    else:
        ref = samples.reference
        ref_rows, ref_check = _split(len(ref), n_train, rng)
        x_r, w_r = ref.x[ref_rows], ref.w[ref_rows] / _scale(ref.w)
        check = (ref.x[ref_check], ref.w[ref_check] / _scale(ref.w))
    rounds = -(-len(x_r) // len(rows))
    pick = np.concatenate([rng.permutation(len(rows)) for _ in range(rounds)])[: len(x_r)]
    w_r = w_r * w_t[pick]
    w = np.concatenate([w_t, w_r])
    ranges = {p: (prob.var(p).getMin(), prob.var(p).getMax()) for p in prob.parameters}
    sample = sample_from_arrays(
        np.vstack([target.x[rows], x_r]),
        np.vstack([theta[rows], theta[rows][pick]]),
        np.concatenate([np.ones(len(rows)), np.zeros(len(x_r))]),
        prob.observables,
        prob.parameters,
        weights=None if np.all(w == 1.0) else w,
        parameter_ranges=ranges,
    )
    return (sample if sample.weights is None else balance_classes(sample)), check, rows


def _split(n: int, n_train: int | None, rng) -> tuple[np.ndarray, np.ndarray]:
    """Rows for training (at most ``n_train``, drawn at random) and the held-out rows of the check."""
    order = rng.permutation(n)
    n_check = int(round(CHECK_SHARE * n))
    rows = order[n_check:] if n_train is None else order[n_check:][:n_train]
    return np.sort(rows), np.sort(order[:n_check])


def _scale(w: np.ndarray) -> float:
    """The mean weight (positive: a class's total weight is checked to be)."""
    return float(w.sum() / len(w))


def run_parameterized(
    samples: ParameterizedSamples,
    out: str | os.PathLike,
    *,
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    estimator_settings: dict | None = None,
    n_bins: int | None = None,
    morph_setting: str = "Linear",
    bootstrap: bool = False,
    progress: bool = True,
    plots: bool = True,
    notes: Sequence[str] = (),
) -> dict:
    """Train, build the learned (and morphed) pdfs, fit, and write the demo's files into ``out``.

    ``n_train``: at most that many target events for training (as many reference events), drawn
    at random (default: all). ``n_bins``: bins per observable of the morphing templates (default:
    about 10 events per bin at the smallest grid point, 5 to 50). ``bootstrap``: each ensemble
    member on a bootstrap resample, its own fit, and their spread as the training error (as
    ``roosbi demo --bootstrap``). Returns the content of results.json.
    """
    out = Path(out)
    args = (seed, estimator, device, n_train, estimator_settings, n_bins, morph_setting, bootstrap, progress, plots)
    return run_staged(out, lambda stage: _pipeline(samples, out, stage, *args, list(notes)))


def _pipeline(samples, out, stage, seed, estimator, device, n_train, estimator_settings, n_bins, morph_setting,
              bootstrap, progress, plots, extra_notes) -> dict:  # fmt: skip
    from ..demo.diagnostics import normalization_notes
    from ..demo.methods import learn, training_summary
    from ..demo.run import _fit_all, add_member_fits, save_workspace, stage_seeds
    from ..interrupts import checkpoint
    from ..library import import_root, load_library
    from ..onnx import write_atomic
    from ..report import markdown_report, results_dict, write_json
    from ..roofit import learned_pdf

    t_start = time.perf_counter()
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    library = load_library()
    _, seed_sample, seed_net, _ = stage_seeds(seed)
    prob, ws = samples.problem, samples.problem.workspace
    t0 = time.perf_counter()
    sample, (x_check, w_check), rows = training_sample(samples, n_train, seed_sample)
    simulate_s = time.perf_counter() - t0
    checkpoint()

    settings = {"estimator": estimator, "device": device, "settings": estimator_settings, "progress": progress,
                "bootstrap": bootstrap}  # fmt: skip
    learned = learn(prob, sample, "carl", ["carl"], settings, seed_net, stage, len(rows))
    t0 = time.perf_counter()
    observables = [prob.var(n) for n in prob.observables]
    ws.Import(learned_pdf(learned.ratio, observables, None, name="learned_pdf", normalize=False), Silence=True)
    # r(x|theta) is no density of x: name the observed data as its own dataset, so that roosbi
    # validate draws no toys from it (as the mixture's learned pdf); every fit uses the same data.
    ws.pdf("learned_pdf").setStringAttribute("roosbi_data", prob.observed_data)
    learned.pdf = "learned_pdf"
    pdfs = {"learned": "learned_pdf"}
    baseline = {"kind": None, "reason": samples.no_baseline}
    if not samples.no_baseline:
        baseline = _morphed(samples, rows, n_bins, morph_setting)
        pdfs["morphed"] = "morphed_pdf"
    pdfs_s = time.perf_counter() - t0
    checkpoint()

    t0 = time.perf_counter()
    fits, nlls = _fit_all(prob, pdfs)
    fit_s = time.perf_counter() - t0
    checkpoint()
    save_workspace(ws, stage, library, pdfs, prob.observed_data, prob.parameters)
    checkpoint()
    figures = _figures(prob, learned.estimator, fits, nlls, stage) if plots else {}
    timings = {"simulate_s": simulate_s, "train_s": learned.train_s, "pdfs_s": pdfs_s, "fit_s": fit_s}
    members = {}
    if bootstrap:
        t0 = time.perf_counter()
        members = _member_fits(prob, learned)
        timings["member_fit_s"] = time.perf_counter() - t0
    checks = _normalization_check(samples, learned.ratio, x_check, w_check)
    timings["total_s"] = time.perf_counter() - t_start

    results = results_dict(
        problem=prob.name,
        seed=seed,
        truth=prob.truth,
        fits=fits,
        training=training_summary(estimator, sample, [learned]),
        timings=timings,
    )
    n_target, n_reference = int((sample.y == 1).sum()), int((sample.y == 0).sum())
    results["training"]["n_target_events"], results["training"]["n_reference_events"] = n_target, n_reference
    results["source"] = samples.source
    results["learned_likelihood"] = "self-normalised r(x|theta): NLL = -sum log r(x_i|theta) + const"
    results["baseline"] = baseline
    results["normalization_check"] = checks
    if bootstrap:
        add_member_fits(results, members)
    write_json(results, stage / "results.json")

    notes = [
        *samples.notes,
        *extra_notes,
        f"Learned pdf: the classifier learns r(x|theta) = p(x|theta)/p_ref(x) from {n_target} target and "
        f"{n_reference} reference events (each reference event takes a target event's theta and weight; the classes' "
        "weights scaled to the same total). p_ref has no pdf but does not depend on theta, so the learned pdf is "
        "self-normalised: the NLL is -sum log r(x_i|theta) + const.",
        _baseline_note(baseline, prob.parameters),
        *(n.replace("fresh reference events", "held-out reference events") for n in normalization_notes(checks)),
        "Toys: the learned pdf is no density of x and there is no analytic model; see docs/run.md.",
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")' "
        f"(library: {library}).",
    ]
    report = markdown_report(results, fits, figures, notes)
    n = results["training"]["n_train"]
    report = report.replace(f"({n // 2} target + {n // 2} reference)", f"({n_target} target + {n_reference} reference)")
    n_data = prob.data().numEntries()
    if prob.truth:
        first = f"Observed data: pseudo-data at {_truth(prob.truth)} ({n_data} events) from held-out target events. "
    else:
        first = f"Observed data: {n_data} events ({samples.source['data']['files'][0]}). "
    report = report.replace(f"Observed data generated with {_truth(prob.truth, 'g')}. ", first, 1)
    write_atomic(stage / "report.md", report.encode())
    return results


def _morphed(samples: ParameterizedSamples, rows: np.ndarray, n_bins: int | None, setting: str) -> dict:
    """The morphing baseline from histograms of the training target events at each grid point; its record."""
    from ..library import import_root
    from ..morphing import _datahist, morphed_pdf

    prob, grid = samples.problem, samples.grid
    observables = [prob.var(n) for n in prob.observables]
    x, w = samples.target.x[rows], samples.target.w[rows] / _scale(samples.target.w)
    index = grid.index_of(samples.theta[rows])
    counts = np.bincount(index, minlength=len(grid.points))
    if n_bins is None:
        per_point = max(int(counts.min()), 1) / EVENTS_PER_BIN
        n_bins = int(np.clip(round(per_point ** (1.0 / len(observables))), 5, 50))
    lo = np.array([v.getMin() for v in observables])
    hi = np.array([v.getMax() for v in observables])
    templates, negative = {}, 0
    for k, point in enumerate(grid.points):
        if counts[k] == 0:
            log.warning(
                "no training event at the grid point %s: its template is flat", point_text(prob.parameters, point)
            )
        hist, _ = np.histogramdd(
            x[index == k], bins=n_bins, range=list(zip(lo, hi, strict=True)), weights=w[index == k]
        )
        negative += int((hist < 0).sum())
        hist = np.clip(hist, 0.0, None)
        # RooMomentMorphFuncND adds the templates as they are (the morph is self-normalised): each
        # must hold the same total, whatever the number of events and weights at its point.
        total = hist.sum()
        hist = hist * (counts.mean() / total) if total > 0 else hist
        templates[tuple(point)] = _datahist(hist, observables, lo, hi, f"morph_given{k}")
    if negative:
        log.warning("morphing templates: %d bins with a negative sum of weights set to 0", negative)
    morphed_pdf(prob, templates=templates, setting=setting)
    ws = prob.workspace
    if len(prob.parameters) > 1:  # as the workspace study's morph (roosbi.demo.pdfs.morphing_pdfs)
        ws.pdf("morphed_pdf").setStringAttribute("roosbi_backend", "legacy")
        ROOT = import_root()
        msg = ROOT.RooMsgService.instance()
        for i in range(msg.numStreams()):
            msg.getStream(i).removeTopic(ROOT.RooFit.NumericIntegration)
    return {
        "kind": "morphed",
        "setting": setting,
        "templates": len(grid.points),
        "n_bins": n_bins,
        "events_per_template": [int(counts.min()), int(counts.max())],
        "negative_bins_zeroed": negative,
    }


def _baseline_note(baseline: dict, parameters: list[str]) -> str:
    if baseline["kind"] is None:
        return f"Baseline: none ({baseline['reason']})."
    lo, hi = baseline["events_per_template"]
    return (
        f"Morphing baseline: RooMomentMorphFuncND ({baseline['setting']}) of {baseline['templates']} histogram "
        f"templates, one per grid point of {', '.join(parameters)}, filled with the training target events there "
        f"({lo} to {hi} events; sums of weights, {baseline['n_bins']} bins per observable, one event added per bin)."
    )


def _member_fits(prob, learned) -> dict[str, list]:
    """Each bootstrap member's own self-normalised learned pdf fitted to the data (MIGRAD, HESSE); by fit name."""
    from ..inference import create_nll, fit_nll
    from ..interrupts import checkpoint
    from ..roofit import learned_pdf, learned_ratio

    data, ws = prob.data(), prob.workspace
    params = [prob.var(n) for n in prob.parameters]
    observables = [prob.var(n) for n in prob.observables]
    start = {p.GetName(): 0.5 * (p.getMin() + p.getMax()) for p in params}
    fits = []
    for k in range(learned.estimator.n_members):
        checkpoint()
        ratio = learned_ratio(learned.estimator.member_onnx_model(k), workspace=ws, name=f"learned_member{k}_ratio")
        pdf = learned_pdf(ratio, observables, None, name=f"learned_member{k}_pdf", normalize=False)
        nll = create_nll(pdf, data)
        fits.append(fit_nll(nll, params, start, minos=False))
        del nll, pdf, ratio
    return {learned.key: fits}


def _normalization_check(samples: ParameterizedSamples, ratio, x: np.ndarray, w: np.ndarray) -> dict:
    """E_ref[r(x|theta)] over the held-out reference events at the grid points (or points over the ranges)."""
    from ..demo.diagnostics import check_points
    from ..stats.calibration import normalization_checks

    negative = w < 0
    if negative.any():  # the check takes a positive measure (as the mixture's calibration)
        log.warning(
            "normalisation check: %d held-out reference events with negative weights (%.1f%% of the |weight|) are "
            "left out",
            int(negative.sum()),
            100.0 * np.abs(w[negative]).sum() / np.abs(w).sum(),
        )
        x, w = x[~negative], w[~negative]
    if len(x) < 2:
        return {}
    prob, grid = samples.problem, samples.grid
    if grid is not None and len(grid.points) <= MAX_CHECK_POINTS:
        points = [dict(zip(prob.parameters, map(float, p), strict=True)) for p in grid.points]
    else:
        points = check_points(prob)
    return {"learned": normalization_checks(ratio, x, points, weights=None if np.all(w == w[0]) else w)}


def _figures(prob, estimator, fits, nlls, out: Path) -> dict[str, str]:
    """Delta NLL scans (contours for two or more parameters) and the training history."""
    from ..interrupts import checkpoint
    from ..report.demo_figures import _contour_grid, _set_parameters, _slice_scan
    from ..report.plots import plot_contours, plot_delta_nll, plot_training

    params = [prob.var(n) for n in prob.parameters]
    plot_delta_nll([_slice_scan(p, params, fits, nlls) for p in params], fits, prob.truth, out / "delta_nll.png")
    checkpoint()
    figures = {"Delta NLL": "delta_nll.png"}
    if len(params) >= 2:
        grid = _contour_grid(params[0], params[1], params, fits, nlls)
        plot_contours(grid, fits, prob.truth, out / "contours.png")
        figures["Delta NLL contours"] = "contours.png"
    plot_training({"carl": estimator.history_}, out / "training.png")
    figures["training"] = "training.png"
    _set_parameters(params, fits["learned"])
    return figures


def run_parameterized_study(study: Mapping) -> dict:
    """``roosbi run`` for a parameterized study from sample files: ``study`` as ``study_settings`` gives it.

    Checks the settings, then the output directory, then reads the files (every bad name, file,
    column, weight or data point is an InputError before any training and before anything is
    written), then runs :func:`run_parameterized`.
    """
    from ..demo.run import stage_seeds
    from ..demo.settings import MIN_N_TRAIN, check_study_settings
    from ..interrupts import deferred_interrupts
    from ..output_dir import check_output_dir

    if study["method"] != ["carl"]:
        raise InputError(
            "a parameterized study from sample files trains carl only (the files hold no joint ratio or score, and "
            f"there is no simulator for sally): method = {','.join(study['method'])} is not possible"
        )
    if study["n_bins"] is not None and study["n_bins"] < 2:
        raise InputError(f"the morphing templates need at least 2 bins per observable, not {study['n_bins']}")
    with deferred_interrupts():
        check_study_settings(
            study["seed"], study["estimator"], study["device"], study["n_train"], None, study["morph_setting"],
            ["carl"], study["bootstrap"],
        )  # fmt: skip
        check_output_dir(study["out"])
        samples = parameterized_from_samples(
            study["target"],
            study["observables"],
            study["parameters"],
            reference=study["reference"],
            data=study["data"],
            data_point=study["data_point"],
            n_data=study["n_data"],
            weight=study["weight"],
            selection=study["selection"],
            seed=stage_seeds(study["seed"])[0],
            name=study["name"],
        )
        for role, events in (("target", samples.target), ("reference", samples.reference)):
            if events is not None and len(events) * (1 - CHECK_SHARE) < MIN_N_TRAIN:
                raise InputError(
                    f"only {len(events)} {role} events are left for training; at least "
                    f"{int(np.ceil(MIN_N_TRAIN / (1 - CHECK_SHARE)))} are needed"
                )
    return run_parameterized(
        samples,
        study["out"],
        seed=study["seed"],
        estimator=study["estimator"],
        device=study["device"],
        n_train=study["n_train"],
        estimator_settings={} if study["epochs"] is None else {"max_epochs": study["epochs"]},
        n_bins=study["n_bins"],
        morph_setting=study["morph_setting"],
        bootstrap=study["bootstrap"],
        progress=not study["quiet"],
        plots=not study["no_plots"],
    )
