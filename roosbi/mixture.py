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


def score_histograms(
    ratio, sample: TrainingSample, n_bins: int = 30, pseudo_count: float = 1.0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted histograms of the classifier score of the sample's signal and background events.

    ``n_bins`` equal bins over [0, 1]; a bin's content is the sum of its events' weights (any
    real numbers, negative ones included) plus ``pseudo_count``. The demo's default, + 1 per bin
    (its events have unit weights), keeps an empty template bin from giving log(0) in the fit, as
    the morphing templates do. With ``pseudo_count=0`` (weighted simulated samples, whose weights
    have no natural unit) the bins are the weight sums alone, and a bin that is not positive
    (empty, or negative after its negative weights are summed) is floored at
    :data:`TEMPLATE_FLOOR` times the class's mean absolute weight, "a tenth of a typical
    event": logged for empty bins, a warning for negative ones.

    Returns
    -------
    edges : ndarray, shape (n_bins + 1,)
    counts : dict
        ``{"signal": ..., "background": ...}``, each of shape ``(n_bins,)``, every bin positive.

    Raises
    ------
    InputError
        Fewer than 2 bins, a negative ``pseudo_count``, or a class whose weights sum to zero or
        less (it has no distribution to make a template of).
    """
    edges, counts, _ = _score_histograms(ratio, sample, n_bins, pseudo_count)
    return edges, counts


def _score_histograms(ratio, sample: TrainingSample, n_bins: int, pseudo_count: float):
    """:func:`score_histograms` with the sums of squared weights per bin (of a floored bin: the floor squared)."""
    if n_bins < 2:
        raise InputError(f"the score histograms need at least 2 bins, not {n_bins}")
    if not (math.isfinite(pseudo_count) and pseudo_count >= 0):
        raise InputError(f"pseudo_count must be a finite number >= 0, not {pseudo_count}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    scores = classifier_score(ratio, sample.x)
    counts, squares = {}, {}
    for label, y in (("signal", 1.0), ("background", 0.0)):
        select = sample.y == y
        weights = sample.weights[select]
        total = float(weights.sum())
        if not total > 0:
            raise InputError(
                f"the {label} events' weights sum to {total:g} ({int(select.sum())} events, "
                f"{int((weights < 0).sum())} with negative weight): a score template needs a positive total; "
                "check the weight column and the selection"
            )
        raw = np.histogram(scores[select], bins=edges, weights=weights)[0] + pseudo_count
        counts[label] = _floor_bins(raw, label, float(np.abs(weights).mean()))
        squares[label] = np.histogram(scores[select], bins=edges, weights=weights**2)[0] + pseudo_count
        squares[label] = np.where(counts[label] != raw, counts[label] ** 2, squares[label])
    return edges, counts, squares


#: A template bin that is not positive is set to this times its class's mean absolute event weight.
TEMPLATE_FLOOR = 0.1


def _floor_bins(counts: np.ndarray, label: str, typical_weight: float) -> np.ndarray:
    """Bins <= 0 set to :data:`TEMPLATE_FLOOR` x ``typical_weight`` (a density must be positive where data fall)."""
    bad = counts <= 0
    if not bad.any():
        return counts
    floor = TEMPLATE_FLOOR * typical_weight
    negative = counts < 0
    if negative.any():
        log.warning(
            "%s score template: %d of %d bins have a negative sum of weights (lowest %g); they are set to %g "
            "(%g x the mean |weight|): negative weights dominate there, consider fewer bins",
            label,
            int(negative.sum()),
            len(counts),
            float(counts.min()),
            floor,
            TEMPLATE_FLOOR,
        )
    n_empty = int((counts == 0).sum())
    if n_empty:
        log.info("%s score template: %d of %d bins are empty; they are set to %g", label, n_empty, len(counts), floor)
    return np.where(bad, floor, counts)


def template_pdf(
    problem,
    ratio,
    sample: TrainingSample,
    n_bins: int = 30,
    name: str = "template_pdf",
    score_name: str = "score",
    *,
    mu=None,
    n_signal=None,
    n_background=None,
    data=None,
    pseudo_count: float = 1.0,
):
    """The template baseline: an extended fit of score histograms, imported into the workspace.

    The classifier score s = r / (1 + r) of the sample's signal and background events is filled
    into ``n_bins`` equal bins over [0, 1] (:func:`score_histograms`: a bin's content is the sum
    of its events' weights, + ``pseudo_count``; bins that are not positive are floored); the two
    histograms become ``RooHistPdf`` templates T_s, T_b in a score variable, and the model is the
    extended ``RooAddPdf`` mu S T_s + B T_b. The observed events' scores are imported as the
    dataset ``<observed data>_score``, which the pdf names in its string attribute
    ``roosbi_data`` (the fits and macros/fit_workspace.C use it).

    Parameters
    ----------
    problem : Problem or ROOT.RooWorkspace
        A mixture problem (its workspace, signal strength, yields and observed data are used), or
        the workspace to build in, with ``mu``, ``n_signal``, ``n_background`` and ``data`` given.
        The workspace receives the score variable, templates, pdf and dataset.
    ratio : ROOT.RooLearnedRatio
        The learned r(x) (any output kind: the score is computed from its log r).
    sample : TrainingSample
        Labelled signal (y = 1) and background (y = 0) events, e.g. from
        :func:`simulate_components` or :func:`~roosbi.data.samples.sample_from_trees` with
        ``parameters=[]``; its event weights fill the templates.
    n_bins : int
        Bins of the score histograms.
    name : str
        Name of the pdf in the workspace (its templates are ``<name>_signal``, ``<name>_background``).
    score_name : str
        Name of the score variable.
    mu : ROOT.RooRealVar or str, optional
        The signal strength (a name is looked up in the workspace). Default: the problem's parameter.
    n_signal, n_background : float, str or ROOT.RooAbsReal, optional
        S and B, the expected signal (at mu = 1) and background events: positive numbers, RooFit
        objects, or names of the workspace's. Default: the problem's components.
    data : ROOT.RooDataSet or str, optional
        The observed events, holding the sample's observables (unweighted). Default: the
        problem's observed data.
    pseudo_count : float
        Added to every template bin; 1 (the demo's events have unit weights) or 0 (weighted
        samples: the bins are the weight sums alone, with the floor of :func:`score_histograms`).

    Returns
    -------
    ROOT.RooAbsPdf
        The pdf as held by the workspace.

    Raises
    ------
    InputError
        A problem that is not a mixture; with a workspace, a missing or unknown ``mu``, yield or
        dataset, or data without the sample's observables; a class of the sample whose weights
        sum to zero or less; fewer than 2 bins.
    """
    ROOT = import_root()
    if isinstance(problem, Problem):
        _check_mixture(problem)
        ws = problem.workspace
        mu = problem.var(problem.parameters[0]) if mu is None else mu
        n_signal = problem.components["n_signal"] if n_signal is None else n_signal
        n_background = problem.components["n_background"] if n_background is None else n_background
        data = problem.observed_data if data is None else data
    else:
        ws = require_object(problem, "problem", "RooWorkspace")
        missing = [
            k
            for k, v in (("mu", mu), ("n_signal", n_signal), ("n_background", n_background), ("data", data))
            if v is None
        ]
        if missing:
            raise InputError(f"template_pdf on a workspace needs {', '.join(missing)} (a Problem names them itself)")
    mu = _workspace_arg(ws, mu, "mu", "var")
    require_object(mu, "mu", "RooRealVar")
    n_signal = _yield(_workspace_arg(ws, n_signal, "n_signal", "arg"), "n_signal", f"{name}_n_signal")
    n_background = _yield(
        _workspace_arg(ws, n_background, "n_background", "arg"), "n_background", f"{name}_n_background"
    )
    data = _workspace_arg(ws, data, "data", "data")
    columns = [v.GetName() for v in data.get()]
    absent = [n for n in sample.observables if n not in columns]
    if absent:
        raise InputError(
            f"the observed data '{data.GetName()}' have no column {', '.join(map(repr, absent))}; "
            f"its columns: {', '.join(columns)}"
        )
    if data.isWeighted():
        raise InputError(f"the observed data '{data.GetName()}' are weighted; the score template fit takes events")
    edges, counts, squares = _score_histograms(ratio, sample, n_bins, pseudo_count)
    score = ROOT.RooRealVar(score_name, "classifier score r/(1+r)", 0.0, 1.0)
    score.setBins(n_bins)
    templates = []
    for label in ("signal", "background"):
        # Whole counts (the demo's unit weights) need no sums of squares; weighted ones do.
        weighted = not np.array_equal(counts[label], np.round(counts[label]))
        hist = ROOT.RooDataHist.from_numpy(
            counts[label],
            [score],
            bins=[edges],
            weights_squared_sum=squares[label] if weighted else None,
            name=f"{name}_{label}_hist",
        )
        template = ROOT.RooHistPdf(f"{name}_{label}", f"{label} score template", ROOT.RooArgSet(score), hist, 0)
        ws.Import(template, Silence=True)  # the workspace keeps the histogram inside
        templates.append(ws.pdf(template.GetName()))
    signal_yield = ROOT.RooProduct(f"{name}_signal_yield", "mu S", ROOT.RooArgList(mu, n_signal))
    model = ROOT.RooAddPdf(
        name, "score template fit", ROOT.RooArgList(*templates), ROOT.RooArgList(signal_yield, n_background)
    )
    observed = data.to_numpy()
    x_observed = np.column_stack([observed[n] for n in sample.observables])
    scores = ROOT.RooDataSet.from_numpy(
        {score_name: np.clip(classifier_score(ratio, x_observed), 0.0, 1.0)},
        ROOT.RooArgSet(score),
        name=f"{data.GetName()}_score",
    )
    model.setStringAttribute("roosbi_data", scores.GetName())
    ws.Import(model, Silence=True)
    ws.Import(scores, Silence=True)
    log.info("template baseline: %d score bins, %d observed events", n_bins, scores.numEntries())
    return ws.pdf(name)


def _workspace_arg(ws, value, label: str, kind: str):
    """``value`` itself, or the workspace's object of that name (``kind``: "var", "arg" or "data")."""
    if not isinstance(value, str):
        return value
    found = getattr(ws, kind)(value)
    if not found:
        raise InputError(
            f"no {'dataset' if kind == 'data' else 'variable'} named '{value}' ({label}) in workspace '{ws.GetName()}'"
        )
    return found


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
