"""Simulation: turn a :class:`~roosbi.data.problems.Problem` into a labelled training sample.

Target events: theta drawn from the prior (uniform over each parameter's range, or any RooFit
pdf of the parameters), then x drawn from p(x|theta) event by event (RooFit's ``ProtoData``
generation), label 1. Reference events, label 0, paired with the same theta values: x drawn from
the reference, which is one of

- a pdf of x (the problem's reference pdf by default): r = p(x|theta) / p_ref(x);
- the simulator at a fixed parameter point theta_0: r = p(x|theta) / p(x|theta_0);
- the marginal p(x) = integral of p(x|theta') prior(theta') (x simulated at theta' from the prior,
  then paired with unrelated theta): r = p(x|theta) / p(x), the likelihood-to-evidence ratio.

Pairing gives both classes the same theta distribution, so the classifier can only learn from x,
and its logit converges to log r(x|theta). docs/pipeline.md says when each reference fits.

Problems with latent variables z (``Problem.latents``) are simulated through them: z from
p(z|theta) with the event's theta (``ProtoData``), then x from the detector p(x|z) with the
event's z. Their reference is by default the simulator at ``Problem.reference_point``, and the
sample carries the "gold" (:mod:`roosbi.data.gold`): the joint log ratio and the joint score of every
event at its own (paired) theta. :func:`simulate_local` gives SALLY's sample: events at one point
with their joint score there.

Generation with per-event parameters meets a RooFit pitfall (ROOT 6.40, measured). A
``RooAddPdf`` generated with ``ProtoData`` counts the prototype's variables as observables when it
interprets its coefficients: when its components depend on them differently (a line whose mass
and width come per event beside a continuum that has neither) it draws the wrong component
fractions (0.43 instead of 0.50) unless its coefficient normalisation is fixed. Generation
therefore runs on a clone of the pdf whose RooAddPdfs have it fixed to the generated variables
(an explicit user choice is kept), which also leaves the workspace's parameter values alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..checks import require_object
from ..exceptions import InputError
from ..library import import_root
from ..roofit import is_uniform
from . import gold as _gold
from .problems import Problem
from .sample import ScoreSample, TrainingSample

log = logging.getLogger(__name__)


def sample_prior(problem: Problem, n: int, rng: np.random.Generator, prior=None) -> np.ndarray:
    """Draw ``n`` parameter points from the prior; shape ``(n, n_parameters)``.

    The columns are :attr:`Problem.all_parameters <roosbi.data.problems.Problem.all_parameters>`:
    the parameters of interest, then the nuisance parameters (if any), each drawn uniformly over
    its range by default (a nuisance's range is the range the profile fits may visit, so the
    network sees all of it evenly, not only the core of its constraint).

    Parameters
    ----------
    problem : Problem
        Names the parameters and holds their ranges.
    n : int
        Number of draws.
    rng : numpy.random.Generator
        Draws the uniform prior, and the seed of RooFit's generator for a pdf prior.
    prior : None, str or ROOT.RooAbsPdf
        None: uniform over each parameter's range. A pdf of the parameters (or its name in the
        problem's workspace): RooFit generates from it, inside the parameters' ranges.
    """
    names = problem.all_parameters
    if prior is None:
        ranges = problem.all_parameter_ranges()
        return np.column_stack([rng.uniform(*ranges[name], size=n) for name in names])
    ROOT = import_root()
    pdf = _pdf(problem, prior, "prior")
    for name in problem.observables:
        if pdf.dependsOn(problem.var(name)):
            raise InputError(f"the prior '{pdf.GetName()}' depends on the observable '{name}'")
    missing = [name for name in names if not pdf.dependsOn(problem.var(name))]
    if missing:
        raise InputError(
            f"the prior '{pdf.GetName()}' does not depend on {', '.join(missing)}; give every parameter "
            "a prior (a RooProdPdf of one pdf per parameter, with RooUniform where it is flat)"
        )
    ROOT.RooRandom.randomGenerator().SetSeed(int(rng.integers(1, 2**31 - 1)))
    params = ROOT.RooArgSet(*[problem.var(name) for name in names])
    saved = [problem.var(name).getVal() for name in names]
    arrays = pdf.generate(params, n).to_numpy()
    for name, value in zip(names, saved, strict=True):
        problem.var(name).setVal(value)
    return np.column_stack([arrays[name] for name in names])


def _pdf(problem: Problem, pdf, role: str):
    """A pdf given as an object or by its name in the problem's workspace."""
    if isinstance(pdf, str):
        found = problem.workspace.pdf(pdf)
        if not found:
            raise InputError(f"no pdf named '{pdf}' for the {role} in workspace '{problem.workspace.GetName()}'")
        return found
    ROOT = import_root()
    if not isinstance(pdf, ROOT.RooAbsPdf):
        raise InputError(f"the {role} must be a RooAbsPdf or the name of one, not {pdf!r}")
    return require_object(pdf, role)


