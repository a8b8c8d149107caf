"""Terms of a polynomial-in-parameter model in RooFit: histograms, the polynomial morph, the rate.

The RooFit half of :mod:`roosbi.data.terms`: one histogram per term (from weighted term events, numpy
histograms, ``TH1`` or ``RooDataHist``), the morphing baseline sum_i c_i(theta) L T_i(x) as an
extended ``RooRealSumPdf`` of ``RooHistFunc`` terms, and the expected number of events
sigma(theta) L as a RooFit function (``RooExtendPdf(learned_pdf, expected_events)`` extends a
learned shape pdf with it). :mod:`roosbi.data.terms` says why this is not ``RooLagrangianMorphFunc``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .checks import require_object
from .data.terms import TermSample, _check_finite, coefficients, monomial_exponents, term_name
from .exceptions import InputError
from .library import import_root

log = logging.getLogger(__name__)


@dataclass
class TermHistograms:
    """One histogram per term, in cross-section units (each bin holds the sum of the term's weights).

    Attributes
    ----------
    edges : list of ndarray
        Bin edges along each observable.
    counts : ndarray, shape (n_terms, n_bins_0, n_bins_1, ...)
        Sum of each term's weights in each bin.
    variances : ndarray, same shape
        Sum of the squared weights in each bin.
    monomials, observables, parameters, term_names
        As in :class:`TermSample`.
    """

    edges: list[np.ndarray]
    counts: np.ndarray
    variances: np.ndarray
    monomials: Sequence
    observables: list[str]
    parameters: list[str]
    term_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.exponents = monomial_exponents(self.monomials, self.parameters)
        self.edges = [np.asarray(e, dtype=np.float64) for e in self.edges]
        self.counts = np.asarray(self.counts, dtype=np.float64)
        self.variances = np.asarray(self.variances, dtype=np.float64)
        shape = (len(self.exponents), *(len(e) - 1 for e in self.edges))
        if len(self.edges) != len(self.observables):
            raise InputError(f"{len(self.edges)} edge arrays for {len(self.observables)} observables")
        for name, arr in (("counts", self.counts), ("variances", self.variances)):
            if arr.shape != shape:
                raise InputError(f"{name} must have shape {shape} (terms, then bins per observable), not {arr.shape}")
            _check_finite(arr, name)
        if any(np.any(np.diff(e) <= 0) or not np.isfinite(e).all() for e in self.edges):
            raise InputError("bin edges must be finite and increasing")
        if self.term_names is None:
            self.term_names = [term_name(e, self.parameters) for e in self.exponents]

    def expected(self, theta, luminosity: float = 1.0) -> np.ndarray:
        """sum_i c_i(theta) L counts_i: the expected events per bin at one point."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        return np.tensordot(coefficients(theta, self.exponents)[0], self.counts, axes=1) * luminosity


def term_histograms(terms: TermSample, bins=40, ranges=None) -> TermHistograms:
    """Histogram each term's weights over the observables.

    Parameters
    ----------
    terms : TermSample
        The events and their term weights.
    bins : int or sequence
        Bins per observable (an int for all, or one int / edge array per observable).
    ranges : sequence of (low, high), optional
        Range per observable; default the extent of the events. Give the observables' RooFit
        ranges when the histograms feed :func:`polynomial_morph`.
    """
    n_obs = len(terms.observables)
    bins = [bins] * n_obs if np.isscalar(bins) else list(bins)
    ranges = [None] * n_obs if ranges is None else list(ranges)
    if len(bins) != n_obs or len(ranges) != n_obs:
        raise InputError(f"give one bins and one range entry per observable ({n_obs})")
    ranges = [(terms.x[:, k].min(), terms.x[:, k].max()) if r is None else r for k, r in enumerate(ranges)]
    counts, variances = [], []
    for i in range(terms.n_terms):
        c, edges = np.histogramdd(terms.x, bins=bins, range=ranges, weights=terms.weights[:, i])
        counts.append(c)
        variances.append(np.histogramdd(terms.x, bins=edges, weights=terms.weights[:, i] ** 2)[0])
    return TermHistograms(
        edges=edges,
        counts=np.array(counts),
        variances=np.array(variances),
        monomials=[tuple(e) for e in terms.exponents],
        observables=list(terms.observables),
        parameters=list(terms.parameters),
        term_names=list(terms.term_names),
    )


def histograms_from(histograms: Sequence, monomials, parameters: Sequence[str], observables: Sequence[str]):
    """:class:`TermHistograms` from one histogram per term: numpy, ``TH1`` (1-3 D) or ``RooDataHist``.

    Parameters
    ----------
    histograms : sequence
        One per monomial, all with the same binning: a numpy ``(counts, edges)`` pair as
        ``np.histogram`` / ``np.histogramdd`` return it, a ``TH1`` (``TH2``, ``TH3``), or a
        ``RooDataHist``. Bin contents are cross sections (sums of weights) per bin.
    monomials : sequence
        c_i(theta) of each histogram (see :class:`TermSample`).
    parameters, observables : sequence of str
        Names of the parameters and of the histogram axes.
    """
    if len(histograms) != len(monomials):
        raise InputError(f"{len(histograms)} histograms for {len(monomials)} monomials: give one per term")
    converted = [_to_numpy_hist(h, len(observables), i) for i, h in enumerate(histograms)]
    edges = converted[0][1]
    for i, (_, e, _) in enumerate(converted):
        if len(e) != len(edges) or not all(
            a.shape == b.shape and np.allclose(a, b) for a, b in zip(e, edges, strict=True)
        ):
            raise InputError(f"histogram {i} is binned differently from histogram 0; all terms need one binning")
    return TermHistograms(
        edges=edges,
        counts=np.array([c for c, _, _ in converted]),
        variances=np.array([v for _, _, v in converted]),
        monomials=list(monomials),
        observables=list(observables),
        parameters=list(parameters),
    )


def _to_numpy_hist(hist, n_obs: int, i: int):
    """(counts, edges, variances) of one histogram given as numpy, TH1 or RooDataHist."""
    ROOT = import_root()
    if isinstance(hist, tuple) and len(hist) == 2:
        counts, edges = hist
        edges = [edges] if n_obs == 1 and np.ndim(edges[0]) == 0 else list(edges)
        counts = np.asarray(counts, dtype=np.float64)
        return counts, edges, np.zeros_like(counts)  # numpy histograms carry no errors
    if isinstance(hist, ROOT.TH1):
        return _from_th1(hist, n_obs, i)
    if isinstance(hist, ROOT.RooDataHist):
        counts, edges = require_object(hist, f"histograms[{i}]").to_numpy()
        sum_w2 = hist._to_array(hist.sumW2Array())  # null (None) for a histogram filled without weights
        return counts, edges, counts.copy() if sum_w2 is None else sum_w2
    raise InputError(
        f"histograms[{i}] is a {type(hist).__name__}; give a numpy (counts, edges) pair, a TH1 or a RooDataHist"
    )


def _from_th1(hist, n_obs: int, i: int):
    """(counts, edges, variances) of a TH1/TH2/TH3, under- and overflow dropped."""
    if hist.GetDimension() != n_obs:
        raise InputError(f"histograms[{i}] has {hist.GetDimension()} dimension(s) but {n_obs} observables are named")
    axes = [hist.GetXaxis(), hist.GetYaxis(), hist.GetZaxis()][:n_obs]
    edges = [np.array([a.GetBinLowEdge(b) for b in range(1, a.GetNbins() + 2)]) for a in axes]
    shape = tuple(a.GetNbins() for a in axes)
    counts, variances = np.empty(shape), np.empty(shape)
    for idx in itertools.product(*(range(n) for n in shape)):
        root_bin = hist.GetBin(*(k + 1 for k in idx))
        counts[idx], variances[idx] = hist.GetBinContent(root_bin), hist.GetBinError(root_bin) ** 2
    return counts, edges, variances


def monomial_function(name: str, parameters: Sequence, exponent: Sequence[int], factors: Sequence):
    """A ``RooFormulaVar``: the product of ``factors`` (RooAbsReals) and prod_p theta_p^e_p.

    The returned object keeps its inputs alive (``_roosbi_keepalive``) until it is imported into
    a workspace.
    """
    ROOT = import_root()
    args = list(factors) + [par for par, e in zip(parameters, exponent, strict=True) if e]
    powers = [e for e in exponent if e]
    expression = [f"@{k}" for k in range(len(factors))]
    for k, e in enumerate(powers):
        expression += [f"@{len(factors) + k}"] * e
    func = ROOT.RooFormulaVar(
        name,
        term_name(exponent, [p.GetName() for p in parameters]),
        "*".join(expression) or "1",
        ROOT.RooArgList(*args),
    )
    func._roosbi_keepalive = args
    return func


def _parameter_objects(parameters: Sequence, names: Sequence[str]) -> list:
    """RooRealVars in the order of ``names``, checked to be exactly those parameters."""
    parameters = [require_object(p, f"parameters[{i}]", "RooRealVar") for i, p in enumerate(parameters)]
    by_name = {p.GetName(): p for p in parameters}
    if sorted(by_name) != sorted(names):
        raise InputError(f"the RooRealVars {sorted(by_name)} must be the parameters {list(names)} of the terms")
    return [by_name[name] for name in names]


def _constant(value, label: str, name: str):
    """A RooAbsReal: the object itself, or a constant RooRealVar holding a number."""
    ROOT = import_root()
    if isinstance(value, ROOT.RooAbsReal):
        return require_object(value, label)
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"{label} must be positive and finite, not {value}")
    var = ROOT.RooRealVar(name, label, float(value))
    var.setConstant(True)
    return var


