"""Simulation: turn a :class:`~roosbi.problems.Problem` into a labelled training sample.

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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .checks import require_object
from .exceptions import InputError
from .library import import_root
from .problems import Problem
from .roofit import is_uniform

log = logging.getLogger(__name__)


@dataclass
class TrainingSample:
    """Columns of a labelled training sample.

    Attributes
    ----------
    x : ndarray, shape (n, n_observables)
    theta : ndarray, shape (n, n_parameters)
    y : ndarray, shape (n,)
        1 for target events, 0 for reference events.
    weights : ndarray, shape (n,)
        Event weights (1 unless given).
    observables, parameters : list of str
        Column names, in network input order.
    parameter_ranges : dict
        Training range of each parameter.
    reference : str
        What the reference class is, for the record: ``"pdf <name>"``, ``"point <p>=<v>, ..."``,
        ``"marginal"``, or ``"sample"`` (events from outside RooFit: the reference is whatever
        produced them).
    reference_uniform : bool
        True when the reference is a uniform pdf of x (a RooUniform or a product of them): then
        p(x|theta) is proportional to r alone, and a learned pdf needs no reference pdf.
    joint_log_ratio : ndarray, shape (n,), optional
        The "gold" of latent-variable problems: log r(x, z | theta) = log p(x, z | theta) -
        log p_ref(x, z) for each event at its own theta (the latent z never reaches the network).
        Its expectation given x is not log r(x | theta), but r(x, z) is an unbiased estimate of
        r(x) for reference events, which is what the augmented losses use.
    joint_score : ndarray, shape (n, n_parameters), optional
        The joint score t(x, z | theta) = grad_theta log p(x, z | theta) for each event at its own
        theta; for target events its expectation given x is the score t(x | theta).
    """

    x: np.ndarray
    theta: np.ndarray
    y: np.ndarray
    observables: list[str]
    parameters: list[str]
    parameter_ranges: dict[str, tuple[float, float]]
    weights: np.ndarray | None = None
    reference: str = "sample"
    reference_uniform: bool = False
    joint_log_ratio: np.ndarray | None = None
    joint_score: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64).reshape(len(self.x), -1)
        self.theta = np.asarray(self.theta, dtype=np.float64).reshape(len(self.theta), -1)
        self.y = np.asarray(self.y, dtype=np.float64).reshape(-1)
        self.weights = np.ones(len(self.y)) if self.weights is None else np.asarray(self.weights, np.float64)
        n = len(self.y)
        for name, arr in (("x", self.x), ("theta", self.theta), ("weights", self.weights)):
            if len(arr) != n:
                raise InputError(f"column '{name}' has {len(arr)} rows but y has {n}")
        if self.x.shape[1] != len(self.observables):
            raise InputError(f"x has {self.x.shape[1]} columns but {len(self.observables)} observables are named")
        if self.theta.shape[1] != len(self.parameters):
            raise InputError(f"theta has {self.theta.shape[1]} columns but {len(self.parameters)} parameters are named")
        self._check_gold(n)
        columns = [("x", self.x), ("theta", self.theta), ("y", self.y), ("weights", self.weights)]
        for name in ("joint_log_ratio", "joint_score"):
            if getattr(self, name) is not None:
                columns.append((name, getattr(self, name)))
        for name, arr in columns:
            bad = ~np.isfinite(arr)
            if bad.any():
                rows = np.unique(np.nonzero(bad)[0])
                raise InputError(
                    f"training data column '{name}' holds {bad.sum()} NaN/Inf value(s), first in row {rows[0]}; "
                    "remove or fix those events before training"
                )
        if not np.isin(self.y, (0.0, 1.0)).all():
            raise InputError("labels y must be 0 (reference) or 1 (target)")
        if len(np.unique(self.y)) < 2:
            raise InputError("the sample needs both target (y=1) and reference (y=0) events")
        self.check_weights()

    def _check_gold(self, n: int) -> None:
        """Shape the gold columns: log r one value per event, the score one value per parameter."""
        if self.joint_log_ratio is not None:
            self.joint_log_ratio = np.asarray(self.joint_log_ratio, dtype=np.float64)
            if self.joint_log_ratio.shape != (n,):
                raise InputError(
                    f"joint_log_ratio must hold one value per event, shape ({n},), not {self.joint_log_ratio.shape}"
                )
        if self.joint_score is not None:
            score = np.asarray(self.joint_score, dtype=np.float64)
            if score.ndim == 1 and len(self.parameters) == 1:
                score = score.reshape(-1, 1)
            if score.shape != (n, len(self.parameters)):
                raise InputError(
                    f"joint_score must have one column per parameter ({', '.join(self.parameters) or 'none'}), "
                    f"shape ({n}, {len(self.parameters)}), not {score.shape}"
                )
            self.joint_score = score

    @property
    def has_gold(self) -> bool:
        """True when the sample carries the joint log ratio (and maybe the joint score)."""
        return self.joint_log_ratio is not None

    def check_weights(self) -> None:
        """Refuse class weights that cannot be trained on: each class must sum to a positive total.

        Negative event weights are allowed (NLO generators write them), but a class whose weights
        sum to zero or less is not a distribution: the cross-entropy then has no minimum and the
        training loss runs off to minus infinity. Estimators call this again before training, as
        the columns may have been changed after the sample was made.
        """
        for label, what in ((1.0, "target (y=1)"), (0.0, "reference (y=0)")):
            total = float(np.sum(self.weights[self.y == label]))
            if not total > 0.0:
                raise InputError(
                    f"the {what} event weights sum to {total:.6g}; each class needs a positive total weight "
                    "(negative weights are fine as long as the class total stays positive): check the weight "
                    "column and any selection applied to it"
                )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def inputs(self) -> np.ndarray:
        """Network inputs ``[x, theta]``, shape ``(n, n_observables + n_parameters)``."""
        return np.hstack([self.x, self.theta])

    @property
    def input_names(self) -> list[str]:
        """Names of the network inputs, observables first."""
        return self.observables + self.parameters


@dataclass
class ScoreSample:
    """Events simulated at one parameter point with their joint score: what SALLY trains on.

    Attributes
    ----------
    x : ndarray, shape (n, n_observables)
    joint_score : ndarray, shape (n, n_parameters)
        t(x, z | point) for each event; its expectation given x is the score t(x | point).
    observables, parameters : list of str
        Column names.
    point : dict
        The parameter point the events were simulated at (and the score is taken at).
    weights : ndarray, shape (n,)
        Event weights (1 unless given).
    """

    x: np.ndarray
    joint_score: np.ndarray
    observables: list[str]
    parameters: list[str]
    point: dict[str, float]
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64).reshape(len(self.x), -1)
        n = len(self.x)
        self.joint_score = np.asarray(self.joint_score, dtype=np.float64).reshape(n, -1)
        self.weights = np.ones(n) if self.weights is None else np.asarray(self.weights, np.float64).reshape(-1)
        if self.x.shape[1] != len(self.observables):
            raise InputError(f"x has {self.x.shape[1]} columns but {len(self.observables)} observables are named")
        if self.joint_score.shape[1] != len(self.parameters):
            raise InputError(
                f"joint_score has {self.joint_score.shape[1]} columns but {len(self.parameters)} parameters are named"
            )
        if len(self.weights) != n:
            raise InputError(f"weights has {len(self.weights)} rows but x has {n}")
        if sorted(self.point) != sorted(self.parameters):
            raise InputError(f"the point must give a value for each of {', '.join(self.parameters)}, not {self.point}")
        for name, arr in (("x", self.x), ("joint_score", self.joint_score), ("weights", self.weights)):
            if not np.isfinite(arr).all():
                raise InputError(f"score sample column '{name}' holds NaN/Inf values; fix those events first")

    def __len__(self) -> int:
        return len(self.x)


def sample_prior(problem: Problem, n: int, rng: np.random.Generator, prior=None) -> np.ndarray:
    """Draw ``n`` parameter points from the prior; shape ``(n, n_parameters)``.

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
    if prior is None:
        ranges = problem.parameter_ranges()
        return np.column_stack([rng.uniform(*ranges[name], size=n) for name in problem.parameters])
    ROOT = import_root()
    pdf = _pdf(problem, prior, "prior")
    for name in problem.observables:
        if pdf.dependsOn(problem.var(name)):
            raise InputError(f"the prior '{pdf.GetName()}' depends on the observable '{name}'")
    missing = [name for name in problem.parameters if not pdf.dependsOn(problem.var(name))]
    if missing:
        raise InputError(
            f"the prior '{pdf.GetName()}' does not depend on {', '.join(missing)}; give every parameter "
            "a prior (a RooProdPdf of one pdf per parameter, with RooUniform where it is flat)"
        )
    ROOT.RooRandom.randomGenerator().SetSeed(int(rng.integers(1, 2**31 - 1)))
    params = ROOT.RooArgSet(*[problem.var(name) for name in problem.parameters])
    saved = [problem.var(name).getVal() for name in problem.parameters]
    arrays = pdf.generate(params, n).to_numpy()
    for name, value in zip(problem.parameters, saved, strict=True):
        problem.var(name).setVal(value)
    return np.column_stack([arrays[name] for name in problem.parameters])


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


