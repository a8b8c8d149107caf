"""A mixture from simulated events in files: ``roosbi run --signal FILE:TREE --background FILE:TREE``.

The most common real case has no pdf at all: signal and background Monte Carlo in ROOT files (or
tables), their expected yields S and B at signal strength mu = 1, and the observed events. The
classifier learns r(x) = p_s(x) / p_b(x) from the labelled events (no parameter input), and the
mixture's extended likelihood in mu follows exactly (:mod:`roosbi.mixture`):
NLL(mu) = mu S + B - sum_i log(mu S r(x_i) + B) + const. :func:`run_sample_study` builds the
RooWorkspace itself (the observables with ranges from the events, the POI, the yields), holds
out the calibration events, trains, calibrates r, builds the learned mixture pdf and the score
template baseline from the same events, fits both to the observed data (or to pseudo-data drawn
from events held out of everything else) and writes the demo's files.

Decisions:

- A source is ``"file.root:tree"`` (the tree may be omitted when the file holds one; a TTree or
  an RNTuple, read by RDataFrame), a table (``.parquet``, ``.feather``, ``.csv`` through pandas;
  ``.npz`` of named arrays; ``.npy`` of a structured array), or a list of files of one kind (and
  one tree). ``selection`` is an ``RDataFrame.Filter`` expression for ROOT files and a
  ``DataFrame.query`` expression for tables; it applies to every source, the data included.
- ``weight`` names the event-weight column of the simulated samples (not of the data, which are
  events). Weights are used as given, negative ones included: in training (each class scaled to
  the same total, so the learned log r has no offset), in the calibration's held-out events, and
  in the templates, whose bins are sums of weights (:func:`~roosbi.mixture.score_histograms`
  with ``pseudo_count=0``; a bin that is not positive is floored, with a warning when negative).
- Observables' ranges are the smallest and largest values of all events read (signal,
  background, data), so no observed event is dropped; the learned mixture pdf is
  self-normalised, so the ranges do not enter its NLL.
- Without ``data``, :data:`PSEUDO_DATA_SHARE` of each class is held out of everything (training,
  calibration, templates) and the pseudo-data are drawn from it: Poisson(mu_observed S) signal
  and Poisson(B) background events, seeded. With unit weights they are drawn without
  replacement where the pool is large enough; weighted events are drawn with probability
  proportional to their weight (negative weights cannot be drawn: a warning counts them).
- There is no pdf of x, so no ``analytic`` fit: ``learned`` and ``template`` are compared with
  each other (and with the true mu of pseudo-data). Toy studies need a pdf of x to draw from,
  which a sample study does not have: docs/run.md says what ``roosbi validate`` and
  ``roosbi hypotest`` can and cannot do with its workspace.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .mixture_events import MixtureSamples, mixture_from_samples

log = logging.getLogger(__name__)

#: Score template bins when the study gives none (the demo's mixture default).
DEFAULT_N_BINS = 30


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def training_sample(samples: MixtureSamples, n_train: int | None, seed: int):
    """The labelled training sample (signal 1, background 0, no parameters), each class's weights scaled.

    With ``n_train``, at most that many events of each class (drawn at random). Each class's
    weights are scaled to the same total, half the number of events, so that the learned log r
    has no offset log(W_s / W_b) and the mean weight is 1.
    """
    from ..data.samples import sample_from_arrays

    rng = np.random.default_rng(seed)
    parts = []
    for label, ev in ((1.0, samples.signal), (0.0, samples.background)):
        if n_train is not None and len(ev) > n_train:
            ev = ev.subset(np.sort(rng.choice(len(ev), n_train, replace=False)))
        parts.append((label, ev))
    n = sum(len(ev) for _, ev in parts)
    x = np.vstack([ev.x for _, ev in parts])
    y = np.concatenate([np.full(len(ev), label) for label, ev in parts])
    w = np.concatenate([ev.w * (0.5 * n / ev.w.sum()) for _, ev in parts])
    return sample_from_arrays(x, None, y, samples.problem.observables, [], weights=w)


def run_samples(
    samples: MixtureSamples,
    out: str | os.PathLike,
    *,
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    estimator_settings: dict | None = None,
    n_bins: int = DEFAULT_N_BINS,
    calibration: str = "normalization",
    progress: bool = True,
    plots: bool = True,
    notes: Sequence[str] = (),
) -> dict:
    """Train, calibrate, build the learned and template pdfs, fit, and write the demo's files into ``out``.

    The seeds of the training sample and the network are the demo's streams of ``seed``
    (:func:`~roosbi.demo.run.stage_seeds`); the pseudo-data's seed is drawn by the caller from the
    same stream. Returns the content of results.json.
    """
    out = Path(out)
    return run_staged(
        out,
        lambda stage: _pipeline(
            samples,
            out,
            stage,
            seed,
            estimator,
            device,
            n_train,
            estimator_settings,
            n_bins,
            calibration,
            progress,
            plots,
            list(notes),
        ),
    )


def run_staged(out: Path, body: Callable[[Path], dict]) -> dict:
    """``body(stage)`` writing into a staging directory inside ``out``, its files moved into place at the end.

    Ctrl-C is deferred to safe points meanwhile; a run that fails or is interrupted leaves ``out``
    as it was (:mod:`roosbi.output_dir`). Shared by the studies from sample files.
    """
    from ..interrupts import checkpoint, deferred_interrupts
    from ..output_dir import publish, staging

    with deferred_interrupts() as interrupts:
        with staging(out) as stage:
            results = body(stage)
            checkpoint()
            publish(stage, out)
            interrupts.done()
    log.info("wrote %s", out)
    return results


def _pipeline(samples, out, stage, seed, estimator, device, n_train, estimator_settings, n_bins, calibration,
              progress, plots, extra_notes) -> dict:  # fmt: skip
    from ..demo.methods import learn, training_summary
    from ..demo.pdfs import calibrate_mixture
    from ..demo.run import _fit_all, save_workspace, stage_seeds
    from ..demo.settings import CALIBRATION_SHARE
    from ..interrupts import checkpoint
    from ..library import import_root, load_library
    from ..mixture import mixture_pdf, template_pdf
    from ..onnx import write_atomic
    from ..report import markdown_report, results_dict, write_json
    from ..stats.pools import NO_GENERATION

    t_start = time.perf_counter()
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    library = load_library()
    _, seed_sample, seed_net, _ = stage_seeds(seed)
    prob = samples.problem
    ws = prob.workspace
    t0 = time.perf_counter()
    sample = training_sample(samples, n_train, seed_sample)
    sample, held_out = sample.split(CALIBRATION_SHARE, seed_sample)
    simulate_s = time.perf_counter() - t0
    checkpoint()

    settings = {
        "estimator": estimator,
        "device": device,
        "settings": estimator_settings,
        "progress": progress,
        "bootstrap": False,
    }
    learned = learn(prob, sample, "carl", ["carl"], settings, seed_net, stage, len(sample))
    ratio = learned.ratio
    cal = calibrate_mixture(ratio, _calibration_events(held_out), calibration)
    mu = prob.var(prob.parameters[0])
    pdf = mixture_pdf(ratio, mu, ws.var("n_signal"), ws.var("n_background"), name="learned_pdf")
    ws.Import(pdf, Silence=True)
    template_pdf(
        ws,
        ratio,
        sample,
        n_bins=n_bins,
        name="template_pdf",
        mu=mu,
        n_signal="n_signal",
        n_background="n_background",
        data=prob.observed_data,
        pseudo_count=0.0,
    )
    # There is no pdf of x to draw toys from, and the learned pdf, f(x|mu) = p(x|mu)/p_b(x), is no
    # density of x: marked so, roosbi validate fits it to toys but never draws them from it; it
    # draws them from the held-out events when the pseudo-data came from them (roosbi.stats.pools).
    ws.pdf("learned_pdf").setStringAttribute(NO_GENERATION, "not a density of the observables")
    pdfs = {"learned": "learned_pdf", "template": "template_pdf"}
    checkpoint()

    t0 = time.perf_counter()
    fits, nlls = _fit_all(prob, pdfs)
    fit_s = time.perf_counter() - t0
    checkpoint()
    save_workspace(ws, stage, library, pdfs, prob.observed_data, prob.parameters)
    checkpoint()
    figures = _figures(samples, learned.estimator, ratio, sample, fits, nlls, stage, cal) if plots else {}

    n_sig, n_bkg = int((sample.y == 1).sum()), int((sample.y == 0).sum())
    share = len(held_out) / (len(held_out) + len(sample))
    S, B = ws.var("n_signal").getVal(), ws.var("n_background").getVal()
    notes = [
        *samples.notes,
        *extra_notes,
        f"Learned pdf: the classifier learns r(x) = p_s(x)/p_b(x) with no parameter input from {n_sig} signal and "
        f"{n_bkg} background events (each class's weights scaled to the same total); f(x|{mu.GetName()}) = "
        f"({mu.GetName()} S r(x) + B)/({mu.GetName()} S + B), RooWrapperPdf (self-normalised) in a RooExtendPdf with "
        f"{mu.GetName()} S + B expected events (S = {S:g}, B = {B:g}): the mixture likelihood.",
        f"Calibration ({cal.method}): {share:.0%} of the training events ({cal.n_target} signal, {cal.n_reference} "
        f"background) held out from the network. Normalisation check E_b[r] over the held-out background = "
        f"{cal.before.mean:.4f} +- {cal.before.error:.4f} (1 for the exact ratio); correction applied: "
        f"r / {cal.correction:.4f}, stored in the RooLearnedRatio.",
        f"Template baseline: {n_bins} equal bins of the score r/(1+r) in [0, 1] filled with the training events' "
        "weights (a bin's content is the sum of its weights; bins that are not positive are floored at a tenth of "
        "the class's mean |weight|), RooHistPdf templates, extended RooAddPdf mu S T_s + B T_b fitted to the "
        "observed scores.",
        "Toys: this workspace has no pdf of x to draw them from (no analytic model); see docs/run.md for what "
        "roosbi validate and roosbi hypotest do with it.",
    ]
    timings = {"simulate_s": simulate_s, "train_s": learned.train_s, "fit_s": fit_s}
    timings["total_s"] = time.perf_counter() - t_start
    results = results_dict(
        problem=prob.name,
        seed=seed,
        truth=prob.truth,
        fits=fits,
        training=training_summary(estimator, sample, [learned]),
        timings=timings,
    )
    results["training"]["n_signal_events"], results["training"]["n_background_events"] = n_sig, n_bkg
    results["source"] = samples.source
    results["calibration"] = {"held_out_share": CALIBRATION_SHARE, **cal.as_dict()}
    results["templates"] = {"n_bins": n_bins, "filled_with": "sums of event weights, non-positive bins floored"}
    write_json(results, stage / "results.json")
    notes.append(
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")' "
        f"(library: {library})."
    )
    report = markdown_report(results, fits, figures, notes)
    n = results["training"]["n_train"]
    report = report.replace(f"({n // 2} target + {n // 2} reference)", f"({n_sig} signal + {n_bkg} background)", 1)
    if prob.truth:
        n_data = prob.data().numEntries()
        first = f"Observed data: pseudo-data at {_truth(prob.truth)} ({n_data} events) from held-out simulated events. "
    else:
        first = f"Observed data: {prob.data().numEntries()} events ({samples.source['data']['files'][0]}). "
    report = report.replace(f"Observed data generated with {_truth(prob.truth, 'g')}. ", first, 1)
    write_atomic(stage / "report.md", report.encode())
    return results


def _calibration_events(held_out):
    """The held-out events for the calibration, less those with negative weights (it takes none), with a warning.

    :func:`~roosbi.stats.calibration.fit_calibration` refuses negative weights (its reliability
    curves and errors assume a positive measure). Leaving them out changes E_b[r] by the share of
    the background they cancel, which the warning gives.
    """
    negative = held_out.weights < 0
    if not negative.any():
        return held_out
    for label, what in ((1.0, "signal"), (0.0, "background")):
        select = held_out.y == label
        lost = np.abs(held_out.weights[select & negative]).sum() / np.abs(held_out.weights[select]).sum()
        if lost:
            log.warning(
                "calibration: %d held-out %s events with negative weights (%.1f%% of the class's |weight|) are left "
                "out; the calibration takes positive weights only",
                int((select & negative).sum()),
                what,
                100.0 * lost,
            )
    return held_out.subset(~negative)


def _truth(truth: dict[str, float], fmt: str = "g") -> str:
    return ", ".join(f"{k} = {v:{fmt}}" for k, v in truth.items())


def _figures(samples: MixtureSamples, est, ratio, sample, fits, nlls, out: Path, calibration) -> dict[str, str]:
    """Delta NLL, the score templates scaled to the template fit, the observables, calibration, training."""
    from ..interrupts import checkpoint
    from ..mixture import score_histograms
    from ..report.demo_figures import _set_parameters, _slice_scan
    from ..report.plots import plot_calibration, plot_delta_nll, plot_templates, plot_training

    prob = samples.problem
    ws = prob.workspace
    mu = prob.var(prob.parameters[0])
    plot_delta_nll([_slice_scan(mu, [mu], fits, nlls)], fits, prob.truth, out / "delta_nll.png")
    checkpoint()
    template = ws.pdf("template_pdf")
    edges, counts = score_histograms(ratio, sample, n_bins=ws.var("score").getBins(), pseudo_count=0.0)
    scores = ws.data(template.getStringAttribute("roosbi_data")).to_numpy()["score"]
    mu_hat = fits["template"].params[mu.GetName()].value
    expected = {
        "background": ws.var("n_background").getVal() * counts["background"] / counts["background"].sum(),
        f"signal, {mu.GetName()} = {mu_hat:.2f}": mu_hat
        * ws.var("n_signal").getVal()
        * counts["signal"]
        / counts["signal"].sum(),
    }
    observed = np.histogram(scores, bins=edges)[0].astype(float)
    plot_templates(edges, expected, observed, "classifier score r/(1+r)", out / "templates.png")
    checkpoint()
    _inputs_figure(samples, out / "inputs.png")
    plot_calibration(calibration, out / "calibration.png")
    plot_training({"carl": est.history_}, out / "training.png")
    _set_parameters([mu], fits["learned"])
    return {
        "Delta NLL": "delta_nll.png",
        "score templates": "templates.png",
        "observables: signal, background and observed": "inputs.png",
        "calibration on held-out events": "calibration.png",
        "training": "training.png",
    }


def _inputs_figure(samples: MixtureSamples, path: Path, max_panels: int = 12) -> None:
    """Each observable's weighted signal and background shapes and the observed events, normalised."""
    import matplotlib.pyplot as plt

    from ..report.plots import _save

    prob = samples.problem
    names = prob.observables[:max_panels]
    data = prob.data().to_numpy()
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // ncols][i % ncols]
        var = prob.var(name)
        edges = np.linspace(var.getMin(), var.getMax(), 41)
        for ev, label, colour in ((samples.signal, "signal", "#d62728"), (samples.background, "background", "#1f77b4")):
            counts = np.histogram(ev.x[:, i], bins=edges, weights=ev.w)[0]
            ax.stairs(counts / counts.sum(), edges, color=colour, lw=1.5, label=label)
        counts = np.histogram(data[name], bins=edges)[0].astype(float)
        centres = 0.5 * (edges[1:] + edges[:-1])
        shown = counts > 0
        total = max(counts.sum(), 1.0)
        ax.errorbar(centres[shown], counts[shown] / total, yerr=np.sqrt(counts[shown]) / total, fmt="o", ms=2.5,
                    color="black", label="observed")  # fmt: skip
        ax.set_xlabel(name)
        ax.set_ylabel("fraction per bin")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(frameon=False, fontsize=8)
    for j in range(len(names), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    more = f" (first {max_panels} of {len(prob.observables)})" if len(prob.observables) > max_panels else ""
    fig.suptitle(f"Observables{more}: weighted shapes of the simulated classes and the observed events")
    fig.tight_layout()
    _save(fig, path)


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------


def run_sample_study(study: Mapping) -> dict:
    """``roosbi run`` for a mixture from sample files: ``study`` as :func:`~roosbi.run.study.study_settings` gives it.

    Checks the settings, then the output directory, then reads the files (every bad name, file,
    tree, column or weight is an InputError before any training and before anything is written),
    then runs :func:`run_samples`.
    """
    from ..demo.run import stage_seeds
    from ..demo.settings import check_demo_settings
    from ..interrupts import deferred_interrupts
    from ..output_dir import check_output_dir

    with deferred_interrupts():
        check_demo_settings(
            "mixture",
            study["seed"],
            study["estimator"],
            study["device"],
            study["n_train"],
            None,
            study["n_bins"],
            "Linear",
            ["carl"],
            False,
            study["calibration"],
        )
        check_output_dir(study["out"])
        seed_data = stage_seeds(study["seed"])[0]
        samples = mixture_from_samples(
            study["signal"],
            study["background"],
            study["observables"],
            study["n_signal"],
            study["n_background"],
            data=study["data"],
            weight=study["weight"],
            selection=study["selection"],
            poi=study["poi"],
            poi_range=study["poi_range"],
            mu_observed=study["mu_observed"],
            seed=seed_data,
            name=study["name"],
        )
    return run_samples(
        samples,
        study["out"],
        seed=study["seed"],
        estimator=study["estimator"],
        device=study["device"],
        n_train=study["n_train"],
        estimator_settings={} if study["epochs"] is None else {"max_epochs": study["epochs"]},
        n_bins=study["n_bins"],
        calibration=study["calibration"],
        progress=not study["quiet"],
        plots=not study["no_plots"],
    )
