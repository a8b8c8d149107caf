"""The ``syst`` problem: rf618's mixture with two systematic uncertainties, each a constrained nuisance parameter.

A Gaussian signal on a falling exponential background in the mass m in [100, 160] GeV, signal
strength mu (a yield: mu S signal and B background events expected), as in
:func:`~roosbi.data.builtin.mixture`, with

- an uncertain signal energy scale: the peak sits at m_H (1 + alpha_scale sigma_scale);
- an uncertain background slope: slope_0 (1 + alpha_slope sigma_slope);

each nuisance parameter alpha constrained by a unit Gaussian around a constant global observable
(its auxiliary measurement), ``Gaussian(alpha_obs | alpha, 1)``. docs/systematics.md says how the
learned likelihood profiles them.
"""

from __future__ import annotations

import math

from ..exceptions import InputError
from ..library import import_root
from .problems import Problem

#: Range of each nuisance parameter (in units of its constraint's width): the training range and
#: the range the profile fits may visit. At its edge the constraint alone costs 8 in the NLL.
NUISANCE_RANGE = (-4.0, 4.0)


def syst(
    mu_observed: float = 1.0,
    alpha_scale_observed: float = 0.0,
    alpha_slope_observed: float = 0.0,
    n_signal: float = 100.0,
    n_background: float = 2000.0,
    sigma_scale: float = 0.03,
    sigma_slope: float = 0.24,
    seed: int = 1,
) -> Problem:
    """rf618's mixture with an uncertain signal energy scale and background slope (Gaussian constraints).

    Signal ``Gaussian(m | peak, 2.5)``, peak = 125 (1 + alpha_scale sigma_scale) GeV; background
    ``Exponential(m | slope)``, slope = -0.03 (1 + alpha_slope sigma_slope) / GeV; the model the
    extended ``RooAddPdf`` mu S p_s + B p_b, mu in [0, 5]; the nuisance parameters alpha_scale and
    alpha_slope in [-4, 4], each with the constraint ``Gaussian(<alpha>_obs | alpha, 1)``
    (``<alpha>_constraint``), its global observable ``<alpha>_obs`` constant at 0 (the nominal).
    A uniform density in m (``uniform``) is the reference of the learned ratios.

    Parameters
    ----------
    mu_observed : float
        True signal strength of the observed data (inside [0, 5]).
    alpha_scale_observed, alpha_slope_observed : float
        True nuisance values of the observed data (inside [-4, 4]); the global observables stay
        at 0, so values away from 0 make the data pull against the constraints.
    n_signal, n_background : float
        S, the expected signal events at mu = 1, and B, the expected background events.
    sigma_scale : float
        Relative uncertainty of the energy scale (0.03: one unit of alpha_scale moves the peak by
        3.75 GeV, 1.5 times the peak's width). Large on purpose: with it (and ``sigma_slope``) a
        binned classifier score loses visibly to a summary trained with the systematics
        (docs/systematics.md, the comparison of summary statistics).
    sigma_slope : float
        Relative uncertainty of the background slope (0.24: at alpha_slope = -4 the background is
        almost flat).
    seed : int
        Seed of RooFit's generator for the observed data (a Poisson number of events around
        mu S + B).

    Returns
    -------
    Problem
        ``parameters`` ``["mu"]``, ``nuisance_parameters`` ``["alpha_scale", "alpha_slope"]``,
        ``constraints`` their Gaussians, ``components`` the signal and background pdfs and the
        yields (as for the mixture), target ``model``, reference ``uniform``.
    """
    for label, value in (("n_signal", n_signal), ("n_background", n_background)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{label} (an expected number of events) must be positive and finite, not {value}")
    if not 0.0 <= mu_observed <= 5.0:
        raise InputError(f"mu_observed must be inside mu's range [0, 5], not {mu_observed}")
    lo, hi = NUISANCE_RANGE
    observed = {"alpha_scale_observed": alpha_scale_observed, "alpha_slope_observed": alpha_slope_observed}
    for label, value in observed.items():
        if not lo <= value <= hi:
            raise InputError(f"{label} must be inside [{lo:g}, {hi:g}], not {value}")
    if not (math.isfinite(sigma_scale) and 0 < sigma_scale * hi < 0.2):
        raise InputError(
            f"sigma_scale must be positive and keep the peak inside the mass range (< {0.2 / hi}), not {sigma_scale}"
        )
    if not (math.isfinite(sigma_slope) and 0 < sigma_slope * hi < 1):
        raise InputError(f"sigma_slope must be positive and keep the slope negative (< {1 / hi}), not {sigma_slope}")
    ROOT = import_root()
    ws = ROOT.RooWorkspace("w", "roosbi syst")
    ROOT.SetOwnership(ws, False)  # see roosbi.data.builtin.gauss1d
    ws.factory(f"alpha_scale[0, {lo!r}, {hi!r}]")
    ws.factory(f"alpha_slope[0, {lo!r}, {hi!r}]")
    ws.factory(f"sigma_scale[{sigma_scale!r}]")
    ws.factory(f"sigma_slope[{sigma_slope!r}]")
    ws.factory("expr::peak('m_H*(1 + sigma_scale*alpha_scale)', m_H[125], sigma_scale, alpha_scale)")
    ws.factory("expr::slope('slope_0*(1 + sigma_slope*alpha_slope)', slope_0[-0.03], sigma_slope, alpha_slope)")
    ws.factory("Gaussian::signal(m[100,160], peak, width[2.5, 0.1, 20])")
    ws.factory("Exponential::background(m, slope)")
    ws.factory(f"n_signal[{n_signal!r}]")
    ws.factory(f"n_background[{n_background!r}]")
    ws.factory("prod::signal_yield(mu[1, 0, 5], n_signal)")
    ws.factory("SUM::model(signal_yield * signal, n_background * background)")
    ws.factory("Uniform::uniform(m)")
    for alpha in ("alpha_scale", "alpha_slope"):
        ws.factory(f"Gaussian::{alpha}_constraint({alpha}_obs[0, -10, 10], {alpha}, 1)")
        ws.var(f"{alpha}_obs").setConstant(True)
    for name in ("m_H", "width", "slope_0", "sigma_scale", "sigma_slope", "n_signal", "n_background"):
        ws.var(name).setConstant(True)
    ws.var("m").SetTitle("m [GeV]")
    ws.var("mu").setVal(mu_observed)
    ws.var("alpha_scale").setVal(alpha_scale_observed)
    ws.var("alpha_slope").setVal(alpha_slope_observed)
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    data = ws.pdf("model").generate(ROOT.RooArgSet(ws.var("m")), ROOT.RooFit.Extended(True))
    data.SetName("obs_data")
    ws.Import(data, Silence=True)
    truth = {"mu": mu_observed, "alpha_scale": alpha_scale_observed, "alpha_slope": alpha_slope_observed}
    ws.var("alpha_scale").setVal(0.0)  # the nominal values, where fits start
    ws.var("alpha_slope").setVal(0.0)
    return Problem(
        name="syst",
        workspace=ws,
        target_pdf="model",
        reference_pdf="uniform",
        observables=["m"],
        parameters=["mu"],
        observed_data="obs_data",
        truth=truth,
        components={
            "signal": "signal",
            "background": "background",
            "n_signal": "n_signal",
            "n_background": "n_background",
        },
        nuisance_parameters=["alpha_scale", "alpha_slope"],
        constraints=["alpha_scale_constraint", "alpha_slope_constraint"],
    )
