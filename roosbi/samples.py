"""Training samples and observed data from outside RooFit: ROOT files, numpy arrays, pandas.

A :class:`~roosbi.simulate.TrainingSample` is built from columns that play four roles:
observables (x), parameters (theta), the label (1 target, 0 reference) and, optionally, an event
weight and the "gold" of a simulator with latent variables (:mod:`roosbi.gold`): the joint log
ratio (one column) and the joint score (one column per parameter), for the augmented losses. The
columns come from

- numpy arrays or pandas columns: :func:`sample_from_arrays`, :func:`sample_from_dataframe`;
- a TTree or an RNTuple (anything ``ROOT.RDataFrame`` reads: a file path, a list of paths, a
  ``TTree``/``TChain`` or an ``RDataFrame`` node): :func:`sample_from_tree` for one source with a
  label column, :func:`sample_from_trees` for a target source and a reference source;
- a ROOT file written by :func:`write_sample`: :func:`read_sample` gives back the same sample,
  bit for bit (names, roles, parameter ranges, the reference and the gold columns are stored
  beside the tree as JSON; gold branches are ``joint_log_ratio`` and ``joint_score_<parameter>``).

Observed data for the fit become a ``RooDataSet`` with :func:`observed_data_from_tree` and
:func:`observed_data_from_arrays`.

Event weights are kept as given, negative ones included (NLO generators produce them): the
estimators minimise the weighted binary cross-entropy, whose minimiser is still log r(x|theta)
as long as each class's weighted density is positive. A class whose weights sum to zero or less
is refused; a warning gives the fraction of negative-weight events.

Every bad input raises :class:`~roosbi.exceptions.InputError` with a message that names the
column, the file or the tree, and what is there instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .checks import check_root_file, require_object
from .exceptions import InputError
from .library import import_root
from .onnx import atomic_path
from .simulate import TrainingSample

log = logging.getLogger(__name__)

__all__ = [
    "balance_classes",
    "observed_data_from_arrays",
    "observed_data_from_tree",
    "read_sample",
    "sample_from_arrays",
    "sample_from_dataframe",
    "sample_from_tree",
    "sample_from_trees",
    "write_sample",
]

#: Identifies the JSON record that :func:`write_sample` stores beside the tree.
SAMPLE_FORMAT = "roosbi.sample"
#: Version 2 adds the gold columns. A sample without them is written as version 1, which older
#: roosbi reads; one with them as version 2, which older roosbi refuses instead of dropping the gold.
SAMPLE_FORMAT_VERSION = 2
_META_SUFFIX = "_info"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Source = Any  # a path, a list of paths, a TTree/TChain or an RDataFrame node


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
    theta : array_like, shape (n, n_parameters) or (n,) for one parameter
        Parameters, read like ``x``.
    y : array_like, shape (n,)
        Labels: 1 (or True) for target events, 0 (or False) for reference events.
    observables, parameters : sequence of str
        Names of the columns of ``x`` and ``theta``, in network input order.
    weights : array_like, shape (n,), optional
        Event weights (1 if not given). Negative weights are kept.
    parameter_ranges : dict, optional
        Training range ``name -> (lo, hi)`` of each parameter. A parameter not named here takes the
        minimum and maximum of its values (logged).
    joint_log_ratio : array_like, shape (n,), optional
        The joint log ratio log r(x, z | theta) of each event at its theta (:mod:`roosbi.gold`).
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
    parameters = _names(parameters, "parameters")
    _check_distinct(observables + parameters)
    x = _matrix(x, observables, "x")
    theta = _matrix(theta, parameters, "theta")
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
        Column holding the joint log ratio of each event (:mod:`roosbi.gold`).
    joint_score : sequence of str, optional
        Columns holding the joint score, one per parameter, in the parameters' order.

    Returns
    -------
    TrainingSample
    """
    observables = _names(observables, "observables")
    parameters = _names(parameters, "parameters")
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
        Branch holding the joint log ratio of each event (:mod:`roosbi.gold`).
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
    parameters = _names(parameters, "parameters")
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
    :func:`~roosbi.simulate.simulate`.

    Parameters
    ----------
    target, reference : str, path, list of paths, TTree or RDataFrame
        As ``source`` in :func:`sample_from_tree`.
    observables, parameters : sequence of str
        Branch names, in network input order.
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
        Branch holding the joint log ratio (:mod:`roosbi.gold`), in both sources. The reference then
        needs its parameter branches: the gold is taken at each event's parameters.
    joint_score : sequence of str, optional
        Branches holding the joint score, one per parameter, in both sources (as ``joint_log_ratio``).

    Returns
    -------
    TrainingSample
        Target events first, then reference events.
    """
    observables = _names(observables, "observables")
    parameters = _names(parameters, "parameters")
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
    if not present:
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
# ROOT files
# --------------------------------------------------------------------------------------------


def write_sample(sample: TrainingSample, path: str | os.PathLike, tree: str = "roosbi_sample") -> Path:
    """Write a training sample to a ROOT file, atomically.

    The file holds one TTree with a ``double`` branch per observable and per parameter, ``label``
    (``int``: 1 target, 0 reference) and ``weight`` (``double``), and a ``TNamed``
    ``<tree>_info`` whose title is a JSON record of the roles of the branches, the names in
    network input order, the parameter ranges and the reference. A sample with gold adds
    ``joint_log_ratio`` and ``joint_score_<parameter>`` branches (``double``). (If an observable
    or a parameter already has one of these names, or ``label`` or ``weight``, the branch is
    prefixed ``roosbi_``; the record says so.) The file is written to a temporary file in the
    same directory and renamed into place, so ``path`` holds either its old content or the whole
    new sample.

    Parameters
    ----------
    sample : TrainingSample
        The sample to write.
    path : str or path
        The ROOT file to write (replaced if it exists).
    tree : str
        Name of the TTree.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(sample, TrainingSample):
        raise InputError(f"write_sample takes a TrainingSample, not {type(sample).__name__}")
    names = sample.observables + sample.parameters
    _check_distinct(names)
    for name in [*names, tree]:
        if not _IDENTIFIER.match(str(name)):
            raise InputError(
                f"{name!r} cannot name a branch or tree in a file that RDataFrame reads back; "
                "use letters, digits and underscores, not starting with a digit"
            )
    label_branch = _free_name("label", names)
    weight_branch = _free_name("weight", names)
    taken = [*names, label_branch, weight_branch]
    ratio_branch = None if sample.joint_log_ratio is None else _free_name("joint_log_ratio", taken)
    score_branches = None
    if sample.joint_score is not None:
        score_branches = [_free_name(f"joint_score_{name}", [*taken, ratio_branch]) for name in sample.parameters]
    has_gold = ratio_branch is not None or score_branches is not None
    record = {
        "format": SAMPLE_FORMAT,
        "version": SAMPLE_FORMAT_VERSION if has_gold else 1,
        "observables": list(sample.observables),
        "parameters": list(sample.parameters),
        "parameter_ranges": {name: [float(lo), float(hi)] for name, (lo, hi) in sample.parameter_ranges.items()},
        "label": label_branch,
        "weight": weight_branch,
        "n_events": len(sample),
        "reference": sample.reference,
        "reference_uniform": bool(sample.reference_uniform),
        "joint_log_ratio": ratio_branch,
        "joint_score": score_branches,
    }
    columns = {name: np.ascontiguousarray(sample.x[:, i]) for i, name in enumerate(sample.observables)}
    columns.update({name: np.ascontiguousarray(sample.theta[:, i]) for i, name in enumerate(sample.parameters)})
    columns[label_branch] = sample.y.astype(np.int32)
    columns[weight_branch] = np.ascontiguousarray(sample.weights, dtype=np.float64)
    if ratio_branch is not None:
        columns[ratio_branch] = np.ascontiguousarray(sample.joint_log_ratio, dtype=np.float64)
    if score_branches is not None:
        for i, branch in enumerate(score_branches):
            columns[branch] = np.ascontiguousarray(sample.joint_score[:, i], dtype=np.float64)

    ROOT = import_root()
    path = Path(path)
    with atomic_path(path, suffix=".tmp.root") as tmp:
        options = ROOT.RDF.RSnapshotOptions()
        options.fMode = "RECREATE"
        frame = ROOT.RDF.FromNumpy(columns)
        frame.Snapshot(tree, tmp, list(columns), options)
        del frame
        out = ROOT.TFile.Open(tmp, "UPDATE")
        if not out or out.IsZombie():
            raise InputError(f"cannot reopen the temporary file {tmp!r} to write the sample's record")
        out.WriteTObject(ROOT.TNamed(tree + _META_SUFFIX, json.dumps(record)))
        out.Close()
    log.info("wrote %d events to %s (tree '%s')", len(sample), path, tree)
    return path


