"""The binned model an optimised analysis ends in, as a RooFit (HistFactory) workspace.

:func:`histfactory_workspace` turns a :class:`~roosbi.diffana.binned.BinnedModel` (usually with
the hard histograms of a trained summary, :meth:`SummaryResult.binned_model`) into a workspace
built by ROOT's HistFactory: one channel, one sample per sample, the parameter of interest as
a *NormFactor*, each normsys as an *OverallSys* and each histosys as a *HistoSys*, with
HistFactory's unit Gaussian constraints (global observables ``nom_alpha_<name>``). The
interpolation codes of the workspace's ``FlexibleInterpVar`` and ``PiecewiseInterpolation``
objects are set to the model's, so the RooFit model and the torch one are the same function of
the parameters. A sample with a staterror has it as the bin errors of its nominal histogram and
``ActivateStatError``, with the channel's ``StatErrorConfig`` at the model's threshold and a
Gaussian constraint: HistFactory's gammas are then the model's. A nuisance parameter ``name`` is
``alpha_<name>`` in RooFit, the gamma ``stat_bin_<b>`` is ``gamma_stat_<channel>_bin_<b>``
(:func:`roofit_parameter_name`); the POI keeps its name.

:func:`minuit_fit` fits such a workspace with roosbi's Minuit code path
(:func:`roosbi.inference.fit_nll`), optionally with parameters held fixed, and
:func:`roofit_expected` reads the expected counts per bin back out of it.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputError
from ..inference import FitResult, fit_nll
from ..library import import_root
from .binned import BinnedModel

#: ROOT's interpolation codes for each of ours: FlexibleInterpVar (normsys) and
#: PiecewiseInterpolation (histosys) use the same numbers.
_ROOT_NORMSYS_CODE = {1: 1, 4: 4}
_ROOT_HISTOSYS_CODE = {0: 0, 4: 4}


def roofit_parameter_name(model: BinnedModel, name: str, channel: str = "channel") -> str:
    """The name of parameter ``name`` of ``model`` in the HistFactory workspace of channel ``channel``."""
    index = model.index(name)  # InputError for an unknown name
    if name == model.poi:
        return name
    if index > len(model.nuisances):
        return f"gamma_stat_{channel}_{name.removeprefix('stat_')}"
    return f"alpha_{name}"


def histfactory_workspace(
    model: BinnedModel,
    data=None,
    edges=None,
    channel: str = "channel",
    poi_range: tuple[float, float] = (-10.0, 10.0),
    name: str = "diffana",
):
    """A HistFactory workspace of ``model``, with ``data`` as ``obsData``.

    Parameters
    ----------
    model : BinnedModel
        Templates, nuisance parameters and interpolation codes.
    data : array-like, optional
        Observed counts per bin; default the Asimov data at mu = 1 (nuisances at 0).
    edges : array-like, optional
        Bin edges of the observable; default ``model.edges``, else 0, 1, ..., n_bins.
    channel : str
        The channel's name (the observable is ``obs_x_<channel>``).
    poi_range : (float, float)
        Range of the parameter of interest.
    name : str
        Name of the measurement.

    Returns
    -------
    ROOT.RooWorkspace
        HistFactory's ``combined`` workspace, holding ``ModelConfig``, ``simPdf``, ``obsData``
        and ``asimovData``.
    """
    ROOT = import_root()
    if not isinstance(model, BinnedModel):
        raise InputError(f"model must be a roosbi.diffana.BinnedModel, not {type(model).__name__}")
    n_bins = model.n_bins
    edges = model.edges if edges is None else edges
    edges = np.arange(n_bins + 1, dtype=np.float64) if edges is None else np.asarray(edges, dtype=np.float64)
    if edges.shape != (n_bins + 1,) or not np.all(np.diff(edges) > 0):
        raise InputError(f"edges must be {n_bins + 1} increasing values for {n_bins} bins, got {edges.tolist()}")
    counts = model.asimov(1.0).detach().cpu().numpy() if data is None else np.asarray(data, dtype=np.float64)
    if counts.shape != (n_bins,) or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise InputError(f"data must be {n_bins} finite counts >= 0, got {np.asarray(counts).tolist()}")
    lo, hi = (float(v) for v in poi_range)
    if not lo < hi:
        raise InputError(f"poi_range must be (low, high) with low < high, got {poi_range}")

    HF = ROOT.RooStats.HistFactory
    meas = HF.Measurement(name, name)
    meas.SetPOI(model.poi)
    meas.SetLumi(1.0)
    meas.SetLumiRelErr(0.1)
    meas.AddConstantParam("Lumi")
    chan = HF.Channel(channel)
    chan.SetData(_th1(ROOT, f"{name}_data", counts, edges))
    chan.SetStatErrorConfig(model.staterror_threshold, "Gaussian")
    for s in model.numpy_samples():
        sample = HF.Sample(s.name)
        sample.SetHisto(_th1(ROOT, f"{name}_{s.name}_nominal", s.nominal, edges, s.staterror))
        if s.staterror is not None:
            sample.ActivateStatError()  # the nominal histogram's bin errors
        sample.SetNormalizeByTheory(False)
        if s.signal:
            sample.AddNormFactor(model.poi, 1.0, lo, hi)
        for key, (kd, ku) in s.normsys.items():
            sample.AddOverallSys(key, kd, ku)
        for key, (down, up) in s.histosys.items():
            sys = HF.HistoSys()
            sys.SetName(key)
            sys.SetHistoLow(_th1(ROOT, f"{name}_{s.name}_{key}_down", down, edges))
            sys.SetHistoHigh(_th1(ROOT, f"{name}_{s.name}_{key}_up", up, edges))
            sample.AddHistoSys(sys)
        chan.AddSample(sample)
    meas.AddChannel(chan)
    kill = ROOT.RooMsgService.instance().globalKillBelow()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)  # HistFactory's INFO lines
    try:
        ws = HF.HistoToWorkspaceFactoryFast.MakeCombinedModel(meas)
    finally:
        ROOT.RooMsgService.instance().setGlobalKillBelow(kill)
    ROOT.SetOwnership(ws, True)
    for function in ws.allFunctions():
        if function.InheritsFrom("RooStats::HistFactory::FlexibleInterpVar"):
            function.setAllInterpCodes(_ROOT_NORMSYS_CODE[model.normsys_code])
        elif function.InheritsFrom("PiecewiseInterpolation"):
            function.setAllInterpCodes(_ROOT_HISTOSYS_CODE[model.histosys_code])
    ws.var(model.poi).setVal(1.0)
    return ws


def roofit_nll(workspace, data: str = "obsData"):
    """The NLL of the workspace's ``ModelConfig`` pdf on dataset ``data``, constraints included, no offset."""
    ROOT = import_root()
    mc = _model_config(workspace)
    dataset = workspace.data(data)
    if not dataset:
        raise InputError(f"the workspace has no dataset {data!r}")
    nll = mc.GetPdf().createNLL(
        dataset,
        ROOT.RooFit.Offset("none"),
        ROOT.RooFit.GlobalObservables(mc.GetGlobalObservables()),
        ROOT.RooFit.EvalBackend("cpu"),
    )
    ROOT.SetOwnership(nll, True)
    return nll


