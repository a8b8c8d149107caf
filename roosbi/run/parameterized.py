"""A parameterized study from files of simulated events: ``roosbi run --target FILE:TREE --parameters mu``.

Events simulated at many parameter points θ, one row per event with its own θ in parameter
columns (a continuous spread of θ, or Monte Carlo samples at discrete grid points such as mass
points), and no pdf. :func:`parameterized_from_samples` reads the target events, the reference
events (a file of observables, or ``"marginal"``: the target events with their θ permuted across
events) and the observed events (a file, or pseudo-data from target events held out at one grid
point), checks them, finds whether θ sits on a grid, and builds the RooWorkspace: the
observables (ranges from the events), the parameters (ranges from the target's θ) and the data.
:mod:`roosbi.run.parameterized_run` trains, fits and writes the files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from .mixture_events import (
    PSEUDO_DATA_SHARE,
    Events,
    SampleProblem,
    _check_class_weights,
    _draw,
    _ranges,
    _sel,
    _source_record,
    _weight_record,
)
from .sources import parse_source, read_events

log = logging.getLogger(__name__)

#: Fewest target events per distinct θ, on average, for θ to count as discrete grid points.
MIN_EVENTS_PER_POINT = 10
#: Names the study gives its own RooFit objects; an observable or a parameter may not take one.
RESERVED = ("learned_pdf", "learned_ratio", "morphed_pdf", "obs_data")


@dataclass
class Grid:
    """The distinct parameter points of the target events, when θ sits at discrete points."""

    axes: list[np.ndarray]  # the distinct values of each parameter, sorted
    points: np.ndarray  # (k, n_parameters): the distinct points, sorted
    counts: np.ndarray  # (k,): target events at each point

    @property
    def complete(self) -> bool:
        """True when the points are every combination of the axes' values (a product grid) with 2+ per axis."""
        return len(self.points) == math.prod(len(a) for a in self.axes) and all(len(a) >= 2 for a in self.axes)

    def index_of(self, theta: np.ndarray) -> np.ndarray:
        """Each row's point index (-1 where a row is no grid point)."""
        out = np.full(len(theta), -1)
        for k, point in enumerate(self.points):
            out[np.all(np.isclose(theta, point, rtol=1e-9, atol=1e-12), axis=1)] = k
        return out

    def describe(self, parameters: Sequence[str], limit: int = 12) -> str:
        """The points as ``mu=1, s=2; ...`` (the first ``limit``)."""
        text = "; ".join(point_text(parameters, p) for p in self.points[:limit])
        return text + (f"; … ({len(self.points)} in all)" if len(self.points) > limit else "")


@dataclass
class ParameterizedSamples:
    """What :func:`parameterized_from_samples` read and built."""

    problem: SampleProblem
    target: Events  # for training and the templates (pseudo-data's pool removed)
    theta: np.ndarray  # (n, n_parameters): each target event's parameters
    reference: Events | None  # None: the marginal (the target events with their θ permuted)
    grid: Grid | None  # None: θ is spread continuously
    no_baseline: str  # why there is no morphing baseline ("" when there is one)
    source: dict
    notes: list[str]