def read_sample(path: str | os.PathLike, tree: str = "roosbi_sample") -> TrainingSample:
    """Read a training sample written by :func:`write_sample`; the round trip is exact.

    Parameters
    ----------
    path : str or path
        The ROOT file.
    tree : str
        Name of the TTree given to :func:`write_sample`.

    Returns
    -------
    TrainingSample
        With the names, the column order, the parameter ranges, the reference and the gold
        columns that were written.
    """
    path = os.fspath(path)
    handle = _open_file(path)
    try:
        stored = handle.Get(tree + _META_SUFFIX)
        if not stored:
            found = _datasets(handle)
            raise InputError(
                f"{path!r} holds no roosbi sample '{tree}' (no '{tree}{_META_SUFFIX}' record); it has "
                f"{_dataset_listing(found)}. A file that write_sample did not write is read with "
                "sample_from_tree(path, observables, parameters, label, ...)"
            )
        text = str(stored.GetTitle())
    finally:
        handle.Close()
    try:
        record = json.loads(text)
        if record.get("format") != SAMPLE_FORMAT:
            raise ValueError(f"format is {record.get('format')!r}, not {SAMPLE_FORMAT!r}")
        if int(record["version"]) > SAMPLE_FORMAT_VERSION:
            raise ValueError(f"format version {record['version']} is newer than this roosbi reads")
        observables, parameters = list(record["observables"]), list(record["parameters"])
        label, weight = str(record["label"]), str(record["weight"])
        ranges = {name: (float(lo), float(hi)) for name, (lo, hi) in record["parameter_ranges"].items()}
        n_events = int(record["n_events"])
        # Keys a version 1 record may lack.
        reference = str(record.get("reference", "sample"))
        reference_uniform = bool(record.get("reference_uniform", False))
        ratio = record.get("joint_log_ratio")
        ratio = None if ratio is None else str(ratio)
        score = record.get("joint_score")
        score = None if score is None else [str(name) for name in score]
        if score is not None and len(score) != len(parameters):
            raise ValueError(f"{len(score)} joint score branches for {len(parameters)} parameters")
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"the sample record '{tree}{_META_SUFFIX}' in {path!r} is damaged: {err}") from None
    gold_branches = ([ratio] if ratio else []) + (score or [])
    columns, where = _read_columns(path, observables + parameters + [label, weight] + gold_branches, tree, None)
    if len(columns[label]) != n_events:
        raise InputError(f"{where.strip()} holds {len(columns[label])} events but its record says {n_events}")
    return _make_sample(
        columns,
        observables,
        parameters,
        label,
        weight,
        ranges,
        where,
        gold=(ratio, score),
        reference=reference,
        reference_uniform=reference_uniform,
    )