def minuit_fit(workspace, data: str = "obsData", fixed: dict[str, float] | None = None) -> FitResult:
    """Fit the workspace with Minuit (:func:`roosbi.inference.fit_nll`: MIGRAD and HESSE, no MINOS).

    Parameters
    ----------
    workspace : ROOT.RooWorkspace
        From :func:`histfactory_workspace`.
    data : str
        The dataset's name.
    fixed : dict, optional
        RooFit parameter name -> value held constant during the fit (released after).

    Returns
    -------
    roosbi.inference.FitResult
        ``params`` holds every floating parameter by its RooFit name; ``nll_min`` the minimum.
    """
    mc = _model_config(workspace)
    fixed = dict(fixed or {})
    held = []
    for par_name, value in fixed.items():
        var = workspace.var(par_name)
        if not var:
            raise InputError(f"the workspace has no parameter {par_name!r}")
        held.append((var, var.isConstant()))
        var.setVal(float(value))
        var.setConstant(True)
    try:
        floating = [p for p in [*mc.GetParametersOfInterest(), *mc.GetNuisanceParameters()] if not p.isConstant()]
        poi = mc.GetParametersOfInterest().first().GetName()
        # HistFactory's nominal point: the POI and the staterror gammas at 1, the alphas at 0
        start = {p.GetName(): float(p.GetName() == poi or p.GetName().startswith("gamma_")) for p in floating}
        nll = roofit_nll(workspace, data)
        return fit_nll(nll, floating, start, minos=False, check_points=0)
    finally:
        for var, was_constant in held:
            var.setConstant(was_constant)


def roofit_expected(workspace, channel: str = "channel") -> np.ndarray:
    """Expected counts per bin of the channel at the workspace's current parameter values."""
    ROOT = import_root()
    pdf = workspace.pdf(f"{channel}_model")
    obs = workspace.var(f"obs_x_{channel}")
    if not pdf or not obs:
        raise InputError(f"the workspace has no HistFactory channel {channel!r}")
    observables = ROOT.RooArgSet(obs)
    total = pdf.expectedEvents(observables)
    binning = obs.getBinning()
    out = []
    for i in range(binning.numBins()):
        obs.setVal(binning.binCenter(i))
        out.append(total * pdf.getVal(observables) * binning.binWidth(i))
    return np.asarray(out)


def _model_config(workspace):
    require = workspace.genobj("ModelConfig") if workspace else None
    if not require:
        raise InputError("the workspace has no ModelConfig: build it with histfactory_workspace")
    return require


def _th1(ROOT, name: str, counts, edges, errors=None):
    """A TH1D with ``counts`` (and bin ``errors``), owned by C++ (HistFactory keeps and deletes its histograms)."""
    hist = ROOT.TH1D(name, name, len(counts), np.asarray(edges, dtype=np.float64))
    hist.SetDirectory(ROOT.nullptr)
    for i, c in enumerate(counts, start=1):
        hist.SetBinContent(i, float(c))
        if errors is not None:
            hist.SetBinError(i, float(errors[i - 1]))
    ROOT.SetOwnership(hist, False)
    return hist
