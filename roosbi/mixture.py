"""Mixture models (ROOT's rf618): a signal strength mu from a learned signal/background ratio.

When the data are a mixture of a signal and a background whose shapes do not depend on the
parameter, only the mixture weights do, the classifier needs no parameter input: it learns
r(x) = p_s(x) / p_b(x) once, from labelled signal (y = 1) and background (y = 0) events, and the
extended likelihood of the signal strength follows exactly:

    p(x | mu) = (mu S p_s(x) + B p_b(x)) / (mu S + B) = p_b(x) f(x | mu),
    f(x | mu) = (mu S r(x) + B) / (mu S + B),
    NLL(mu) = (mu S + B) - sum_i log(mu S r(x_i) + B) + const,

with S and B the expected signal (at mu = 1) and background yields. The background density
p_b(x_i) does not depend on mu, so it drops out: :func:`mixture_pdf` builds f as RooFit objects
around a ``RooLearnedRatio`` (native, persistable), self-normalised, with mu S + B expected events.

The baseline analysts use today is :func:`template_pdf`: histograms of the classifier score of the
signal and background samples as ``RooHistPdf`` templates, and an extended fit of
mu S T_s + B T_b to the observed events' scores.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy.special import expit

from .checks import require_object
from .data.problems import Problem
from .data.sample import TrainingSample
from .data.simulate import generate_reference
from .exceptions import InputError
from .library import import_root
from .roofit import OUTPUTS, evaluate_log_ratio

log = logging.getLogger(__name__)

#: The roles a mixture problem must name in ``Problem.components``.
COMPONENTS = ("signal", "background", "n_signal", "n_background")


def _check_mixture(problem: Problem) -> None:
    missing = [role for role in COMPONENTS if role not in problem.components]
    if missing:
        raise InputError(
            f"problem '{problem.name}' is not a mixture: its components lack {', '.join(missing)} "
            f"(a mixture problem names {', '.join(COMPONENTS)}; see roosbi.data.builtin.mixture)"
        )


def simulate_components(
    problem: Problem, n_signal_events: int = 50_000, n_background_events: int | None = None, seed: int = 1
) -> TrainingSample:
    """Labelled signal (y = 1) and background (y = 0) events from a mixture problem's component pdfs.

    The sample has no parameter columns (``theta`` of shape ``(n, 0)``): the ratio
    p_s(x) / p_b(x) does not depend on the signal strength.

    Parameters
    ----------
    problem : Problem
        A mixture problem (its ``components`` name the signal and background pdfs).
    n_signal_events : int
        Signal events.
    n_background_events : int, optional
        Background events; defaults to ``n_signal_events``. Equal numbers make the classifier's
        logit log p_s / p_b with no offset.
    seed : int
        Seeds RooFit's generator (two streams drawn from it): same seed, same sample.

    Returns
    -------
    TrainingSample
    """
    _check_mixture(problem)
    n_background_events = n_signal_events if n_background_events is None else n_background_events
    if n_signal_events < 1 or n_background_events < 1:
        raise InputError("n_signal_events and n_background_events must be positive")
    rng = np.random.default_rng(seed)
    seed_signal, seed_background = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    x_signal = generate_reference(problem, n_signal_events, seed_signal, pdf=problem.components["signal"])
    x_background = generate_reference(
        problem, n_background_events, seed_background, pdf=problem.components["background"]
    )
    log.info("simulated %d signal and %d background events", n_signal_events, n_background_events)
    n = n_signal_events + n_background_events
    return TrainingSample(
        x=np.vstack([x_signal, x_background]),
        theta=np.empty((n, 0)),
        y=np.concatenate([np.ones(n_signal_events), np.zeros(n_background_events)]),
        observables=list(problem.observables),
        parameters=[],
        parameter_ranges={},
        reference=f"pdf {problem.components['background']}",
    )


def _yield(value, label: str, name: str):
    """A positive expected yield as a RooAbsReal (a RooConstVar for a number)."""
    ROOT = import_root()
    if isinstance(value, ROOT.RooAbsReal):
        number, obj = require_object(value, label).getVal(), value
    else:
        number, obj = float(value), None
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{label} (an expected number of events) must be positive and finite, not {number}")
    return obj if obj is not None else ROOT.RooConstVar(name, label, number)


def mixture_pdf(ratio, mu, n_signal, n_background, name: str = "learned_mixture"):
    """The extended mixture pdf in the signal strength from a learned r(x) = p_s(x) / p_b(x).

    Builds f(x | mu) = (mu S r(x) + B) / (mu S + B) as a ``RooFormulaVar``, wraps it in a
    self-normalised ``RooWrapperPdf`` (f is the density p(x | mu) divided by p_b(x), whose factor
    does not depend on mu) and a ``RooExtendPdf`` with mu S + B expected events. Its NLL
    (extended, which is RooFit's default for it) is mu S + B - sum_i log(mu S r(x_i) + B) + const.

    Parameters
    ----------
    ratio : ROOT.RooLearnedRatio or ROOT.RooAbsReal
        r(x), built with ``output="ratio"`` (:func:`roosbi.roofit.learned_ratio` on a model trained
        with :func:`simulate_components`). Any other RooAbsReal that returns r works too.
    mu : ROOT.RooRealVar
        The signal strength, with a finite range (Minuit starts in its middle).
    n_signal, n_background : float or ROOT.RooAbsReal
        S, the expected signal events at mu = 1, and B, the expected background events; positive.
        RooFit objects are used as they are (a yield can then float or be constrained).
    name : str
        Name of the extended pdf; the objects it is made of are named ``<name>_...``.

    Returns
    -------
    ROOT.RooExtendPdf
        Not yet imported into a workspace; it keeps the objects it points at alive.

    Raises
    ------
    InputError
        For a ratio whose output is not r, a mu that is not a RooRealVar with a finite range, or a
        yield that is not positive.
    """
    ROOT = import_root()
    require_object(ratio, "ratio", "RooAbsReal")
    require_object(mu, "mu", "RooRealVar")
    if isinstance(ratio, ROOT.RooLearnedRatio) and ratio.output() != OUTPUTS["ratio"]:
        kind = next((k for k, v in OUTPUTS.items() if v == ratio.output()), ratio.output())
        raise InputError(
            f"mixture_pdf needs the ratio r(x) itself, but '{ratio.GetName()}' returns {kind}; "
            "build it with learned_ratio(..., output='ratio')"
        )
    if not (mu.hasMin() and mu.hasMax()):
        raise InputError(
            f"the signal strength '{mu.GetName()}' needs a finite range (for example [0, 5]): the fits start "
            "in its middle, and mu S r(x) + B must stay positive over it"
        )
    signal = _yield(n_signal, "n_signal", f"{name}_n_signal")
    background = _yield(n_background, "n_background", f"{name}_n_background")
    args = ROOT.RooArgList(mu, signal, ratio, background)
    func = ROOT.RooFormulaVar(f"{name}_func", "(mu S r + B) / (mu S + B)", "(@0*@1*@2 + @3) / (@0*@1 + @3)", args)
    n_expected = ROOT.RooFormulaVar(
        f"{name}_n_expected", "mu S + B", "@0*@1 + @2", ROOT.RooArgList(mu, signal, background)
    )
    shape = ROOT.RooWrapperPdf(f"{name}_shape", "p(x|mu) / p_b(x)", func, True)
    pdf = ROOT.RooExtendPdf(name, f"learned mixture {name}", shape, n_expected)
    # RooFit holds raw pointers to all of these: keep them alive with the pdf.
    pdf._roosbi_keepalive = (ratio, mu, signal, background, args, func, n_expected, shape)
    return pdf


def classifier_score(ratio, x: np.ndarray) -> np.ndarray:
    """The classifier score s = r / (1 + r) of a ``RooLearnedRatio`` for rows of ``x`` (n, n_inputs)."""
    return expit(evaluate_log_ratio(ratio, np.asarray(x, dtype=np.float64).reshape(len(x), -1)))


def score_histograms(ratio, sample: TrainingSample, n_bins: int = 30) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted histograms of the classifier score of the sample's signal and background events.

    ``n_bins`` equal bins over [0, 1]; every bin gets + 1 (an empty template bin would give
    log(0) in the fit), as the morphing templates do.

    Returns
    -------
    edges : ndarray, shape (n_bins + 1,)
    counts : dict
        ``{"signal": ..., "background": ...}``, each of shape ``(n_bins,)``.
    """
    if n_bins < 2:
        raise InputError(f"the score histograms need at least 2 bins, not {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    scores = classifier_score(ratio, sample.x)
    counts = {}
    for label, y in (("signal", 1.0), ("background", 0.0)):
        select = sample.y == y
        counts[label] = np.histogram(scores[select], bins=edges, weights=sample.weights[select])[0] + 1.0
    return edges, counts


def template_pdf(
    problem: Problem,
    ratio,
    sample: TrainingSample,
    n_bins: int = 30,
    name: str = "template_pdf",
    score_name: str = "score",
):
    """The template baseline: an extended fit of score histograms, imported into the workspace.

    The classifier score s = r / (1 + r) of the sample's signal and background events is filled
    into ``n_bins`` equal bins over [0, 1] (:func:`score_histograms`: event weights included,
    every bin + 1 so that an empty bin cannot give log(0)); the two histograms become
    ``RooHistPdf`` templates T_s, T_b in a score variable, and the model is the extended
    ``RooAddPdf`` mu S T_s + B T_b with the problem's yields. The observed events' scores are
    imported as the dataset ``<observed_data>_score``, which the pdf names in its string
    attribute ``roosbi_data`` (the fits and macros/fit_workspace.C use it).

    Parameters
    ----------
    problem : Problem
        A mixture problem; its workspace receives the score variable, templates, pdf and dataset.
    ratio : ROOT.RooLearnedRatio
        The learned r(x) (any output kind: the score is computed from its log r).
    sample : TrainingSample
        Labelled signal (y = 1) and background (y = 0) events, e.g. from
        :func:`simulate_components`.
    n_bins : int
        Bins of the score histograms.
    name : str
        Name of the pdf in the workspace (its templates are ``<name>_signal``, ``<name>_background``).
    score_name : str
        Name of the score variable.

    Returns
    -------
    ROOT.RooAbsPdf
        The pdf as held by the workspace.
    """
    ROOT = import_root()
    _check_mixture(problem)
    edges, counts = score_histograms(ratio, sample, n_bins)
    ws = problem.workspace
    mu = problem.var(problem.parameters[0])
    n_signal = _yield(ws.arg(problem.components["n_signal"]), "n_signal", "")
    n_background = _yield(ws.arg(problem.components["n_background"]), "n_background", "")
    score = ROOT.RooRealVar(score_name, "classifier score r/(1+r)", 0.0, 1.0)
    score.setBins(n_bins)
    templates = []
    for label in ("signal", "background"):
        hist = ROOT.RooDataHist.from_numpy(counts[label], [score], bins=[edges], name=f"{name}_{label}_hist")
        template = ROOT.RooHistPdf(f"{name}_{label}", f"{label} score template", ROOT.RooArgSet(score), hist, 0)
        ws.Import(template, Silence=True)  # the workspace keeps the histogram inside
        templates.append(ws.pdf(template.GetName()))
    signal_yield = ROOT.RooProduct(f"{name}_signal_yield", "mu S", ROOT.RooArgList(mu, n_signal))
    model = ROOT.RooAddPdf(
        name, "score template fit", ROOT.RooArgList(*templates), ROOT.RooArgList(signal_yield, n_background)
    )
    observed = problem.data().to_numpy()
    x_observed = np.column_stack([observed[n] for n in problem.observables])
    data = ROOT.RooDataSet.from_numpy(
        {score_name: np.clip(classifier_score(ratio, x_observed), 0.0, 1.0)},
        ROOT.RooArgSet(score),
        name=f"{problem.observed_data}_score",
    )
    model.setStringAttribute("roosbi_data", data.GetName())
    ws.Import(model, Silence=True)
    ws.Import(data, Silence=True)
    log.info("template baseline: %d score bins, %d observed events", n_bins, data.numEntries())
    return ws.pdf(name)


def component_log_ratio(problem: Problem, points: np.ndarray) -> np.ndarray:
    """Exact log p_s(x) - log p_b(x) from the workspace's component pdfs at each row of ``points``.

    Both pdfs are normalised over the observables; a loop over the rows (fine for a few thousand).
    """
    ROOT = import_root()
    _check_mixture(problem)
    observables = [problem.var(n) for n in problem.observables]
    norm = ROOT.RooArgSet(*observables)
    signal = problem.workspace.pdf(problem.components["signal"])
    background = problem.workspace.pdf(problem.components["background"])
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    saved = [x.getVal() for x in observables]
    out = np.empty(len(points))
    for i, row in enumerate(points):
        for x, value in zip(observables, row, strict=True):
            x.setVal(float(value))
        out[i] = math.log(signal.getVal(norm)) - math.log(background.getVal(norm))
    for x, value in zip(observables, saved, strict=True):
        x.setVal(value)
    return out