# --------------------------------------------------------------------------------------------
# Observed data
# --------------------------------------------------------------------------------------------


def observed_data_from_tree(
    source: Source,
    observables,
    weight: str | None = None,
    tree: str | None = None,
    name: str = "obs_data",
    selection: str | None = None,
    workspace=None,
):
    """Observed events from a TTree or an RNTuple as a ``RooDataSet``.

    Parameters
    ----------
    source : str, path, list of paths, TTree or RDataFrame
        As in :func:`sample_from_tree`; the branches are named like the observables.
    observables : RooRealVar, RooArgSet, or sequence of RooRealVar or str
        The dataset's variables. Names are looked up in ``workspace``.
    weight : str, optional
        Branch holding event weights; the dataset is then weighted (RooFit's ``WeightVar``,
        named like the branch). Negative weights (sWeights, NLO) are kept.
    tree : str, optional
        Name of the TTree or RNTuple in the file(s); needed when a file holds more than one.
    name : str
        Name of the RooDataSet.
    selection : str, optional
        An ``RDataFrame.Filter`` expression; only events that pass are read.
    workspace : RooWorkspace, optional
        Where to find observables given by name.

    Returns
    -------
    RooDataSet

    Notes
    -----
    A RooDataSet holds only values inside its variables' ranges. Events outside them are left
    out with a logged warning that gives their number and fraction per variable (RooFit alone
    drops them with a message that is easy to miss); if no event is left, ``InputError``. Widen
    the variables' ranges, or select the events first, to silence it.
    """
    variables = _roofit_observables(observables, workspace)
    names = [str(v.GetName()) for v in variables]
    if weight is not None and weight in names:
        raise InputError(f"the weight branch '{weight}' is also an observable")
    columns, where = _read_columns(source, names + ([weight] if weight else []), tree, selection)
    weights = None if weight is None else columns.pop(weight)
    return _observed_dataset(columns, weights, weight or "weight", variables, name, where)


