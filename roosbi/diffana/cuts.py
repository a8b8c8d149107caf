"""Cut values optimised on an analysis objective through sigmoid cuts, and the hard-cut scan that checks them.

:func:`optimize_cuts` relaxes each cut ``x_f > c`` (or ``<``) into :func:`~roosbi.diffana.blocks.soft_cut`
weights, sums the weights of each process (and of each systematic variation) into a single-bin
(cut-and-count) :class:`~roosbi.diffana.binned.BinnedModel`, and moves the cut values with Adam on
the objective (:mod:`.objectives`, nuisances profiled). :func:`scan_cuts` evaluates the objective
of hard cuts on a grid; with a small temperature the soft optimum is the scan's
(``benchmarks/neos_cuts.py``). Inputs are :class:`~roosbi.diffana.train.Process` objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..estimators.resources import import_torch, resolve_device
from ..exceptions import InputError
from .binned import BinnedModel
from .blocks import check_keep, check_temperature, soft_cut
from .objectives import get_objective
from .train import (
    _batch,
    _check_options,
    _check_steps,
    _Prepared,
    _report_skipped,
    _steps,
    _update,
    binned_model,
    prepare_processes,
)

torch = import_torch()
log = logging.getLogger(__name__)


@dataclass
class CutResult:
    """Optimised cut values, one per feature cut on, and the objective's history."""

    cuts: np.ndarray
    features: list[int]
    keep: list[str]
    temperature: float
    objective: str
    history: list[float]


def cut_model(processes, cuts, features=None, keep="above", temperature: float | None = None, **codes) -> BinnedModel:
    """The single-bin model of events passing ``cuts``: hard cuts, or sigmoid cuts at ``temperature``."""
    prepared = processes if processes and isinstance(processes[0], _Prepared) else prepare_processes(processes)
    cuts = torch.as_tensor(cuts, dtype=torch.float64).reshape(-1)
    features, keep = _cut_spec(len(cuts), features, keep, prepared[0].x.shape[1])
    return binned_model(prepared, _cut_counter(cuts, features, keep, temperature), **codes)


def scan_cuts(processes, values, feature: int = 0, keep: str = "above", objective: str = "asimov_significance"):
    """The objective of a hard cut on one feature at each of ``values`` (numpy array)."""
    goal = get_objective(objective)
    prepared = prepare_processes(processes)
    out = []
    with torch.no_grad():
        for v in np.asarray(values, dtype=np.float64).reshape(-1):
            out.append(float(goal.value(cut_model(prepared, [v], [feature], [keep]))))
    return np.asarray(out)


def optimize_cuts(
    processes,
    init,
    features=None,
    keep="above",
    objective: str = "asimov_significance",
    temperature: float = 0.05,
    steps: int = 200,
    learning_rate: float = 0.02,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    objective_options: dict | None = None,
    staterror_threshold: float = 0.05,
) -> CutResult:
    """Optimise cut values on an analysis objective through sigmoid cuts (a cut-and-count model).

    Parameters
    ----------
    processes : list of Process
        Signal and backgrounds with their systematic variations.
    init : sequence of float
        Starting cut values, one per cut.
    features : sequence of int, optional
        The feature each cut applies to (default 0, 1, ...).
    keep : str or sequence of str
        "above" or "below" for each cut.
    objective : str
        A name in :data:`~roosbi.diffana.objectives.OBJECTIVES`.
    temperature : float
        Width of the sigmoid cuts, in units of the features (> 0).
    steps, learning_rate : int, float
        Adam steps and learning rate (in units of the features).
    batch_size : int, optional
        Events per process per step (None: all).
    seed : int
        Seeds the batches.
    device : {"auto", "cpu", "cuda"}
        Where to compute.
    progress : bool
        A tqdm progress bar.
    objective_options : dict, optional
        Keyword arguments of the objective.
    staterror_threshold : float
        The binned model's threshold for staterror gammas (processes with ``staterror=True``).
    """
    goal = get_objective(objective)
    temperature = check_temperature(temperature)
    _check_steps(steps, learning_rate, batch_size)
    init = np.asarray(init, dtype=np.float64).reshape(-1)
    if init.size == 0 or not np.all(np.isfinite(init)):
        raise InputError(f"init must be finite starting cut values, got {init.tolist()}")
    device = resolve_device(device)
    prepared = prepare_processes(processes, device)
    features, keep = _cut_spec(init.size, features, keep, prepared[0].x.shape[1])
    options = _check_options(goal, objective_options)
    cuts = torch.tensor(init, dtype=torch.float64, device=device, requires_grad=True)
    optimizer = torch.optim.Adam([cuts], lr=learning_rate)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    counter = _cut_counter(cuts, features, keep, temperature)
    history, skipped = [], 0
    for _ in _steps(steps, progress, f"cuts ({goal.name})"):
        model = binned_model(
            prepared,
            counter,
            draw=lambda x, w: _batch(x, w, batch_size, generator),
            staterror_threshold=staterror_threshold,
        )
        value = goal.value(model, **options)
        skipped += not _update(optimizer, -value if goal.maximize else value)
        history.append(float(value.detach()))
    _report_skipped(skipped, steps, "cuts")
    result = cuts.detach().cpu().numpy()
    log.info("cuts: %s -> %s, %s %.4g -> %.4g", init.tolist(), result.tolist(), goal.name, history[0], history[-1])
    return CutResult(result, features, keep, temperature, goal.name, history)


def _cut_counter(cuts, features, keep, temperature):
    def count(x, w):
        passed = torch.ones_like(w)
        for c, f, k in zip(cuts, features, keep, strict=True):
            xf = x[:, f].double()
            if temperature is None:
                passed = passed * (xf > c if k == "above" else xf < c).double()
            else:
                passed = passed * soft_cut(xf, c, temperature, k)
        return (passed * w).sum().reshape(1)

    return count


def _cut_spec(n_cuts: int, features, keep, n_features: int):
    features = list(range(n_cuts)) if features is None else [int(f) for f in np.atleast_1d(features)]
    keep = [keep] * n_cuts if isinstance(keep, str) else list(keep)
    if len(features) != n_cuts or len(keep) != n_cuts:
        raise InputError(f"{n_cuts} cuts need {n_cuts} features and keep values, got {features} and {keep}")
    for f in features:
        if not 0 <= f < n_features:
            raise InputError(f"feature index {f} is out of range: the events have {n_features} features")
    return features, [check_keep(k) for k in keep]
