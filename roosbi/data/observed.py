"""Observed data from outside RooFit, as a ``RooDataSet`` for the fit: TTrees, RNTuples, arrays.

:func:`observed_data_from_tree` reads a TTree or an RNTuple (anything ``ROOT.RDataFrame`` reads),
:func:`observed_data_from_arrays` numpy arrays, pandas or a mapping of columns. Events outside the
observables' ranges are left out with a logged warning that counts them. Every bad input raises
:class:`~roosbi.exceptions.InputError` with a message that names the column, the file or the tree.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..checks import require_object
from ..exceptions import InputError
from ..library import import_root
from .columns import Source, _as_column, _check_distinct, _check_finite, _free_name, _listing, _matrix, _read_columns

log = logging.getLogger(__name__)

__all__ = ["observed_data_from_arrays", "observed_data_from_tree"]


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
        As in :func:`~roosbi.data.samples.sample_from_tree`; the branches are named like the observables.
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
