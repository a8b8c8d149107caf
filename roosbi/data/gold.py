"""The "gold" of a simulator with latent variables: the joint log likelihood ratio and the joint score.

A simulator that draws latent variables z (a truth-level quantity) from p(z|theta) and then the
observables x from a detector p(x|z) that does not depend on theta knows, per event,

- the joint log ratio ``log r(x, z | theta) = log p(z | theta) - log p_ref(z)``, and
- the joint score ``t(x, z | theta) = grad_theta log p(z | theta)``,

because p(x|z) cancels in the ratio and has no theta to differentiate. The augmented losses
(RASCAL, ALICES, ...) regress on them: r(x, z) is an unbiased estimate of r(x) for reference
events, and E[t(x, z) | x] is the score t(x) for events at theta. The reference is

- a parameter point theta_0: ``log p_ref(z) = log p(z | theta_0)``;
- a pdf of the latents: ``log p_ref(z)`` is its log density;
- never the marginal p(x) = integral p(x|theta') pi(theta') dtheta': it has no per-event density of
  z, and asking for it is an :class:`~roosbi.exceptions.InputError` (use a point).

A problem without latents is MadMiner's "no smearing" case: its "latent" is x itself, p(z|theta)
is the target pdf, and the joint ratio and score are the exact ratio and score.

Evaluation rule
---------------
log p(z|theta) is evaluated for all events at once, each with its own theta, by RooFit's batch
``Evaluator`` on a clone of the pdf normalised over the latents only (``compileForNormSet``). The
clone keeps the workspace's objects out of it: an ``Evaluator`` leaves "data tokens" on the nodes
it ran on, and a second one on a pdf that shares them (another pdf of the same workspace) fails.
Batch evaluation is not always right with per-event parameters: ROOT 6.40 evaluates a
``RooAddPdf`` whose coefficient is a per-event parameter wrongly (only the first event is right,
silently), while RooGaussian, RooBreitWigner, RooGenericPdf and a RooAddPdf with fixed
coefficients are right. So every batch result is checked against RooFit's scalar
``getVal(normset)`` on :data:`PROBE_EVENTS` events spread over the sample; where one differs by
more than :data:`PROBE_RTOL` (relative), the pdf is evaluated event by event (a C++ loop of
``setVal`` and ``getVal``, declared once to the interpreter), which is logged at INFO. ``setVal``
clips to a variable's range while the batch path does not; both only ever see values inside the
ranges, because z and theta are checked to be inside them and the derivative rule below stays
inside them.

Derivative rule
---------------
RooFit in the PyPI wheel has no Clad (no automatic derivatives), so the joint score is a finite
difference of log p(z|theta) in each parameter theta_k, with step ``h_k = FD_STEP * (hi_k - lo_k)``
(:data:`FD_STEP` = 1e-4 of the parameter's range): central, ``(f(+h) - f(-h)) / 2h``, where
theta_k +- h stays in the range, else the one-sided second-order stencil
``(-3 f(0) + 4 f(+h) - f(+2h)) / 2h`` (or its mirror ``(3 f(0) - 4 f(-h) + f(-2h)) / 2h`` at the
upper end). The step balances the two errors of a double-precision difference: truncation,
h^2/6 |d^3 log p| (h^2/3 one-sided), ~1e-9 for a log density that varies on the scale of the
range, and rounding, ~1e-16 |log p| / h, ~1e-11. Measured against closed forms: 6e-11 for the
Gaussian of :func:`~roosbi.data.builtin.smeared` (log p quadratic in mu), 3e-7 (absolute) for the line
mass and width of :func:`~roosbi.data.builtin.resonance`, whose narrow lines have large third
derivatives in the tails. A pdf normalised by a numerical integral carries its integrator's
relative precision eps into the score as ~eps / h: analytic integrals keep the score exact.

Each evaluation is one batch pass over the events, so the gold costs 1 + 2 n_parameters passes
(plus one for a point reference): ~10 ms per 100 000 events for a RooGaussian or a RooAddPdf of
analytically normalised pdfs, ~2.5 s for a RooGenericPdf, whose normalisation is a numerical
integral per event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..checks import require_object
from ..exceptions import InputError
from ..library import import_root
from .problems import Problem

log = logging.getLogger(__name__)

__all__ = [
    "FD_STEP",
    "PROBE_EVENTS",
    "PROBE_RTOL",
    "GoldReference",
    "compute_gold",
    "gold_reference",
    "joint_log_ratio",
    "joint_score",
    "latent_model",
    "log_latent_density",
]

#: Finite-difference step of the joint score, as a fraction of each parameter's range width.
FD_STEP = 1e-4
#: Events on which every batch evaluation is checked against RooFit's scalar evaluation.
PROBE_EVENTS = 16
#: Relative difference above which the batch result is not trusted (the scalar path is then used).
PROBE_RTOL = 1e-8

_SCALAR_LOOP = """
#include <RooAbsReal.h>
#include <RooArgSet.h>
#include <RooRealVar.h>
#include <cstddef>
#include <vector>
namespace roosbi_gold {
// Event by event: columns holds one row per variable (row-major, n values each).
void scalar_values(RooAbsReal &pdf, const RooArgSet &normset, const std::vector<RooRealVar *> &vars,
                   const double *columns, std::size_t n, double *out)
{
   for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < vars.size(); ++k)
         vars[k]->setVal(columns[k * n + i]);
      out[i] = pdf.getVal(normset);
   }
}
}
"""
_declared = False


def _scalar_loop():
    """The C++ event loop of the scalar path, declared to the interpreter on first use."""
    global _declared
    ROOT = import_root()
    if not _declared:
        # A Python loop costs ~6 us per event in cppyy calls; the C++ loop ~0.3 us plus the pdf.
        if not ROOT.gInterpreter.Declare(_SCALAR_LOOP):
            raise RuntimeError("could not declare roosbi's scalar evaluation loop to ROOT's interpreter")
        _declared = True
    return ROOT.roosbi_gold.scalar_values


class _Density:
    """A pdf normalised over some of its variables, evaluated per event with per-event inputs.

    Use it as a context manager: the evaluator, the compiled graph and the clone are deleted in
    that order at the end (an evaluator outliving its graph would point into freed memory).
    """

    def __init__(self, pdf, normalised_over: Sequence[str], inputs: Sequence[str], label: str):
        ROOT = import_root()
        self.label = label
        self._clone = pdf.cloneTree()
        ROOT.SetOwnership(self._clone, True)
        variables = self._clone.getVariables()
        missing = [name for name in normalised_over if not variables.find(name)]
        if missing:
            raise InputError(f"{label} does not depend on {', '.join(missing)}")
        self._normset = ROOT.RooArgSet(*[variables.find(name) for name in normalised_over])
        # Only the inputs the pdf depends on: values of other variables cannot change it.
        self.inputs = [name for name in inputs if variables.find(name)]
        self._vars = ROOT.std.vector["RooRealVar*"]()
        for name in self.inputs:
            self._vars.push_back(variables.find(name))
        self._compiled = ROOT.RooFit.Detail.compileForNormSet(self._clone, self._normset)
        self._evaluator = ROOT.RooFit.Evaluator(self._compiled)
        self.scalar_only = False

    def __enter__(self) -> _Density:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free the evaluator, then the compiled graph, then the clone."""
        for name in ("_evaluator", "_compiled", "_clone"):
            if hasattr(self, name):
                delattr(self, name)

    def values(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The density per event: batch, checked on probe events, event by event where the check fails."""
        matrix = np.ascontiguousarray(np.vstack([columns[name] for name in self.inputs]).reshape(len(self.inputs), n))
        if self.scalar_only:
            return self._scalar(matrix, n)
        batch = self._batch(matrix, n)
        probe = np.unique(np.linspace(0, n - 1, min(n, PROBE_EVENTS)).round().astype(int))
        scalar = self._scalar(np.ascontiguousarray(matrix[:, probe]), len(probe))
        agree = np.isclose(batch[probe], scalar, rtol=PROBE_RTOL, atol=0.0) | (batch[probe] == scalar)
        if agree.all():
            return batch
        first = int(probe[np.flatnonzero(~agree)[0]])
        log.info(
            "RooFit's batch evaluation of %s differs from its scalar evaluation at event %d (%.17g, scalar %.17g); "
            "evaluating it event by event (a known ROOT 6.40 problem: per-event RooAddPdf coefficients)",
            self.label,
            first,
            batch[first],
            scalar[np.flatnonzero(probe == first)[0]],
        )
        self.scalar_only = True
        start = time.perf_counter()
        out = self._scalar(matrix, n)
        log.info("scalar evaluation of %s: %d events in %.2f s", self.label, n, time.perf_counter() - start)
        return out

    def _batch(self, matrix: np.ndarray, n: int) -> np.ndarray:
        ROOT = import_root()
        span = ROOT.std.span["const double"]
        # The spans point into the rows of ``matrix``, which this frame keeps alive through run().
        spans = [span(matrix[k], n) for k in range(len(self.inputs))]
        for name, values in zip(self.inputs, spans, strict=True):
            self._evaluator.setInput(name, values, False)
        out = self._evaluator.run()
        size = int(out.size())
        # The output buffer belongs to the evaluator and is reused by the next run: copy it out.
        result = np.frombuffer(out.data(), dtype=np.float64, count=size).copy() if size else np.empty(0)
        del spans
        if size == n:
            return result
        if size == 1:  # nothing per event reached the output: one value for all
            return np.full(n, result[0])
        raise RuntimeError(f"RooFit's batch evaluation of {self.label} returned {size} values for {n} events")

    def _scalar(self, matrix: np.ndarray, n: int) -> np.ndarray:
        out = np.empty(n)
        if n:
            _scalar_loop()(self._clone, self._normset, self._vars, matrix, n, out)
        return out


@dataclass(frozen=True)
class GoldReference:
    """What the joint ratio is taken against: a parameter point or a pdf of the latents.

    Attributes
    ----------
    kind : str
        ``"point"`` or ``"pdf"``.
    point : ndarray or None
        theta_0, in the order of the problem's parameters (kind ``"point"``).
    pdf : ROOT.RooAbsPdf or None
        p_ref(z) (kind ``"pdf"``).
    description : str
        ``"point mu=2"`` or ``"pdf <name>"``, as :class:`~roosbi.data.sample.TrainingSample` records it.
    """

    kind: str
    point: np.ndarray | None = None
    pdf: object = None
    description: str = ""


def latent_model(problem: Problem) -> tuple[str, list[str]]:
    """The pdf p(z|theta) and the names of z: the latent pdf and latents, or the target pdf and x.

    A problem without latents is the "no smearing" case: x is its own latent, and the gold is exact.
    """
    if problem.latents:
        return problem.latent_pdf, list(problem.latents)
    return problem.target_pdf, list(problem.observables)


def gold_reference(problem: Problem, reference=None) -> GoldReference:
    """Check a reference for the gold and say what it is.

    Parameters
    ----------
    problem : Problem
        Names the latents and parameters.
    reference : None, dict, str, ROOT.RooAbsPdf or GoldReference
        None: the problem's reference point if it has one, else its reference pdf. A dict: a
        parameter point. A pdf (or its name in the workspace): p_ref(z), a density of the latents
        (of x for a problem without latents) that does not depend on the parameters. A
        GoldReference is returned as it is.

    Raises
    ------
    InputError
        The marginal reference, a pdf of the observables for a problem with latents, a pdf that
        depends on the parameters or misses a latent, a bad point.
    """
    if isinstance(reference, GoldReference):
        return reference
    if reference is None:
        reference = dict(problem.reference_point) if problem.reference_point else problem.reference_pdf
    if isinstance(reference, str) and reference == "marginal":
        example = ", ".join(f"'{name}': {0.5 * sum(problem.parameter_ranges()[name]):g}" for name in problem.parameters)
        raise InputError(
            "the joint ratio needs p_ref(z) per event, and the marginal reference p(x) = integral p(x|theta') "
            "prior(theta') dtheta' has none: use a point reference (e.g. reference={" + example + "}) or gold=False"
        )
    if isinstance(reference, Mapping):
        point = problem.point_array(reference, "reference point")
        description = "point " + ", ".join(
            f"{name}={value:g}" for name, value in zip(problem.parameters, point, strict=True)
        )
        return GoldReference("point", point=point, description=description)
    ROOT = import_root()
    if isinstance(reference, str):
        pdf = problem.workspace.pdf(reference)
        if not pdf:
            raise InputError(
                f"no pdf named '{reference}' for the reference in workspace '{problem.workspace.GetName()}'"
            )
    elif isinstance(reference, ROOT.RooAbsPdf):
        pdf = require_object(reference, "reference")
    else:
        raise InputError(
            f"reference must be None, a pdf name, a dict of parameter values or 'marginal', not {reference!r}"
        )
    _, latents = latent_model(problem)
    name = pdf.GetName()
    if problem.latents:
        observed = [obs for obs in problem.observables if pdf.dependsOn(problem.var(obs))]
        if observed:
            raise InputError(
                f"the reference pdf '{name}' is a density of the observables ({', '.join(observed)}), but the joint "
                f"ratio needs the reference density of the latents ({', '.join(latents)}): use the reference point "
                f"{problem.reference_point or '(a dict of parameter values)'}, a pdf of the latents, or gold=False"
            )
    for par in problem.parameters:
        if pdf.dependsOn(problem.var(par)):
            raise InputError(f"the reference pdf '{name}' depends on the parameter '{par}'; a reference must not")
    missing = [z for z in latents if not pdf.dependsOn(problem.var(z))]
    if missing:
        what = "latent" if problem.latents else "observable"
        raise InputError(
            f"the reference pdf '{name}' does not depend on the {what} {', '.join(missing)}: the joint ratio needs a "
            f"density of all of {', '.join(latents)}"
        )
    return GoldReference("pdf", pdf=pdf, description=f"pdf {name}")


def _columns(problem: Problem, values, names: list[str], what: str, n: int | None = None) -> np.ndarray:
    """Per-event values as an (n, len(names)) float64 array, checked: finite and inside the ranges."""
    if isinstance(values, Mapping):
        if what != "theta":
            raise InputError(f"{what} must be an array with one row per event, not a dict")
        point = problem.point_array(values, "parameter point")
        if n is None:
            raise InputError("give z (or x) as an array when theta is a single point")
        return np.tile(point, (n, 1))
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} is not a numeric array: {err}") from None
    if arr.ndim == 1 and len(names) == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise InputError(
            f"{what} has shape {arr.shape}; it needs one row per event and one column per name "
            f"({', '.join(names)}): shape (n, {len(names)})"
        )
    if n is not None and len(arr) != n:
        raise InputError(f"{what} has {len(arr)} rows but there are {n} events")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.nonzero(bad)[0][0])
        raise InputError(f"{what} holds {int(bad.sum())} NaN/Inf value(s), first in row {row}")
    for k, name in enumerate(names):
        var = problem.var(name)
        lo, hi = var.getMin(), var.getMax()
        outside = (arr[:, k] < lo) | (arr[:, k] > hi)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise InputError(
                f"{int(outside.sum())} event(s) have {name} outside its range [{lo:g}, {hi:g}], first event {row} "
                f"({name}={arr[row, k]:g}); the density is zero there (a latent) or not defined (a parameter)"
            )
    return arr


def _log(p: np.ndarray, label: str, columns: Mapping[str, np.ndarray], where: str = "") -> np.ndarray:
    """The log of ``p``, with an error that names the first event where p is not positive and finite."""
    bad = ~(np.isfinite(p) & (p > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        values = ", ".join(f"{name}={col[i]:.10g}" for name, col in columns.items())
        raise InputError(
            f"{label} is {p[i]:g} for {int(bad.sum())} event(s), first event {i} ({values}){where}; its log is not "
            "finite. Such events have no joint ratio or score: they lie where the pdf vanishes (outside its "
            "support), which events generated from it never do. Check the events' z and theta, or the pdf"
        )
    return np.log(p)


def _finite_difference(
    density: _Density,
    columns: dict[str, np.ndarray],
    f0: np.ndarray,
    name: str,
    lo: float,
    hi: float,
    n: int,
) -> np.ndarray:
    """The derivative of log p in ``name`` per event, by the module docstring's rule (one-sided at the range's ends)."""
    if name not in density.inputs:  # the pdf does not depend on it
        return np.zeros(n)
    h = FD_STEP * (hi - lo)
    t = columns[name]
    plus, minus, plus2, minus2 = t + h, t - h, t + 2 * h, t - 2 * h
    central = (minus >= lo) & (plus <= hi)
    forward = ~central & (plus2 <= hi)
    backward = ~central & ~forward
    first = np.where(backward, minus, plus)  # f(+h), or f(-h) at the upper end
    second = np.where(central, minus, np.where(forward, plus2, minus2))
    c0 = np.where(central, 0.0, np.where(forward, -1.5, 1.5))
    c1 = np.where(central, 0.5, np.where(forward, 2.0, -2.0))
    c2 = np.where(central, -0.5, np.where(forward, -0.5, 0.5))
    where = f" (shifted {name} for the derivative)"
    f1 = _log(density.values({**columns, name: first}, n), density.label, {**columns, name: first}, where)
    f2 = _log(density.values({**columns, name: second}, n), density.label, {**columns, name: second}, where)
    return (c0 * f0 + c1 * f1 + c2 * f2) / h


def compute_gold(
    problem: Problem,
    z,
    theta,
    reference=None,
    score: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The joint log ratio and (optionally) the joint score of each event at its own theta.

    Parameters
    ----------
    problem : Problem
        Holds p(z|theta) (:func:`latent_model`).
    z : array_like, shape (n, n_latents) or (n,) for one latent
        The latents of each event (the observables for a problem without latents).
    theta : array_like, shape (n, n_parameters) or (n,) for one parameter, or dict
        The parameters of each event, or one point for all events.
    reference : None, dict, str, ROOT.RooAbsPdf or GoldReference
        As in :func:`gold_reference`.
    score : bool
        Also compute the joint score (2 n_parameters more passes over the events).

    Returns
    -------
    joint_log_ratio : ndarray, shape (n,)
        log p(z|theta) - log p_ref(z).
    joint_score : ndarray, shape (n, n_parameters), or None
        grad_theta log p(z|theta), when ``score``.
    """
    ref = gold_reference(problem, reference)
    log_p, joint, ref_log = _gold(problem, z, theta, ref, score)
    return log_p - ref_log, joint


