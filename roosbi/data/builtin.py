"""The built-in problems, each a :class:`~roosbi.data.problems.Problem` built in a fresh workspace.

- :func:`gauss1d`: ROOT's rf615, a Gaussian with an unknown mean against a uniform reference;
- :func:`gauss_nd`, :func:`gauss2d`: rf617, a product of such Gaussians;
- :func:`mixture`: rf618, a Gaussian signal of unknown strength on a falling background;
- :func:`smeared`: rf615's Gaussian as a latent variable seen through a Gaussian detector;
- :func:`resonance`: a line on a falling continuum, mass and width unknown, seen through a detector;
- ``eft``: :func:`roosbi.data.eft.eft`, a quadratic EFT given as weighted terms;
- ``syst``: :func:`roosbi.data.syst.syst`, rf618's mixture with a signal energy scale and a
  background slope as Gaussian-constrained nuisance parameters.

``PROBLEMS`` maps their names to these functions (``roosbi demo <problem>``);
:func:`~roosbi.data.problems.make_problem` builds one by name.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from ..exceptions import InputError
from ..library import import_root
from .problems import Problem

log = logging.getLogger(__name__)


def _import_observed(ws, pdf: str, observables: list[str], seed: int, n: int | None = None) -> None:
    """Generate the observed dataset ``obs_data`` from a pdf of the workspace, seeded, and import it.

    ``n`` events, or a Poisson number around the pdf's expected yield when ``n`` is None (extended).
    """
    ROOT = import_root()
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    obs = ROOT.RooArgSet(*[ws.var(name) for name in observables])
    data = ws.pdf(pdf).generate(obs, ROOT.RooFit.Extended(True)) if n is None else ws.pdf(pdf).generate(obs, n)
    data.SetName("obs_data")
    ws.Import(data, Silence=True)


def gauss1d(
    mu_observed: float = 2.5,
    sigma: float = 1.5,
    n_observed: int = 1000,
    seed: int = 1,
) -> Problem:
    """ROOT's rf615 set-up: a Gaussian in x in [-5, 15] with mean mu in [0, 4] and a uniform reference.

    Parameters
    ----------
    mu_observed : float
        True mean of the observed data.
    sigma : float
        Fixed width of the Gaussian.
    n_observed : int
        Number of observed events.
    seed : int
        Seed of RooFit's generator for the observed data.
    """
    ROOT = import_root()
    ws = ROOT.RooWorkspace("w", "roosbi gauss1d")
    # Datasets and pdfs handed out from the workspace must outlive the Problem object in Python
    # (`gauss1d().data()` would otherwise point into a deleted workspace): C++ keeps it.
    ROOT.SetOwnership(ws, False)
    ws.factory(f"Gaussian::gauss(x[-5,15], mu[0,4], sigma[{sigma}, 0.01, 100])")
    ws.factory("Uniform::uniform(x)")
    ws.var("sigma").setConstant(True)
    ws.var("mu").setVal(mu_observed)
    _import_observed(ws, "gauss", ["x"], seed, n_observed)
    return Problem(
        name="gauss1d",
        workspace=ws,
        target_pdf="gauss",
        reference_pdf="uniform",
        observables=["x"],
        parameters=["mu"],
        observed_data="obs_data",
        truth={"mu": mu_observed},
    )


def gauss_nd(
    mu_observed: tuple[float, ...] = (2.5, 2.0),
    sigma: float = 1.5,
    n_observed: int = 10_000,
    seed: int = 1,
) -> Problem:
    """ROOT's rf617 set-up: a product of Gaussians in x_i in [-5, 15] with means mu_i in [0, 4].

    One observable and one mean per entry of ``mu_observed`` (named ``x0, x1, ...`` and
    ``mu0, mu1, ...`` as in rf617), a common fixed width and a uniform reference in every x_i.

    Parameters
    ----------
    mu_observed : tuple of float
        True means of the observed data; their number is the dimension.
    sigma : float
        Fixed width of every Gaussian.
    n_observed : int
        Number of observed events (rf617: 10 000).
    seed : int
        Seed of RooFit's generator for the observed data.
    """
    ROOT = import_root()
    n_dim = len(mu_observed)
    if n_dim < 1:
        raise InputError("gauss_nd needs at least one dimension")
    ws = ROOT.RooWorkspace("w", f"roosbi gauss{n_dim}d")
    ROOT.SetOwnership(ws, False)  # see gauss1d
    ws.factory(f"sigma[{sigma}, 0.01, 100]")
    ws.var("sigma").setConstant(True)
    for i in range(n_dim):
        ws.factory(f"Gaussian::gauss{i}(x{i}[-5,15], mu{i}[0,4], sigma)")
        ws.factory(f"Uniform::uniform{i}(x{i})")
        ws.var(f"mu{i}").setVal(mu_observed[i])
    ws.factory(f"PROD::gauss({', '.join(f'gauss{i}' for i in range(n_dim))})")
    ws.factory(f"PROD::uniform({', '.join(f'uniform{i}' for i in range(n_dim))})")
    observables = [f"x{i}" for i in range(n_dim)]
    _import_observed(ws, "gauss", observables, seed, n_observed)
    return Problem(
        name=f"gauss{n_dim}d",
        workspace=ws,
        target_pdf="gauss",
        reference_pdf="uniform",
        observables=observables,
        parameters=[f"mu{i}" for i in range(n_dim)],
        observed_data="obs_data",
        truth={f"mu{i}": float(v) for i, v in enumerate(mu_observed)},
    )


def gauss2d(n_observed: int = 10_000, seed: int = 1) -> Problem:
    """rf617 exactly: two observables, two means (2.5, 2.0), width 1.5, 10 000 observed events."""
    return gauss_nd(mu_observed=(2.5, 2.0), n_observed=n_observed, seed=seed)


def mixture(
    mu_observed: float = 1.0,
    n_signal: float = 100.0,
    n_background: float = 2000.0,
    seed: int = 1,
) -> Problem:
    """ROOT's rf618 set-up as a RooFit model: a Gaussian signal on a falling background, signal strength mu.

    The mass m in [100, 160] GeV; signal ``Gaussian(m | 125, 2.5)``; background
    ``Exponential(m | -0.03)``; the model the extended ``RooAddPdf`` mu S p_s + B p_b, whose
    expected number of events is mu S + B; mu in [0, 5]. With the default yields mu is measured
    to about +-0.2 at mu = 1.

    Parameters
    ----------
    mu_observed : float
        True signal strength of the observed data (inside [0, 5]).
    n_signal : float
        S, the expected signal events at mu = 1.
    n_background : float
        B, the expected background events.
    seed : int
        Seed of RooFit's generator for the observed data, whose number of events is
        Poisson-distributed around mu_observed S + B.

    Returns
    -------
    Problem
        target_pdf the mixture (``"model"``), reference_pdf the background; ``components`` names
        the signal and background pdfs and the yields ``n_signal`` and ``n_background``.
    """
    for label, value in (("n_signal", n_signal), ("n_background", n_background)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{label} (an expected number of events) must be positive and finite, not {value}")
    if not 0.0 <= mu_observed <= 5.0:
        raise InputError(f"mu_observed must be inside mu's range [0, 5], not {mu_observed}")
    ROOT = import_root()
    ws = ROOT.RooWorkspace("w", "roosbi mixture")
    ROOT.SetOwnership(ws, False)  # see gauss1d
    ws.factory("Gaussian::signal(m[100,160], m_H[125], width[2.5, 0.1, 20])")
    ws.factory("Exponential::background(m, slope[-0.03, -1, 0])")
    ws.factory(f"n_signal[{n_signal!r}]")
    ws.factory(f"n_background[{n_background!r}]")
    ws.factory("prod::signal_yield(mu[1, 0, 5], n_signal)")
    ws.factory("SUM::model(signal_yield * signal, n_background * background)")
    for name in ("m_H", "width", "slope", "n_signal", "n_background"):
        ws.var(name).setConstant(True)
    ws.var("m").SetTitle("m [GeV]")
    ws.var("mu").setVal(mu_observed)
    _import_observed(ws, "model", ["m"], seed)
    return Problem(
        name="mixture",
        workspace=ws,
        target_pdf="model",
        reference_pdf="background",
        observables=["m"],
        parameters=["mu"],
        observed_data="obs_data",
        truth={"mu": mu_observed},
        components={
            "signal": "signal",
            "background": "background",
            "n_signal": "n_signal",
            "n_background": "n_background",
        },
    )


def _import_observed_latent(
    ws, latent_pdf: str, observation_pdf: str, latents: list[str], observables: list[str], seed: int, n: int
) -> None:
    """Generate ``obs_data`` with the simulator itself: z from p(z|truth), then x from the detector p(x|z).

    Only the observables are kept: the latents are never observed. The parameters hold the truth.
    """
    ROOT = import_root()
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    truth = ws.pdf(latent_pdf).generate(ROOT.RooArgSet(*[ws.var(name) for name in latents]), n)
    observed = ROOT.RooArgSet(*[ws.var(name) for name in observables])
    data = ws.pdf(observation_pdf).generate(observed, ROOT.RooFit.ProtoData(truth))
    reduced = data.reduce(ROOT.RooFit.SelectVars(observed))
    reduced.SetName("obs_data")
    ws.Import(reduced, Silence=True)


def _check_positive(**values: float) -> None:
    for label, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{label} must be positive and finite, not {value}")


def smeared(
    mu_observed: float = 2.5,
    sigma: float = 1.5,
    resolution: float = 1.0,
    n_observed: int = 1000,
    seed: int = 1,
) -> Problem:
    """rf615's Gaussian as a latent variable, seen through a Gaussian detector: the "smeared" problem.

    The latent z (the true value) is drawn from ``Gaussian(z | mu, sigma)``, mu in [0, 4]; the
    detector adds ``Gaussian(0, resolution)``: x = z + noise. z and x live in [-10, 20], wide
    enough that neither range cuts the densities by more than ~1e-8 for the default widths, so the
    observed-level pdf ``Gaussian(x | mu, sqrt(sigma^2 + resolution^2))`` (``target_pdf``) is the
    simulator's density to ~1e-8, and the analytic fit is exact.

    Parameters
    ----------
    mu_observed : float
        True mean of the observed data (inside [0, 4]).
    sigma : float
        Width of the latent Gaussian (rf615: 1.5).
    resolution : float
        Width of the detector's Gaussian smearing.
    n_observed : int
        Number of observed events (rf615: 1000).
    seed : int
        Seed of RooFit's generator for the observed data, which go through the simulator (z, then x).

    Returns
    -------
    Problem
        Latent ``z``, ``latent_pdf`` ``"truth"``, ``observation_pdf`` ``"detector"``, target
        ``"smeared"`` (observed level), reference point mu = 2 (the middle of its range) and
        ``reference_pdf`` ``"reference"``, the observed-level density at that point.
    """
    _check_positive(sigma=sigma, resolution=resolution, n_observed=n_observed)
    if not 0.0 <= mu_observed <= 4.0:
        raise InputError(f"mu_observed must be inside mu's range [0, 4], not {mu_observed}")
    sigma_x = math.hypot(sigma, resolution)
    # The exactness of the observed-level pdf rests on ranges that cut nothing: the mass of the
    # observed Gaussian outside [-10, 20] at the worst mean of the prior bounds what is lost.
    cut = 0.5 * math.erfc(10.0 / (sigma_x * math.sqrt(2.0))) + 0.5 * math.erfc(16.0 / (sigma_x * math.sqrt(2.0)))
    if cut > 1e-6:
        log.warning(
            "smeared: with sigma=%g and resolution=%g the range [-10, 20] cuts a fraction %.2g of the observed "
            "density: target_pdf is exact only to about that",
            sigma,
            resolution,
            cut,
        )
    ROOT = import_root()
    ws = ROOT.RooWorkspace("w", "roosbi smeared")
    ROOT.SetOwnership(ws, False)  # see gauss1d
    ws.factory(f"Gaussian::truth(z[-10,20], mu[0,4], sigma[{sigma!r}, 0.001, 100])")
    ws.factory(f"Gaussian::detector(x[-10,20], z, resolution[{resolution!r}, 0.001, 100])")
    ws.factory(f"Gaussian::smeared(x, mu, sigma_x[{sigma_x!r}, 0.001, 200])")
    ws.factory("Gaussian::reference(x, mu_ref[2.0], sigma_x)")
    for name in ("sigma", "resolution", "sigma_x", "mu_ref"):
        ws.var(name).setConstant(True)
    ws.var("z").SetTitle("z (latent)")
    ws.var("mu").setVal(mu_observed)
    _import_observed_latent(ws, "truth", "detector", ["z"], ["x"], seed, n_observed)
    return Problem(
        name="smeared",
        workspace=ws,
        target_pdf="smeared",
        reference_pdf="reference",
        observables=["x"],
        parameters=["mu"],
        observed_data="obs_data",
        truth={"mu": mu_observed},
        latents=["z"],
        latent_pdf="truth",
        observation_pdf="detector",
        reference_point={"mu": 2.0},
    )


#: The range of the true mass in :func:`resonance`, GeV.
RESONANCE_RANGE = (100.0, 160.0)


def _phi_difference(upper: str, lower: str) -> str:
    """Formula text for Phi(upper) - Phi(lower), upper > lower, without cancellation in either tail.

    Far above the mean both Phi are ~1 and their difference is taken from the upper tails
    (erfc of positive arguments), far below from the lower tails.
    """
    return (
        f"(({lower}) > 0 ? 0.5*(TMath::Erfc(({lower})/sqrt(2.)) - TMath::Erfc(({upper})/sqrt(2.)))"
        f" : 0.5*(TMath::Erfc(-({upper})/sqrt(2.)) - TMath::Erfc(-({lower})/sqrt(2.))))"
    )


def _resonance_density(mass: str, width: str) -> str:
    """Formula text of the exact observed density of :func:`resonance` in ``m_reco``.

    The true mass z in [lo, hi] follows f Gauss(z | mass, width) + (1 - f) Exp(z | slope), each
    normalised on [lo, hi]; the detector adds Gauss(0, resolution). The convolution over [lo, hi]
    has a closed form: the line is Gauss(m | mass, S), S^2 = width^2 + resolution^2, times the
    fraction of the conditional Gaussian of z (mean (mass r^2 + m width^2) / S^2, width
    width r / S) inside [lo, hi]; the continuum is exp(slope m + slope^2 r^2 / 2) times the
    fraction of Gauss(m + slope r^2, r) inside [lo, hi]. It integrates to 1 over the real line.
    """
    lo, hi = (repr(v) for v in RESONANCE_RANGE)
    var = f"({width}*{width} + resolution*resolution)"
    mean_z = f"(({mass}*resolution*resolution + m_reco*{width}*{width})/{var})"
    width_z = f"({width}*resolution/sqrt({var}))"
    line = (
        f"exp(-0.5*(m_reco-{mass})*(m_reco-{mass})/{var})/sqrt(2*TMath::Pi()*{var})"
        f"*{_phi_difference(f'({hi}-{mean_z})/{width_z}', f'({lo}-{mean_z})/{width_z}')}"
        f"/{_phi_difference(f'({hi}-{mass})/{width}', f'({lo}-{mass})/{width}')}"
    )
    shifted = "(m_reco + slope*resolution*resolution)"
    continuum = (
        f"slope/(exp(slope*{hi})-exp(slope*{lo}))*exp(slope*m_reco + 0.5*slope*slope*resolution*resolution)"
        f"*{_phi_difference(f'({hi}-{shifted})/resolution', f'({lo}-{shifted})/resolution')}"
    )
    return f"fsig*{line} + (1-fsig)*{continuum}"


def resonance(
    mass_observed: float = 125.0,
    width_observed: float = 2.0,
    resolution: float = 1.0,
    signal_fraction: float = 0.2,
    slope: float = -0.03,
    n_observed: int = 2000,
    seed: int = 1,
) -> Problem:
    """A resonance on a falling continuum, seen through a detector with Gaussian resolution.

    The latent true mass ``m_true`` in [100, 160] GeV follows ``signal_fraction`` of a line
    ``Gaussian(m_true | mass, width)`` plus a continuum ``Exponential(m_true | slope)``; the
    parameters are the line's mass in [120, 130] and width in [1, 4] GeV. The detector measures
    ``m_reco = m_true + Gaussian(0, resolution)``; ``m_reco`` runs 8 resolutions beyond the true
    range on each side, so the detector never pushes an event out of range (RooFit would otherwise
    renormalise p(x|z) near the edges, which no detector does). The observed-level pdf
    (``target_pdf``, :func:`_resonance_density`) is the convolution in closed form, exact to
    rounding, and self-normalised, so the analytic NLL needs no numerical integral.

    The line is Gaussian rather than Breit-Wigner on purpose: its convolution with the resolution
    over the finite true-mass range has a closed form, a Breit-Wigner's has none (RooFFTConvPdf
    would approximate it on a grid). The signal fraction is fixed: a ``RooAddPdf`` coefficient
    that varies per event is evaluated wrongly by RooFit's batch evaluation (:mod:`roosbi.data.gold`
    then falls back to slower event-by-event evaluation).

    Parameters
    ----------
    mass_observed, width_observed : float
        True line mass and width of the observed data (inside [120, 130] and [1, 4]).
    resolution : float
        Detector resolution, GeV.
    signal_fraction : float
        Fraction of line events at truth level, in (0, 1).
    slope : float
        Slope of the continuum, 1/GeV, in [-1, 0).
    n_observed : int
        Number of observed events.
    seed : int
        Seed of RooFit's generator for the observed data (simulated through the latent, as training events are).

    Returns
    -------
    Problem
        Observable ``m_reco``, parameters ``mass`` and ``width``, latent ``m_true``; reference point
        mass = 125, width = 2.5 (the middles of the ranges), ``reference_pdf`` the observed density there.
    """
    _check_positive(resolution=resolution, n_observed=n_observed)
    if not 0.0 < signal_fraction < 1.0:
        raise InputError(f"signal_fraction must be inside (0, 1), not {signal_fraction}")
    if not -1.0 <= slope < 0.0:
        raise InputError(f"slope must be negative (a falling continuum) and at least -1/GeV, not {slope}")
    if not 120.0 <= mass_observed <= 130.0:
        raise InputError(f"mass_observed must be inside mass's range [120, 130], not {mass_observed}")
    if not 1.0 <= width_observed <= 4.0:
        raise InputError(f"width_observed must be inside width's range [1, 4], not {width_observed}")
    ROOT = import_root()
    lo, hi = RESONANCE_RANGE
    ws = ROOT.RooWorkspace("w", "roosbi resonance")
    ROOT.SetOwnership(ws, False)  # see gauss1d
    ws.factory(f"Gaussian::line(m_true[{lo!r},{hi!r}], mass[120,130], width[1,4])")
    ws.factory(f"Exponential::continuum(m_true, slope[{slope!r}])")
    ws.factory(f"SUM::truth(fsig[{signal_fraction!r}]*line, continuum)")
    margin = 8.0 * resolution
    ws.factory(f"Gaussian::detector(m_reco[{lo - margin!r},{hi + margin!r}], m_true, resolution[{resolution!r}])")
    ws.factory("mass_ref[125]")
    ws.factory("width_ref[2.5]")
    # Generation with per-event parameters (ProtoData) counts them as observables of the
    # coefficient normalisation unless it is fixed, and then draws the wrong line fraction.
    ws.pdf("truth").fixCoefNormalization(ROOT.RooArgSet(ws.var("m_true")))
    variables = ROOT.RooArgList(*[ws.arg(n) for n in ("m_reco", "mass", "width", "resolution", "slope", "fsig")])
    reference_vars = ROOT.RooArgList(
        *[ws.arg(n) for n in ("m_reco", "mass_ref", "width_ref", "resolution", "slope", "fsig")]
    )
    density = ROOT.RooFormulaVar("density", "exact observed density", _resonance_density("mass", "width"), variables)
    density_ref = ROOT.RooFormulaVar(
        "density_ref",
        "observed density at the reference point",
        _resonance_density("mass_ref", "width_ref"),
        reference_vars,
    )
    # Self-normalised: the formula integrates to 1 (to ~1e-15 over m_reco's range), and a numerical
    # normalisation integral would add noise to the NLL that Minuit's derivatives feel.
    model = ROOT.RooWrapperPdf("model", "resonance, observed level (exact)", density, True)
    reference = ROOT.RooWrapperPdf("reference", "observed level at the reference point", density_ref, True)
    for pdf in (model, reference):
        ws.Import(pdf, RecycleConflictNodes=True, Silence=True)
    for name in ("slope", "fsig", "resolution", "mass_ref", "width_ref"):
        ws.var(name).setConstant(True)
    ws.var("m_true").SetTitle("m_true [GeV] (latent)")
    ws.var("m_reco").SetTitle("m_reco [GeV]")
    ws.var("mass").setVal(mass_observed)
    ws.var("width").setVal(width_observed)
    _import_observed_latent(ws, "truth", "detector", ["m_true"], ["m_reco"], seed, n_observed)
    return Problem(
        name="resonance",
        workspace=ws,
        target_pdf="model",
        reference_pdf="reference",
        observables=["m_reco"],
        parameters=["mass", "width"],
        observed_data="obs_data",
        truth={"mass": mass_observed, "width": width_observed},
        latents=["m_true"],
        latent_pdf="truth",
        observation_pdf="detector",
        reference_point={"mass": 125.0, "width": 2.5},
    )


def _syst(**kwargs) -> Problem:
    """:func:`roosbi.data.syst.syst`, imported when asked for."""
    from .syst import syst

    return syst(**kwargs)


def _eft(**kwargs) -> Problem:
    """:func:`roosbi.data.eft.eft`, imported when asked for: ``import roosbi`` leaves it (and scipy) unimported."""
    from .eft import eft

    return eft(**kwargs)


PROBLEMS: dict[str, Callable[..., Problem]] = {
    "gauss1d": gauss1d,
    "gauss2d": gauss2d,
    "mixture": mixture,
    "smeared": smeared,
    "resonance": resonance,
    "eft": _eft,
    "syst": _syst,
}
