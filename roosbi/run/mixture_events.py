"""The events of a mixture study from sample files, and the RooWorkspace built from them.

:func:`mixture_from_samples` reads the signal, background and data sources
(:mod:`~roosbi.run.sources`), checks the classes' weights, sets the observables' ranges from all
events read, builds the workspace (observables, the POI, the yields) and, without data, draws
pseudo-data from events held out of everything else.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..stats.pools import draw_rows, store_pools
from .sources import EventSource, parse_source, read_events

log = logging.getLogger(__name__)

#: Share of each class held out of everything when pseudo-data are drawn (no ``data`` given).
PSEUDO_DATA_SHARE = 0.25
#: The signal strength's range when the study gives none.
DEFAULT_POI_RANGE = (0.0, 5.0)
#: Names the study gives its own RooFit objects; an observable or the POI may not take one.
_RESERVED = ("n_signal", "n_background", "score", "learned_pdf", "learned_ratio", "template_pdf", "obs_data")


@dataclass
class Events:
    """The events of one class: observables (n, d) and weights (n,)."""

    x: np.ndarray
    w: np.ndarray
    where: str = ""

    def __len__(self) -> int:
        return len(self.w)

    def subset(self, rows) -> Events:
        """The events ``rows`` (indices or a mask)."""
        return Events(self.x[rows], self.w[rows], self.where)

    @property
    def weighted(self) -> bool:
        """True unless every event has the same weight."""
        return bool(len(self.w) and not np.all(self.w == self.w[0]))


@dataclass
class SampleProblem:
    """A mixture read from files: the workspace and names the fits and the pipeline's stages use.

    Duck-types what :func:`roosbi.demo.run._fit_all` and :func:`roosbi.demo.methods.learn` read
    of a :class:`~roosbi.data.problems.Problem` (there is no target pdf to name).
    """

    name: str
    workspace: object
    observables: list[str]
    parameters: list[str]
    observed_data: str
    truth: dict[str, float] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)

    def var(self, name: str):
        """A variable of the workspace, with a clear error for unknown names."""
        var = self.workspace.var(name)
        if not var:
            raise InputError(f"no variable named '{name}' in workspace '{self.workspace.GetName()}'")
        return var

    def data(self):
        """The observed dataset."""
        return self.workspace.data(self.observed_data)


@dataclass
class MixtureSamples:
    """What :func:`mixture_from_samples` read and built: the problem, the training events, the record."""

    problem: SampleProblem
    signal: Events  # for training, calibration and the templates (the pseudo-data's pool removed)
    background: Events
    source: dict
    notes: list[str]


def mixture_from_samples(
    signal,
    background,
    observables: Sequence[str] | str,
    n_signal: float,
    n_background: float,
    data=None,
    weight: str | None = None,
    selection: str | None = None,
    poi: str = "mu",
    poi_range: Sequence[float] = DEFAULT_POI_RANGE,
    mu_observed: float = 1.0,
    seed: int = 1,
    name: str | None = None,
) -> MixtureSamples:
    """Read signal, background and observed events into a workspace for a mixture study.

    Parameters
    ----------
    signal, background : str or list of str
        ``"file.root:tree"`` (``:tree`` optional when the file holds one TTree or RNTuple), a
        table file, or a list of files of one kind (:func:`parse_source`).
    observables : list of str, or str
        Columns of every source, in the network's input order.
    n_signal, n_background : float
        S, the expected signal events at POI = 1, and B, the expected background events.
    data : str or list of str, optional
        The observed events (no weight column is read from them). None: pseudo-data drawn at
        ``mu_observed`` from :data:`PSEUDO_DATA_SHARE` of each class, held out of everything else.
    weight : str, optional
        The event-weight column of the signal and background sources.
    selection : str, optional
        ``RDataFrame.Filter`` (ROOT files) or ``DataFrame.query`` (tables) expression applied to
        every source.
    poi : str
        The signal strength's name.
    poi_range : (float, float)
        Its range: the fits' bounds (they start in its middle).
    mu_observed : float
        The pseudo-data's true signal strength (only without ``data``), inside ``poi_range``.
    seed : int
        Seeds the pseudo-data's pool and draw.
    name : str, optional
        The study's name in reports (default: the signal file's name without its suffix).

    Returns
    -------
    MixtureSamples

    Raises
    ------
    InputError
        Any bad name, file, tree, column, selection, weight total, yield or range, naming it.
    """
    from ..data.observed import observed_data_from_arrays
    from ..library import import_root
    from .problem import name_list

    observables = name_list(observables, "observables")
    yields = {"n_signal": _positive(n_signal, "n_signal"), "n_background": _positive(n_background, "n_background")}
    poi, lo, hi = check_poi(poi, poi_range, observables)
    if data is None and not lo <= mu_observed <= hi:
        raise InputError(f"mu_observed = {mu_observed:g} is outside the range of '{poi}', [{lo:g}, {hi:g}]")
    if weight is not None and weight in observables:
        raise InputError(f"the weight column '{weight}' is also named as an observable")
    sources = {"signal": parse_source(signal, "signal"), "background": parse_source(background, "background")}
    if data is not None:
        sources["data"] = parse_source(data, "data")

    events, wheres = {}, {}
    for role in ("signal", "background"):
        columns = observables + ([weight] if weight else [])
        arrays, where = read_events(sources[role], columns, selection)
        w = arrays[weight] if weight else np.ones(len(arrays[observables[0]]))
        events[role] = Events(np.column_stack([arrays[o] for o in observables]), w, where)
        wheres[role] = where
        _check_class_weights(events[role], role, weight, selection)
    x_data = None
    if data is not None:
        arrays, wheres["data"] = read_events(sources["data"], observables, selection)
        x_data = np.column_stack([arrays[o] for o in observables])

    ROOT = import_root()
    ws = ROOT.RooWorkspace("roosbi_samples", "mixture from simulated events")
    ROOT.SetOwnership(ws, False)  # as the built-in problems: RooFit objects point into it until exit
    ranges = _ranges(
        observables, [events["signal"].x, events["background"].x] + ([x_data] if x_data is not None else [])
    )
    obs_vars = []
    for obs in observables:
        var = ROOT.RooRealVar(obs, obs, *ranges[obs])
        ws.Import(var, Silence=True)
        obs_vars.append(ws.var(obs))
    ws.Import(ROOT.RooRealVar(poi, "signal strength", 1.0 if lo <= 1.0 <= hi else 0.5 * (lo + hi), lo, hi))
    for key, value in yields.items():
        ws.Import(ROOT.RooRealVar(key, f"{key} (expected events at {poi} = 1)" if key == "n_signal" else key, value))
        ws.var(key).setConstant(True)

    truth, notes = {}, []
    pool_record: dict = {}
    read = {role: _weight_record(events[role]) for role in ("signal", "background")}  # before any is held out
    if x_data is None:
        events, x_data, pool_record, pools = _pseudo_data(events, yields, mu_observed, seed)
        truth = {poi: float(mu_observed)}
        # The held-out events stay in the workspace: roosbi validate draws its toys from them.
        store_pools(ws, {role: (pool.x, pool.w) for role, pool in pools.items()}, obs_vars, poi)
    dataset = observed_data_from_arrays(x_data, obs_vars, name="obs_data")
    ws.Import(dataset, Silence=True)
    _check_training_events(events)

    prob = SampleProblem(
        name=name or _default_name(sources),
        workspace=ws,
        observables=observables,
        parameters=[poi],
        observed_data="obs_data",
        truth=truth,
        components={"n_signal": "n_signal", "n_background": "n_background"},
    )
    record = {
        "kind": "mixture from samples",
        "observables": observables,
        "ranges": {k: list(v) for k, v in ranges.items()},
        "weight": weight,
        "selection": selection,
        "poi": poi,
        "poi_range": [lo, hi],
        **yields,
    }
    for role in ("signal", "background"):
        record[role] = {**_source_record(sources[role]), **read[role]}
    if data is not None:
        record["data"] = {**_source_record(sources["data"]), "events": int(dataset.numEntries())}
    else:
        record["data"] = {"pseudo_data": True, "mu_observed": float(mu_observed), **pool_record}
    notes.append(_model_note(prob, sources, record))
    notes.append(
        "Observables' ranges (the smallest and largest value of every event read): "
        + ", ".join(f"{k} in [{a:.4g}, {b:.4g}]" for k, (a, b) in ranges.items())
        + ". The learned mixture pdf is self-normalised, so the ranges do not enter its NLL."
    )
    if data is None:
        notes.append(_pseudo_data_note(poi, mu_observed, pool_record))
    else:
        notes.append(f"Observed data: {sources['data'].describe()} ({dataset.numEntries()} events{_sel(selection)}).")
    return MixtureSamples(prob, events["signal"], events["background"], record, notes)


def check_poi(poi, poi_range, observables: Sequence[str]) -> tuple[str, float, float]:
    """The POI's name and range, checked: an identifier not taken by an observable, lo < hi finite."""
    from .problem import string_value

    poi = string_value(poi, "poi")
    if poi in observables:
        raise InputError(f"the POI '{poi}' is also named as an observable")
    if poi in _RESERVED:
        raise InputError(f"the POI may not be called '{poi}': roosbi names one of its own objects so")
    try:
        lo, hi = (float(v) for v in poi_range)
    except (TypeError, ValueError):
        raise InputError(f"poi_range must be two numbers [lo, hi], not {poi_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"poi_range [{lo:g}, {hi:g}] must be finite with lo < hi")
    if lo > 0 or hi <= 0:
        log.warning("the range of '%s', [%g, %g], does not hold 0 (background only)", poi, lo, hi)
    taken = [o for o in observables if o in _RESERVED]
    if taken:
        raise InputError(f"observable {', '.join(map(repr, taken))} takes a name roosbi gives its own objects")
    return poi, lo, hi


def _positive(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{key} (an expected number of events) must be a number, not {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{key} (an expected number of events) must be positive and finite, not {value!r}")
    return float(value)


def _sel(selection: str | None) -> str:
    return f" after the selection {selection!r}" if selection else ""


def _check_class_weights(events: Events, role: str, weight: str | None, selection: str | None) -> None:
    total = float(events.w.sum())
    if not total > 0:
        raise InputError(
            f"the {role} events' weights ('{weight}'{events.where}) sum to {total:g} ({len(events)} events"
            f"{_sel(selection)}, {int((events.w < 0).sum())} with negative weight); a class needs a positive total "
            "weight to have a distribution to learn and a template"
        )
    negative = events.w < 0
    if negative.any():
        log.warning(
            "%d of %d %s events (%.2f%%) have negative weights; they are kept (training, calibration, templates)",
            int(negative.sum()),
            len(events),
            role,
            100.0 * negative.mean(),
        )


def _check_training_events(events: dict[str, Events]) -> None:
    from ..demo.settings import MIN_N_TRAIN

    for role, ev in events.items():
        if len(ev) < MIN_N_TRAIN:
            raise InputError(
                f"only {len(ev)} {role} events are left for training and calibration; at least {MIN_N_TRAIN} are "
                "needed (loosen the selection, add files, or give the observed data so none are held out for "
                "pseudo-data)"
            )


def _ranges(observables: list[str], blocks: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    """Each observable's [min, max] over every event, widened by a hair so the extremes lie inside."""
    stacked = np.vstack(blocks)
    ranges = {}
    for i, name in enumerate(observables):
        lo, hi = float(stacked[:, i].min()), float(stacked[:, i].max())
        if not lo < hi:
            raise InputError(
                f"the observable '{name}' takes the single value {lo:g} in every event; it carries no information"
            )
        pad = 1e-9 * (hi - lo) + 1e-12 * max(abs(lo), abs(hi))
        ranges[name] = (lo - pad, hi + pad)
    return ranges


def _pseudo_data(events: dict[str, Events], yields: dict[str, float], mu: float, seed: int):
    """Hold out :data:`PSEUDO_DATA_SHARE` of each class and draw the pseudo-data from it.

    Returns the events left for training, the pseudo-data's x, a record of the draw, and the held-out
    events of each class.
    """
    rng = np.random.default_rng(seed)
    expected = {"signal": mu * yields["n_signal"], "background": yields["n_background"]}
    left, drawn, record, pools = {}, [], {"held_out_share": PSEUDO_DATA_SHARE}, {}
    for role in ("signal", "background"):
        ev = events[role]
        order = rng.permutation(len(ev))
        n_pool = int(round(PSEUDO_DATA_SHARE * len(ev)))
        pool, left[role] = ev.subset(order[:n_pool]), ev.subset(order[n_pool:])
        pools[role] = pool
        k = int(rng.poisson(expected[role])) if expected[role] > 0 else 0
        if k and not (pool.w > 0).any():
            raise InputError(f"the {role} events held out for pseudo-data have no positive weight to draw from")
        rows, how = _draw(pool, k, rng, role)
        drawn.append(pool.x[rows])
        record[role] = {"pool": n_pool, "drawn": k, "how": how}
    x = np.vstack(drawn)
    x = x[rng.permutation(len(x))]
    record["events"] = len(x)
    log.info(
        "pseudo-data at mu = %g: %d signal + %d background events drawn from the held-out %.0f%%",
        mu,
        record["signal"]["drawn"],
        record["background"]["drawn"],
        100 * PSEUDO_DATA_SHARE,
    )
    return left, x, record, pools


def _draw(pool: Events, k: int, rng, role: str) -> tuple[np.ndarray, str]:
    """Rows of ``k`` events drawn from ``pool``: without replacement if unweighted and enough, else by weight."""
    if k == 0:
        return np.empty(0, dtype=int), "none"
    if not pool.weighted and pool.w[0] > 0 and k <= len(pool):
        return draw_rows(pool.w, k, rng, weighted=False), "without replacement"
    negative = pool.w < 0
    if negative.any():
        log.warning(
            "%s pseudo-data: %d of %d held-out events have negative weights (%.1f%% of the summed |weight|) and "
            "cannot be drawn; the pseudo-data follow the positive weights only",
            role,
            int(negative.sum()),
            len(pool),
            100.0 * np.abs(pool.w[negative]).sum() / np.abs(pool.w).sum(),
        )
    if k > len(pool) and not pool.weighted:
        log.warning("%s pseudo-data: %d events drawn from %d held out, so some repeat", role, k, len(pool))
    return draw_rows(pool.w, k, rng, weighted=True), "with replacement, by weight"


def _source_record(source: EventSource) -> dict:
    return {"files": [str(Path(p).resolve()) if "://" not in p else p for p in source.paths], "tree": source.tree}


def _weight_record(events: Events) -> dict:
    return {
        "events": len(events),
        "sum_weights": float(events.w.sum()),
        "negative_weights": int((events.w < 0).sum()),
    }


def _default_name(sources: dict[str, EventSource]) -> str:
    signal, background = (Path(sources[r].paths[0]).stem for r in ("signal", "background"))
    return signal if signal == background else f"{signal} vs {background}"


def _model_note(prob: SampleProblem, sources: dict[str, EventSource], record: dict) -> str:
    parts = []
    for role in ("signal", "background"):
        r = record[role]
        weights = f", weights '{record['weight']}' summing to {r['sum_weights']:.6g}" if record["weight"] else ""
        negative = f" ({r['negative_weights']} negative)" if r["negative_weights"] else ""
        parts.append(f"{role} {sources[role].describe()} ({r['events']} events{weights}{negative})")
    return (
        f"Model from simulated events, no pdf: {'; '.join(parts)}{_sel(record['selection'])}. Expected yields at "
        f"{prob.parameters[0]} = 1: S = {record['n_signal']:g}, B = {record['n_background']:g}. There is no analytic "
        "fit (no pdf to evaluate): the learned and template fits are compared with each other"
        + (" and with the pseudo-data's true value." if prob.truth else ".")
    )


def _pseudo_data_note(poi: str, mu: float, record: dict) -> str:
    s, b = record["signal"], record["background"]
    return (
        f"Observed data: pseudo-data at {poi} = {mu:g}, {s['drawn']} signal + {b['drawn']} background events "
        f"(Poisson around mu S and B) drawn {b['how']} from {100 * PSEUDO_DATA_SHARE:.0f}% of each class "
        f"({s['pool']} signal, {b['pool']} background events) held out of the training, the calibration and the "
        "templates."
    )
