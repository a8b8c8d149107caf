"""A trained summary in RooFit: ONNX export, native evaluation, the summary column and its HistFactory model.

The chain that ends a neos analysis in RooFit (docs/diffana.md):

* :func:`summary_onnx` writes a :class:`~roosbi.diffana.train.SummaryNetwork` (standardised
  inputs, ReLU MLP, sigmoid) as ONNX with roosbi's metadata (``inputs``, ``output``
  ``"probability"``);
* :func:`summary_function` loads it as a ``RooLearnedRatio`` with ``output="score"``: the
  translator drops the final sigmoid (log r is the logit) and the score r / (1 + r) is the
  sigmoid of the logit, the summary s(x) itself, evaluated natively (C++, double precision);
* :func:`add_summary_column` adds s(x) as a column to a ``RooDataSet``, and
  :func:`binned_counts` bins that column: the observed counts of the HistFactory model
  (:func:`summary_workspace`, built by :func:`~roosbi.diffana.roofit_model.histfactory_workspace`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..estimators.resources import import_torch
from ..exceptions import InputError
from ..library import import_root
from ..onnx import save_model, set_metadata
from .binned import BinnedModel
from .roofit_model import histfactory_workspace
from .train import SummaryNetwork

torch = import_torch()
log = logging.getLogger(__name__)


class _Exported(torch.nn.Module):
    """A summary network as the plain chain the translator reads: (x - shift) / scale, the MLP, shape (n, 1)."""

    def __init__(self, network: SummaryNetwork):
        super().__init__()
        self.register_buffer("shift", network.shift.detach().cpu().float().clone())
        self.register_buffer("scale", network.scale.detach().cpu().float().clone())
        self.net = network.net

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net((inputs - self.shift) / self.scale)


def summary_onnx(network: SummaryNetwork, path: str | os.PathLike, inputs: list[str], **metadata) -> Path:
    """Write ``network`` as an ONNX model with roosbi metadata; the path written (atomically).

    Parameters
    ----------
    network : SummaryNetwork
        A trained summary (``SummaryResult.network``).
    path : path
        The ``.onnx`` file.
    inputs : list of str
        The RooFit names of the network's inputs, in order (the ``inputs`` metadata).
    **metadata
        Further roosbi metadata (JSON-encodable), e.g. ``objective="cls"``.

    Returns
    -------
    Path
        ``path``.
    """
    from ..estimators.torch_mlp import export_sequential

    if not isinstance(network, SummaryNetwork):
        raise InputError(f"network must be a roosbi.diffana.SummaryNetwork, not {type(network).__name__}")
    inputs = [str(n) for n in inputs]
    n_features = int(network.shift.shape[0])
    if len(inputs) != n_features:
        raise InputError(f"the network has {n_features} inputs, {len(inputs)} names were given: {inputs}")
    network = network.cpu().eval()
    model = export_sequential(_Exported(network).eval(), n_features, "probability")
    set_metadata(model, {"inputs": inputs, "output": "probability", "summary": True, **metadata})
    return save_model(model, path)


def summary_function(model, workspace, name: str = "summary"):
    """The summary as a native ``RooLearnedRatio`` returning s(x) (``output="score"``), inputs from the metadata.

    Parameters
    ----------
    model : path, bytes or onnx.ModelProto
        From :func:`summary_onnx`.
    workspace : ROOT.RooWorkspace
        Holds the input variables (looked up by the ``inputs`` metadata).
    name : str
        Name of the RooFit function.
    """
    from ..roofit import learned_ratio

    return learned_ratio(model, workspace=workspace, name=name, output="score", model_output="probability")


def add_summary_column(dataset, function, name: str = "summary"):
    """Add ``function`` (a ``RooAbsReal`` of the dataset's variables) as the column ``name``; its RooRealVar.

    The column's range is set to [0, 1] (a summary's); the dataset is changed in place.
    """
    if not dataset or not dataset.InheritsFrom("RooDataSet"):
        raise InputError("dataset must be a RooDataSet")
    if dataset.get().find(name):
        raise InputError(f"the dataset already has a column {name!r}")
    function.SetName(name)
    column = dataset.addColumn(function)
    column.setRange(0.0, 1.0)
    return column


def column_values(dataset, name: str) -> np.ndarray:
    """The values of column ``name`` of a ``RooDataSet``, as float64."""
    if not dataset.get().find(name):
        raise InputError(f"the dataset has no column {name!r}")
    values = dataset.to_numpy()
    return np.asarray(values[name], dtype=np.float64)


def binned_counts(dataset, name: str, edges) -> np.ndarray:
    """Counts (sums of weights) of column ``name`` of ``dataset`` in the bins ``edges`` (outer bins keep the flow)."""
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise InputError(f"edges must be at least 2 increasing values, got {edges.tolist()}")
    values = np.clip(column_values(dataset, name), edges[0], edges[-1])
    weights = np.array([dataset.weight() for _ in _entries(dataset)]) if dataset.isWeighted() else None
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    return counts.astype(np.float64)


def _entries(dataset):
    for i in range(dataset.numEntries()):
        dataset.get(i)
        yield i


def summary_workspace(model: BinnedModel, dataset, name: str = "summary", edges=None, poi_range=(0.0, 5.0)):
    """The HistFactory workspace of ``model`` with the binned summary column of ``dataset`` as ``obsData``.

    Parameters
    ----------
    model : BinnedModel
        The hard histograms of the trained summary (``SummaryResult.binned_model``), with the
        nuisance parameters.
    dataset : ROOT.RooDataSet
        Observed events holding the summary column ``name`` (:func:`add_summary_column`).
    name : str
        The column.
    edges : array-like, optional
        Bin edges; default ``model.edges``.
    poi_range : (float, float)
        Range of the parameter of interest.
    """
    edges = model.edges if edges is None else edges
    if edges is None:
        raise InputError("the binned model has no edges: give them")
    counts = binned_counts(dataset, name, edges)
    import_root()
    return histfactory_workspace(model, data=counts, edges=edges, poi_range=poi_range, name=f"{name}_model")