def parameterized_from_samples(
    target,
    observables: Sequence[str] | str,
    parameters: Sequence[str] | str,
    reference="marginal",
    data=None,
    data_point=None,
    n_data: int | None = None,
    weight: str | None = None,
    selection: str | None = None,
    seed: int = 1,
    name: str | None = None,
) -> ParameterizedSamples:
    """Read the target, reference and observed events of a parameterized study into a workspace.

    Parameters
    ----------
    target : str or list of str
        Events with observable and parameter columns, one row per event at its own θ:
        ``"file.root:tree"``, a table, or a list of files (:func:`~roosbi.run.sources.parse_source`).
    observables, parameters : list of str, or str
        Columns: the observables x (the network's input order) and θ (then the parameters).
    reference : str or list of str
        ``"marginal"`` (default: the target events with their θ permuted across events), or a
        source of reference events with the observable columns (and the weight column, if any).
    data : str or list of str, optional
        The observed events (no weight is read from them).
    data_point : dict, str or float, optional
        Without ``data``: the grid point of the pseudo-data (``{"mu": 1.5}``, ``"mu=1.5"``, or a
        number for one parameter). :data:`~roosbi.run.mixture_events.PSEUDO_DATA_SHARE` of the
        target events there are held out of everything else, and the pseudo-data drawn from them.
    n_data : int, optional
        Pseudo-data events (default: all held-out events; weighted events are drawn by weight).
    weight : str, optional
        The event-weight column of the target (and reference) files; negative weights are kept.
    selection : str, optional
        ``RDataFrame.Filter`` (ROOT files) or ``DataFrame.query`` (tables), applied to every source.
    seed : int
        Seeds the pseudo-data's pool and draw.
    name : str, optional
        The study's name in the report (default: the target file's name without its suffix).

    Raises
    ------
    InputError
        A bad name, file, tree, column (the message lists the columns there are), selection or
        weight total; a parameter with a single value; data and data_point both or neither; a
        data_point that is not a grid point (the message lists them).
    """
    from ..data.observed import observed_data_from_arrays
    from ..library import import_root
    from .problem import name_list

    observables = name_list(observables, "observables")
    parameters = name_list(parameters, "parameters")
    _check_names(observables, parameters, weight)
    if data is not None and data_point is not None:
        raise InputError("give data (observed events) or data_point (pseudo-data at a grid point), not both")
    if data is None and data_point is None:
        raise InputError(
            "the study needs observed events: data = 'file.root:tree' (--data), or data_point = 'mu=1.5' "
            "(--data-point: pseudo-data from target events held out at that grid point)"
        )
    if n_data is not None and (isinstance(n_data, bool) or not isinstance(n_data, int) or n_data < 1):
        raise InputError(f"n_data must be a positive integer, not {n_data!r}")
    if n_data is not None and data is not None:
        raise InputError("n_data sets the size of the pseudo-data; with data given it has no use")
    marginal = isinstance(reference, str) and reference.strip() == "marginal"
    sources = {"target": parse_source(target, "target")}
    if not marginal:
        sources["reference"] = parse_source(reference, "reference")
    if data is not None:
        sources["data"] = parse_source(data, "data")

    weights = [weight] if weight else []
    arrays, target_where = read_events(sources["target"], observables + parameters + weights, selection)
    target = _events(arrays, observables, weight, target_where)
    theta = np.column_stack([arrays[p] for p in parameters])
    _check_class_weights(target, "target", weight, selection)
    reference_events = None
    if not marginal:
        arrays, where = read_events(sources["reference"], observables + weights, selection)
        reference_events = _events(arrays, observables, weight, where)
        _check_class_weights(reference_events, "reference", weight, selection)
    x_data = None
    if data is not None:
        arrays, _ = read_events(sources["data"], observables, selection)
        x_data = np.column_stack([arrays[o] for o in observables])

    theta_ranges = {}
    for i, p in enumerate(parameters):
        lo, hi = float(theta[:, i].min()), float(theta[:, i].max())
        if not lo < hi:
            raise InputError(
                f"the parameter '{p}' takes the single value {lo:g} in every target event{target_where}; a "
                "parameterized study needs events at several values of each parameter"
            )
        theta_ranges[p] = (lo, hi)
    grid = find_grid(theta)
    point = None
    if data_point is not None:
        point = check_data_point(data_point, parameters, grid)

    read = {"target": _weight_record(target)}
    if reference_events is not None:
        read["reference"] = _weight_record(reference_events)
    rng = np.random.default_rng(seed)
    truth, pool_record = {}, {}
    if point is not None:
        target, theta, x_data, pool_record = _pseudo_data(target, theta, grid, point, n_data, rng)
        truth = dict(zip(parameters, map(float, point), strict=True))
        grid = find_grid(theta)  # the counts without the pool
    no_baseline = _no_baseline(grid, theta)

    ROOT = import_root()
    ws = ROOT.RooWorkspace("roosbi_parameterized", "parameterized study from simulated events")
    ROOT.SetOwnership(ws, False)  # as the built-in problems: RooFit objects point into it until exit
    blocks = [target.x, x_data] + ([reference_events.x] if reference_events is not None else [])
    ranges = _ranges(observables, blocks)
    obs_vars = []
    for obs in observables:
        ws.Import(ROOT.RooRealVar(obs, obs, *ranges[obs]), Silence=True)
        obs_vars.append(ws.var(obs))
    for p, (lo, hi) in theta_ranges.items():
        ws.Import(ROOT.RooRealVar(p, p, 0.5 * (lo + hi), lo, hi), Silence=True)
    dataset = observed_data_from_arrays(x_data, obs_vars, name="obs_data")
    ws.Import(dataset, Silence=True)

    prob = SampleProblem(
        name=name or Path(sources["target"].paths[0]).stem,
        workspace=ws,
        observables=observables,
        parameters=parameters,
        observed_data="obs_data",
        truth=truth,
    )
    record = {
        "kind": "parameterized from samples",
        "observables": observables,
        "parameters": parameters,
        "ranges": {k: list(v) for k, v in ranges.items()},
        "parameter_ranges": {k: list(v) for k, v in theta_ranges.items()},
        "weight": weight,
        "selection": selection,
        "target": {**_source_record(sources["target"]), **read["target"]},
        "grid": None if grid is None else _grid_record(grid, parameters),
        "baseline": "morphed" if not no_baseline else None,
        "no_baseline": no_baseline or None,
    }
    if marginal:
        record["reference"] = {"kind": "marginal", "what": "the target events with their parameters permuted"}
    else:
        record["reference"] = {"kind": "file", **_source_record(sources["reference"]), **read["reference"]}
    if data is not None:
        record["data"] = {**_source_record(sources["data"]), "events": int(dataset.numEntries())}
    else:
        record["data"] = {"pseudo_data": True, "point": truth, **pool_record}
    notes = _notes(prob, sources, record, grid, no_baseline, dataset.numEntries())
    return ParameterizedSamples(prob, target, theta, reference_events, grid, no_baseline, record, notes)