def generate_target(problem: Problem, theta: np.ndarray, seed: int) -> np.ndarray:
    """Draw one x from p(x|theta) for each row of ``theta``; shape ``(n, n_observables)``."""
    ROOT = import_root()
    ws = problem.workspace
    params = ROOT.RooArgSet()
    for name in problem.parameters:
        params.add(ws.var(name))
    proto = ROOT.RooDataSet.from_numpy({n: theta[:, i] for i, n in enumerate(problem.parameters)}, params)
    observables = ROOT.RooArgSet()
    for name in problem.observables:
        observables.add(ws.var(name))
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    saved = {name: ws.var(name).getVal() for name in problem.parameters}
    data = ws.pdf(problem.target_pdf).generate(observables, ROOT.RooFit.ProtoData(proto))
    for name, value in saved.items():  # generation with proto data moves the parameters
        ws.var(name).setVal(value)
    arrays = data.to_numpy()
    return np.column_stack([arrays[name] for name in problem.observables])


def generate_reference(problem: Problem, n: int, seed: int, pdf=None) -> np.ndarray:
    """Draw ``n`` events of x from a pdf of x (default: the problem's reference); shape ``(n, n_observables)``."""
    ROOT = import_root()
    observables = ROOT.RooArgSet(*[problem.var(name) for name in problem.observables])
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    arrays = _pdf(problem, pdf or problem.reference_pdf, "events of x").generate(observables, n).to_numpy()
    return np.column_stack([arrays[name] for name in problem.observables])


