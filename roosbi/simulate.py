"""Simulation: turn a :class:`~roosbi.problems.Problem` into a labelled training sample.

Target events: theta drawn from the prior (uniform over each parameter's range), then x drawn
from p(x|theta) event by event (RooFit's ``ProtoData`` generation), label 1. Reference events:
x drawn from p_ref(x), paired with the same theta values, label 0. Pairing gives both classes the
same theta distribution, so the classifier can only learn from x, and its logit converges to
log r(x|theta) = log p(x|theta) - log p_ref(x).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .exceptions import InputError
from .library import import_root
from .problems import Problem

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
    """

    x: np.ndarray
    theta: np.ndarray
    y: np.ndarray
    observables: list[str]
    parameters: list[str]
    parameter_ranges: dict[str, tuple[float, float]]
    weights: np.ndarray | None = None

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
        for name, arr in (("x", self.x), ("theta", self.theta), ("y", self.y), ("weights", self.weights)):
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


def sample_prior(problem: Problem, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` parameter points uniformly over the parameters' ranges; shape ``(n, n_parameters)``."""
    ranges = problem.parameter_ranges()
    return np.column_stack([rng.uniform(*ranges[name], size=n) for name in problem.parameters])


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


def generate_reference(problem: Problem, n: int, seed: int) -> np.ndarray:
    """Draw ``n`` events of x from the reference pdf; shape ``(n, n_observables)``."""
    ROOT = import_root()
    ws = problem.workspace
    observables = ROOT.RooArgSet()
    for name in problem.observables:
        observables.add(ws.var(name))
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    arrays = ws.pdf(problem.reference_pdf).generate(observables, n).to_numpy()
    return np.column_stack([arrays[name] for name in problem.observables])


def simulate(problem: Problem, n_target: int = 50_000, n_reference: int | None = None, seed: int = 1) -> TrainingSample:
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

    Returns
    -------
    TrainingSample
    """
    n_reference = n_target if n_reference is None else n_reference
    if n_target < 1 or n_reference < 1:
        raise InputError("n_target and n_reference must be positive")
    rng = np.random.default_rng(seed)
    theta = sample_prior(problem, n_target, rng)
    # Distinct, seed-derived streams for RooFit's two generator calls.
    seed_target, seed_reference = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    x_target = generate_target(problem, theta, seed_target)
    x_reference = generate_reference(problem, n_reference, seed_reference)
    theta_reference = theta[np.arange(n_reference) % n_target]
    log.info("simulated %d target and %d reference events", n_target, n_reference)
    return TrainingSample(
        x=np.vstack([x_target, x_reference]),
        theta=np.vstack([theta, theta_reference]),
        y=np.concatenate([np.ones(n_target), np.zeros(n_reference)]),
        observables=list(problem.observables),
        parameters=list(problem.parameters),
        parameter_ranges=problem.parameter_ranges(),
    )