def find_grid(theta: np.ndarray) -> Grid | None:
    """The distinct points of ``theta`` when it sits at discrete points (on average 10+ events each), else None."""
    points, counts = np.unique(theta, axis=0, return_counts=True)
    from ..morphing import MAX_TEMPLATES

    if len(points) > MAX_TEMPLATES or len(points) * MIN_EVENTS_PER_POINT > len(theta):
        return None
    return Grid([np.unique(theta[:, i]) for i in range(theta.shape[1])], points, counts)


def check_data_point(value, parameters: list[str], grid: Grid | None) -> np.ndarray:
    """``data_point`` as given → the grid point it names; an InputError listing the grid points otherwise."""
    point = parse_point(value, parameters)
    if grid is None:
        raise InputError(
            "data_point needs target events at discrete grid points, but the target's parameters are spread "
            "continuously; give the observed events (data = 'file.root:tree')"
        )
    k = grid.index_of(np.array([point]))[0]
    if k < 0:
        raise InputError(
            f"data_point {point_text(parameters, point)} is not one of the target's grid points: "
            f"{grid.describe(parameters)}"
        )
    return grid.points[k]


def parse_point(value, parameters: list[str]) -> np.ndarray:
    """A point as given (``{"mu": 1.5}``, ``"mu=1.5,s=2"``, or a number for one parameter) → values in order."""
    from .problem import parse_reference

    if isinstance(value, str) and len(parameters) == 1:
        try:
            value = float(value)  # "1.5" for the one parameter
        except ValueError:
            pass
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if len(parameters) != 1:
            raise InputError(f"data_point {value!r}: give a value for each of {', '.join(parameters)} ('mu=1,s=2')")
        return np.array([float(value)])
    try:
        point = parse_reference(value) if isinstance(value, (str, Mapping)) else None
    except InputError:
        point = None
    if not isinstance(point, dict):
        raise InputError(f"data_point must be a point like 'mu=1.5' (or a table), not {value!r}")
    if sorted(point) != sorted(parameters):
        raise InputError(f"data_point {value!r} must give a value for each of {', '.join(parameters)}, and only them")
    return np.array([point[p] for p in parameters])


def point_text(parameters: Sequence[str], values) -> str:
    """``"mu=1, s=2"``."""
    return ", ".join(f"{p}={float(v):g}" for p, v in zip(parameters, values, strict=True))


def _check_names(observables: list[str], parameters: list[str], weight: str | None) -> None:
    both = [n for n in parameters if n in observables]
    if both:
        raise InputError(f"{', '.join(map(repr, both))} named both as an observable and as a parameter")
    if weight is not None and weight in observables + parameters:
        raise InputError(f"the weight column '{weight}' is also named as an observable or a parameter")
    taken = [n for n in observables + parameters if n in RESERVED]
    if taken:
        raise InputError(
            f"{', '.join(map(repr, taken))} takes a name roosbi gives its own objects ({', '.join(RESERVED)})"
        )


def _events(arrays: dict, observables: list[str], weight: str | None, where: str) -> Events:
    w = arrays[weight] if weight else np.ones(len(arrays[observables[0]]))
    return Events(np.column_stack([arrays[o] for o in observables]), w, where)


