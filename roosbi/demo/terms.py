"""The demo's stages for problems whose simulator is a generator's term sample (the ``eft`` problem).

Such a generator hands over one set of events with one weight per term of a polynomial in the
parameters (:mod:`roosbi.data.terms`), not events at parameter points. The demo takes that form as it
is: the training sample is drawn from the term weights (with the gold computed from them), the
morphing baseline is the polynomial term morph (:func:`roosbi.term_morph.polynomial_morph`), SALLY's
templates are term histograms of the learned score, and every shape pdf is extended with the
problem's expected number of events sigma(theta) L (the rate depends on theta too, so the
extended likelihood is what must be fitted).
"""

from __future__ import annotations

import numpy as np

from ..data.eft import eft_terms
from ..data.problems import Problem
from ..data.sample import ScoreSample, TrainingSample
from ..data.terms import TermSample, joint_score, sample_from_terms
from ..library import import_root
from ..morphing import attach_score_data, clip_into, score_variables
from ..term_morph import polynomial_morph, term_histograms

#: Problems whose events come from a generator's term sample: the function that makes it.
TERM_SAMPLES = {"eft": eft_terms}
#: Events in the term sample per training event drawn from it (the draws are with replacement).
POOL_FACTOR = 4


def term_sample(prob: Problem, n_train: int, seed: int) -> TermSample:
    """The generator's term sample for the problem, ``POOL_FACTOR`` events per training event."""
    return TERM_SAMPLES[prob.name](prob, n_events=max(100_000, POOL_FACTOR * n_train), seed=seed)


def training_sample(prob: Problem, terms: TermSample, n_train: int, seed: int) -> TrainingSample:
    """Target events at theta from the prior and reference events at the reference point, with gold."""
    return sample_from_terms(
        terms, prob.parameters, prob.parameter_ranges(), n_train, prob.reference_point, seed=seed, gold=True
    )


def score_sample(prob: Problem, terms: TermSample, point: dict[str, float]) -> ScoreSample:
    """SALLY's sample: every term event, weighted to the point, with its joint score there."""
    theta = np.array([point[name] for name in terms.parameters])
    order = [terms.parameters.index(name) for name in prob.parameters]
    return ScoreSample(
        x=terms.x,
        joint_score=joint_score(terms, theta)[:, order],
        observables=list(prob.observables),
        parameters=list(prob.parameters),
        point=dict(point),
        weights=terms.event_weights(theta),
    )


def morph_pdf(prob: Problem, terms: TermSample, n_bins: int, name: str = "morphed_pdf") -> str:
    """The polynomial term morph over the observables, extended, imported; its name."""
    ws = prob.workspace
    observables = [prob.var(n) for n in prob.observables]
    ranges = [(x.getMin(), x.getMax()) for x in observables]
    histograms = term_histograms(terms, bins=n_bins, ranges=ranges)
    luminosity = ws.var(prob.components["luminosity"])
    pdf = polynomial_morph(histograms, observables, [prob.var(n) for n in terms.parameters], luminosity, name=name)
    ws.Import(pdf, Silence=True)
    return name


def sally_pdf(prob: Problem, terms: TermSample, estimator, n_bins: int, name: str = "sally_pdf") -> str:
    """SALLY's template fit: the term morph of the learned score t(x), with the observed data mapped to t(x).

    The score variables span the 0.1 % to 99.9 % quantiles of t over the term events at the
    reference point (padded by 5 %); values outside go into the edge bins, in templates and data
    alike. The pdf's string attribute ``roosbi_data`` names the mapped data.
    """
    ws = prob.workspace
    t_terms = estimator.score(terms.x)
    observed = prob.data().to_numpy()
    t_data = estimator.score(np.column_stack([observed[n] for n in prob.observables]))
    point = np.array([estimator.point_[n] for n in terms.parameters])
    at_point = np.clip(terms.event_weights(point), 0.0, None)
    lo, hi = _weighted_quantiles(t_terms, at_point, 0.001), _weighted_quantiles(t_terms, at_point, 0.999)
    pad = 0.05 * np.maximum(hi - lo, 1e-12)
    lo, hi = lo - pad, hi + pad
    titles = [f"t_{{{par}}}(x)" for par in prob.parameters]
    variables = score_variables(ws, name, prob.parameters, lo, hi, titles, n_bins)
    mapped = TermSample(
        x=clip_into(t_terms, lo, hi),
        weights=terms.weights,
        monomials=terms.monomials,
        observables=[v.GetName() for v in variables],
        parameters=terms.parameters,
    )
    histograms = term_histograms(mapped, bins=n_bins, ranges=list(zip(lo, hi, strict=True)))
    luminosity = ws.var(prob.components["luminosity"])
    pdf = polynomial_morph(histograms, variables, [prob.var(n) for n in terms.parameters], luminosity, name=name)
    ws.Import(pdf, Silence=True)
    attach_score_data(ws, name, variables, clip_into(t_data, lo, hi))
    return name


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of each column of ``values`` with non-negative event ``weights``."""
    out = np.empty(values.shape[1])
    for k in range(values.shape[1]):
        order = np.argsort(values[:, k])
        cdf = np.cumsum(weights[order])
        out[k] = values[order[min(np.searchsorted(cdf, q * cdf[-1]), len(order) - 1)], k]
    return out


def extend(prob: Problem, pdf_name: str) -> str:
    """``RooExtendPdf(pdf, expected_events)`` in the workspace (a shape pdf times the problem's rate); its name."""
    ROOT = import_root()
    ws = prob.workspace
    name = f"{pdf_name}_extended"
    expected = ws.function(prob.components["expected_events"])
    ws.Import(ROOT.RooExtendPdf(name, f"{pdf_name} x expected events", ws.pdf(pdf_name), expected), Silence=True)
    ws.pdf(name).setStringAttribute("roosbi_data", ws.pdf(pdf_name).getStringAttribute("roosbi_data") or "")
    return name
