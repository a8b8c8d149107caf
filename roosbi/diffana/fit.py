"""A differentiable maximum-likelihood fit of a :class:`~roosbi.diffana.binned.BinnedModel`.

The fit itself is Newton's method in float64 on detached copies of the templates and data
(with a backtracking line search, and saddle-free steps where the Hessian is not positive
definite), run until the step is below ``tol``; Newton converges quadratically, so the minimum
is then accurate to about ``tol**2``. Gradients of the fitted parameters with respect to the
templates (and the data) come from the implicit function theorem, not from unrolling the
iterations: at the minimum ``g(theta*, phi) = dNLL/dtheta = 0``, so
``dtheta*/dphi = -H^{-1} d g/d phi``. :func:`fit` returns

    theta = theta* - H(theta*)^{-1} g(theta*, phi)

with ``H`` detached and ``g`` computed with its graph to ``phi``: its value is ``theta*``
(``g`` = 0 there) and its derivative is exactly the implicit one, so that ordinary
``backward()`` through any function of the fitted parameters gives the right gradients, and
the Hessian at the fitted point (the Fisher information) stays differentiable too.

The parameter of interest, or any parameter, can be held fixed (:func:`fit` with ``fixed``):
the profile fit of the nuisance parameters at a given ``mu`` that the test statistics need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..estimators.resources import import_torch
from ..exceptions import InputError
from .binned import BinnedModel

torch = import_torch()
log = logging.getLogger(__name__)

#: Newton iterations before a fit gives up (and says so in ``TorchFitResult.converged``).
MAX_ITERATIONS = 100

#: The longest Newton step in any parameter (the nuisances have unit constraints: 5 sigma).
MAX_STEP = 5.0


@dataclass
class TorchFitResult:
    """The outcome of :func:`fit`.

    Attributes
    ----------
    pars : torch.Tensor
        Fitted parameter vector (float64, ``model.parameters`` order), with implicit gradients.
    nll : torch.Tensor
        The NLL at ``pars`` (differentiable; by the envelope theorem its gradient is the
        partial derivative at fixed parameters).
    hessian : torch.Tensor
        Hessian of the NLL over the free parameters at the minimum (detached).
    free : list of int
        Indices of the parameters that were fitted.
    iterations : int
        Newton steps taken.
    converged : bool
        Whether the last step was below ``tol``.
    """

    pars: torch.Tensor
    nll: torch.Tensor
    hessian: torch.Tensor
    free: list[int]
    iterations: int
    converged: bool

    def values(self, model: BinnedModel) -> dict[str, float]:
        """The fitted parameters by name, as floats."""
        return dict(zip(model.parameters, self.pars.detach().cpu().tolist(), strict=True))


def fit(
    model: BinnedModel,
    data,
    fixed: dict[str, float] | None = None,
    init=None,
    tol: float = 1e-9,
    max_iterations: int = MAX_ITERATIONS,
) -> TorchFitResult:
    """Minimise ``model.nll(pars, data)``, differentiably.

    Parameters
    ----------
    model : BinnedModel
        The model; its templates may carry gradients.
    data : torch.Tensor or array-like
        Observed (or Asimov) counts per bin; may carry gradients.
    fixed : dict, optional
        Parameter name -> value held constant (``{"mu": 0.0}``: the profile at mu = 0).
    init : torch.Tensor, optional
        Starting parameter vector; default the nominal one (mu = 1, nuisances 0) with the fixed
        values put in.
    tol : float
        Stop when the largest component of a Newton step is below this.
    max_iterations : int
        Most Newton steps.

    Returns
    -------
    TorchFitResult
    """
    if not isinstance(model, BinnedModel):
        raise InputError(f"model must be a roosbi.diffana.BinnedModel, not {type(model).__name__}")
    data = torch.as_tensor(data, dtype=torch.float64, device=model.device)
    if data.shape != (model.n_bins,):
        raise InputError(f"data must have one count per bin ({model.n_bins}), got shape {tuple(data.shape)}")
    start = model.nominal_parameters() if init is None else model._pars(init).detach().clone()
    fixed = dict(fixed or {})
    for name, value in fixed.items():
        start[model.index(name)] = float(value)
    free = [i for i in range(len(model.parameters)) if model.parameters[i] not in fixed]

    plain, plain_data = model.detach(), data.detach()
    differentiable = torch.is_grad_enabled() and (model.requires_grad or data.requires_grad)
    with torch.enable_grad():  # the Newton steps need derivatives, also under torch.no_grad()
        theta, iterations, converged = _newton(plain, plain_data, start, free, tol, max_iterations)
        hessian = _hessian(plain, plain_data, theta, free) if free else torch.zeros(0, 0, dtype=torch.float64)
    if not converged:
        log.warning(
            "diffana fit did not converge in %d Newton steps (fixed %s); its gradients are approximate",
            max_iterations,
            fixed,
        )

    if not free or not differentiable:
        return TorchFitResult(theta, model.nll(theta, data), hessian, free, iterations, converged)
    # One implicit-function step: value theta*, derivative -H^-1 dg/dphi (module docstring).
    free_index = torch.tensor(free, device=theta.device)
    theta_free = theta[free_index].detach().requires_grad_(True)
    full = theta.detach().index_put((free_index,), theta_free)
    (gradient,) = torch.autograd.grad(model.nll(full, data), theta_free, create_graph=True)
    correction = torch.linalg.solve(hessian, gradient)
    pars = theta.detach().index_put((free_index,), theta_free.detach() - correction)
    return TorchFitResult(pars, model.nll(pars, data), hessian, free, iterations, converged)


def profile_nll(model: BinnedModel, data, mu: float, **options) -> torch.Tensor:
    """The NLL minimised over the nuisance parameters with the POI at ``mu`` (differentiable)."""
    return fit(model, data, fixed={model.poi: mu}, **options).nll


def _hessian(model: BinnedModel, data: torch.Tensor, theta: torch.Tensor, free: list[int]) -> torch.Tensor:
    def f(x):
        return model.nll(_put(theta, free, x), data)

    return torch.autograd.functional.hessian(f, theta[free].detach())


def _put(theta: torch.Tensor, free: list[int], x: torch.Tensor) -> torch.Tensor:
    index = torch.tensor(free, device=theta.device)
    return theta.detach().index_put((index,), x)


def _newton(model, data, theta, free, tol, max_iterations):
    """Damped Newton with backtracking, on detached tensors. Returns (theta, iterations, converged)."""
    theta = theta.clone()
    if not free:
        return theta, 0, True

    def f(x):
        return model.nll(_put(theta, free, x), data)

    x = theta[free].clone()
    value = f(x)
    if not torch.isfinite(value):
        raise InputError(
            f"the NLL is not finite at the starting point {theta.tolist()}: a bin with data has no expected "
            "events (add a small floor to the templates)"
        )
    for iteration in range(1, max_iterations + 1):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xg), xg)
        h = torch.autograd.functional.hessian(f, x)
        step = _newton_step(h, g)
        slope = float(g @ step)
        t, accepted = 1.0, False
        while t > 1e-12:
            candidate = x - t * step
            new = f(candidate)
            if torch.isfinite(new) and float(new) <= float(value) - 1e-4 * t * slope + 1e-12 * abs(float(value)):
                accepted = True
                break
            t *= 0.5
        if not accepted:  # no decrease possible at this precision: at the minimum
            theta = _put(theta, free, x)
            return theta, iteration, bool(float(step.abs().max()) < max(tol, 1e-6))
        x, value = candidate, new
        if float((t * step).abs().max()) < tol:
            return _put(theta, free, x), iteration, True
    return _put(theta, free, x), max_iterations, False


def _newton_step(h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The Newton step ``h^-1 g`` where ``h`` is positive definite, else a saddle-free one.

    Where ``h`` has negative curvature (histosys templates that both lie above the nominal in a bin with few
    background events make the profile NLL non-convex at alpha = 0), Levenberg damping ``h + lambda I`` stops
    just past the most negative eigenvalue and leaves a near-singular matrix: steps of 1e15 that no line search
    recovers from. The eigenvalues' absolute values instead (floored at 1e-6 of the largest) give a descent
    direction that moves away from the saddle along the negative curvature; its length is capped at
    :data:`MAX_STEP` (in units of the unit-Gaussian nuisances) so that the line search starts from a sane point.
    """
    chol, info = torch.linalg.cholesky_ex(h)
    if int(info) == 0:
        step = torch.cholesky_solve(g[:, None], chol)[:, 0]
    else:
        values, vectors = torch.linalg.eigh(h)
        floor = 1e-6 * (float(values.abs().max()) or 1.0)
        step = vectors @ ((vectors.T @ g) / values.abs().clamp_min(floor))
    longest = float(step.abs().max())
    return step * (MAX_STEP / longest) if longest > MAX_STEP else step