def _pseudo_data(target: Events, theta: np.ndarray, grid: Grid, point: np.ndarray, n_data, rng):
    """Hold out PSEUDO_DATA_SHARE of the target events at ``point``; draw the pseudo-data from them."""
    at = np.flatnonzero(grid.index_of(theta) == grid.index_of(point[None, :])[0])
    at = at[rng.permutation(len(at))]
    n_pool = int(round(PSEUDO_DATA_SHARE * len(at)))
    if n_pool < 1:
        raise InputError(f"the grid point has only {len(at)} target events; none can be held out for pseudo-data")
    keep = np.ones(len(theta), dtype=bool)
    keep[at[:n_pool]] = False
    pool = target.subset(at[:n_pool])
    k = n_pool if n_data is None else n_data
    if not (pool.w > 0).any():
        raise InputError("the target events held out for pseudo-data have no positive weight to draw from")
    rows, how = _draw(pool, k, rng, "target")
    record = {"pool": n_pool, "events": int(k), "how": how, "held_out_share": PSEUDO_DATA_SHARE}
    log.info("pseudo-data: %d events drawn (%s) from %d target events held out at the grid point", k, how, n_pool)
    return target.subset(keep), theta[keep], pool.x[rows], record


def _no_baseline(grid: Grid | None, theta: np.ndarray) -> str:
    """Why the morphing baseline cannot be built ("" when it can)."""
    if grid is None:
        n = len(np.unique(theta, axis=0))
        return (
            f"the target's parameters are spread continuously ({n} distinct points for {len(theta)} events), not at "
            "grid points: the morphing baseline needs histograms at the points of a product grid"
        )
    if not grid.complete:
        sizes = " x ".join(str(len(a)) for a in grid.axes)
        return (
            f"the target's {len(grid.points)} grid points are not a complete product grid ({sizes} = "
            f"{math.prod(len(a) for a in grid.axes)} combinations of the parameters' values, 2+ per parameter): "
            "the morphing baseline needs a histogram at every combination"
        )
    return ""


def _grid_record(grid: Grid, parameters: list[str]) -> dict:
    return {
        "points": len(grid.points),
        "axes": {p: [float(v) for v in axis] for p, axis in zip(parameters, grid.axes, strict=True)},
        "complete": grid.complete,
        "events_per_point": [int(grid.counts.min()), int(grid.counts.max())],
    }


def _notes(prob, sources, record: dict, grid: Grid | None, no_baseline: str, n_data: int) -> list[str]:
    t = record["target"]
    weights = f", weights '{record['weight']}' summing to {t['sum_weights']:.6g}" if record["weight"] else ""
    negative = f" ({t['negative_weights']} negative)" if t["negative_weights"] else ""
    ranges = ", ".join(f"{p} in [{lo:g}, {hi:g}]" for p, (lo, hi) in record["parameter_ranges"].items())
    if grid is not None:
        where = f"at {len(grid.points)} grid points ({grid.counts.min()} to {grid.counts.max()} events each)"
    else:
        where = "at parameters spread continuously"
    notes = [
        f"Model from simulated events, no pdf: target {sources['target'].describe()} ({t['events']} events{weights}"
        f"{negative}{_sel(record['selection'])}) {where}; parameters {ranges} (the events' range: the training range "
        "and the fits' bounds). There is no analytic fit (no pdf to evaluate)"
        + (": the learned and morphed fits are compared" if not no_baseline else "")
        + (" with the pseudo-data's true value." if prob.truth else "."),
        "Observables' ranges (the smallest and largest value of every event read): "
        + ", ".join(f"{k} in [{a:.4g}, {b:.4g}]" for k, (a, b) in record["ranges"].items())
        + ".",
    ]
    if record["reference"]["kind"] == "marginal":
        notes.append(
            "Reference: the marginal, the target events with their parameters permuted across events (seeded), so "
            "x and theta are independent with the target's own distributions."
        )
    else:
        r = record["reference"]
        notes.append(f"Reference: {sources['reference'].describe()} ({r['events']} events).")
    if prob.truth:
        d = record["data"]
        notes.append(
            f"Observed data: pseudo-data at {point_text(prob.parameters, prob.truth.values())}, {d['events']} events "
            f"drawn {d['how']} from {d['pool']} target events held out there ({100 * PSEUDO_DATA_SHARE:.0f}% of the "
            "point's events), which enter neither the training nor the templates."
        )
    else:
        notes.append(f"Observed data: {sources['data'].describe()} ({n_data} events{_sel(record['selection'])}).")
    if no_baseline:
        notes.append(f"No morphing baseline: {no_baseline}.")
    return notes
