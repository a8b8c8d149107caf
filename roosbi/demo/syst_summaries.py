"""The comparison of summary statistics on ``syst`` (``roosbi demo syst``), with the systematics on and off.

Four ways to measure mu, each reduced to the expected 95 % CLs upper limit and the expected
discovery significance (asymptotic, Asimov data, one definition: :mod:`roosbi.diffana.compare`):

* ``neos``: a summary network s(m) trained on the expected CLs of its binned model, the
  nuisances profiled inside the training (:func:`roosbi.diffana.train_summary`);
* ``bce``: the same network trained as a plain classifier (binary cross-entropy, signal against
  background at nominal), histogrammed with the same bins and given the same nuisances;
* ``learned_unbinned``: the demo's learned likelihood (the parameterized networks, nu profiled);
* ``analytic``: the problem's own likelihood, nu profiled.

The binned models' events are drawn from the workspace's component pdfs by inverse transform on
a fine grid, with the same uniforms at the nominal and at each nuisance's +-1 (correlated
variations: the histosys templates differ by the systematic, not by Monte Carlo noise). A
nuisance ``alpha_<x>`` of the problem becomes the histosys ``<x>`` of the binned models, which
HistFactory names ``alpha_<x>`` again: the summary's RooFit model has the problem's nuisance
parameters, with the same unit Gaussian constraints. "Stat only" holds the nuisances at nominal:
no histosys in the binned models (and neos trained without them), nu fixed in the unbinned fits.

The neos summary then ends in RooFit (:mod:`roosbi.diffana.export`): ONNX, evaluated natively as
a column of the observed data, binned into the ``obsData`` of its HistFactory workspace
(``summary_workspace.root``, marked for ``macros/fit_workspace.C``), fitted with Minuit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.problems import Problem
from ..exceptions import InputError
from ..inference import create_nll
from ..library import import_root
from ..workspace import mark_fits

log = logging.getLogger(__name__)

#: The approaches compared, in the order of the table and the figure.
APPROACHES = ("neos", "bce", "learned_unbinned", "analytic")
#: Points of the grid the component pdfs are inverted on.
GRID_POINTS = 6001


@dataclass
class SummarySettings:
    """Sizes of the comparison (the demo's defaults keep it to ~15 s on 2 cores)."""

    n_events: int = 20000  # events per component (nominal and each variation)
    bins: int = 5  # equal bins of the summary over [0, 1]
    hidden: tuple = (32, 32)
    neos_steps: int = 150
    neos_learning_rate: float = 0.01
    neos_batch_size: int | None = 5000
    neos_restarts: int = 3  # trainings from different initial weights; the best on the training events is kept
    bandwidth: float = 0.5
    bce_steps: int = 200
    bce_learning_rate: float = 0.01
    bce_batch_size: int | None = 10000

    def check(self) -> SummarySettings:
        """InputError on a setting out of range; self."""
        for key in ("n_events", "bins", "neos_steps", "neos_restarts", "bce_steps"):
            if int(getattr(self, key)) < 1:
                raise InputError(f"summary setting {key} must be >= 1, not {getattr(self, key)}")
        for key in ("neos_learning_rate", "bce_learning_rate", "bandwidth"):
            if not float(getattr(self, key)) > 0:
                raise InputError(f"summary setting {key} must be > 0, not {getattr(self, key)}")
        return self


def histosys_name(nuisance: str) -> str:
    """The binned model's name of nuisance ``alpha_<x>``: ``<x>`` (HistFactory prefixes ``alpha_`` again)."""
    return nuisance[len("alpha_") :] if nuisance.startswith("alpha_") else nuisance


def component_events(prob: Problem, pdf_name: str, uniforms: np.ndarray, values: dict[str, float]) -> np.ndarray:
    """Events of the workspace pdf ``pdf_name`` of the (one) observable at ``values``, from ``uniforms``.

    Inverse transform sampling on a grid of :data:`GRID_POINTS` (trapezoidal CDF, linear interpolation):
    the same uniforms at other ``values`` give the same events, moved by the change of the pdf.
    """
    ROOT = import_root()
    ws = prob.workspace
    if len(prob.observables) != 1:
        raise InputError(f"the summary comparison needs one observable, problem {prob.name!r} has {prob.observables}")
    obs = prob.var(prob.observables[0])
    pdf = ws.pdf(pdf_name)
    saved = {k: prob.var(k).getVal() for k in values}
    try:
        for key, value in values.items():
            prob.var(key).setVal(float(value))
        grid = np.linspace(obs.getMin(), obs.getMax(), GRID_POINTS)
        observables = ROOT.RooArgSet(obs)
        density = np.empty(GRID_POINTS)
        for i, x in enumerate(grid):
            obs.setVal(float(x))
            density[i] = pdf.getVal(observables)
    finally:
        for key, value in saved.items():
            prob.var(key).setVal(value)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return np.interp(uniforms * cdf[-1], cdf, grid)


def summary_processes(prob: Problem, n_events: int, seed: int) -> tuple[list, list]:
    """The processes of the binned models: (with the systematics as histosys, without them)."""
    from ..diffana import Process

    ws = prob.workspace
    rng = np.random.default_rng(seed)
    with_syst, without = [], []
    for role in ("signal", "background"):
        pdf_name = prob.components[role]
        uniforms = rng.uniform(size=int(n_events))
        nominal = {n: 0.0 for n in prob.nuisance_parameters}
        events = component_events(prob, pdf_name, uniforms, nominal)
        histosys = {}
        for nu in prob.nuisance_parameters:
            if ws.pdf(pdf_name).dependsOn(prob.var(nu)):
                sides = tuple(component_events(prob, pdf_name, uniforms, {**nominal, nu: s}) for s in (-1.0, 1.0))
                histosys[histosys_name(nu)] = sides
        expected = ws.arg(prob.components[f"n_{role}"]).getVal()
        weight = expected / len(events)
        signal = role == "signal"
        with_syst.append(Process(role, events, weight, signal=signal, histosys=histosys))
        without.append(Process(role, events, weight, signal=signal))
    return with_syst, without


def compare_summaries(
    prob: Problem, pdfs: dict[str, str], seed: int, stage: Path | None = None, settings: SummarySettings | None = None
) -> dict:
    """The four approaches' expected limits and significances, systematics on and off; the neos workspace.

    Parameters
    ----------
    prob : Problem
        A mixture with one observable and constrained nuisances (``syst``).
    pdfs : dict
        ``{"analytic": name, "learned": name}``: the constrained pdfs of the workspace
        (:func:`roosbi.demo.syst.build_pdfs`); a missing ``learned`` skips that approach.
    seed : int
        Seeds the events, the BCE and the neos networks.
    stage : Path, optional
        Where ``summary_neos.onnx`` and ``summary_workspace.root`` are written (None: nothing
        written, and no RooFit model built).
    settings : SummarySettings, optional
        Sizes; default :class:`SummarySettings`.

    Returns
    -------
    dict
        ``summaries``, ``summaries_stat_only`` (``{approach: {"cls_limit", "significance"}}``),
        ``summary_workspace`` (the RooFit model of the neos summary and its fit) and
        ``summary_settings``, ``timings``.
    """
    from ..diffana import train_summary
    from ..diffana.compare import binned_expected, train_bce

    settings = (settings or SummarySettings()).check()
    if "analytic" not in pdfs:
        raise InputError(f"pdfs must name the analytic pdf, got {sorted(pdfs)}")
    seeds = np.random.SeedSequence([seed, 618]).generate_state(4)
    t0 = time.perf_counter()
    on, off = summary_processes(prob, settings.n_events, int(seeds[0]))  # training events
    # The binned models are filled with independent events: no summary is judged on the events it was trained on.
    fresh = summary_processes(prob, settings.n_events, int(seeds[3]))
    templates = {"summaries": fresh[0], "summaries_stat_only": fresh[1]}
    bce = train_bce(
        off,
        settings.bins,
        settings.hidden,
        settings.bce_steps,
        settings.bce_learning_rate,
        settings.bce_batch_size,
        seed=int(seeds[1]),
    )
    out = {"summaries": {}, "summaries_stat_only": {}}
    neos = {}
    timings = {"bce_s": time.perf_counter() - t0}
    for key, processes in (("summaries", on), ("summaries_stat_only", off)):
        out[key]["bce"] = binned_expected(bce.binned_model(templates[key]))
        t1 = time.perf_counter()
        # Several trainings from their own initial weights; the one whose hard-binned limit on
        # the training events is lowest is kept (a short neos training sometimes stalls).
        trained = [
            train_summary(
                processes,
                objective="cls",
                bins=settings.bins,
                bandwidth=settings.bandwidth,
                hidden=settings.hidden,
                steps=settings.neos_steps,
                learning_rate=settings.neos_learning_rate,
                batch_size=settings.neos_batch_size,
                seed=int(seeds[2]) + restart,
                device="cpu",
                progress=False,
                objective_options={"mu_test": out[key]["bce"]["cls_limit"]},
            )
            for restart in range(settings.neos_restarts)
        ]
        neos[key] = min(trained, key=lambda r: binned_expected(r.binned_model(processes))["cls_limit"])
        timings[f"neos_{key}_s"] = time.perf_counter() - t1
        out[key]["neos"] = binned_expected(neos[key].binned_model(templates[key]))
    t1 = time.perf_counter()
    unbinned = unbinned_comparison(prob, pdfs)
    timings["unbinned_s"] = time.perf_counter() - t1
    for key in out:
        out[key].update(unbinned[key])
        out[key] = {name: out[key][name] for name in APPROACHES if name in out[key]}
    if stage is not None:
        t1 = time.perf_counter()
        out["summary_workspace"] = summary_roofit_model(prob, neos["summaries"], templates["summaries"], stage)
        timings["roofit_s"] = time.perf_counter() - t1
    out["summary_settings"] = {**asdict(settings), "hidden": list(settings.hidden), "objective": "cls"}
    out["timings"] = timings
    return out


def unbinned_comparison(prob: Problem, pdfs: dict[str, str]) -> dict:
    """``analytic`` and ``learned_unbinned`` (if ``pdfs`` has ``learned``) on the analytic model's Asimov data."""
    from ..diffana.compare import unbinned_expected

    ws = prob.workspace
    poi = prob.var(prob.parameters[0])
    nuisances = [prob.var(n) for n in prob.nuisance_parameters]
    nominal = {n: 0.0 for n in prob.nuisance_parameters}
    generator = ws.pdf(prob.target_pdf)
    obs = prob.var(prob.observables[0])
    out = {"summaries": {}, "summaries_stat_only": {}}
    for approach, kind in (("learned_unbinned", "learned"), ("analytic", "analytic")):
        if kind not in pdfs:
            continue
        pdf = ws.pdf(pdfs[kind])
        for key, profile in (("summaries", True), ("summaries_stat_only", False)):
            out[key][approach] = unbinned_expected(
                lambda data, pdf=pdf: create_nll(pdf, data), generator, obs, poi, nuisances, nominal, profile
            )
    return out


def summary_roofit_model(prob: Problem, result, processes: list, stage: Path) -> dict:
    """The neos summary in RooFit: ONNX, the native column of the observed data, the HistFactory workspace.

    Writes ``summary_neos.onnx`` and ``summary_workspace.root`` (the HistFactory model of the
    summary's histograms with the observed data binned, the summary function and the observed
    events with their summary column; marked so that ``macros/fit_workspace.C`` fits it as
    ``neos``); fits it in Python. Returns results.json's ``summary_workspace``.
    """
    from ..diffana.export import add_summary_column, column_values, summary_function, summary_onnx
    from ..diffana.export import summary_workspace as hf_workspace
    from ..diffana.roofit_model import roofit_parameter_name
    from ..estimators.resources import import_torch
    from ..inference import fit_nll
    from .run import _write_workspace

    ROOT = import_root()
    torch = import_torch()
    path = summary_onnx(result.network, stage / "summary_neos.onnx", prob.observables, objective=result.objective)
    function = summary_function(path, prob.workspace, name="summary")
    data = prob.data().Clone("obs_data_summary")
    ROOT.SetOwnership(data, True)
    add_summary_column(data, function, "summary")
    native = column_values(data, "summary")
    events = np.stack([column_values(data, n) for n in prob.observables], axis=1)
    with torch.no_grad():
        reference = result.network.double()(torch.as_tensor(events)).numpy()
    result.network.float()
    model = result.binned_model(processes)
    poi = prob.var(prob.parameters[0])
    ws = hf_workspace(model, data, "summary", poi_range=(poi.getMin(), poi.getMax()))
    ws.Import(function, Silence=True)
    ws.Import(data, Silence=True)
    mc = ws.genobj("ModelConfig")
    params = [p.GetName() for p in [*mc.GetParametersOfInterest(), *mc.GetNuisanceParameters()]]
    pdf = mc.GetPdf()
    mark_fits(ws, {"neos": pdf}, "obsData", params)
    nll = pdf.createNLL(
        ws.data("obsData"), ROOT.RooFit.Offset("none"), ROOT.RooFit.Extended(True), ROOT.RooFit.EvalBackend("cpu")
    )
    ROOT.SetOwnership(nll, True)
    variables = [ws.var(p) for p in params]
    start = {p: 0.5 * (v.getMin() + v.getMax()) for p, v in zip(params, variables, strict=True)}
    fit = fit_nll(nll, variables, start, minos=False, check_points=0)
    _write_workspace(ws, stage / "summary_workspace.root")
    return {
        "file": "summary_workspace.root",
        "model": "summary_neos.onnx",
        "pdf": pdf.GetName(),
        "parameters": params,
        "nuisances": {
            histosys_name(n): roofit_parameter_name(model, histosys_name(n)) for n in prob.nuisance_parameters
        },
        "edges": [float(e) for e in model.edges],
        "native_vs_torch": float(np.max(np.abs(native - reference))),
        "fit": {
            "status": fit.status,
            "nll_min": fit.nll_min,
            "params": {k: {"value": v.value, "error": v.error} for k, v in fit.params.items()},
        },
    }
