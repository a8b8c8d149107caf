"""Inference-aware optimisation (neos): a summary network or cut values trained on an analysis objective.

The chain, every link differentiable: events of each process (and of its up / down systematic
variations) -> the summary ``s(x)`` in [0, 1] (a torch MLP with a sigmoid output) -> binned KDE
histograms in float64 (:func:`~roosbi.diffana.blocks.bkde_histogram`) -> a
:class:`~roosbi.diffana.binned.BinnedModel` with the normalisation factor and the nuisance
parameters -> an objective (:mod:`.objectives`, with the profile fit inside) -> Adam on the
network's weights (:func:`train_summary`). :mod:`.cuts` does the same for the values of plain
cuts, on the same :class:`Process` inputs.

Inputs are :class:`Process` objects: events ``(n, d)``, per-event weights (the expected yield is
their sum), whether the POI scales them, normsys factors and histosys variations (their own
events and weights). Every check runs before any training.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field

import numpy as np

from ..estimators.resources import import_torch, network_work, resolve_device, training_threads
from ..exceptions import InputError
from .binned import BinnedModel, Sample
from .blocks import bkde_histogram, check_bandwidth, hard_histogram
from .objectives import get_objective

torch = import_torch()
log = logging.getLogger(__name__)

#: Added to every bin of every template (in events): no empty background bin, as neos does.
FLOOR = 1e-3


@dataclass
class Process:
    """The simulated events of one process and its systematic variations.

    Parameters
    ----------
    name : str
        Unique name (the sample's name in the binned model).
    events : array-like
        Features, shape (n, d) (or (n,) for one feature).
    weights : float or array-like, optional
        Per-event weights (one number for all, or shape (n,)); the expected yield is their sum.
        Default 1 per event.
    signal : bool
        Scaled by the parameter of interest mu.
    normsys : dict
        Nuisance name -> ``(kappa_down, kappa_up)``: normalisation factors at alpha = -1, +1.
    histosys : dict
        Nuisance name -> ``(down, up)``, each the events of the variation ``(m, d)`` (an array),
        or a tuple ``(events, weights)``. Events given alone take the process's weight when it is one number
        (or when the variation has the nominal's events count and per-event weights).
    staterror : bool
        Its histograms carry their Monte Carlo statistical uncertainty, ``sqrt(sum w^2)`` per bin
        (the bKDE's is ``sqrt(sum_i w_i^2 p_ib)``), as a :class:`Sample` staterror: the binned model
        gets HistFactory's per-bin gammas, and a summary learns to avoid bins with few simulated events.
        A bin with less than one event's worth (``sum w^2 < mean(w^2)``) gets one event's: an empty bin
        of a simulated background is not known to be empty, and a summary would otherwise learn to put
        the signal where the background simulation has no events (benchmarks/neos_staterror.py).
    """

    name: str
    events: object
    weights: object = None
    signal: bool = False
    normsys: dict = field(default_factory=dict)
    histosys: dict = field(default_factory=dict)
    staterror: bool = False


@dataclass
class _Prepared:
    """A process as float64 tensors: features and weights of the nominal and each variation."""

    name: str
    signal: bool
    normsys: dict
    x: torch.Tensor
    w: torch.Tensor
    variations: dict  # name -> ((x, w), (x, w))
    staterror: bool = False


def prepare_processes(processes, device: str = "cpu") -> list[_Prepared]:
    """Check ``processes`` and put their events on ``device``; InputError on anything wrong."""
    processes = list(processes) if not isinstance(processes, Process) else [processes]
    if not processes or not all(isinstance(p, Process) for p in processes):
        raise InputError("processes must be a non-empty list of roosbi.diffana.Process")
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise InputError(f"process names must be unique, got {names}")
    if not any(p.signal for p in processes):
        raise InputError("no process has signal=True: the parameter of interest would scale nothing")
    out, n_features = [], None
    for p in processes:
        x = _features(p.events, f"process {p.name!r} events")
        n_features = n_features or x.shape[1]
        w = _event_weights(p.weights, x.shape[0], f"process {p.name!r} weights")
        variations = {}
        for key, pair in p.histosys.items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise InputError(f"process {p.name!r} histosys {key!r} must be a pair (down, up)")
            sides = []
            for side, var in zip(("down", "up"), pair, strict=True):
                where = f"process {p.name!r} histosys {key!r} {side}"
                if isinstance(var, tuple) and len(var) == 2:
                    vx = _features(var[0], where)
                    vw = _event_weights(var[1], vx.shape[0], f"{where} weights")
                else:
                    vx = _features(var, where)
                    if np.ndim(p.weights) == 1 and vx.shape[0] != x.shape[0]:
                        raise InputError(f"{where}: give (events, weights); its events do not match the nominal's")
                    vw = w if np.ndim(p.weights) == 1 else _event_weights(p.weights, vx.shape[0], where)
                sides.append((vx, vw))
            variations[str(key)] = tuple(sides)
        for xs in [x, *(v[0] for pair in variations.values() for v in pair)]:
            if xs.shape[1] != n_features:
                raise InputError(f"process {p.name!r}: events have {xs.shape[1]} features, others {n_features}")
        dev = torch.device(device)
        out.append(
            _Prepared(
                p.name,
                bool(p.signal),
                dict(p.normsys),
                x.to(dev),
                w.to(dev),
                {k: tuple((vx.to(dev), vw.to(dev)) for vx, vw in v) for k, v in variations.items()},
                bool(p.staterror),
            )
        )
    return out


def binned_model(
    prepared: list[_Prepared],
    histogram,
    normsys_code: int = 4,
    histosys_code: int = 4,
    edges=None,
    draw=None,
    staterror_threshold: float = 0.05,
):
    """A :class:`BinnedModel` from ``histogram(x, w)`` of each process and variation, plus :data:`FLOOR`.

    ``draw(x, w)``, if given, returns the events to fill and the factor that scales their weights up to the
    whole sample's (:func:`_batch`). The histograms are filled where the events are (a GPU, say) and the model
    of a few bins lives on the CPU: its Newton fits take a host synchronisation per step, which on a GPU cost
    more than the events' whole pass (measured on an H100, docs/diffana.md). Gradients flow through the copy.
    """

    def fill(x, w, errors: bool = False):
        x, w, scale = (x, w, 1.0) if draw is None else draw(x, w)
        counts = histogram(x, w * scale).cpu() + FLOOR
        if not errors:
            return counts
        # sum w^2 of the whole sample, estimated from the drawn events, and at least one event's w^2
        sumw2 = torch.maximum(histogram(x, w * w * scale).cpu(), (w * w).mean().cpu())
        return counts, sumw2.clamp_min(1e-300).sqrt()  # clamped: sqrt has no gradient at 0

    samples = []
    for p in prepared:
        nominal, staterror = fill(p.x, p.w, errors=True) if p.staterror else (fill(p.x, p.w), None)
        histosys = {k: tuple(fill(vx, vw) for vx, vw in pair) for k, pair in p.variations.items()}
        samples.append(Sample(p.name, nominal, p.signal, p.normsys, histosys, staterror))
    return BinnedModel(
        samples,
        normsys_code=normsys_code,
        histosys_code=histosys_code,
        edges=edges,
        staterror_threshold=staterror_threshold,
    )


class SummaryNetwork(torch.nn.Module):
    """An MLP ``s(x)`` in [0, 1]: standardised inputs, ReLU hidden layers, a sigmoid output."""

    def __init__(self, n_features: int, hidden=(32, 32), shift=None, scale=None):
        super().__init__()
        layers, width = [], n_features
        for h in hidden:
            layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
            width = int(h)
        layers += [torch.nn.Linear(width, 1), torch.nn.Sigmoid()]
        self.net = torch.nn.Sequential(*layers)
        self.register_buffer("shift", torch.zeros(n_features) if shift is None else torch.as_tensor(shift).float())
        self.register_buffer("scale", torch.ones(n_features) if scale is None else torch.as_tensor(scale).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The summary of each event, shape (n,)."""
        x = x.to(self.shift.dtype)
        return self.net((x - self.shift) / self.scale).squeeze(-1)


@dataclass
class SummaryResult:
    """A trained summary: the network, its binning and the objective's history."""

    network: SummaryNetwork
    edges: np.ndarray
    bandwidth: float
    objective: str
    history: list[float]
    normsys_code: int = 4
    histosys_code: int = 4
    staterror_threshold: float = 0.05

    def summary(self, events) -> np.ndarray:
        """``s(x)`` of events ``(n, d)``, as numpy."""
        with torch.no_grad():
            return self.network.cpu()(_features(events, "events")).double().numpy()

    def binned_model(self, processes, soft: bool = False) -> BinnedModel:
        """The binned model of ``processes``: hard histograms of the summary (bKDE ones with ``soft``)."""
        prepared = prepare_processes(processes)
        net = self.network.cpu()
        with torch.no_grad():

            def histogram(x, w):
                s = net(x).double()
                if soft:
                    return bkde_histogram(s, self.edges, self.bandwidth, w)
                return hard_histogram(s, self.edges, w)

            return binned_model(
                prepared,
                histogram,
                self.normsys_code,
                self.histosys_code,
                self.edges,
                staterror_threshold=self.staterror_threshold,
            )


def train_summary(
    processes,
    objective: str = "asimov_significance",
    bins: int = 4,
    bandwidth: float = 0.5,
    hidden=(32, 32),
    steps: int = 100,
    learning_rate: float = 1e-3,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    objective_options: dict | None = None,
    normsys_code: int = 4,
    histosys_code: int = 4,
    staterror_threshold: float = 0.05,
) -> SummaryResult:
    """Train a summary network end to end on an analysis objective (neos).

    Parameters
    ----------
    processes : list of Process
        Signal and backgrounds, with their systematic variations.
    objective : str
        A name in :data:`~roosbi.diffana.objectives.OBJECTIVES`.
    bins : int
        Equal bins of the summary over [0, 1].
    bandwidth : float
        bKDE bandwidth as a fraction of the bin width (> 0).
    hidden : tuple of int
        Hidden layer widths.
    steps : int
        Adam steps.
    learning_rate : float
        Adam's learning rate.
    batch_size : int, optional
        Events drawn per process (and variation) at each step, their weights scaled up to the
        full yield; None uses every event at every step.
    seed : int
        Seeds the network's initialisation and the batches: same seed, same network.
    device : {"auto", "cpu", "cuda"}
        Where to train (the network in float32, histograms and fits in float64).
    progress : bool
        A tqdm progress bar.
    objective_options : dict, optional
        Keyword arguments of the objective (``{"mu_test": 2.0}`` for cls).
    normsys_code, histosys_code : int
        Interpolation codes of the binned model.
    staterror_threshold : float
        Bins whose relative Monte Carlo uncertainty is below this get no staterror gamma
        (processes with ``staterror=True``; HistFactory's ``RelErrorThreshold``).

    Returns
    -------
    SummaryResult
        The network (on the CPU, in eval mode) and the objective at each step, before its update
        (``history``).
    """
    goal = get_objective(objective)
    bandwidth = check_bandwidth(bandwidth)
    if int(bins) < 1:
        raise InputError(f"bins must be >= 1, not {bins}")
    _check_steps(steps, learning_rate, batch_size)
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden):
        raise InputError(f"hidden layer widths must be >= 1, got {hidden}")
    device = resolve_device(device)
    prepared = prepare_processes(processes, device)
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    # The model's own checks (kappas, codes) before any training, on empty histograms.
    binned_model(
        prepared,
        lambda x, w: w.new_zeros(int(bins)),
        normsys_code,
        histosys_code,
        edges,
        staterror_threshold=staterror_threshold,
    )
    options = _check_options(goal, objective_options)

    everything = torch.cat([p.x for p in prepared])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SummaryNetwork(everything.shape[1], hidden, everything.mean(0), everything.std(0).clamp_min(1e-12))
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history, skipped = [], 0

    def histogram(x, w):
        return bkde_histogram(net(x).double(), edges, bandwidth, w)

    def draw(x, w):
        return _batch(x, w, batch_size, generator)

    with training_threads(None, device, network_work(batch_size or everything.shape[0], net)):
        for _ in _steps(steps, progress, f"neos ({goal.name})"):
            model = binned_model(prepared, histogram, normsys_code, histosys_code, edges, draw, staterror_threshold)
            value = goal.value(model, **options)
            skipped += not _update(optimizer, -value if goal.maximize else value)
            history.append(float(value.detach()))
    _report_skipped(skipped, steps, "neos")
    log.info("neos: %s from %.4g to %.4g in %d steps", goal.name, history[0], history[-1], steps)
    net = net.cpu().eval()
    return SummaryResult(net, edges, bandwidth, goal.name, history, normsys_code, histosys_code, staterror_threshold)


def _update(optimizer, loss) -> bool:
    """One Adam step on ``loss``; none (False) where the loss or a gradient is not finite.

    A fit that fails in one step (a batch without events in a bin, say) must not turn the network into NaN:
    the step is skipped, counted and reported (:func:`_report_skipped`).
    """
    optimizer.zero_grad()
    if not bool(torch.isfinite(loss.detach())):
        return False
    loss.backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not all(bool(torch.isfinite(g).all()) for g in grads):
        optimizer.zero_grad()
        return False
    optimizer.step()
    return True


def _report_skipped(skipped: int, steps: int, what: str) -> None:
    if skipped:
        log.warning("%s: %d of %d steps skipped: the objective or its gradient was not finite", what, skipped, steps)


def _check_options(goal, options) -> dict:
    """``options`` as a dict, or InputError if the objective takes no such keyword."""
    options = dict(options or {})
    try:
        inspect.signature(goal.function).bind(None, **options)
    except TypeError as err:
        raise InputError(f"objective_options {options} do not fit objective {goal.name!r}: {err}") from None
    return options


def _check_steps(steps, learning_rate, batch_size) -> None:
    if int(steps) < 1:
        raise InputError(f"steps must be >= 1, not {steps}")
    if not float(learning_rate) > 0:
        raise InputError(f"learning_rate must be > 0, not {learning_rate}")
    if batch_size is not None and int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1 or None, not {batch_size}")


def _steps(steps: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(range(int(steps)), desc=desc, unit="step", disable=not progress, leave=False)


def _batch(x, w, batch_size, generator):
    """All events, or ``batch_size`` drawn without replacement; and the factor that scales them to the full yield."""
    n = x.shape[0]
    if batch_size is None or batch_size >= n:
        return x, w, 1.0
    index = torch.randperm(n, generator=generator)[: int(batch_size)].to(x.device)
    return x[index], w[index], n / int(batch_size)


def _features(values, what: str) -> torch.Tensor:
    try:
        x = np.asarray(values.detach().cpu() if torch.is_tensor(values) else values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} must be a numeric array: {err}") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"{what} must have shape (n, d) with n >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{what} has NaN or Inf values")
    return torch.as_tensor(x, dtype=torch.float64)


def _event_weights(weights, n: int, what: str) -> torch.Tensor:
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise InputError(f"{what} must be one number or one per event ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise InputError(f"{what} has NaN or Inf values")
    return torch.as_tensor(w, dtype=torch.float64)