def observed_data_from_arrays(data, observables, weights=None, name: str = "obs_data", workspace=None):
    """Observed events from arrays as a ``RooDataSet``.

    Parameters
    ----------
    data : array_like, shape (n, n_observables) or (n,), or DataFrame / dict of columns
        Columns in the order of ``observables``, or keyed by the observables' names.
    observables : RooRealVar, RooArgSet, or sequence of RooRealVar or str
        The dataset's variables. Names are looked up in ``workspace``.
    weights : array_like, shape (n,), optional
        Event weights; the dataset is then weighted (its weight variable is called ``weight``,
        or ``roosbi_weight`` if an observable has that name).
    name : str
        Name of the RooDataSet.
    workspace : RooWorkspace, optional
        Where to find observables given by name.

    Returns
    -------
    RooDataSet
        Events outside the variables' ranges are left out with a logged warning, as in
        :func:`observed_data_from_tree`.
    """
    variables = _roofit_observables(observables, workspace)
    names = [str(v.GetName()) for v in variables]
    matrix = _matrix(data, names, "data")
    columns = {n: matrix[:, i] for i, n in enumerate(names)}
    if weights is not None:
        weights = _as_column(weights, "weights", "")
        if len(weights) != len(matrix):
            raise InputError(f"data has {len(matrix)} rows but weights has {len(weights)}")
    return _observed_dataset(columns, weights, _free_name("weight", names), variables, name, "")


# --------------------------------------------------------------------------------------------
# Shared checks
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
    theta = np.column_stack([columns[p] for p in parameters])
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


def _check_finite(columns: Mapping[str, np.ndarray], where: str) -> None:
    for name, col in columns.items():
        bad = ~np.isfinite(col)
        if bad.any():
            raise InputError(
                f"column '{name}'{where} holds {int(bad.sum())} NaN/Inf value(s), first in row "
                f"{int(np.flatnonzero(bad)[0])}; remove or fix those events"
            )


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


def _names(names, what: str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    if not names:
        raise InputError(f"name at least one of the {what}")
    return names


def _check_distinct(names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(
            f"column {_quoted(repeated)} is given more than one role (observable, parameter, label, weight)"
        )


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


def _free_name(name: str, taken: Sequence[str]) -> str:
    return name if name not in taken else f"roosbi_{name}"  # roles are kept apart from column names


def _as_column(values, name: str, where: str) -> np.ndarray:
    """One column as a 1-D float64 array (pandas' nullable missing values become NaN)."""
    try:
        if hasattr(values, "to_numpy"):
            try:
                col = values.to_numpy(dtype=np.float64, na_value=np.nan)
            except TypeError:  # a to_numpy without pandas' keywords (polars, ...)
                col = np.asarray(values.to_numpy(), dtype=np.float64)
        else:
            col = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"column '{name}'{where} is not numeric: {err}") from None
    if col.ndim != 1:
        raise InputError(f"column '{name}'{where} must hold one number per event, not shape {col.shape}")
    return col


def _matrix(values, names: list[str], what: str) -> np.ndarray:
    """Columns ``names`` of a DataFrame/mapping, or an (n, len(names)) / (n,) array."""
    if hasattr(values, "columns") or isinstance(values, Mapping):
        keys = [str(k) for k in (values.columns if hasattr(values, "columns") else values)]
        missing = [n for n in names if n not in keys]
        if missing:
            raise InputError(f"{what} has no column {_quoted(missing)}; it has: {_listing(keys)}")
        cols = [_as_column(values[n], n, f" of {what}") for n in names]
        if len({len(c) for c in cols}) > 1:
            rows = ", ".join(f"{n} {len(c)}" for n, c in zip(names, cols, strict=True))
            raise InputError(f"the columns of {what} have different lengths ({rows})")
        return np.column_stack(cols)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} is not a numeric array: {err}") from None
    if arr.ndim == 1 and len(names) == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != len(names):
        hint = " (or (n,))" if len(names) == 1 else ""
        raise InputError(
            f"{what} has shape {arr.shape} but {len(names)} column name(s) were given ({', '.join(names)}); "
            f"pass shape (n, {len(names)}){hint}"
        )
    return arr


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _listing(names: Sequence[str], limit: int = 40) -> str:
    names = sorted(names)
    if not names:
        return "(none)"
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# --------------------------------------------------------------------------------------------
# Reading TTrees and RNTuples
# --------------------------------------------------------------------------------------------


