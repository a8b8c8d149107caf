"""Training samples from outside RooFit: numpy arrays, pandas, TTrees and RNTuples.

A :class:`~roosbi.data.sample.TrainingSample` is built from columns that play four roles:
observables (x), parameters (theta), the label (1 target, 0 reference) and, optionally, an event
weight and the "gold" of a simulator with latent variables (:mod:`roosbi.data.gold`): the joint log
ratio (one column) and the joint score (one column per parameter), for the augmented losses. The
columns come from

- numpy arrays or pandas columns: :func:`sample_from_arrays`, :func:`sample_from_dataframe`;
- a TTree or an RNTuple (anything ``ROOT.RDataFrame`` reads: a file path, a list of paths, a
  ``TTree``/``TChain`` or an ``RDataFrame`` node): :func:`sample_from_tree` for one source with a
  label column, :func:`sample_from_trees` for a target source and a reference source;
- a ROOT file written by :func:`~roosbi.data.sample_files.write_sample`:
  :func:`~roosbi.data.sample_files.read_sample` gives back the same sample, bit for bit.

Observed data for the fit become a ``RooDataSet`` in :mod:`roosbi.data.observed`.

Event weights are kept as given, negative ones included (NLO generators produce them): the
estimators minimise the weighted binary cross-entropy, whose minimiser is still log r(x|theta)
as long as each class's weighted density is positive. A class whose weights sum to zero or less
is refused; a warning gives the fraction of negative-weight events.

A sample may have no parameters (``parameters=[]``, ``theta`` of shape ``(n, 0)``): the classifier
then learns a ratio of two fixed distributions, such as a mixture's signal over background.

Every bad input raises :class:`~roosbi.exceptions.InputError` with a message that names the
column, the file or the tree, and what is there instead.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..exceptions import InputError
from .columns import (
    Source,
    _as_column,
    _check_distinct,
    _check_finite,
    _free_name,
    _listing,
    _matrix,
    _names,
    _quoted,
    _read_columns,
)
from .sample import TrainingSample

log = logging.getLogger(__name__)

__all__ = [
    "balance_classes",
    "sample_from_arrays",
    "sample_from_dataframe",
    "sample_from_tree",
    "sample_from_trees",
]


# --------------------------------------------------------------------------------------------
# Training samples
# --------------------------------------------------------------------------------------------


def sample_from_arrays(
    x,
    theta,
    y,
    observables: Sequence[str],
    parameters: Sequence[str],
    weights=None,
    parameter_ranges: Mapping[str, tuple[float, float]] | None = None,
    joint_log_ratio=None,
    joint_score=None,
) -> TrainingSample:
    """A training sample from arrays (numpy, pandas, or anything ``numpy.asarray`` takes).

    Parameters
    ----------
    x : array_like, shape (n, n_observables) or (n,) for one observable
        Observables. A pandas DataFrame (or a dict of columns) is read by the names in
        ``observables``, whatever its column order.
    theta : array_like, shape (n, n_parameters) or (n,) for one parameter, or None
        Parameters, read like ``x``; None (or shape (n, 0)) when there are none.
    y : array_like, shape (n,)
        Labels: 1 (or True) for target events, 0 (or False) for reference events.
    observables, parameters : sequence of str
        Names of the columns of ``x`` and ``theta``, in network input order. ``parameters`` may be
        empty: a ratio with no parameter input, such as a mixture's signal/background ratio
        (:mod:`roosbi.mixture`).
    weights : array_like, shape (n,), optional
        Event weights (1 if not given). Negative weights are kept.
    parameter_ranges : dict, optional
        Training range ``name -> (lo, hi)`` of each parameter. A parameter not named here takes the
        minimum and maximum of its values (logged).
    joint_log_ratio : array_like, shape (n,), optional
        The joint log ratio log r(x, z | theta) of each event at its theta (:mod:`roosbi.data.gold`).
    joint_score : array_like, shape (n, n_parameters) or (n,) for one parameter, optional
        The joint score of each event at its theta, one column per parameter (a DataFrame or a
        dict of columns is read by the parameters' names).

    Returns
    -------
    TrainingSample

    Raises
    ------
    InputError
        Mismatched lengths or shapes, NaN/Inf, labels other than 0/1, a class whose weights sum to
        zero or less, a parameter with a single value and no given range, a joint score whose
        width is not the number of parameters.
    """
    observables = _names(observables, "observables")
    parameters = _parameter_names(parameters)
    _check_distinct(observables + parameters)
    x = _matrix(x, observables, "x")
    theta = np.empty((len(x), 0)) if theta is None and not parameters else _matrix(theta, parameters, "theta")
    y = _as_column(y, "y", "")
    lengths = {"x": len(x), "theta": len(theta), "y": len(y)}
    if weights is not None:
        weights = _as_column(weights, "weights", "")
        lengths["weights"] = len(weights)
    if joint_log_ratio is not None:
        joint_log_ratio = _as_column(joint_log_ratio, "joint_log_ratio", "")
        lengths["joint_log_ratio"] = len(joint_log_ratio)
    if joint_score is not None:
        joint_score = _score_matrix(joint_score, parameters)
        lengths["joint_score"] = len(joint_score)
    if len(set(lengths.values())) > 1:
        rows = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise InputError(f"the arrays have different numbers of rows ({rows}); each needs one row per event")
    columns = {name: x[:, i] for i, name in enumerate(observables)}
    columns.update({name: theta[:, i] for i, name in enumerate(parameters)})
    label_key, weight_key = _free_name("y", columns), _free_name("weights", columns)
    columns[label_key] = y
    if weights is not None:
        columns[weight_key] = weights
    ratio_key, score_keys = None, None
    if joint_log_ratio is not None:
        ratio_key = _free_name("joint_log_ratio", columns)
        columns[ratio_key] = joint_log_ratio
    if joint_score is not None:
        score_keys = [_free_name(f"joint_score_{name}", columns) for name in parameters]
        columns.update({key: joint_score[:, i] for i, key in enumerate(score_keys)})
    return _make_sample(
        columns,
        observables,
        parameters,
        label_key,
        None if weights is None else weight_key,
        parameter_ranges,
        "",
        gold=(ratio_key, score_keys),
    )


def sample_from_dataframe(
    df,
    observables: Sequence[str],
    parameters: Sequence[str],
    label: str,
    weight: str | None = None,
    parameter_ranges: Mapping[str, tuple[float, float]] | None = None,
    joint_log_ratio: str | None = None,
    joint_score: Sequence[str] | None = None,
) -> TrainingSample:
    """A training sample from the columns of a pandas DataFrame (or a dict of equal-length arrays).

    Parameters
    ----------
    df : pandas.DataFrame or mapping of str to array_like
        One row per event.
    observables, parameters : sequence of str
        Column names of the observables and the parameters, in network input order.
    label : str
        Column holding 1 (or True) for target events and 0 (or False) for reference events.
    weight : str, optional
        Column holding the event weights (1 if not given). Negative weights are kept.
    parameter_ranges : dict, optional
        As in :func:`sample_from_arrays`.
    joint_log_ratio : str, optional
        Column holding the joint log ratio of each event (:mod:`roosbi.data.gold`).
    joint_score : sequence of str, optional
        Columns holding the joint score, one per parameter, in the parameters' order.

    Returns
    -------
    TrainingSample
    """
    observables = _names(observables, "observables")
    parameters = _parameter_names(parameters)
    gold = _gold_names(joint_log_ratio, joint_score, parameters)
    needed = _roles(observables, parameters, label, weight, gold)
    available = [str(c) for c in (df.columns if hasattr(df, "columns") else df)]
    missing = [c for c in needed if c not in available]
    if missing:
        raise InputError(
            f"the DataFrame has no column {_quoted(missing)}; it has: {_listing(available)}",
        )
    where = " of the DataFrame"
    columns = {name: _as_column(df[name], name, where) for name in needed}
    return _make_sample(columns, observables, parameters, label, weight, parameter_ranges, where, gold=gold)


def sample_from_tree(
    source: Source,
    observables: Sequence[str],
    parameters: Sequence[str],
    label: str,
    weight: str | None = None,
    tree: str | None = None,
    parameter_ranges: Mapping[str, tuple[float, float]] | None = None,
    selection: str | None = None,
    joint_log_ratio: str | None = None,
    joint_score: Sequence[str] | None = None,
) -> TrainingSample:
    """A training sample from one TTree or RNTuple whose label column tells target from reference.

    Parameters
    ----------
    source : str, path, list of paths, TTree or RDataFrame
        A ROOT file (or several, chained), a ``TTree``/``TChain``, or an ``RDataFrame`` node (with
        its ``Define``s and ``Filter``s; this is also how to read an RNTuple from a non-file source).
    observables, parameters : sequence of str
        Branch (column) names of the observables and the parameters, in network input order.
    label : str
        Branch holding 1 (or true) for target events, 0 (or false) for reference events.
    weight : str, optional
        Branch holding the event weights (1 if not given). Negative weights are kept.
    tree : str, optional
        Name of the TTree or RNTuple in the file(s), ``"dir/name"`` inside a directory; needed
        only when a file holds more than one. Ignored for TTree and RDataFrame sources.
    parameter_ranges : dict, optional
        As in :func:`sample_from_arrays`.
    selection : str, optional
        An ``RDataFrame.Filter`` expression; only events that pass are read.
    joint_log_ratio : str, optional
        Branch holding the joint log ratio of each event (:mod:`roosbi.data.gold`).
    joint_score : sequence of str, optional
        Branches holding the joint score, one per parameter, in the parameters' order.

    Returns
    -------
    TrainingSample

    Notes
    -----
    With ``ROOT.EnableImplicitMT()`` the order of the events read is not fixed (the events are).
    """
    observables = _names(observables, "observables")
    parameters = _parameter_names(parameters)
    gold = _gold_names(joint_log_ratio, joint_score, parameters)
    needed = _roles(observables, parameters, label, weight, gold)
    columns, where = _read_columns(source, needed, tree, selection)
    return _make_sample(columns, observables, parameters, label, weight, parameter_ranges, where, gold=gold)


def sample_from_trees(
    target: Source,
    reference: Source,
    observables: Sequence[str],
    parameters: Sequence[str],
    weight: str | None = None,
    tree: str | None = None,
    reference_tree: str | None = None,
    parameter_ranges: Mapping[str, tuple[float, float]] | None = None,
    selection: str | None = None,
    seed: int = 0,
    joint_log_ratio: str | None = None,
    joint_score: Sequence[str] | None = None,
) -> TrainingSample:
    """A training sample from a target source (label 1) and a reference source (label 0).

    The target needs the observable and parameter branches. The reference needs the observable
    branches, and either all parameter branches or none: without them, each reference event is
    given the parameter values of a target event drawn at random (every target event once before
    any twice), so that both classes have the same parameter distribution, as in
    :func:`~roosbi.data.simulate.simulate`.

    Parameters
    ----------
    target, reference : str, path, list of paths, TTree or RDataFrame
        As ``source`` in :func:`sample_from_tree`.
    observables, parameters : sequence of str
        Branch names, in network input order. ``parameters`` may be empty (``[]``): a ratio with no
        parameter input, e.g. signal (target) against background (reference) for a mixture's
        signal strength (:mod:`roosbi.mixture`, ``roosbi run --signal ... --background ...``).
    weight : str, optional
        Branch holding the event weights, in both sources (1 if not given). A source without
        weights can be given one with ``RDataFrame.Define(weight, "1.0")``.
    tree : str, optional
        Name of the TTree or RNTuple in the target file(s).
    reference_tree : str, optional
        Name of the TTree or RNTuple in the reference file(s); defaults to ``tree``.
    parameter_ranges : dict, optional
        As in :func:`sample_from_arrays`.
    selection : str, optional
        An ``RDataFrame.Filter`` expression applied to both sources.
    seed : int
        Seeds the draw of parameter values for a reference without parameter branches.
    joint_log_ratio : str, optional
        Branch holding the joint log ratio (:mod:`roosbi.data.gold`), in both sources. The reference then
        needs its parameter branches: the gold is taken at each event's parameters.
    joint_score : sequence of str, optional
        Branches holding the joint score, one per parameter, in both sources (as ``joint_log_ratio``).

    Returns
    -------
    TrainingSample
        Target events first, then reference events.
    """
    observables = _names(observables, "observables")
    parameters = _parameter_names(parameters)
    gold = _gold_names(joint_log_ratio, joint_score, parameters)
    needed = _roles(observables, parameters, None, weight, gold)
    target_cols, target_where = _read_columns(target, needed, tree, selection)
    ref_needed = [c for c in needed if c not in parameters]
    ref_tree = tree if reference_tree is None else reference_tree
    ref_cols, ref_where = _read_columns(reference, ref_needed, ref_tree, selection, optional=parameters)
    n_target, n_ref = len(target_cols[observables[0]]), len(ref_cols[observables[0]])
    for n, what, where in ((n_target, "target", target_where), (n_ref, "reference", ref_where)):
        if n == 0:
            passing = " that pass the selection" if selection else ""
            raise InputError(f"the {what} ({where.strip()}) holds no events{passing}")
    _check_finite(target_cols, target_where)
    _check_finite(ref_cols, ref_where)
    present = [p for p in parameters if p in ref_cols]
    if present and len(present) < len(parameters):
        absent = [p for p in parameters if p not in ref_cols]
        raise InputError(
            f"the reference{ref_where} has parameter branch {_quoted(present)} but not {_quoted(absent)}; "
            "give it all parameter branches, or none (then each reference event takes the parameters "
            "of a random target event)"
        )
    if not present and parameters:
        if gold[0] is not None or gold[1] is not None:
            raise InputError(
                f"the reference{ref_where} has no parameter branches, so its events would take the parameters of "
                "random target events, but its joint log ratio and score hold values at parameters of their own: "
                f"give the reference its parameter branches ({_quoted(parameters)}), or leave the gold out"
            )
        rng = np.random.default_rng(seed)
        rounds = -(-n_ref // n_target)
        rows = np.concatenate([rng.permutation(n_target) for _ in range(rounds)])[:n_ref]
        for p in parameters:
            ref_cols[p] = target_cols[p][rows]
        log.info("the reference has no parameter branches: its %d events take the parameters of target events", n_ref)
    columns = {name: np.concatenate([target_cols[name], ref_cols[name]]) for name in needed}
    label_key = _free_name("label", needed)
    columns[label_key] = np.concatenate([np.ones(n_target), np.zeros(n_ref)])
    log.info("read %d target events%s and %d reference events%s", n_target, target_where, n_ref, ref_where)
    return _make_sample(columns, observables, parameters, label_key, weight, parameter_ranges, "", gold=gold)


def balance_classes(sample: TrainingSample) -> TrainingSample:
    """A copy of ``sample`` whose reference weights are scaled to sum to the target weights.

    The weighted cross-entropy's minimiser is log r(x|theta) + log(W1 / W0), with W1 and W0 the
    summed target and reference weights. A constant offset does not move a fit with
    ``learned_pdf`` (which normalises), but it does shift ``learned_ratio``'s output; balancing
    removes it.
    """
    w = sample.weights.copy()
    ref = sample.y == 0
    w_target, w_ref = w[~ref].sum(), w[ref].sum()
    if not (w_target > 0 and w_ref > 0):
        raise InputError(f"class weights sum to {w_target:g} (target) and {w_ref:g} (reference); both must be positive")
    w[ref] *= w_target / w_ref
    return dataclasses.replace(sample, weights=w)


# --------------------------------------------------------------------------------------------
# Assembling and checking a sample
# --------------------------------------------------------------------------------------------


def _make_sample(
    columns: dict[str, np.ndarray],
    observables: list[str],
    parameters: list[str],
    label: str,
    weight: str | None,
    parameter_ranges: Mapping[str, tuple[float, float]] | None,
    where: str,
    gold: tuple[str | None, list[str] | None] = (None, None),
    reference: str = "sample",
    reference_uniform: bool = False,
) -> TrainingSample:
    """Check named columns and assemble the sample (every roosbi sample constructor ends here).

    ``gold`` names the joint log ratio column and the joint score columns (one per parameter), or None.
    """
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        rows = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise InputError(f"the columns{where} have different lengths ({rows}); each needs one entry per event")
    _check_finite(columns, where)
    y = columns[label]
    _check_labels(y, label, where)
    w = np.ones(len(y)) if weight is None else columns[weight]
    _check_weights(y, w, where)
    theta = np.column_stack([columns[p] for p in parameters]) if parameters else np.empty((len(y), 0))
    ranges = _parameter_ranges(theta, parameters, parameter_ranges, where)
    ratio, score = gold
    sample = TrainingSample(
        x=np.column_stack([columns[o] for o in observables]),
        theta=theta,
        y=y,
        observables=list(observables),
        parameters=list(parameters),
        parameter_ranges=ranges,
        weights=None if weight is None else w,
        reference=reference,
        reference_uniform=reference_uniform,
        joint_log_ratio=None if ratio is None else columns[ratio],
        joint_score=None if score is None else np.column_stack([columns[c] for c in score]),
    )
    log.info(
        "training sample: %d target and %d reference events%s",
        int((sample.y == 1).sum()),
        int((sample.y == 0).sum()),
        where,
    )
    return sample


def _check_labels(y: np.ndarray, label: str, where: str) -> None:
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        values = np.unique(y[bad])
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise InputError(
            f"label column '{label}'{where} must hold 1 (target) or 0 (reference); {int(bad.sum())} event(s) "
            f"hold {shown}, first in row {int(np.flatnonzero(bad)[0])}"
        )
    for value, what in ((1.0, "target (label 1)"), (0.0, "reference (label 0)")):
        if not (y == value).any():
            raise InputError(f"there are no {what} events{where}; a training sample needs both classes")


def _check_weights(y: np.ndarray, w: np.ndarray, where: str) -> None:
    sums = {}
    for value, what in ((1.0, "target (label 1)"), (0.0, "reference (label 0)")):
        wc = w[y == value]
        sums[value] = float(wc.sum())
        if not sums[value] > 0:
            raise InputError(
                f"the weights of the {what} events{where} sum to {sums[value]:g} ({len(wc)} events, "
                f"{int((wc < 0).sum())} with negative weight); each class's weights must sum to a positive "
                "number, or it has no density to learn"
            )
    negative = w < 0
    if negative.any():
        log.warning(
            "%d of %d events (%.2f%%)%s have negative weights; they are kept. The weighted cross-entropy "
            "still estimates log r as long as each class's weighted density is positive, but a large "
            "negative fraction makes training noisy",
            int(negative.sum()),
            len(w),
            100.0 * negative.mean(),
            where,
        )
    offset = math.log(sums[1.0] / sums[0.0])
    if abs(offset) > 0.01:
        log.info(
            "target and reference weights sum to %g and %g: the learned log r is offset by %.4g "
            "(learned_pdf's normalisation removes it; balance_classes(sample) does too)",
            sums[1.0],
            sums[0.0],
            offset,
        )


def _parameter_ranges(
    theta: np.ndarray,
    parameters: list[str],
    given: Mapping[str, tuple[float, float]] | None,
    where: str,
) -> dict[str, tuple[float, float]]:
    given = dict(given or {})
    unknown = [name for name in given if name not in parameters]
    if unknown:
        raise InputError(
            f"parameter_ranges names {_quoted(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not among "
            f"the parameters ({', '.join(parameters)})"
        )
    ranges, derived = {}, []
    for i, name in enumerate(parameters):
        col = theta[:, i]
        if name in given:
            try:
                lo, hi = (float(v) for v in given[name])
            except (TypeError, ValueError):
                raise InputError(f"parameter_ranges['{name}'] must be a pair (lo, hi), not {given[name]!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise InputError(f"parameter_ranges['{name}'] = ({lo:g}, {hi:g}) must be finite with lo < hi")
            outside = int(((col < lo) | (col > hi)).sum())
            if outside:
                log.warning(
                    "%d of %d events%s have %s outside its given range [%g, %g]",
                    outside,
                    len(col),
                    where,
                    name,
                    lo,
                    hi,
                )
        else:
            lo, hi = float(col.min()), float(col.max())
            if not lo < hi:
                raise InputError(
                    f"parameter '{name}' takes the single value {lo:g} in every event{where}, so it has no "
                    f"range to learn over; pass parameter_ranges={{'{name}': (lo, hi)}} or leave it out"
                )
            derived.append(f"{name} in [{lo:g}, {hi:g}]")
        ranges[name] = (lo, hi)
    if derived:
        log.info("parameter ranges from the sample's minimum and maximum: %s", "; ".join(derived))
    return ranges


def _parameter_names(parameters) -> list[str]:
    """The parameters' names; none (an empty list, or None) for a ratio with no parameter input."""
    if parameters is None:
        return []
    if isinstance(parameters, str):
        return [parameters]
    return [str(n) for n in parameters]


def _roles(
    observables: list[str],
    parameters: list[str],
    label: str | None,
    weight: str | None,
    gold: tuple[str | None, list[str] | None] = (None, None),
) -> list[str]:
    """All column names, each once; a name with two roles is an error."""
    ratio, score = gold
    names = observables + parameters + [n for n in (label, weight, ratio) if n is not None] + list(score or [])
    _check_distinct(names)
    return names


def _gold_names(
    joint_log_ratio: str | None, joint_score: Sequence[str] | None, parameters: list[str]
) -> tuple[str | None, list[str] | None]:
    """The names of the gold columns, checked: a joint score names one column per parameter."""
    if joint_log_ratio is not None and not isinstance(joint_log_ratio, str):
        raise InputError(f"joint_log_ratio names one column, not {joint_log_ratio!r}")
    if joint_score is None:
        return joint_log_ratio, None
    score = [joint_score] if isinstance(joint_score, str) else [str(name) for name in joint_score]
    if len(score) != len(parameters):
        raise InputError(
            f"joint_score names {len(score)} column(s) ({_quoted(score)}) but there are {len(parameters)} parameters "
            f"({', '.join(parameters)}): name one joint score column per parameter, in the parameters' order"
        )
    return joint_log_ratio, score


def _score_matrix(values, parameters: list[str]) -> np.ndarray:
    """The joint score as an (n, n_parameters) array: one column per parameter."""
    if hasattr(values, "columns") or isinstance(values, Mapping):
        return _matrix(values, parameters, "joint_score")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"joint_score is not a numeric array: {err}") from None
    if arr.ndim == 1 and len(parameters) == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != len(parameters):
        raise InputError(
            f"joint_score has shape {arr.shape}; it needs one row per event and one column per parameter "
            f"({', '.join(parameters)}): shape (n, {len(parameters)})"
        )
    return arr
