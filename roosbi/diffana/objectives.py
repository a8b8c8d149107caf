"""What an analysis optimises: expected sensitivities of a binned model, differentiable in its templates.

All are asymptotic (Cowan, Cranmer, Gross, Vitells 2011) and evaluated on Asimov data, with the
nuisance parameters profiled by the differentiable fit of :mod:`.fit`:

* ``asimov_significance``: the median discovery significance ``Z0 = sqrt(q0)`` with Asimov data
  at mu = 1 (nuisances nominal); ``q0 = 2 [NLL(mu=0, profiled alpha) - NLL(mu=1, alpha=0)]``
  (on Asimov data the unconditional fit is the generating point, exactly). Maximised.
* ``discovery_pvalue``: ``p0 = 1 - Phi(Z0)``. Minimised.
* ``cls``: the median expected CLs of ``mu_test`` (default 1) under the background-only
  hypothesis, with q~mu: on Asimov data at mu = 0, ``q = 2 [NLL(mu_test, profiled alpha) -
  NLL(mu=0, alpha=0)]``, ``CLs+b = 1 - Phi(sqrt q)`` and ``CLb = 1/2``, so ``CLs = 2 (1 - Phi(sqrt q))``.
  Minimised (neos's objective).
* ``inverse_fisher_mu``: the expected variance of mu-hat, ``[H^-1]_{mu mu}`` with ``H`` the
  Hessian of the NLL over mu and every nuisance at the Asimov point (mu = 1), i.e. the inverse
  Fisher information with nuisances (INFERNO's objective). Minimised.

:data:`OBJECTIVES` maps each name to an :class:`Objective`; :func:`get_objective` looks a name up
and raises InputError, listing the names, for one that does not exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from ..estimators.resources import import_torch
from ..exceptions import InputError
from .binned import BinnedModel
from .fit import fit

torch = import_torch()

#: Smallest q in the square roots: keeps the gradient finite where q = 0.
_Q_FLOOR = 1e-12


def asimov_significance(model: BinnedModel, mu: float = 1.0) -> torch.Tensor:
    """Median expected discovery significance ``sqrt(q0)`` on Asimov data at ``mu`` (nuisances profiled)."""
    pars = model.nominal_parameters(mu)
    data = model.expected(pars)
    q0 = 2 * (fit(model, data, fixed={model.poi: 0.0}).nll - model.nll(pars, data))
    return torch.sqrt(q0.clamp_min(_Q_FLOOR))


def discovery_pvalue(model: BinnedModel, mu: float = 1.0) -> torch.Tensor:
    """Median expected discovery p-value ``1 - Phi(Z0)`` of :func:`asimov_significance`."""
    return torch.special.ndtr(-asimov_significance(model, mu))


def cls(model: BinnedModel, mu_test: float = 1.0) -> torch.Tensor:
    """Median expected CLs of ``mu_test`` under the background-only hypothesis (asymptotic, q~mu)."""
    pars = model.nominal_parameters(0.0)
    data = model.expected(pars)
    q = 2 * (fit(model, data, fixed={model.poi: mu_test}).nll - model.nll(pars, data))
    return 2 * torch.special.ndtr(-torch.sqrt(q.clamp_min(_Q_FLOOR)))


def inverse_fisher_mu(model: BinnedModel, mu: float = 1.0) -> torch.Tensor:
    """Expected variance of mu-hat with the nuisances: ``[H^-1]_{mu mu}`` at the Asimov point ``mu``."""
    pars = model.nominal_parameters(mu)
    data = model.expected(pars)
    graph = torch.is_grad_enabled() and model.requires_grad
    hessian = torch.autograd.functional.hessian(lambda p: model.nll(p, data), pars, create_graph=graph)
    return torch.linalg.inv(hessian)[0, 0]


@dataclass(frozen=True)
class Objective:
    """A named objective: the function of the model, and whether larger is better."""

    name: str
    function: Callable[..., torch.Tensor]
    maximize: bool
    description: str

    def value(self, model: BinnedModel, **options) -> torch.Tensor:
        """The objective of ``model``."""
        return self.function(model, **options)

    def loss(self, model: BinnedModel, **options) -> torch.Tensor:
        """What a training minimises: the objective, negated if larger is better."""
        value = self.value(model, **options)
        return -value if self.maximize else value

    def better(self, a: float, b: float) -> bool:
        """True if value ``a`` is better than ``b``."""
        return a > b if self.maximize else a < b


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("asimov_significance", asimov_significance, True, "median expected discovery significance Z0"),
        Objective("discovery_pvalue", discovery_pvalue, False, "median expected discovery p-value p0"),
        Objective("cls", cls, False, "median expected CLs of mu_test=1 under background only"),
        Objective("inverse_fisher_mu", inverse_fisher_mu, False, "expected variance of mu-hat (inverse Fisher)"),
    )
}


def get_objective(name: str | Objective) -> Objective:
    """The :class:`Objective` called ``name`` (an Objective is returned as it is).

    Raises
    ------
    InputError
        For a name that is not in :data:`OBJECTIVES`; the message lists the names.
    """
    if isinstance(name, Objective):
        return name
    if not isinstance(name, str) or name not in OBJECTIVES:
        close = difflib.get_close_matches(str(name).lower(), list(OBJECTIVES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown objective {name!r}{hint}; the objectives are: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
