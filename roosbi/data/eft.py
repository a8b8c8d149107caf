"""The built-in EFT-like problem: two couplings in a squared amplitude, with an exact observed-level pdf.

The latent (parton-level) z has the differential cross section of an amplitude linear in two
couplings,

    dsigma/dz (z | c1, c2) = (g0(z) + c1 g1(z) + c2 g2(z))^2,

so it is >= 0 for every coupling, as a physical squared amplitude is. Expanded, it is a
polynomial in the couplings with six terms: g0^2 (SM), 2 g0 g1 and 2 g0 g2 (interference,
linear in c1, c2), g1^2, 2 g1 g2 and g2^2 (squared and cross terms). The basis functions are
Gaussian bumps, g_k(z) = a_k exp(-(z - mu_k)^2 / (4 s_k^2)), so that g_k^2 is a Gaussian of width
s_k with integral ``strength_k`` and every product g_j g_k is again a Gaussian, whose mean, width
and integral are closed forms. The detector smears z with a Gaussian, x = z + N(0, resolution),
so each term stays a Gaussian at the observed level (widths add in quadrature), and the
observed-level pdf, the target of the analytic fit, is exact:

    p(x | theta) = sum_i c_i(theta) T_i(x) / sigma(theta),    expected events sigma(theta) L.

The basis mimics three operators: g0 the SM, g1 an operator that grows a tail at high z with
little interference with the SM, g2 a broad operator that interferes with it. The rate depends
strongly on the couplings, so the extended likelihood (rate and shape) is what must be fitted;
and because the squared terms grow with |c1| on either side of zero, the likelihood has a
second, local minimum near the sign-flipped c1 (a known hazard of polynomial morphs, which
:func:`roosbi.inference.grid_start` is for).

The generator's view of the same model is :func:`eft_terms`: events drawn from a proposal that
covers every term, with one weight per term, which is what MadGraph with reweighting hands over;
:mod:`roosbi.data.terms` turns it into training samples at any coupling and into the morphing
baseline.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy.stats import norm

from ..exceptions import InputError
from ..library import import_root
from ..term_morph import expected_events, monomial_function
from .problems import Problem
from .terms import TermSample, quadratic_monomials

log = logging.getLogger(__name__)

PARAMETERS = ("c1", "c2")
#: The monomials of the six terms, in the order of :data:`PAIRS`: 1, c1, c2, c1^2, c1 c2, c2^2.
MONOMIALS = quadratic_monomials(PARAMETERS)
#: The basis products g_j g_k of each term (the coupling of g0 is 1).
PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
#: The basis g0 (SM), g1, g2: (mean, width, strength = integral of g_k^2, relative to the SM).
BASIS = ((0.0, 1.2, 1.0), (3.5, 0.7, 0.3), (0.5, 1.5, 0.1))
#: The range of z and of x: the widest observed-level term (width 1.62 around 0.5) is 5.2 widths
#: inside it, so truncation changes the cross sections by less than 1e-6 (tests check it).
RANGE = (-8.0, 10.0)


def term_gaussians(basis=BASIS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The latent-level terms as Gaussians K exp(-(z - m)^2 / (2 v)): arrays K, m, v, one entry per term.

    For g_k^2 = strength_k N(z; mu_k, s_k), the product of two basis functions is
    g_j g_k = a_j a_k exp(-(mu_j - mu_k)^2 / (4 (s_j^2 + s_k^2))) exp(-(z - m)^2 / (2 v)) with
    v = 2 s_j^2 s_k^2 / (s_j^2 + s_k^2) and m = (mu_j s_k^2 + mu_k s_j^2) / (s_j^2 + s_k^2); a cross term
    carries a factor 2 (from the square of the sum).
    """
    mu, s, strength = (np.array(col, dtype=np.float64) for col in zip(*basis, strict=True))
    amplitude = np.sqrt(strength) * (2.0 * np.pi * s**2) ** -0.25
    k, m, v = [], [], []
    for j, i in PAIRS:
        total = s[j] ** 2 + s[i] ** 2
        v.append(2.0 * s[j] ** 2 * s[i] ** 2 / total)
        m.append((mu[j] * s[i] ** 2 + mu[i] * s[j] ** 2) / total)
        k.append((1 if j == i else 2) * amplitude[j] * amplitude[i] * math.exp(-((mu[j] - mu[i]) ** 2) / (4 * total)))
    return np.array(k), np.array(m), np.array(v)


