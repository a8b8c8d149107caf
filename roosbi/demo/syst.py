"""The demo's pipeline for a problem with nuisance parameters (``roosbi demo syst``): profiled fits and impacts.

A mixture problem (components ``signal``, ``background`` and their yields, as rf618) is learned
component by component: the signal strength mu is a yield and enters exactly, as in
:func:`roosbi.mixture.mixture_pdf`, while each component's shape depends on nuisance
parameters. Each component becomes a problem of its own (target: the component pdf; parameters:
the nuisances it depends on; reference: the problem's reference pdf, uniform for ``syst``), is
simulated with the nuisances drawn uniformly over their ranges and learned by a parameterized
classifier (inputs x, nu), and its learned pdf r(x|nu) p_ref(x) is normalised over x by the
fixed Gauss-Legendre rule (smooth in nu). The learned model is the extended
``mu S p_s(x|nu) + B p_b(x|nu)``, times the constraint pdfs. The morphed baseline is built the
same way from ``RooMomentMorphFuncND`` templates over each component's nuisances, and the
analytic one is the problem's own model times the constraints. A problem that is not a mixture
is learned as one component (inputs x, theta, nu). docs/systematics.md says why.

Every fit floats the parameters of interest and the nuisances (profiling); the systematics study
(:mod:`roosbi.stats.profile`) adds profile curves, intervals without systematics and impacts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.problems import Problem
from ..data.simulate import simulate
from ..exceptions import InputError
from ..inference import fit_pdfs, scan_range
from ..interrupts import checkpoint, interruptible
from ..library import import_root
from ..morphing import morphed_pdf
from ..onnx import write_atomic
from ..report import markdown_report, results_dict, write_json
from ..report.systematics import plot_summaries, plot_systematics, summaries_lines, systematics_lines
from ..roofit import learned_pdf, learned_ratio
from ..stats.profile import (
    constrained_pdf,
    fit_without_systematics,
    fixed_scan,
    impacts,
    interval_from_curve,
    nuisance_priors,
    profile_scan,
)
from .diagnostics import check_seed, normalization_notes, normalization_report
from .methods import Learned, train_estimator
from .syst_morph import interpolated_pdf
from .syst_summaries import compare_summaries

log = logging.getLogger(__name__)

#: The roles of a mixture's components, learned one by one.
MIXTURE_ROLES = ("signal", "background")
#: Points of the profile curves of the parameter of interest.
PROFILE_POINTS = 31
#: Problems whose demo adds the comparison of summary statistics (roosbi/demo/syst_summaries.py): the
#: built-in ``syst``, not a user's problem run by ``roosbi run`` (it would cost ~10 s and needs one observable).
SUMMARY_PROBLEMS = ("syst",)


@dataclass
class Component:
    """One learned part of the model: its own problem, and what was trained for it."""

    role: str  # "signal", "background", or "model" (a problem that is not a mixture)
    problem: Problem
    learned: Learned | None = None


def component_problems(prob: Problem) -> list[Component]:
    """The parts of ``prob`` to learn: a mixture's signal and background, or the whole model.

    Each component's parameters are those of ``prob.all_parameters`` its pdf depends on.

    Raises
    ------
    InputError
        A mixture component that depends on no parameter (not supported yet), or a reference
        that is not a pdf of the observables.
    """
    ws = prob.workspace
    reference = ws.pdf(prob.reference_pdf)
    for name in prob.all_parameters:
        if reference.dependsOn(prob.var(name)):
            raise InputError(f"the reference pdf '{prob.reference_pdf}' depends on the parameter '{name}'")
    if not is_mixture(prob):
        return [Component("model", _sub_problem(prob, "model", prob.target_pdf, prob.all_parameters))]
    out = []
    for role in MIXTURE_ROLES:
        pdf_name = prob.components[role]
        params = [n for n in prob.all_parameters if ws.pdf(pdf_name).dependsOn(prob.var(n))]
        if not params:
            raise InputError(
                f"the {role} pdf '{pdf_name}' depends on no parameter; a mixture component without nuisance "
                "parameters is not supported yet by the demo with systematics"
            )
        out.append(Component(role, _sub_problem(prob, role, pdf_name, params)))
    return out


def is_mixture(prob: Problem) -> bool:
    """Whether ``prob`` names a signal and a background pdf and their yields (rf618's layout)."""
    return all(role in prob.components for role in (*MIXTURE_ROLES, "n_signal", "n_background"))


def _sub_problem(prob: Problem, role: str, target: str, parameters: list[str]) -> Problem:
    return Problem(
        name=f"{prob.name}_{role}",
        workspace=prob.workspace,
        target_pdf=target,
        reference_pdf=prob.reference_pdf,
        observables=list(prob.observables),
        parameters=list(parameters),
        observed_data=prob.observed_data,
    )


def syst_pipeline(prob: Problem, *, out: Path, stage: Path, settings: dict, t_start: float, library: Path) -> dict:
    """:func:`roosbi.demo.run.pipeline` for a problem with nuisance parameters; the content of results.json.

    ``settings`` holds the demo's ``seed``, ``estimator``, ``device``, ``n_train``,
    ``estimator_settings``, ``morph_setting``, ``n_templates``, ``progress`` and ``plots``, and
    from ``roosbi run`` the ``analytic`` pdf's name, the ``source`` record and the study's ``notes``.
    """
    from .run import save_workspace, stage_seeds, with_data_origin  # run.py dispatches here

    seed = settings["seed"]
    _, seed_sample, seed_net, seed_templates = stage_seeds(seed)
    components = component_problems(prob)
    n_train = settings["n_train"]
    t0 = time.perf_counter()
    samples = []
    for k, comp in enumerate(components):
        checkpoint()
        samples.append(simulate(comp.problem, n_target=n_train, seed=_seed(seed_sample, k)))
    simulate_s = time.perf_counter() - t0
    single = len(components) == 1
    for k, (comp, sample) in enumerate(zip(components, samples, strict=True)):
        with interruptible():
            est, train_s = train_estimator(
                sample,
                settings["estimator"],
                settings["device"],
                settings["estimator_settings"],
                _seed(seed_net, k),
                settings["progress"],
            )
        model_file = "model.onnx" if single else f"model_{comp.role}.onnx"
        onnx_path = est.to_onnx(stage / model_file)
        checkpoint()
        key = "learned" if single else f"learned_{comp.role}"
        ratio = learned_ratio(onnx_path, workspace=prob.workspace, name=f"learned_ratio_{comp.role}")
        comp.learned = Learned("carl", key, est, train_s, model_file, ratio=ratio)
    t0 = time.perf_counter()
    pdfs, notes = build_pdfs(prob, components, settings, _seed(seed_templates, 0))
    pdfs_s = time.perf_counter() - t0
    checkpoint()

    t0 = time.perf_counter()
    params = [prob.var(n) for n in prob.all_parameters]
    fits, nlls = fit_pdfs(prob.workspace, pdfs, prob.data(), params)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    syst = systematics_results(prob, pdfs, fits, nlls)
    syst_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with interruptible():
        summaries = compare_summaries(prob, pdfs, seed=seed, stage=stage) if prob.name in SUMMARY_PROBLEMS else None
    summaries_s = time.perf_counter() - t0
    checkpoint()
    for par in params:  # the workspace is written at the analytic best fit
        par.setVal(fits["analytic"].params[par.GetName()].value)

    save_workspace(prob.workspace, stage, library, pdfs, prob.observed_data, prob.all_parameters)
    checkpoint()
    figures = {}
    if settings["plots"]:
        from ..report.plots import plot_training

        plot_systematics(syst, prob.truth, stage / "systematics.png")
        figures["profile likelihood and impacts"] = "systematics.png"
        if summaries is not None:
            plot_summaries(summaries, stage / "summaries.png")
            figures["summary statistics: neos, bce, learned, analytic"] = "summaries.png"
        plot_training({c.role: c.learned.estimator.history_ for c in components}, stage / "training.png")
        figures["training"] = "training.png"
    train_s = sum(c.learned.train_s for c in components)
    timings = {"simulate_s": simulate_s, "train_s": train_s, "pdfs_s": pdfs_s, "fit_s": fit_s, "systematics_s": syst_s}
    timings["summaries_s"] = summaries_s
    if summaries:
        timings.update({f"summaries_{k}": v for k, v in summaries["timings"].items()})
    timings["total_s"] = time.perf_counter() - t_start
    results = results_dict(
        problem=prob.name,
        seed=seed,
        truth=prob.truth,
        fits=fits,
        training=_training_summary(settings["estimator"], components, samples),
        timings=timings,
    )
    if settings.get("source") is not None:
        results["source"] = settings["source"]
    notes[:0] = settings.get("notes", [])  # where the model came from, first
    results["systematics"] = syst
    # The comparison of summary statistics (docs/systematics.md): expected limits and significances.
    results["summaries"] = summaries["summaries"] if summaries else {}
    results["summaries_stat_only"] = summaries["summaries_stat_only"] if summaries else {}
    if summaries:
        for key in ("summary_workspace", "summary_settings"):
            results[key] = summaries[key]
    checks = {}
    for comp in components:
        checks.update(normalization_report(comp.problem, [comp.learned], check_seed(seed)))
    results["normalization_check"] = checks
    notes.extend(normalization_notes(checks))
    write_json(results, stage / "results.json")
    notes.append(
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")' "
        f"(library: {library}); it fits the same constrained pdfs with every nuisance floating."
    )
    report = with_data_origin(markdown_report(results, fits, figures, notes), prob, settings.get("source"))
    section = "\n".join(systematics_lines(syst) + (summaries_lines(summaries) if summaries else [])) + "\n"
    report = report.replace("\n## Training\n", section + "\n## Training\n", 1)
    write_atomic(stage / "report.md", report.encode())
    return results


def _seed(seed: int, k: int) -> int:
    """Component ``k``'s own stream of a stage's seed."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def build_pdfs(prob: Problem, components: list[Component], settings: dict, seed: int) -> tuple[dict[str, str], list]:
    """The analytic, learned and morphed pdfs (each times the constraints), in the workspace; names and notes."""
    ws = prob.workspace
    observables = [prob.var(n) for n in prob.observables]
    reference = ws.pdf(prob.reference_pdf)
    n_templates = settings["n_templates"]
    n_events = settings["n_train"] // n_templates
    learned, morphed = [], []
    for k, comp in enumerate(components):
        name = f"learned_{comp.role}"
        ws.Import(learned_pdf(comp.learned.ratio, observables, reference, name=name), Silence=True)
        comp.learned.pdf = name
        learned.append(name)
        morphed.append(_baseline(prob, comp, settings, n_events, _seed(seed, k)))
    pdfs = {}
    for kind, parts, source in (
        ("analytic", [settings.get("analytic") or prob.target_pdf], None),
        ("learned", learned, "learned"),
        ("morphed", morphed, "morphed"),
    ):
        model = ws.pdf(parts[0]) if source is None or len(parts) == 1 else _mixture(prob, parts, f"{kind}_model")
        pdf = constrained_pdf(prob, model, f"{kind}_pdf")
        ws.Import(pdf, RecycleConflictNodes=True, Silence=True)
        pdfs[kind] = pdf.GetName()
    constraints = ", ".join(prob.constraints) or "none"
    parts = "; ".join(f"{c.role}: inputs ({', '.join(prob.observables + c.problem.parameters)})" for c in components)
    notes = [
        f"Nuisance parameters {', '.join(prob.nuisance_parameters)} (constraints: {constraints}); every fit floats "
        f"{', '.join(prob.all_parameters)} (the nuisances are profiled), with the constraint pdfs multiplied in.",
        f"Learned pdf: one parameterized classifier per component ({parts}) against '{prob.reference_pdf}', "
        "nuisances drawn uniformly over their ranges; r p_ref normalised over x by fixed Gauss-Legendre quadrature"
        + (", combined as the extended mu S p_s + B p_b." if is_mixture(prob) else "."),
        (
            f"Morphed baseline: per component, {n_templates} histogram templates per parameter of {n_events} events "
            "each (60 bins), interpolated piecewise-linearly between the grid points (HistFactory's vertical "
            "interpolation; docs/systematics.md says why not RooMomentMorphFuncND), combined as the extended "
            "mu S p_s + B p_b."
            if is_mixture(prob)
            else f"Morphed baseline: RooMomentMorphFuncND ({settings['morph_setting']}) over {n_templates} templates "
            f"per parameter ({', '.join(prob.all_parameters)}) of {n_events} events each: the parameters of interest "
            "change the shape, which vertical interpolation between grid points would not follow."
        ),
    ]
    return pdfs, notes


def _baseline(prob: Problem, comp: Component, settings: dict, n_events: int, seed: int) -> str:
    """One component's template baseline: vertical interpolation in a mixture's nuisances, else a moment morph.

    In a mixture the signal strength is a yield and the templates move only with the nuisances
    (docs/systematics.md); in any other model the parameters of interest move the shape too, and a
    moment morph follows a moving peak where vertical interpolation would put two bumps.
    """
    name = f"morphed_{comp.role}"
    if is_mixture(prob):
        return interpolated_pdf(comp.problem, settings["n_templates"], n_events, seed=seed, name=name)
    morphed = morphed_pdf(
        comp.problem, settings["n_templates"], n_events, setting=settings["morph_setting"], seed=seed, name=name
    )
    return morphed.GetName()


def _mixture(prob: Problem, parts: list[str], name: str):
    """The extended RooAddPdf mu S p_s + B p_b of two component pdfs of the workspace (not imported)."""
    ROOT = import_root()
    ws = prob.workspace
    mu = prob.var(prob.parameters[0])
    n_signal = ws.arg(prob.components["n_signal"])
    signal_yield = ROOT.RooProduct(f"{name}_signal_yield", "mu S", ROOT.RooArgList(mu, n_signal))
    yields = ROOT.RooArgList(signal_yield, ws.arg(prob.components["n_background"]))
    pdf = ROOT.RooAddPdf(name, f"{name}: mu S p_s + B p_b", ROOT.RooArgList(*[ws.pdf(p) for p in parts]), yields)
    pdf._roosbi_keepalive = (signal_yield, yields)
    return pdf


def systematics_results(prob: Problem, pdfs: dict[str, str], fits: dict, nlls: dict) -> dict:
    """results.json's ``"systematics"``: nuisances, intervals with and without them, profile curves, impacts.

    For each parameter of interest, with the other parameters of interest profiled (minimised) wherever the
    nuisances are, and floating in the fit without systematics: the first POI's entries at the top level,
    the others' under ``"other_pois"`` (``{name: {"intervals", "impacts", "profile"}}``). Every NLL's fit
    must have floated every nuisance.
    """
    pois = [prob.var(n) for n in prob.parameters]
    nuisances = [prob.var(n) for n in prob.nuisance_parameters]
    priors = nuisance_priors(prob)
    per_poi = {}
    for poi in pois:
        others = [p for p in pois if p is not poi]
        per_poi[poi.GetName()] = _poi_systematics(prob, poi, others, nuisances, priors, pdfs, fits, nlls)
    out = {
        "poi": pois[0].GetName(),
        "nuisance_parameters": {name: p.as_dict() for name, p in priors.items()},
        **per_poi.pop(pois[0].GetName()),
    }
    if per_poi:
        out["other_pois"] = per_poi
    return out


def _poi_systematics(prob: Problem, poi, others: list, nuisances: list, priors, pdfs, fits, nlls) -> dict:
    """One parameter of interest's intervals, impacts and profile curves, ``others`` profiled alongside."""
    ws = prob.workspace
    values = scan_range(fits, poi, width=3.5, n=PROFILE_POINTS)
    intervals, impact, curves, stat_curves = {}, {}, {}, {}
    for name, nll in nlls.items():
        checkpoint()
        wall = ws.pdf(pdfs[name]).getStringAttribute("roosbi_eval_errors") != "expected"
        fit = fits[name]
        start = {poi.GetName(): 0.5 * (poi.getMin() + poi.getMax())}
        start.update({p.GetName(): fit.params[p.GetName()].value for p in others})
        stat = fit_without_systematics(nll, poi, nuisances, priors, start, others, error_wall=wall)
        curves[name] = profile_scan(nll, poi, [*others, *nuisances], values, fit, error_wall=wall)
        nominal = {nu: priors[nu.GetName()].nominal for nu in nuisances}
        stat_curves[name] = fixed_scan(nll, poi, nominal, values, stat.nll_min, others, error_wall=wall)
        impact[name] = impacts(nll, poi, nuisances, fit, priors, error_wall=wall, others=others)
        with_syst = _interval(fit.params[poi.GetName()], values, curves[name])
        without = _interval(stat.params[poi.GetName()], values, stat_curves[name])
        without.update(status=stat.status, minos_status=stat.minos_status, nll_min=stat.nll_min)
        intervals[name] = {
            "with_systematics": with_syst,
            "without_systematics": without,
            "systematic": 0.5 * math.sqrt(max(with_syst["width"] ** 2 - without["width"] ** 2, 0.0)),
        }
    if "analytic" in intervals:
        for name, entry in intervals.items():
            if name != "analytic":
                entry["vs_analytic"] = _compare(entry["with_systematics"], intervals["analytic"]["with_systematics"])
                entry["vs_analytic_stat_only"] = _compare(
                    entry["without_systematics"], intervals["analytic"]["without_systematics"]
                )
    return {
        "intervals": intervals,
        "impacts": impact,
        "profile": {
            "values": values.tolist(),
            "delta_nll": {k: v.tolist() for k, v in curves.items()},
            "delta_nll_stat_only": {k: v.tolist() for k, v in stat_curves.items()},
        },
    }


def _interval(result, values: np.ndarray, curve: np.ndarray) -> dict:
    """A 68 % interval from a fit's MINOS errors, with the one read off the scanned curve beside it."""
    lo, hi = result.value + result.minos[0], result.value + result.minos[1]
    return {
        "value": result.value,
        "error": result.error,
        "minos": [result.minos[0], result.minos[1]],
        "interval": [lo, hi],
        "width": hi - lo,
        "interval_from_curve": list(interval_from_curve(values, curve)),
    }


def _compare(interval: dict, analytic: dict) -> dict:
    """Width ratio and centre shift (in units of the analytic half-width) of an interval against the analytic one."""
    half = 0.5 * analytic["width"]
    centre = 0.5 * sum(interval["interval"])
    return {
        "width_ratio": interval["width"] / analytic["width"],
        "centre_shift": (centre - 0.5 * sum(analytic["interval"])) / half,
    }


def _training_summary(estimator: str, components: list[Component], samples) -> dict:
    """results.json's "training": the demo's keys, and each component's network under ``"components"``."""
    first = components[0].learned.estimator
    per_component = {
        c.role: {
            "epochs": c.learned.estimator.n_epochs_,
            "time_s": c.learned.train_s,
            "model": c.learned.model_file,
            "parameters": list(c.problem.parameters),
            "n_train": len(s),
        }
        for c, s in zip(components, samples, strict=True)
    }
    return {
        "estimator": estimator,
        "method": "carl",
        "methods": {
            "carl": {
                "epochs": max(v["epochs"] for v in per_component.values()),
                "time_s": sum(v["time_s"] for v in per_component.values()),
                "model": ", ".join(v["model"] for v in per_component.values()),
            }
        },
        "components": per_component,
        "gold": False,
        "n_train": sum(len(s) for s in samples),
        "epochs": first.n_epochs_,
        "time_s": sum(c.learned.train_s for c in components),
        "device": first.device_,
    }