def _open_file(path: str):
    """Open a ROOT file for reading; a missing or unreadable file is an InputError."""
    ROOT = import_root()
    if "://" not in path:  # a local file: checked before ROOT reads it
        check_root_file(path)
    try:
        handle = ROOT.TFile.Open(path, "READ")
    except OSError:
        handle = None
    if not handle or handle.IsZombie():
        raise InputError(f"{path!r} is not a readable ROOT file")
    return handle


def _datasets(directory, prefix: str = "") -> list[tuple[str, str]]:
    """(name, class) of every TTree and RNTuple in a file, directories included."""
    ROOT = import_root()
    found: dict[str, str] = {}
    for key in directory.GetListOfKeys():
        name, cls = prefix + str(key.GetName()), str(key.GetClassName())
        if name in found:  # an older cycle
            continue
        tclass = ROOT.TClass.GetClass(cls)
        if "RNTuple" in cls or (tclass and tclass.InheritsFrom("TTree")):
            found[name] = cls
        elif tclass and tclass.InheritsFrom("TDirectory"):
            found.update(dict(_datasets(key.ReadObj(), name + "/")))
    return list(found.items())


def _dataset_listing(found: list[tuple[str, str]]) -> str:
    if not found:
        return "no TTree or RNTuple"
    return ", ".join(f"'{name}' ({cls})" for name, cls in found)


def _dataset_name(path: str, tree: str | None) -> str:
    """The TTree/RNTuple to read from ``path``: ``tree``, or the only one in the file."""
    handle = _open_file(path)
    try:
        found = _datasets(handle)
    finally:
        handle.Close()
    names = [name for name, _ in found]
    if tree is not None:
        if tree not in names:
            raise InputError(f"{path!r} has no TTree or RNTuple '{tree}'; it has {_dataset_listing(found)}")
        return tree
    if len(names) == 1:
        return names[0]
    if not names:
        raise InputError(f"{path!r} holds no TTree or RNTuple")
    raise InputError(f"{path!r} holds several trees, {_dataset_listing(found)}: pass tree= to pick one")


def _dataframe(source: Source, tree: str | None):
    """An RDataFrame over ``source``, a description for messages, and what it must keep alive."""
    ROOT = import_root()
    # The TTree test comes first: hasattr fails on a TTree, and a failed lookup on a cppyy object
    # goes through cppyy's error path, which crashes if Ctrl-C lands there (see roosbi.interrupts).
    if isinstance(source, ROOT.TTree):
        return ROOT.RDataFrame(source), f" in tree '{source.GetName()}'", source
    if hasattr(source, "AsNumpy") and hasattr(source, "Filter"):
        return source, " in the RDataFrame", None
    if isinstance(source, (str, os.PathLike)):
        paths = [os.fspath(source)]
    elif isinstance(source, (list, tuple)) and source and all(isinstance(p, (str, os.PathLike)) for p in source):
        paths = [os.fspath(p) for p in source]
    else:
        raise InputError(
            f"a source is a ROOT file path (or a list of them), a TTree or an RDataFrame, not {type(source).__name__}"
        )
    name = _dataset_name(paths[0], tree)
    for path in paths[1:]:
        _dataset_name(path, name)
    if len(paths) == 1:
        return ROOT.RDataFrame(name, paths[0]), f" in '{name}' of {paths[0]!r}", None
    files = ROOT.std.vector["std::string"]()
    for path in paths:
        files.push_back(path)
    return ROOT.RDataFrame(name, files), f" in '{name}' of {len(paths)} files", files