def _reference_events(problem: Problem, reference, theta: np.ndarray, n: int, seed: int, rng, prior):
    """The reference class: its x, the theta each event is paired with, and a description."""
    n_target = len(theta)
    paired = theta[np.arange(n) % n_target]
    if reference is None or isinstance(reference, str) and reference != "marginal":
        pdf = _pdf(problem, reference or problem.reference_pdf, "reference")
        return generate_reference(problem, n, seed, pdf), paired, f"pdf {pdf.GetName()}"
    if isinstance(reference, str):  # "marginal": x at prior draws, paired with unrelated theta
        x = generate_target(problem, sample_prior(problem, n, rng, prior), seed)
        return x, theta[rng.permutation(np.arange(n) % n_target)], "marginal"
    if isinstance(reference, dict):  # a fixed parameter point
        unknown = sorted(set(reference) - set(problem.parameters))
        missing = [name for name in problem.parameters if name not in reference]
        if unknown or missing:
            raise InputError(
                f"a reference point needs a value for each of {', '.join(problem.parameters)} "
                f"(unknown: {', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'})"
            )
        ranges = problem.parameter_ranges()
        for name, value in reference.items():
            if not ranges[name][0] <= value <= ranges[name][1]:
                raise InputError(f"reference point {name}={value} is outside its range {ranges[name]}")
        point = np.array([float(reference[name]) for name in problem.parameters])
        x = generate_target(problem, np.tile(point, (n, 1)), seed)
        description = "point " + ", ".join(f"{name}={reference[name]:g}" for name in problem.parameters)
        return x, paired, description
    raise InputError(f"reference must be None, a pdf name, a dict of parameter values or 'marginal', not {reference!r}")


def simulate(
    problem: Problem,
    n_target: int = 50_000,
    n_reference: int | None = None,
    seed: int = 1,
    prior=None,
    reference=None,
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
    reference : None, str or dict
        None: the problem's reference pdf. A pdf name: that pdf of x. A dict of parameter values:
        the simulator at that point. ``"marginal"``: the simulator at parameters drawn from the
        prior, paired with unrelated theta (learns p(x|theta) / p(x)).

    Returns
    -------
    TrainingSample
    """
    n_reference = n_target if n_reference is None else n_reference
    if n_target < 1 or n_reference < 1:
        raise InputError("n_target and n_reference must be positive")
    rng = np.random.default_rng(seed)
    theta = sample_prior(problem, n_target, rng, prior)
    # Distinct, seed-derived streams for RooFit's two generator calls.
    seed_target, seed_reference = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    x_target = generate_target(problem, theta, seed_target)
    x_reference, theta_reference, description = _reference_events(
        problem, reference, theta, n_reference, seed_reference, rng, prior
    )
    log.info("simulated %d target and %d reference events (reference: %s)", n_target, n_reference, description)
    uniform = description.startswith("pdf ") and is_uniform(problem.workspace.pdf(description[4:]))
    return TrainingSample(
        x=np.vstack([x_target, x_reference]),
        theta=np.vstack([theta, theta_reference]),
        y=np.concatenate([np.ones(n_target), np.zeros(n_reference)]),
        observables=list(problem.observables),
        parameters=list(problem.parameters),
        parameter_ranges=problem.parameter_ranges(),
        reference=description,
        reference_uniform=uniform,
    )