def expected_events(parameters: Sequence, monomials, cross_sections, luminosity, name: str = "expected_events"):
    """sigma(theta) L = L sum_i c_i(theta) sigma_i as a RooFit function (a ``RooAddition``).

    Extends a learned shape pdf into the extended likelihood: ``RooExtendPdf(name, title,
    learned_pdf, expected_events(...))``.

    Parameters
    ----------
    parameters : sequence of ROOT.RooRealVar
        The parameters, in the order of the monomials' exponents.
    monomials : sequence
        c_i(theta) of each term (tuples of exponents in the order of ``parameters``, or dicts).
    cross_sections : sequence of float
        sigma_i of each term (e.g. ``TermSample.cross_sections``).
    luminosity : float or ROOT.RooAbsReal
        L; a number becomes a constant RooRealVar ``<name>_luminosity``.
    name : str
        Name of the function; its parts are ``<name>_...``.
    """
    ROOT = import_root()
    names = [require_object(p, f"parameters[{i}]", "RooRealVar").GetName() for i, p in enumerate(parameters)]
    exponents = monomial_exponents(monomials, names)
    cross_sections = np.asarray(cross_sections, dtype=np.float64).reshape(-1)
    if len(cross_sections) != len(exponents) or not np.isfinite(cross_sections).all():
        raise InputError(f"give one finite cross section per monomial ({len(exponents)}), not {cross_sections}")
    lumi = _constant(luminosity, "luminosity", f"{name}_luminosity")
    terms = []
    for i, (exponent, sigma) in enumerate(zip(exponents, cross_sections, strict=True)):
        scale = ROOT.RooConstVar(f"{name}_sigma{i}", f"cross section of term {i}", float(sigma))
        terms.append(monomial_function(f"{name}_term{i}", parameters, exponent, [lumi, scale]))
    total = ROOT.RooAddition(name, "sigma(theta) L", ROOT.RooArgList(*terms))
    total._roosbi_keepalive = (lumi, terms)
    return total