def _generation_clone(pdf, generated: list[str]):
    """A clone of ``pdf`` to generate from with per-event parameters, and its generated variables.

    Its RooAddPdfs interpret their coefficients over the generated variables only (see the module
    docstring); a coefficient normalisation fixed by the user is kept. The workspace's objects
    are left as they are (their values are not moved by the generation either).
    """
    ROOT = import_root()
    clone = pdf.cloneTree()
    ROOT.SetOwnership(clone, True)
    variables = clone.getVariables()
    what = ROOT.RooArgSet()
    for name in generated:
        var = variables.find(name)
        if var:
            what.add(var)
    for node in clone.getComponents():
        if isinstance(node, ROOT.RooAddPdf) and node.getCoefNormalization().empty() and not node.getCoefRange():
            own = ROOT.RooArgSet()
            for var in what:
                if node.dependsOn(var):
                    own.add(var)
            node.fixCoefNormalization(own)
    return clone, what


def _generate(problem: Problem, pdf, generated: list[str], proto: dict[str, np.ndarray] | None, n: int | None = None):
    """Draw ``generated`` from ``pdf``: one event per prototype row (its values set per event), or ``n`` events.

    Returns a dict of arrays holding the generated columns and the prototype's.
    """
    ROOT = import_root()
    if proto is None:
        what = ROOT.RooArgSet(*[problem.var(name) for name in generated])
        return pdf.generate(what, n).to_numpy()
    clone, what = _generation_clone(pdf, generated)
    given = ROOT.RooArgSet(*[problem.var(name) for name in proto])
    data = ROOT.RooDataSet.from_numpy({name: np.ascontiguousarray(col) for name, col in proto.items()}, given)
    arrays = clone.generate(what, ROOT.RooFit.ProtoData(data)).to_numpy()
    del clone
    return arrays