def eft(
    c_observed: tuple[float, float] = (0.3, 0.2),
    luminosity: float = 2500.0,
    resolution: float = 0.6,
    c_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 1,
) -> Problem:
    """The EFT-like problem: couplings c1, c2 of a squared amplitude, fitted by the extended likelihood.

    With the defaults the SM cross section is 1 (2500 expected events at c = 0), the truth
    c = (0.3, 0.2) gives about 3060 expected events, and the analytic fit measures c1 and c2 to
    about +-0.02 and +-0.035 (correlation about -0.4).

    Parameters
    ----------
    c_observed : (float, float)
        True (c1, c2) of the observed data, inside ``c_range``.
    luminosity : float
        L: expected events per unit cross section (the SM cross section is 1).
    resolution : float
        Width of the Gaussian detector smearing x = z + N(0, resolution).
    c_range : (float, float)
        Range of both couplings: the uniform prior and the training range. The cross section
        must stay positive over it (it does for any range: the amplitude's square is >= 0).
    seed : int
        Seed of RooFit's generator for the observed data, a Poisson number of events around
        sigma(c_observed) L.

    Returns
    -------
    Problem
        ``target_pdf`` the extended observed-level pdf ``model``, ``reference_pdf`` its shape at
        the SM (``reference``, the reference point c = (0, 0)), latent z with ``latent_pdf`` and
        the detector ``observation_pdf``; ``components`` names ``expected_events`` (sigma(theta) L,
        to extend a learned shape pdf) and ``luminosity``.
    """
    lo, hi = (float(v) for v in c_range)
    if not lo < 0.0 < hi:
        raise InputError(f"c_range must contain the SM point 0 (the reference point), not {c_range}")
    if len(c_observed) != 2 or not all(lo <= c <= hi for c in c_observed):
        raise InputError(f"c_observed must be two couplings inside c_range {c_range}, not {c_observed}")
    for label, value in (("luminosity", luminosity), ("resolution", resolution)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{label} must be positive and finite, not {value}")
    ROOT = import_root()
    ws = ROOT.RooWorkspace("w", "roosbi eft")
    ROOT.SetOwnership(ws, False)  # see problems.gauss1d: handed-out objects must outlive the Problem
    for name in ("z", "x"):
        ws.Import(ROOT.RooRealVar(name, name, *RANGE), Silence=True)
    for name, value in zip(PARAMETERS, c_observed, strict=True):
        ws.Import(ROOT.RooRealVar(name, name, float(value), lo, hi), Silence=True)
    _constants(ws, luminosity=luminosity)
    ws.Import(ROOT.RooRealVar("resolution", "detector resolution", resolution, 1e-6, 1e6), Silence=True)
    ws.var("resolution").setConstant(True)
    for k, (mean, width, strength) in enumerate(BASIS):  # the record eft_terms reads the proposal from
        _constants(ws, **{f"g{k}_mean": mean, f"g{k}_width": width, f"g{k}_strength": strength})
    amplitude, mean, variance = term_gaussians(BASIS)
    smeared = variance + resolution**2
    params = [ws.var(name) for name in PARAMETERS]
    _sum_pdf(ws, "latent_pdf", ws.var("z"), amplitude, mean, variance, params, extended=False)
    scale = amplitude * np.sqrt(variance / smeared)  # a Gaussian convolved with N(0, resolution)
    _sum_pdf(ws, "model", ws.var("x"), scale, mean, smeared, params, extended=True)
    at_sm = np.array([1.0 if not any(e) else 0.0 for e in MONOMIALS])  # c_i(0, 0)
    _sum_pdf(ws, "reference", ws.var("x"), scale * at_sm, mean, smeared, [], extended=False)
    ws.factory("Gaussian::detector(x, z, resolution)")
    ws.Import(expected_events(params, MONOMIALS, eft_cross_sections(), ws.var("luminosity")), Silence=True)
    _generate_observed(ws, seed)
    return Problem(
        name="eft",
        workspace=ws,
        target_pdf="model",
        reference_pdf="reference",
        observables=["x"],
        parameters=list(PARAMETERS),
        observed_data="obs_data",
        truth=dict(zip(PARAMETERS, (float(c) for c in c_observed), strict=True)),
        components={"expected_events": "expected_events", "luminosity": "luminosity"},
        latents=["z"],
        latent_pdf="latent_pdf",
        observation_pdf="detector",
        reference_point=dict.fromkeys(PARAMETERS, 0.0),
    )


def _constants(ws, **values: float) -> None:
    """Import constant RooRealVars."""
    ROOT = import_root()
    for name, value in values.items():
        var = ROOT.RooRealVar(name, name, float(value))
        var.setConstant(True)
        ws.Import(var, Silence=True)


def _sum_pdf(ws, name: str, variable, amplitude, mean, variance, params, extended: bool) -> None:
    """Import sum_i c_i(theta) [L] K_i exp(-(v - m_i)^2 / (2 var_i)) as a ``RooRealSumPdf`` in ``variable``.

    The Gaussians enter as functions (unnormalised), so the coefficients carry the amplitudes;
    terms whose amplitude is 0 are left out. Without ``params`` the coefficients are constants.
    """
    ROOT = import_root()
    funcs, coefs, keep = [], [], []
    for i, exponent in enumerate(MONOMIALS):
        if amplitude[i] == 0.0:
            continue
        m = ROOT.RooConstVar(f"{name}_mean{i}", "term mean", float(mean[i]))
        w = ROOT.RooRealVar(f"{name}_width{i}", "term width", math.sqrt(variance[i]), 1e-6, 1e6)
        w.setConstant(True)
        funcs.append(ROOT.RooGaussian(f"{name}_term{i}", f"term {i}", variable, m, w))
        k = ROOT.RooConstVar(f"{name}_amplitude{i}", "term amplitude", float(amplitude[i]))
        factors = [k, ws.var("luminosity")] if extended else [k]
        coefs.append(monomial_function(f"{name}_coef{i}", params, exponent, factors) if params else k)
        keep += [m, w, k]  # RooFit holds raw pointers: the parts must live until the import copies them
    pdf = ROOT.RooRealSumPdf(name, name, ROOT.RooArgList(*funcs), ROOT.RooArgList(*coefs), extended)
    ws.Import(pdf, Silence=True, RecycleConflictNodes=True)


def _generate_observed(ws, seed: int) -> None:
    """Generate ``obs_data`` from the extended model: a Poisson number of events around sigma L."""
    ROOT = import_root()
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    data = ws.pdf("model").generate(ROOT.RooArgSet(ws.var("x")), ROOT.RooFit.Extended(True))
    data.SetName("obs_data")
    ws.Import(data, Silence=True)
    log.info("eft: %d observed events (expected %.1f)", data.numEntries(), ws.function("expected_events").getVal())


def eft_cross_sections(basis=BASIS) -> np.ndarray:
    """The six term cross sections sigma_i (integrals over the whole real line), SM first."""
    amplitude, _, variance = term_gaussians(basis)
    return amplitude * np.sqrt(2.0 * np.pi * variance)


def _basis_of(problem: Problem) -> tuple:
    """The basis recorded in the problem's workspace."""
    ws = problem.workspace
    if not ws.var("g0_mean"):
        raise InputError(f"problem '{problem.name}' is not the eft problem: its workspace has no basis record")
    return tuple(
        tuple(ws.var(f"g{k}_{what}").getVal() for what in ("mean", "width", "strength")) for k in range(len(BASIS))
    )


def latent_term_densities(z: np.ndarray, basis=BASIS) -> np.ndarray:
    """The six terms dsigma_i/dz at each z; shape ``(n, 6)``."""
    amplitude, mean, variance = term_gaussians(basis)
    z = np.asarray(z, dtype=np.float64).reshape(-1, 1)
    return amplitude * np.exp(-((z - mean) ** 2) / (2.0 * variance))


def eft_terms(problem: Problem, n_events: int = 100_000, seed: int = 1) -> TermSample:
    """The generator's output for the eft problem: events with one weight per term.

    z is drawn from the proposal q(z), an equal mixture of the three bumps g_k^2 (normalised,
    truncated to z's range), which covers every term: |g_j g_k| <= (g_j^2 + g_k^2) / 2, so every
    weight is bounded. Each event gets w_i = T_i(z) / (n q(z)), whose sum over events estimates the
    term cross section sigma_i. x = z + N(0, resolution), truncated to x's range as the detector pdf is.

    Parameters
    ----------
    problem : Problem
        From :func:`eft`.
    n_events : int
        Events.
    seed : int
        Seeds every draw: same seed, same sample.

    Returns
    -------
    TermSample
        x, z and weights of shape ``(n_events, 6)`` in the order of :data:`MONOMIALS`.
    """
    if n_events < 1:
        raise InputError(f"n_events must be positive, not {n_events}")
    basis = _basis_of(problem)
    ws = problem.workspace
    z_lo, z_hi = ws.var("z").getMin(), ws.var("z").getMax()
    x_lo, x_hi = ws.var("x").getMin(), ws.var("x").getMax()
    rng = np.random.default_rng(seed)
    mu, s, _ = (np.array(col) for col in zip(*basis, strict=True))

    def draw(n: int) -> np.ndarray:
        component = rng.integers(len(mu), size=n)
        return rng.normal(mu[component], s[component])

    z = _truncated(draw, z_lo, z_hi, n_events)
    mass = np.mean(norm.cdf(z_hi, mu, s) - norm.cdf(z_lo, mu, s))  # of the mixture inside z's range
    q = np.mean(norm.pdf(z[:, None], mu, s), axis=1) / mass
    weights = latent_term_densities(z, basis) / (n_events * q[:, None])
    resolution = ws.var("resolution").getVal()
    x = np.empty(n_events)
    pending = np.arange(n_events)
    while pending.size:  # redraw the smearing of the rare events it takes out of x's range
        x[pending] = z[pending] + rng.normal(0.0, resolution, pending.size)
        pending = pending[(x[pending] < x_lo) | (x[pending] > x_hi)]
    return TermSample(
        x=x,
        weights=weights,
        monomials=MONOMIALS,
        observables=list(problem.observables),
        parameters=list(problem.parameters),
        z=z,
        latents=list(problem.latents),
    )


def _truncated(draw, lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` values from ``draw(k)`` (k values at a time) inside [lo, hi], redrawing those outside."""
    out = draw(n)
    bad = np.nonzero((out < lo) | (out > hi))[0]
    while bad.size:
        out[bad] = draw(bad.size)
        bad = bad[(out[bad] < lo) | (out[bad] > hi)]
    return out