def polynomial_morph(
    histograms: TermHistograms,
    observables: Sequence,
    parameters: Sequence,
    luminosity,
    name: str = "morph_pdf",
    floor: float = 1e-4,
):
    """The morphing baseline of a polynomial model: sum_i c_i(theta) L T_i(x), an extended ``RooRealSumPdf``.

    Each term histogram becomes a ``RooHistFunc`` T_i holding its cross section per unit of
    observable (bin content / bin volume), so that its integral is sigma_i; the coefficients are
    L c_i(theta). The pdf is extended with sum_i c_i(theta) L sigma_i expected events (its own
    integral), the rate that the term histograms predict.

    Parameters
    ----------
    histograms : TermHistograms
        From :func:`term_histograms` or :func:`histograms_from`; their edges must span the
        observables' ranges exactly (the morph is zero outside the histograms).
    observables, parameters : sequence of ROOT.RooRealVar
        Named like the histograms' observables and parameters.
    luminosity : float or ROOT.RooAbsReal
        L.
    name : str
        Name of the pdf; its parts are ``<name>_...``.
    floor : float
        Bins of the constant (SM) term that hold less than ``floor`` x its mean bin content are
        raised to it: an observed event in a bin that no term sample event reached would give
        log(0) and end the fit (``morphing.py`` adds one event per bin for the same reason).

    Returns
    -------
    ROOT.RooRealSumPdf
        Not yet imported into a workspace; it keeps the objects it points at alive.
    """
    ROOT = import_root()
    observables = [require_object(o, f"observables[{i}]", "RooRealVar") for i, o in enumerate(observables)]
    if [o.GetName() for o in observables] != list(histograms.observables):
        raise InputError(f"observables {[o.GetName() for o in observables]} must be {histograms.observables}, in order")
    for obs, edges in zip(observables, histograms.edges, strict=True):
        if not np.allclose([edges[0], edges[-1]], [obs.getMin(), obs.getMax()]):
            raise InputError(
                f"the histograms span [{edges[0]:g}, {edges[-1]:g}] in '{obs.GetName()}' but its range is "
                f"[{obs.getMin():g}, {obs.getMax():g}]; histogram over the observable's range (term_histograms(..., "
                "ranges=...)) or set the range to the histograms'"
            )
    params = _parameter_objects(parameters, histograms.parameters)
    volume = np.prod(np.meshgrid(*[np.diff(e) for e in histograms.edges], indexing="ij"), axis=0)
    density = _with_floor(histograms, floor) / volume
    lumi = _constant(luminosity, "luminosity", f"{name}_luminosity")
    obs_set = ROOT.RooArgSet(*observables)
    funcs, coefs, keep = [], [], []
    for i, exponent in enumerate(histograms.exponents):
        hist = ROOT.RooDataHist.from_numpy(
            density[i].ravel(),
            observables,
            bins=histograms.edges,
            weights_squared_sum=np.zeros(density[i].size),
            name=f"{name}_hist{i}",
        )
        funcs.append(ROOT.RooHistFunc(f"{name}_term{i}", histograms.term_names[i], obs_set, hist, 0))
        coefs.append(monomial_function(f"{name}_coef{i}", params, exponent, [lumi]))
        keep.append(hist)
    pdf = ROOT.RooRealSumPdf(name, "polynomial morph", ROOT.RooArgList(*funcs), ROOT.RooArgList(*coefs), True)
    pdf._roosbi_keepalive = (funcs, coefs, keep, lumi, obs_set, params)
    log.info(
        "polynomial morph '%s': %d terms, %s bins",
        name,
        len(funcs),
        "x".join(str(len(e) - 1) for e in histograms.edges),
    )
    return pdf


def _with_floor(histograms: TermHistograms, floor: float) -> np.ndarray:
    """The counts, with the constant term's near-empty bins raised to ``floor`` x its mean bin content."""
    counts = histograms.counts.copy()
    constant = np.nonzero(~histograms.exponents.any(axis=1))[0]
    if floor > 0 and constant.size:
        sm = counts[constant[0]]
        counts[constant[0]] = np.maximum(sm, floor * sm.mean())
    elif floor > 0:
        log.info("the terms have no constant term: no floor is applied to empty bins")
    return counts