def _gold(problem: Problem, z, theta, ref: GoldReference | None, score: bool):
    """The log p(z|theta), the joint score (or None) and log p_ref(z) (or None) from one compiled pdf."""
    pdf_name, latents = latent_model(problem)
    z = _columns(problem, z, latents, "z" if problem.latents else "x (the latent of a problem without latents)")
    n = len(z)
    theta = _columns(problem, theta, list(problem.parameters), "theta", n)
    n_par = len(problem.parameters)
    if n == 0:
        return np.empty(0), (np.empty((0, n_par)) if score else None), (np.empty(0) if ref is not None else None)
    start = time.perf_counter()
    columns = {name: np.ascontiguousarray(z[:, k]) for k, name in enumerate(latents)}
    columns.update({name: np.ascontiguousarray(theta[:, k]) for k, name in enumerate(problem.parameters)})
    pdf = problem.workspace.pdf(pdf_name)
    label = f"p({', '.join(latents)}|theta) '{pdf_name}'"
    ref_log = None
    with _Density(pdf, latents, latents + list(problem.parameters), label) as density:
        log_p = _log(density.values(columns, n), label, columns)
        joint = None
        if score:
            ranges = problem.parameter_ranges()
            joint = np.column_stack(
                [_finite_difference(density, columns, log_p, name, *ranges[name], n) for name in problem.parameters]
            )
        if ref is not None and ref.kind == "point":
            at_point = {
                **columns,
                **{name: np.full(n, v) for name, v in zip(problem.parameters, ref.point, strict=True)},
            }
            ref_log = _log(density.values(at_point, n), label, at_point, f" (at the reference {ref.description})")
    if ref is not None and ref.kind == "pdf":
        ref_label = f"the reference p_ref({', '.join(latents)}) '{ref.pdf.GetName()}'"
        with _Density(ref.pdf, latents, latents, ref_label) as density:
            z_columns = {name: columns[name] for name in latents}
            ref_log = _log(density.values(z_columns, n), ref_label, z_columns)
    log.debug("gold for %d events in %.3f s", n, time.perf_counter() - start)
    return log_p, joint, ref_log


