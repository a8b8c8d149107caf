"""A HistFactory-like binned likelihood in torch: samples, a normalisation factor, nuisance parameters.

Each :class:`Sample` has a nominal template (expected counts per bin) and may carry

* the parameter of interest ``mu`` as a normalisation factor (``signal=True``),
* normalisation systematics (HistFactory's *OverallSys*, pyhf's *normsys*): a factor
  ``kappa_down`` at alpha = -1 and ``kappa_up`` at alpha = +1, interpolated by
  :func:`normsys_factor` (code 1: exponential; code 4: a 6th-order polynomial inside |alpha| < 1
  joined smoothly to the exponential outside, the default of pyhf's and ROOT's code 4),
* shape systematics (*HistoSys*, *histosys*): templates at alpha = -1 and +1, interpolated bin by
  bin by :func:`histosys_shape` (code 0: piecewise linear; code 4: 6th-order polynomial inside,
  linear outside, pyhf's code 4p and ROOT's ``PiecewiseInterpolation`` code 4).

* the Monte Carlo statistical uncertainty of its template (*staterror*, HistFactory's
  ``ActivateStatError``): the absolute uncertainty ``delta_sb`` per bin (``sqrt(sum w^2)``).

Every nuisance parameter alpha has a unit Gaussian constraint around 0. A name used by several
samples (or as both a normsys and a histosys) is one parameter, as in HistFactory. Staterror adds,
as HistFactory does, one factor gamma_b per bin shared by the samples that carry it, with a
Gaussian constraint around 1 of width ``sigma_b = sqrt(sum_s delta_sb^2) / sum_s nu_sb`` (those
samples' nominal counts); a bin whose ``sigma_b`` is below ``staterror_threshold`` (HistFactory's
``RelErrorThreshold``, 0.05) gets no gamma. The expected counts are
``nu_b = sum_s gamma_b^[s has staterror] mu^[s is signal] prod_k f_k(alpha_k) max(0, h_sb(alpha))``
and the negative log-likelihood of counts ``n_b`` is, up to constants,
``sum_b (nu_b - n_b log nu_b) + sum_j alpha_j^2 / 2 + sum_b (gamma_b - 1)^2 / (2 sigma_b^2)``.

The parameter vector is ``[mu, alpha_1, alpha_2, ..., gamma_b1, gamma_b2, ...]``
(:attr:`BinnedModel.parameters`; the gammas are named ``stat_bin_<b>``), in float64. Templates may
be tensors that carry gradients (histograms of a network's output); the model is rebuilt from them
at every training step, and is cheap to build.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..estimators.resources import import_torch
from ..exceptions import InputError

torch = import_torch()

NORMSYS_CODES = (1, 4)
HISTOSYS_CODES = (0, 4)

# Code 4 of normsys: f(a) = 1 + sum_{i=1..6} c_i a^i for |a| < 1, with value, first and second
# derivative equal to those of kappa_up^a at a = 1 and of kappa_down^-a at a = -1. Rows: the
# conditions on (c_1..c_6); the right-hand side is built per call.
_POLY6 = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [-1, 1, -1, 1, -1, 1],
        [1, 2, 3, 4, 5, 6],
        [1, -2, 3, -4, 5, -6],
        [0, 2, 6, 12, 20, 30],
        [0, 2, -6, 12, -20, 30],
    ],
    dtype=np.float64,
)
_POLY6_INV = np.linalg.inv(_POLY6)


def normsys_factor(alpha, kappa_down, kappa_up, code: int = 4) -> torch.Tensor:
    """The normalisation factor of a normsys at ``alpha``: ``kappa_down`` at -1, 1 at 0, ``kappa_up`` at +1.

    Parameters
    ----------
    alpha : torch.Tensor
        The nuisance parameter (any shape).
    kappa_down, kappa_up : float or torch.Tensor
        The factors at alpha = -1 and +1 (> 0).
    code : {1, 4}
        1: ``kappa_up ** alpha`` for alpha >= 0, ``kappa_down ** -alpha`` below (a kink at 0
        unless kappa_up * kappa_down = 1). 4: the same outside |alpha| < 1, and inside a
        polynomial of degree 6 that matches value, slope and curvature at +-1 (smooth everywhere).
    """
    alpha = torch.as_tensor(alpha, dtype=torch.float64)
    ku = torch.as_tensor(kappa_up, dtype=alpha.dtype, device=alpha.device)
    kd = torch.as_tensor(kappa_down, dtype=alpha.dtype, device=alpha.device)
    exponential = torch.where(alpha >= 0, ku**alpha, kd ** (-alpha))
    if code == 1:
        return exponential
    if code != 4:
        raise InputError(f"normsys interpolation code must be one of {NORMSYS_CODES}, not {code!r}")
    lu, ld = torch.log(ku), torch.log(kd)
    rhs = torch.stack(torch.broadcast_tensors(ku - 1, kd - 1, ku * lu, -kd * ld, ku * lu**2, kd * ld**2), dim=-1)
    coefficients = rhs @ torch.as_tensor(_POLY6_INV.T, dtype=alpha.dtype, device=alpha.device)  # (..., 6)
    a = torch.where(alpha.abs() < 1, alpha, torch.zeros_like(alpha))  # no overflow in the unused branch
    powers = torch.stack([a**i for i in range(1, 7)], dim=-1)
    polynomial = 1 + (coefficients * powers).sum(dim=-1)
    return torch.where(alpha.abs() < 1, polynomial, exponential)


def histosys_shape(alpha, nominal, down, up, code: int = 4) -> torch.Tensor:
    """The template of a histosys at ``alpha``: ``down`` at -1, ``nominal`` at 0, ``up`` at +1, bin by bin.

    Parameters
    ----------
    alpha : torch.Tensor
        The nuisance parameter (a scalar).
    nominal, down, up : torch.Tensor
        Templates of the same shape.
    code : {0, 4}
        0: linear in alpha on each side of 0 (a kink at 0 unless up - nominal = nominal - down).
        4: linear outside |alpha| < 1, inside ``alpha S + alpha^2 A (15 - 10 alpha^2 + 3 alpha^4)``
        with ``S = (up - down) / 2`` and ``A = (up + down - 2 nominal) / 16``, which joins the
        lines with continuous first and second derivatives.
    """
    alpha = torch.as_tensor(alpha, dtype=nominal.dtype, device=nominal.device)
    delta_up, delta_down = up - nominal, nominal - down
    linear = torch.where(alpha >= 0, alpha * delta_up, alpha * delta_down)
    if code == 0:
        return nominal + linear
    if code != 4:
        raise InputError(f"histosys interpolation code must be one of {HISTOSYS_CODES}, not {code!r}")
    s = 0.5 * (delta_up + delta_down)
    a = 0.0625 * (delta_up - delta_down)
    inside = alpha * (s + alpha * a * (15 + alpha**2 * (-10 + alpha**2 * 3)))
    return nominal + torch.where(alpha.abs() <= 1, inside, linear)


@dataclass
class Sample:
    """One sample (process) of a :class:`BinnedModel`.

    Parameters
    ----------
    name : str
        Its name (unique in the model).
    nominal : array-like or torch.Tensor
        Expected counts per bin at the nominal parameters, shape (n_bins,).
    signal : bool
        Scaled by the parameter of interest.
    normsys : dict
        Nuisance name -> ``(kappa_down, kappa_up)``, factors at alpha = -1 and +1.
    histosys : dict
        Nuisance name -> ``(down, up)``, templates at alpha = -1 and +1 (shape (n_bins,)).
    staterror : array-like or torch.Tensor, optional
        Absolute Monte Carlo statistical uncertainty of ``nominal`` per bin (``sqrt(sum w^2)``),
        shape (n_bins,); None (default): the template is taken as exact.
    """

    name: str
    nominal: object
    signal: bool = False
    normsys: dict = field(default_factory=dict)
    histosys: dict = field(default_factory=dict)
    staterror: object = None


class BinnedModel:
    """Expected counts, NLL and Asimov data of a binned model (see the module docstring).

    Parameters
    ----------
    samples : list of Sample
        At least one, and at least one with ``signal=True``. Every template must have the same
        number of bins.
    poi : str
        Name of the parameter of interest (first in :attr:`parameters`).
    normsys_code, histosys_code : int
        Interpolation codes: normsys 1 or 4, histosys 0 or 4 (default 4 and 4: smooth at 0, as
        a Newton fit needs).
    edges : array-like, optional
        Bin edges (n_bins + 1 values); only recorded and checked, for :mod:`.roofit_model`.
    staterror_threshold : float
        Bins whose relative Monte Carlo uncertainty ``sigma_b`` is below this get no gamma
        (HistFactory's ``RelErrorThreshold``; > 0).

    Raises
    ------
    InputError
        Templates of different binning, NaN/Inf or negative counts, kappa <= 0, duplicate names,
        no signal sample, an unknown interpolation code, a staterror threshold <= 0.

    Examples
    --------
    >>> model = BinnedModel(
    ...     [Sample("s", [5.0, 3.0], signal=True), Sample("b", [10.0, 2.0], staterror=[1.0, 0.8])]
    ... )
    >>> model.parameters  # bin 0: sigma 0.1, bin 1: sigma 0.4 (the signal has no staterror)
    ['mu', 'stat_bin_0', 'stat_bin_1']
    >>> model.asimov(1.0).tolist()
    [15.0, 5.0]
    """

    def __init__(
        self,
        samples,
        poi: str = "mu",
        normsys_code: int = 4,
        histosys_code: int = 4,
        edges=None,
        staterror_threshold: float = 0.05,
    ):
        if normsys_code not in NORMSYS_CODES:
            raise InputError(f"normsys_code must be one of {NORMSYS_CODES}, not {normsys_code!r}")
        if histosys_code not in HISTOSYS_CODES:
            raise InputError(f"histosys_code must be one of {HISTOSYS_CODES}, not {histosys_code!r}")
        samples = list(samples)
        if not samples or not all(isinstance(s, Sample) for s in samples):
            raise InputError("samples must be a non-empty list of roosbi.diffana.Sample")
        names = [s.name for s in samples]
        if len(set(names)) != len(names):
            raise InputError(f"sample names must be unique, got {names}")
        if not any(s.signal for s in samples):
            raise InputError(f"no sample has signal=True: the parameter of interest {poi!r} would scale nothing")
        self.poi = str(poi)
        self.normsys_code, self.histosys_code = int(normsys_code), int(histosys_code)
        first = _template(samples[0].nominal, f"sample {samples[0].name!r} nominal", None)
        self.device = first.device
        self.samples: list[Sample] = []
        nuisances: list[str] = []
        for s in samples:
            nominal = _template(s.nominal, f"sample {s.name!r} nominal", first)
            normsys = {}
            for key, pair in s.normsys.items():
                kd, ku = _pair(pair, f"sample {s.name!r} normsys {key!r}")
                normsys[str(key)] = (_kappa(kd, s.name, key, self.device), _kappa(ku, s.name, key, self.device))
            histosys = {}
            for key, pair in s.histosys.items():
                down, up = _pair(pair, f"sample {s.name!r} histosys {key!r}")
                where = f"sample {s.name!r} histosys {key!r}"
                histosys[str(key)] = (_template(down, f"{where} down", first), _template(up, f"{where} up", first))
            staterror = None if s.staterror is None else _template(s.staterror, f"sample {s.name!r} staterror", first)
            for key in (*normsys, *histosys):
                if key == self.poi:
                    raise InputError(f"nuisance parameter {key!r} has the name of the parameter of interest")
                if key not in nuisances:
                    nuisances.append(key)
            self.samples.append(Sample(s.name, nominal, bool(s.signal), normsys, histosys, staterror))
        self.nuisances = nuisances
        self.n_bins = first.numel()
        self.staterror_threshold = float(staterror_threshold)
        if not (math.isfinite(self.staterror_threshold) and self.staterror_threshold > 0):
            raise InputError(f"staterror_threshold must be > 0 (HistFactory's is 0.05), not {staterror_threshold}")
        self.stat_bins, self.stat_sigma = self._stat_gammas()
        self.edges = None
        if edges is not None:
            self.edges = np.asarray(edges, dtype=np.float64)
            if self.edges.shape != (self.n_bins + 1,) or not np.all(np.diff(self.edges) > 0):
                raise InputError(
                    f"edges must be {self.n_bins + 1} increasing values for templates of {self.n_bins} bins, "
                    f"got {self.edges.tolist()}"
                )

    def _stat_gammas(self) -> tuple[list[int], torch.Tensor]:
        """The bins that get a gamma, and their relative uncertainties sigma_b (differentiable)."""
        with_errors = [s for s in self.samples if s.staterror is not None]
        if not with_errors:
            return [], torch.zeros(0, dtype=torch.float64, device=self.device)
        total = sum(s.nominal for s in with_errors)
        variance = sum(s.staterror**2 for s in with_errors)
        sigma = torch.sqrt(variance) / torch.where(total > 0, total, torch.ones_like(total))
        keep = ((total > 0) & (sigma >= self.staterror_threshold)).detach().cpu()
        bins = [int(b) for b in torch.nonzero(keep).flatten()]
        return bins, sigma[bins]

    @property
    def parameters(self) -> list[str]:
        """Parameter names in the order of the parameter vector: the POI, the nuisances, the gammas."""
        return [self.poi, *self.nuisances, *(f"stat_bin_{b}" for b in self.stat_bins)]

    def index(self, name: str) -> int:
        """Position of parameter ``name`` in the parameter vector."""
        try:
            return self.parameters.index(name)
        except ValueError:
            raise InputError(f"unknown parameter {name!r}; the model's parameters are {self.parameters}") from None

    def nominal_parameters(self, mu: float = 1.0) -> torch.Tensor:
        """The parameter vector with the POI at ``mu``, every nuisance at 0 and every gamma at 1."""
        pars = torch.zeros(len(self.parameters), dtype=torch.float64, device=self.device)
        pars[0] = float(mu)
        pars[1 + len(self.nuisances) :] = 1.0
        return pars

    def expected(self, pars) -> torch.Tensor:
        """Expected counts per bin at ``pars`` (shape (n_parameters,)), shape (n_bins,)."""
        pars = self._pars(pars)
        alpha = {name: pars[i + 1] for i, name in enumerate(self.nuisances)}
        gamma = self._gamma(pars)
        total = torch.zeros(self.n_bins, dtype=torch.float64, device=self.device)
        for s in self.samples:
            shape = s.nominal
            for key, (down, up) in s.histosys.items():
                shape = shape + histosys_shape(alpha[key], s.nominal, down, up, self.histosys_code) - s.nominal
            if s.histosys:
                shape = shape.clamp_min(0.0)  # HistFactory's positive-definite templates
            factor = pars[0] if s.signal else torch.ones((), dtype=torch.float64, device=self.device)
            for key, (kd, ku) in s.normsys.items():
                factor = factor * normsys_factor(alpha[key], kd, ku, self.normsys_code)
            if s.staterror is not None:
                shape = shape * gamma
            total = total + factor * shape
        return total

    def _gamma(self, pars: torch.Tensor) -> torch.Tensor:
        """The staterror factor of every bin: gamma_b where a bin has one, else 1."""
        gamma = torch.ones(self.n_bins, dtype=torch.float64, device=self.device)
        if not self.stat_bins:
            return gamma
        index = torch.tensor(self.stat_bins, device=self.device)
        return gamma.index_put((index,), pars[1 + len(self.nuisances) :])

    def asimov(self, mu: float = 1.0) -> torch.Tensor:
        """Asimov data: the expected counts with the POI at ``mu`` and the nuisances at 0."""
        return self.expected(self.nominal_parameters(mu))

    def nll(self, pars, data) -> torch.Tensor:
        """Negative log-likelihood of counts ``data`` at ``pars``, up to constants.

        ``sum_b (nu_b - n_b log nu_b) + sum_j alpha_j^2 / 2 + sum_b (gamma_b - 1)^2 / (2 sigma_b^2)``;
        differences of it are those of RooFit's (HistFactory's) NLL of the same model. A bin with
        ``n_b > 0`` and ``nu_b <= 0`` gives NaN or +inf (the fit steps back from such points).
        """
        pars = self._pars(pars)
        nu = self.expected(pars)
        data = torch.as_tensor(data, dtype=torch.float64, device=self.device)
        if data.shape != nu.shape:
            raise InputError(f"data must have one count per bin ({self.n_bins}), got shape {tuple(data.shape)}")
        n_log_nu = torch.where(data > 0, data * torch.log(torch.where(data > 0, nu, torch.ones_like(nu))), 0.0)
        n_alpha = 1 + len(self.nuisances)
        constraints = 0.5 * (pars[1:n_alpha] ** 2).sum() + 0.5 * (((pars[n_alpha:] - 1) / self.stat_sigma) ** 2).sum()
        return (nu - n_log_nu).sum() + constraints

    @property
    def requires_grad(self) -> bool:
        """Whether any template, kappa or staterror carries gradients."""
        tensors = [
            t
            for s in self.samples
            for t in (
                s.nominal,
                *(k for pair in s.normsys.values() for k in pair),
                *(h for pair in s.histosys.values() for h in pair),
                *([] if s.staterror is None else [s.staterror]),
            )
        ]
        return any(t.requires_grad for t in tensors)

    def detach(self) -> BinnedModel:
        """A copy whose templates carry no gradients (what a fit iterates on)."""
        out = object.__new__(BinnedModel)
        out.__dict__.update(self.__dict__)
        out.samples = [
            Sample(
                s.name,
                s.nominal.detach(),
                s.signal,
                {k: (kd.detach(), ku.detach()) for k, (kd, ku) in s.normsys.items()},
                {k: (d.detach(), u.detach()) for k, (d, u) in s.histosys.items()},
                None if s.staterror is None else s.staterror.detach(),
            )
            for s in self.samples
        ]
        out.stat_sigma = self.stat_sigma.detach()
        return out

    def numpy_samples(self) -> list[Sample]:
        """The samples with every template and kappa as numpy float64 (for :mod:`.roofit_model`)."""

        def arr(t):
            return t.detach().cpu().numpy().astype(np.float64)

        return [
            Sample(
                s.name,
                arr(s.nominal),
                s.signal,
                {k: (float(kd), float(ku)) for k, (kd, ku) in s.normsys.items()},
                {k: (arr(d), arr(u)) for k, (d, u) in s.histosys.items()},
                None if s.staterror is None else arr(s.staterror),
            )
            for s in self.samples
        ]

    def _pars(self, pars) -> torch.Tensor:
        pars = torch.as_tensor(pars, dtype=torch.float64, device=self.device)
        if pars.shape != (len(self.parameters),):
            raise InputError(f"pars must have one value per parameter {self.parameters}, got shape {tuple(pars.shape)}")
        return pars

    def __repr__(self) -> str:
        return (
            f"BinnedModel({self.n_bins} bins, samples {[s.name for s in self.samples]}, "
            f"parameters {self.parameters}, codes normsys {self.normsys_code} / histosys {self.histosys_code}"
            + (f", {len(self.stat_bins)} staterror gammas)" if self.stat_bins else ")")
        )


def _template(values, what: str, like: torch.Tensor | None) -> torch.Tensor:
    if torch.is_tensor(values):
        t = values.to(torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(values, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise InputError(f"{what} must be an array of counts per bin: {err}") from None
    if like is not None:
        t = t.to(like.device)
    if t.dim() != 1 or t.numel() == 0:
        raise InputError(f"{what} must be a 1-D array of counts per bin, got shape {tuple(t.shape)}")
    if like is not None and t.shape != like.shape:
        raise InputError(
            f"templates of different binning: {what} has {t.numel()} bins, the first nominal template "
            f"{like.numel()}; histogram every template with the same edges"
        )
    check = t.detach()
    if not bool(torch.isfinite(check).all()):
        raise InputError(f"{what} has NaN or Inf counts")
    if bool((check < 0).any()):
        raise InputError(f"{what} has negative counts ({check.min().item():.3g}); templates must be >= 0")
    return t


def _pair(pair, what: str):
    try:
        down, up = pair
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a pair (down, up)") from None
    return down, up


def _kappa(value, sample: str, key: str, device) -> torch.Tensor:
    t = value.to(torch.float64) if torch.is_tensor(value) else torch.tensor(float(value), dtype=torch.float64)
    v = float(t.detach())
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"sample {sample!r} normsys {key!r}: kappa must be finite and > 0 (a factor), not {v}")
    return t.to(device)