def generate_with_latents(problem: Problem, theta: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one event for each row of ``theta``: its observables x and its latents z.

    For a problem with latents, z comes from p(z|theta) with each row's theta, then x from the
    detector p(x|z) with each event's z (RooFit's ``ProtoData`` generation, one generator stream
    seeded once: same seed, same events). For a problem without latents x comes from the target
    pdf and z is x itself (the latent of the "no smearing" case, :mod:`roosbi.data.gold`).

    Parameters
    ----------
    problem : Problem
        The simulator.
    theta : ndarray, shape (n, n_parameters)
        The parameters of each event (columns: ``problem.all_parameters``, nuisances included).
    seed : int
        Seed of RooFit's generator.

    Returns
    -------
    x : ndarray, shape (n, n_observables)
    z : ndarray, shape (n, n_latents), or x for a problem without latents
    """
    ROOT = import_root()
    theta = np.asarray(theta, dtype=np.float64).reshape(len(theta), -1)
    columns = {name: theta[:, i] for i, name in enumerate(problem.all_parameters)}
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    ws = problem.workspace
    if not problem.latents:
        arrays = _generate(problem, ws.pdf(problem.target_pdf), problem.observables, columns)
        x = np.column_stack([arrays[name] for name in problem.observables])
        return x, x
    arrays = _generate(problem, ws.pdf(problem.latent_pdf), problem.latents, columns)
    z = np.column_stack([arrays[name] for name in problem.latents])
    return _observe(problem, z), z


def _observe(problem: Problem, z: np.ndarray) -> np.ndarray:
    """Observables from the detector p(x|z), one event per row of z (RooFit's generator continues its stream)."""
    proto = {name: z[:, i] for i, name in enumerate(problem.latents)}
    arrays = _generate(problem, problem.workspace.pdf(problem.observation_pdf), problem.observables, proto)
    return np.column_stack([arrays[name] for name in problem.observables])


def generate_target(problem: Problem, theta: np.ndarray, seed: int) -> np.ndarray:
    """Draw one x from p(x|theta) for each row of ``theta``; shape ``(n, n_observables)``.

    Through the latents for a problem that has them (:func:`generate_with_latents`).
    """
    return generate_with_latents(problem, theta, seed)[0]


def generate_reference(problem: Problem, n: int, seed: int, pdf=None) -> np.ndarray:
    """Draw ``n`` events of x from a pdf of x (default: the problem's reference); shape ``(n, n_observables)``."""
    ROOT = import_root()
    observables = ROOT.RooArgSet(*[problem.var(name) for name in problem.observables])
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    arrays = _pdf(problem, pdf or problem.reference_pdf, "events of x").generate(observables, n).to_numpy()
    return np.column_stack([arrays[name] for name in problem.observables])


@dataclass
class _ReferencePlan:
    """What the reference class is, decided before any event is drawn.

    ``kind``: ``"pdf_x"`` (a pdf of x), ``"pdf_z"`` (a pdf of the latents), ``"point"`` or
    ``"marginal"``; ``gold`` the reference for :mod:`roosbi.data.gold`, or None with ``no_gold`` saying why.
    """

    kind: str
    pdf: object = None
    point: np.ndarray | None = None
    gold: _gold.GoldReference | None = None
    no_gold: str = ""


def _reference_plan(problem: Problem, reference) -> _ReferencePlan:
    """Classify the reference and find out whether the gold can be computed against it."""
    if reference is None:
        reference = dict(problem.reference_point) if problem.reference_point else problem.reference_pdf
    if isinstance(reference, str) and reference == "marginal":
        return _ReferencePlan(
            "marginal",
            no_gold="the marginal reference has no per-event density p_ref(z) for the joint ratio; use a point "
            "reference (a dict of parameter values)",
        )
    if isinstance(reference, Mapping):
        if problem.nuisance_parameters:
            raise InputError(
                "a reference point is not supported yet for a problem with nuisance parameters; use a reference pdf "
                "of the observables"
            )
        point = problem.point_array(reference, "reference point")
        return _ReferencePlan("point", point=point, gold=_gold.gold_reference(problem, dict(reference)))
    if not isinstance(reference, str):
        ROOT = import_root()
        if not isinstance(reference, ROOT.RooAbsPdf):
            raise InputError(
                f"reference must be None, a pdf name, a dict of parameter values or 'marginal', not {reference!r}"
            )
    pdf = _pdf(problem, reference, "reference")
    on_latents = [name for name in problem.latents if pdf.dependsOn(problem.var(name))]
    on_observables = [name for name in problem.observables if pdf.dependsOn(problem.var(name))]
    if on_latents and on_observables:
        raise InputError(
            f"the reference pdf '{pdf.GetName()}' depends on latents ({', '.join(on_latents)}) and observables "
            f"({', '.join(on_observables)}); give a pdf of the observables, or one of the latents (then x comes "
            "from the detector)"
        )
    kind = "pdf_z" if on_latents else "pdf_x"
    try:
        gold = _gold.gold_reference(problem, pdf)
        why = ""
    except InputError as err:
        gold, why = None, str(err)
    return _ReferencePlan(kind, pdf=pdf, gold=gold, no_gold=why)


def _reference_events(problem: Problem, plan: _ReferencePlan, theta: np.ndarray, n: int, seed: int, rng, prior):
    """The reference class: its x, its z (None where unknown), the paired theta and a description."""
    ROOT = import_root()
    n_target = len(theta)
    paired = theta[np.arange(n) % n_target]
    if plan.kind == "pdf_x":
        x = generate_reference(problem, n, seed, plan.pdf)
        return x, (None if problem.latents else x), paired, f"pdf {plan.pdf.GetName()}"
    if plan.kind == "pdf_z":  # z from the reference pdf of the latents, x from the detector
        ROOT.RooRandom.randomGenerator().SetSeed(seed)
        arrays = _generate(problem, plan.pdf, problem.latents, None, n)
        z = np.column_stack([arrays[name] for name in problem.latents])
        return _observe(problem, z), z, paired, f"pdf {plan.pdf.GetName()}"
    if plan.kind == "marginal":  # x at prior draws, paired with unrelated theta
        x, z = generate_with_latents(problem, sample_prior(problem, n, rng, prior), seed)
        return x, z, theta[rng.permutation(np.arange(n) % n_target)], "marginal"
    x, z = generate_with_latents(problem, np.tile(plan.point, (n, 1)), seed)
    return x, z, paired, plan.gold.description


def simulate(
    problem: Problem,
    n_target: int = 50_000,
    n_reference: int | None = None,
    seed: int = 1,
    prior=None,
    reference=None,
    gold: bool | None = None,
    workers: int | None = None,
) -> TrainingSample:
    """Generate a labelled training sample from the problem's pdfs.

    Parameters
    ----------
    problem : Problem
        Supplies the pdfs, the observables and the prior.
    n_target : int
        Events from p(x|theta), theta from the prior.
    n_reference : int, optional
        Events from p_ref(x); defaults to ``n_target``. They are paired with the target's theta
        values (cycled if there are more reference events).
    seed : int
        Seeds the parameter draws and RooFit's generator: same seed, same sample.
    prior : None, str or ROOT.RooAbsPdf
        None: uniform over each parameter's range. Or a pdf of the parameters (object or name in
        the workspace).
    reference : None, str, ROOT.RooAbsPdf or dict
        None: the problem's reference point if it has one (``Problem.reference_point``), else its
        reference pdf. A pdf (or its name): that pdf of x, or, for a problem with latents, a pdf of
        the latents (z from it, x from the detector). A dict of parameter values: the simulator at
        that point. ``"marginal"``: the simulator at parameters drawn from the prior, paired with
        unrelated theta (learns p(x|theta) / p(x)).
    gold : bool or None
        Whether the sample carries the joint log ratio and joint score (:mod:`roosbi.data.gold`) of
        every event at its own (paired) theta. None: when the problem has latents and the
        reference allows it (a point, or a pdf of the latents). True: always, also for a problem
        without latents (then they are the exact log ratio and score); an InputError says why
        when the reference does not allow it. False: never.
    workers : int or None
        None (default): one process, one generator stream per class (the samples of every
        earlier roosbi version). A number: the events are simulated in chunks of a fixed size,
        each from its own seed (``SeedSequence(seed, spawn_key=(chunk,))``), on that many
        processes (-1: one per usable CPU); the sample is the same for any number of workers,
        but not the one of ``workers=None``. :func:`roosbi.data.parallel.simulate_parallel`
        does this and also returns the events per second.

    Returns
    -------
    TrainingSample
    """
    n_reference = n_target if n_reference is None else n_reference
    if n_target < 1 or n_reference < 1:
        raise InputError("n_target and n_reference must be positive")
    if gold not in (None, True, False):
        raise InputError(f"gold must be None (when possible), True or False, not {gold!r}")
    if workers is not None:
        from .parallel import simulate_parallel

        return simulate_parallel(
            problem, n_target, n_reference, seed=seed, prior=prior, reference=reference, gold=gold, workers=workers
        ).sample
    return TrainingSample(**_simulate_columns(problem, n_target, n_reference, seed, prior, reference, gold))


def _simulate_columns(problem: Problem, n_target, n_reference, seed, prior, reference, gold, announce=True) -> dict:
    """:func:`simulate`'s work: the columns of the sample, as keywords of TrainingSample.

    ``seed`` is an int or a ``numpy.random.SeedSequence`` (a chunk's, :mod:`roosbi.data.parallel`);
    ``announce`` False keeps the per-sample log lines quiet.
    """
    plan = _reference_plan(problem, reference)
    if gold is True and problem.nuisance_parameters:
        raise InputError("the gold (joint ratio and score) is not supported yet for a problem with nuisance parameters")
    if gold is True and plan.gold is None:
        raise InputError(f"gold=True, but {plan.no_gold}")
    want_gold = plan.gold is not None and (gold is True or (gold is None and bool(problem.latents)))
    if announce and gold is None and problem.latents and plan.gold is None:
        log.info("the sample carries no gold: %s", plan.no_gold)
    rng = np.random.default_rng(seed)
    theta = sample_prior(problem, n_target, rng, prior)
    # Distinct, seed-derived streams for RooFit's two generator calls.
    seed_target, seed_reference = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    x_target, z_target = generate_with_latents(problem, theta, seed_target)
    x_reference, z_reference, theta_reference, description = _reference_events(
        problem, plan, theta, n_reference, seed_reference, rng, prior
    )
    if announce:
        log.info("simulated %d target and %d reference events (reference: %s)", n_target, n_reference, description)
    joint_log_ratio = joint_score = None
    if want_gold:
        start = time.perf_counter()
        joint_log_ratio, joint_score = _gold.compute_gold(
            problem, np.vstack([z_target, z_reference]), np.vstack([theta, theta_reference]), plan.gold
        )
        if announce:
            log.info(
                "gold (joint log ratio and score) of %d events in %.2f s",
                n_target + n_reference,
                time.perf_counter() - start,
            )
    uniform = plan.kind == "pdf_x" and is_uniform(plan.pdf)
    return dict(
        x=np.vstack([x_target, x_reference]),
        theta=np.vstack([theta, theta_reference]),
        y=np.concatenate([np.ones(n_target), np.zeros(n_reference)]),
        observables=list(problem.observables),
        parameters=problem.all_parameters,
        parameter_ranges=problem.all_parameter_ranges(),
        reference=description,
        reference_uniform=uniform,
        joint_log_ratio=joint_log_ratio,
        joint_score=joint_score,
    )


def simulate_local(problem: Problem, point: Mapping[str, float], n: int = 50_000, seed: int = 1) -> ScoreSample:
    """Events at one parameter point with their joint score there: SALLY's training sample.

    Parameters
    ----------
    problem : Problem
        The simulator; with latents, the score is grad_theta log p(z|theta) (its expectation given
        x is the score t(x|theta)); without, it is the exact score of the target pdf.
    point : dict
        A value for each parameter, inside its range.
    n : int
        Number of events.
    seed : int
        Seeds RooFit's generator: same seed, same sample.

    Returns
    -------
    ScoreSample
    """
    if problem.nuisance_parameters:
        raise InputError(
            "simulate_local (SALLY) does not support nuisance parameters yet "
            f"({', '.join(problem.nuisance_parameters)})"
        )
    theta0 = problem.point_array(point, "local point")
    if n < 1:
        raise InputError(f"n must be a positive number of events, not {n}")
    rng = np.random.default_rng(seed)
    theta = np.tile(theta0, (n, 1))
    x, z = generate_with_latents(problem, theta, int(rng.integers(1, 2**31 - 1)))
    start = time.perf_counter()
    score = _gold.joint_score(problem, z, theta)
    log.info("joint score of %d events at %s in %.2f s", n, point, time.perf_counter() - start)
    return ScoreSample(
        x=x,
        joint_score=score,
        observables=list(problem.observables),
        parameters=list(problem.parameters),
        point={name: float(v) for name, v in zip(problem.parameters, theta0, strict=True)},
    )
