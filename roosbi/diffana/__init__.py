"""Differentiable analysis: inference-aware summaries (neos) and cuts, ending in a RooFit binned model.

Modules, one block each (docs/diffana.md is the guide):

* ``blocks``: sigmoid cuts (:func:`soft_cut`) and binned-KDE histograms (:func:`bkde_histogram`),
  with their hard limits (:func:`hard_cut`, :func:`hard_histogram`).
* ``binned``: the HistFactory-like binned likelihood (:class:`BinnedModel` of :class:`Sample`),
  normsys and histosys interpolation (:func:`normsys_factor`, :func:`histosys_shape`).
* ``fit``: the differentiable profile fit (:func:`fit`, :func:`profile_nll`): Newton steps in
  float64, gradients by the implicit function theorem.
* ``objectives``: Asimov significance, discovery p-value, expected CLs, inverse Fisher
  information of mu; the registry :data:`OBJECTIVES` and :func:`get_objective`.
* ``train``: :func:`train_summary`, a neural summary trained end to end on :class:`Process` events.
* ``cuts``: :func:`optimize_cuts` and :func:`scan_cuts`, cut values through sigmoid cuts and the
  hard-cut scan that checks them.
* ``roofit_model``: :func:`histfactory_workspace`, the final hard histograms as a HistFactory
  workspace with the same nuisance parameters, and :func:`minuit_fit` on it.
* ``export``: a trained summary as ONNX (:func:`summary_onnx`), evaluated natively in RooFit
  (:func:`summary_function`) as a column of the observed data, binned into its HistFactory
  workspace (:func:`summary_workspace`).
* ``compare``: expected CLs limits and discovery significances of binned models
  (:func:`binned_expected`) and unbinned RooFit likelihoods (:func:`unbinned_expected`), one
  definition; :func:`train_bce`, the plain classifier a neos summary is compared with.

Importing this package imports torch (``import roosbi`` does not import this package).
"""

from .binned import BinnedModel, Sample, histosys_shape, normsys_factor
from .blocks import bin_width, bkde_histogram, hard_cut, hard_histogram, soft_cut
from .compare import binned_expected, train_bce, unbinned_expected
from .cuts import CutResult, cut_model, optimize_cuts, scan_cuts
from .export import add_summary_column, summary_function, summary_onnx, summary_workspace
from .fit import TorchFitResult, fit, profile_nll
from .objectives import (
    OBJECTIVES,
    Objective,
    asimov_significance,
    cls,
    discovery_pvalue,
    get_objective,
    inverse_fisher_mu,
)
from .roofit_model import histfactory_workspace, minuit_fit, roofit_expected, roofit_parameter_name
from .train import Process, SummaryNetwork, SummaryResult, train_summary

__all__ = [
    "OBJECTIVES",
    "add_summary_column",
    "binned_expected",
    "summary_function",
    "summary_onnx",
    "summary_workspace",
    "train_bce",
    "unbinned_expected",
    "BinnedModel",
    "CutResult",
    "TorchFitResult",
    "Objective",
    "Process",
    "Sample",
    "SummaryNetwork",
    "SummaryResult",
    "asimov_significance",
    "bin_width",
    "bkde_histogram",
    "cls",
    "cut_model",
    "discovery_pvalue",
    "fit",
    "get_objective",
    "hard_cut",
    "hard_histogram",
    "histfactory_workspace",
    "histosys_shape",
    "inverse_fisher_mu",
    "minuit_fit",
    "normsys_factor",
    "optimize_cuts",
    "profile_nll",
    "roofit_expected",
    "roofit_parameter_name",
    "scan_cuts",
    "soft_cut",
    "train_summary",
]