def _read_columns(
    source: Source,
    columns: list[str],
    tree: str | None,
    selection: str | None,
    optional: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], str]:
    """Read ``columns`` (and those of ``optional`` that exist) as float64 arrays."""
    frame, where, keepalive = _dataframe(source, tree)
    available = [str(c) for c in frame.GetColumnNames()]
    missing = [c for c in columns if c not in available]
    if missing:
        raise InputError(f"no branch {_quoted(missing)}{where}; it has: {_listing(available)}")
    wanted = columns + [c for c in optional if c in available and c not in columns]
    node = frame
    if selection:
        try:
            node = frame.Filter(selection)
        except Exception:  # cppyy raises the C++ exception's Python image
            raise InputError(
                f"the selection {selection!r} does not compile{where} (the C++ compiler's message is printed "
                f"above); columns: {_listing(available)}"
            ) from None
    try:
        arrays = node.AsNumpy(wanted)
    except Exception as err:
        raise InputError(f"reading {_quoted(wanted)}{where} failed: {err}") from None
    out = {}
    for name in wanted:
        col = arrays[name]
        if col.dtype == object or col.ndim != 1:
            raise InputError(
                f"column '{name}'{where} has type {frame.GetColumnType(name)}, not one number per event; "
                f"pick a number with RDataFrame's Define (e.g. Define('{name}_0', '{name}[0]'))"
            )
        out[name] = np.asarray(col, dtype=np.float64)
    del keepalive
    return out, where


# --------------------------------------------------------------------------------------------
# Observed data
# --------------------------------------------------------------------------------------------


def _roofit_observables(observables, workspace) -> list:
    ROOT = import_root()
    if isinstance(observables, (str, ROOT.RooAbsArg)):
        observables = [observables]
    variables = []
    for i, obs in enumerate(observables):
        var = obs
        if isinstance(obs, str):
            if workspace is None:
                raise InputError(f"observable '{obs}' is given by name: pass workspace=... or the RooRealVar itself")
            require_object(workspace, "workspace", "RooWorkspace")
            var = workspace.var(obs)
            if not var:
                have = [str(v.GetName()) for v in workspace.allVars()]
                raise InputError(f"workspace '{workspace.GetName()}' has no variable '{obs}'; it has: {_listing(have)}")
        if not isinstance(var, ROOT.RooRealVar):
            raise InputError(f"observables must be RooRealVars (or their names), not {type(var).__name__}")
        variables.append(require_object(var, f"observables[{i}]"))
    if not variables:
        raise InputError("name at least one observable")
    _check_distinct([str(v.GetName()) for v in variables])
    return variables


def _observed_dataset(columns: dict[str, np.ndarray], weights, weight_name: str, variables: list, name: str, where):
    """A RooDataSet from checked columns; events outside the variables' ranges are counted and left out."""
    ROOT = import_root()
    _check_finite(columns if weights is None else {**columns, weight_name: weights}, where)
    n = len(next(iter(columns.values())))
    if n == 0:
        raise InputError(f"there are no observed events{where}")
    inside = np.ones(n, dtype=bool)
    details = []
    for var in variables:
        col, lo, hi = columns[str(var.GetName())], var.getMin(), var.getMax()
        below, above = col < lo, col > hi
        if below.any() or above.any():
            details.append(f"{var.GetName()}: {int(below.sum())} below {lo:g}, {int(above.sum())} above {hi:g}")
        inside &= ~(below | above)
    n_out = n - int(inside.sum())
    if n_out == n:
        raise InputError(
            f"none of the {n} observed events{where} is inside the observables' ranges ({'; '.join(details)})"
        )
    if n_out:
        weighted = ""
        if weights is not None:
            weighted = f", {100.0 * weights[~inside].sum() / weights.sum():.2f}% of the summed weight"
        log.warning(
            "%d of %d observed events (%.2f%%%s)%s are outside the observables' ranges and are left out of "
            "dataset '%s' (%s); widen the ranges to keep them",
            n_out,
            n,
            100.0 * n_out / n,
            weighted,
            where,
            name,
            "; ".join(details),
        )
    arrays = {key: np.ascontiguousarray(col[inside]) for key, col in columns.items()}
    argset = ROOT.RooArgSet()
    for var in variables:
        argset.add(var)
    weight_var = None
    if weights is not None:
        kept = weights[inside]
        if not kept.sum() > 0:
            raise InputError(
                f"the observed events' weights{where} sum to {kept.sum():g}; they must sum to a positive number"
            )
        if (kept < 0).any():
            log.info("%d of %d observed events have negative weights; they are kept", int((kept < 0).sum()), len(kept))
        weight_var = ROOT.RooRealVar(weight_name, weight_name, -math.inf, math.inf)
        argset.add(weight_var)
        arrays[weight_name] = np.ascontiguousarray(kept)
    data = ROOT.RooDataSet.from_numpy(arrays, argset, name=name, weight_name=None if weights is None else weight_name)
    # The dataset refers to its variables; keep the Python objects alive with it.
    data._roosbi_keepalive = (variables, argset, weight_var)
    log.info("observed dataset '%s': %d events%s", name, data.numEntries(), where)
    return data