def log_latent_density(problem: Problem, z, theta) -> np.ndarray:
    """The log density log p(z|theta) of each event at its own theta; shape (n,).

    Parameters
    ----------
    problem : Problem
        Holds p(z|theta): the latent pdf, or the target pdf for a problem without latents.
    z : array_like, shape (n, n_latents) or (n,)
        Latents (observables for a problem without latents), inside their ranges.
    theta : array_like, shape (n, n_parameters) or (n,), or dict
        Parameters per event (inside their ranges), or one point for all events.
    """
    return _gold(problem, z, theta, None, score=False)[0]


def joint_log_ratio(problem: Problem, z, theta, reference=None) -> np.ndarray:
    """The joint log ratio log r(x, z | theta) = log p(z|theta) - log p_ref(z) of each event; shape (n,).

    Parameters
    ----------
    problem, z, theta
        As in :func:`log_latent_density`.
    reference : None, dict, str or ROOT.RooAbsPdf
        A parameter point, or a pdf of the latents; None: the problem's reference point, else its
        reference pdf (:func:`gold_reference`). ``"marginal"`` is refused.
    """
    return compute_gold(problem, z, theta, reference, score=False)[0]


def joint_score(problem: Problem, z, theta) -> np.ndarray:
    """t(x, z | theta) = grad_theta log p(z|theta) for each event; shape (n, n_parameters).

    Central finite differences with a step of :data:`FD_STEP` of each parameter's range,
    one-sided (second order) where the step would leave the range; see the module docstring.

    Parameters
    ----------
    problem, z, theta
        As in :func:`log_latent_density`.
    """
    return _gold(problem, z, theta, None, score=True)[1]
