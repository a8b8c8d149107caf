"""Expected CLs limits and discovery significances, one definition for binned and unbinned likelihoods.

Every number is asymptotic (Cowan, Cranmer, Gross, Vitells 2011) on Asimov data of the model
that generated it, with the nuisance parameters profiled (or, "stat only", held at nominal):

* the **expected CLs upper limit** (median, background only) is the mu where the CLs of q~mu on
  the background-only Asimov data, ``2 (1 - Phi(sqrt q_mu))`` (CLb = 1/2), is 0.05:
  ``sqrt q_mu = Phi^-1(0.975)``, with ``q_mu = 2 [NLL(mu, profiled nu) - NLL(best fit, mu >= 0)]``;
* the **expected discovery significance** is ``sqrt q0`` on the Asimov data at mu = 1, ``q0 =
  2 [NLL(0, profiled nu) - NLL(best fit)]``.

For a :class:`~roosbi.diffana.binned.BinnedModel` (:func:`binned_expected`) the fits are the
differentiable Newton fits of :mod:`.fit`, the same as the objectives ``cls`` and
``asimov_significance``, and the best fit on its own Asimov data is the generating point. For a
RooFit pdf (:func:`unbinned_expected`) they are Minuit fits of its NLL on a weighted Asimov
dataset (:func:`asimov_dataset`). :func:`train_bce` trains the plain classifier that a neos
summary is compared with: the same :class:`~roosbi.diffana.train.SummaryNetwork`, binary
cross-entropy, signal against background at nominal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from scipy import optimize, stats

from ..estimators.resources import import_torch
from ..exceptions import InputError
from ..inference import fit_nll
from ..library import import_root
from .binned import BinnedModel
from .fit import fit
from .train import SummaryNetwork, SummaryResult, _steps, prepare_processes

torch = import_torch()
log = logging.getLogger(__name__)

#: sqrt(q_mu) where the median expected CLs is 0.05: 2 (1 - Phi(z)) = 0.05.
Z_CLS95 = float(stats.norm.ppf(0.975))


def solve_limit(sqrt_q: Callable[[float], float], guess: float, lo: float = 1e-4, hi: float = 50.0) -> float:
    """The mu > 0 where ``sqrt_q(mu)`` (increasing) reaches :data:`Z_CLS95`: secant steps from ``guess``, then Brent.

    sqrt q is close to linear in mu (asymptotically mu / sigma), so a few secant steps usually
    converge (to 1e-5 relative); Brent's method on a bracket takes over where they do not.
    """
    if not (math.isfinite(guess) and guess > 0):
        guess = 1.0
    x0, x1 = guess, 1.2 * guess
    f0, f1 = sqrt_q(x0) - Z_CLS95, sqrt_q(x1) - Z_CLS95
    for _ in range(8):
        if abs(f1 - f0) < 1e-12:
            break
        x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
        if not lo < x2 < hi:
            break
        x0, f0, x1, f1 = x1, f1, x2, sqrt_q(x2) - Z_CLS95
        if abs(x1 - x0) < 1e-5 * x1:
            return float(x1)
    a, b = lo, max(x1, guess)
    while sqrt_q(b) < Z_CLS95:
        b *= 2
        if b > hi:
            raise InputError(f"the expected limit is above {hi}: the model has no sensitivity")
    return float(optimize.brentq(lambda mu: sqrt_q(mu) - Z_CLS95, a, b, xtol=1e-6 * b))


def binned_expected(model: BinnedModel) -> dict[str, float]:
    """``{"cls_limit", "significance"}`` of a binned model, nuisances profiled (none: stat only)."""
    if not isinstance(model, BinnedModel):
        raise InputError(f"model must be a roosbi.diffana.BinnedModel, not {type(model).__name__}")
    model = model.detach()
    with torch.no_grad():
        background = model.nominal_parameters(0.0)
        data_b = model.expected(background)
        nll_b = float(model.nll(background, data_b))

        def sqrt_q(mu: float) -> float:
            q = 2 * (float(fit(model, data_b, fixed={model.poi: float(mu)}).nll) - nll_b)
            return math.sqrt(max(q, 0.0))

        signal = model.nominal_parameters(1.0)
        data_sb = model.expected(signal)
        q0 = 2 * (float(fit(model, data_sb, fixed={model.poi: 0.0}).nll) - float(model.nll(signal, data_sb)))
        guess = Z_CLS95 / max(math.sqrt(max(q0, 1e-12)), 1e-6)
        return {"cls_limit": solve_limit(sqrt_q, guess), "significance": math.sqrt(max(q0, 0.0))}


def asimov_dataset(pdf, observable, values: dict[str, float], n_bins: int = 1200, name: str = "asimov"):
    """A weighted ``RooDataSet``: one event per fine bin of ``observable`` at its centre, weight the expected count.

    ``pdf`` (extended) is evaluated with its parameters set to ``values`` (restored after); the
    counts are ``N_exp p(centre) width``, rescaled to sum to ``N_exp``. Fine bins (default 1200)
    make it the Asimov data of an unbinned fit (RooStats' ``AsymptoticCalculator::MakeAsimovData``
    bins a continuous observable in the same way).
    """
    ROOT = import_root()
    params = pdf.getParameters(ROOT.RooArgSet(observable))
    saved = {}
    for key, value in values.items():
        var = params.find(key)
        if not var:
            raise InputError(f"the pdf {pdf.GetName()!r} has no parameter {key!r}")
        saved[key] = var.getVal()
        var.setVal(float(value))
    try:
        observables = ROOT.RooArgSet(observable)
        total = pdf.expectedEvents(observables)
        edges = np.linspace(observable.getMin(), observable.getMax(), int(n_bins) + 1)
        centres = 0.5 * (edges[1:] + edges[:-1])
        density = np.empty(len(centres))
        for i, c in enumerate(centres):
            observable.setVal(float(c))
            density[i] = pdf.getVal(observables)
        counts = density * np.diff(edges)
        counts *= total / counts.sum()
    finally:
        for key, value in saved.items():
            params.find(key).setVal(value)
    weight = ROOT.RooRealVar(f"{name}_weight", "weight", 1.0)
    data = ROOT.RooDataSet(name, name, ROOT.RooArgSet(observable, weight), ROOT.RooFit.WeightVar(weight))
    for c, n in zip(centres, counts, strict=True):
        observable.setVal(float(c))
        data.add(ROOT.RooArgSet(observable), float(n))
    ROOT.SetOwnership(data, True)
    return data


def unbinned_expected(
    nll_of: Callable,
    generator,
    observable,
    poi,
    nuisances: list,
    nominal: dict[str, float],
    profile: bool = True,
) -> dict[str, float]:
    """``{"cls_limit", "significance"}`` of an unbinned likelihood on the Asimov data of ``generator``.

    Parameters
    ----------
    nll_of : callable
        ``nll_of(dataset)`` -> the NLL (a ``RooAbsReal``, constraints included) on a dataset.
    generator : ROOT.RooAbsPdf
        The extended pdf whose Asimov data are fitted (the analytic model).
    observable : ROOT.RooRealVar
        Its observable.
    poi : ROOT.RooRealVar
        The parameter of interest (a signal strength; its range's lower end is 0).
    nuisances : list of ROOT.RooRealVar
        Profiled with ``profile``, else held at ``nominal``.
    nominal : dict
        Nominal value of each nuisance: the Asimov data's, and the stat-only fits'.
    profile : bool
        Profile the nuisances (systematics on) or hold them at nominal (stat only).
    """
    names = [nu.GetName() for nu in nuisances]
    if set(nominal) != set(names):
        raise InputError(f"nominal must give a value of each nuisance {names}, got {sorted(nominal)}")
    state = {v.GetName(): (v.getVal(), v.isConstant()) for v in [poi, *nuisances]}
    try:
        out = {}
        for key, mu_true in (("significance", 1.0), ("cls_limit", 0.0)):
            data = asimov_dataset(generator, observable, {poi.GetName(): mu_true, **nominal}, name=f"asimov_{key}")
            nll = nll_of(data)
            best = _minimum(nll, poi, nuisances, nominal, None, profile)
            if key == "significance":
                out[key] = math.sqrt(max(2 * (_minimum(nll, poi, nuisances, nominal, 0.0, profile) - best), 0.0))
                continue

            def sqrt_q(mu: float, nll=nll, best=best) -> float:
                return math.sqrt(max(2 * (_minimum(nll, poi, nuisances, nominal, mu, profile) - best), 0.0))

            out[key] = solve_limit(sqrt_q, Z_CLS95 / max(out["significance"], 1e-6), hi=poi.getMax())
        return out
    finally:
        for var in [poi, *nuisances]:
            value, constant = state[var.GetName()]
            var.setVal(value)
            var.setConstant(constant)


def _minimum(nll, poi, nuisances, nominal, mu, profile: bool) -> float:
    """Min NLL with ``mu`` fixed (None: floating, from 0.5), nuisances floating or at nominal."""
    for nu in nuisances:
        nu.setVal(nominal[nu.GetName()])
        nu.setConstant(not profile)
    poi.setConstant(mu is not None)
    poi.setVal(0.5 if mu is None else float(mu))
    floating = [v for v in [poi, *nuisances] if not v.isConstant()]
    if not floating:
        return float(nll.getVal())
    start = {v.GetName(): v.getVal() for v in floating}
    quiet = logging.getLogger("roosbi.inference")
    level = quiet.level
    if mu is None:  # the background-only Asimov data's best fit is at mu = 0, the limit: expected, not worth a warning
        quiet.setLevel(logging.ERROR)
    try:
        return float(fit_nll(nll, floating, start, minos=False, check_points=0).nll_min)
    finally:
        quiet.setLevel(level)


def train_bce(
    processes,
    bins: int,
    hidden=(32, 32),
    steps: int = 300,
    learning_rate: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SummaryResult:
    """A binary classifier s(x) of signal against background (nominal events, classes of equal weight).

    The same :class:`SummaryNetwork` as neos (standardised inputs, ReLU MLP, sigmoid) trained with
    Adam on the weighted binary cross-entropy, on the CPU; the result bins it in ``bins`` equal bins
    of [0, 1], so that ``result.binned_model(processes)`` is the BCE summary's binned model with the
    neos summary's binning and nuisances.
    """
    if int(bins) < 1 or int(steps) < 1 or not float(learning_rate) > 0:
        raise InputError(f"bins and steps must be >= 1 and learning_rate > 0, got {bins}, {steps}, {learning_rate}")
    prepared = prepare_processes(processes)
    xs, ys, ws = [], [], []
    for label in (1.0, 0.0):
        group = [p for p in prepared if p.signal == bool(label)]
        if not group:
            raise InputError("train_bce needs a signal and a background process")
        total = sum(float(p.w.sum()) for p in group)
        for p in group:
            xs.append(p.x)
            ys.append(torch.full((p.x.shape[0],), label, dtype=torch.float64))
            ws.append(p.w / total)
    x, y, w = torch.cat(xs), torch.cat(ys).float(), torch.cat(ws).float()
    w = w * (len(w) / float(w.sum()))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SummaryNetwork(x.shape[1], tuple(int(h) for h in hidden), x.mean(0), x.std(0).clamp_min(1e-12))
    optimizer = torch.optim.Adam(net.parameters(), lr=float(learning_rate))
    generator = torch.Generator().manual_seed(seed)
    history = []
    for _ in _steps(steps, progress, "bce"):
        index = slice(None)
        if batch_size is not None and batch_size < len(y):
            index = torch.randperm(len(y), generator=generator)[: int(batch_size)]
        loss = torch.nn.functional.binary_cross_entropy(net(x[index]), y[index], weight=w[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    log.info("bce: loss from %.4g to %.4g in %d steps", history[0], history[-1], steps)
    return SummaryResult(net.eval(), np.linspace(0.0, 1.0, int(bins) + 1), 0.5, "bce", history)
