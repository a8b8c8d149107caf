"""The neos summary ending in RooFit, and the comparison of summary statistics on ``syst``."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from roosbi.data.syst import syst
from roosbi.demo.syst_summaries import (
    APPROACHES,
    SummarySettings,
    compare_summaries,
    component_events,
    summary_processes,
)
from roosbi.diffana import BinnedModel, Sample, histfactory_workspace
from roosbi.diffana.compare import Z_CLS95, binned_expected, solve_limit, unbinned_expected
from roosbi.diffana.export import add_summary_column, column_values, summary_function, summary_onnx
from roosbi.diffana.train import SummaryNetwork
from roosbi.exceptions import InputError
from roosbi.inference import create_nll
from roosbi.library import import_root, library_path
from roosbi.stats.profile import constrained_pdf

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


@pytest.fixture(scope="module")
def problem():
    import_root().RooMsgService.instance().setGlobalKillBelow(import_root().RooFit.WARNING)
    prob = syst(seed=3)
    pdf = constrained_pdf(prob, prob.workspace.pdf("model"), "analytic_pdf")
    prob.workspace.Import(pdf, Silence=True)
    return prob


def test_summary_evaluated_natively_equals_the_torch_network(problem, tmp_path):
    torch.manual_seed(3)
    net = SummaryNetwork(1, (8, 8), torch.tensor([130.0]), torch.tensor([15.0]))
    with pytest.raises(InputError, match="2 names"):
        summary_onnx(net, tmp_path / "bad.onnx", ["m", "mu"])
    path = summary_onnx(net, tmp_path / "s.onnx", ["m"])
    data = problem.data().Clone("with_summary")
    column = add_summary_column(data, summary_function(path, problem.workspace, "s_native"), "s")
    assert (column.getMin(), column.getMax()) == (0.0, 1.0)
    with pytest.raises(InputError, match="already has a column"):
        add_summary_column(data, summary_function(path, problem.workspace, "again"), "s")
    m = column_values(data, "m")
    with torch.no_grad():
        expected = net.double()(torch.as_tensor(m)[:, None]).numpy()
    assert np.max(np.abs(column_values(data, "s") - expected)) < 1e-6


def test_events_of_the_variations_share_their_uniforms(problem):
    u = np.random.default_rng(1).uniform(size=4000)
    nominal = component_events(problem, "signal", u, {"alpha_scale": 0.0})
    up = component_events(problem, "signal", u, {"alpha_scale": 1.0})
    assert np.mean(nominal) == pytest.approx(125.0, abs=0.2)
    assert np.std(nominal) == pytest.approx(2.5, rel=0.05)
    assert np.allclose(up - nominal, 125.0 * 0.03, atol=0.02)  # the same events, shifted by the scale
    with_syst, without = summary_processes(problem, 500, seed=2)
    assert [set(p.histosys) for p in with_syst] == [{"scale"}, {"slope"}]
    assert all(not p.histosys for p in without)
    assert float(np.sum(np.broadcast_to(with_syst[1].weights, 500))) == pytest.approx(2000.0)
    with pytest.raises(InputError, match="bins"):
        SummarySettings(bins=0).check()


def _toy_model():
    background = torch.tensor([40.0, 20.0, 8.0, 3.0], dtype=torch.float64)
    tilt = torch.tensor([1.15, 1.0, 0.9, 0.8], dtype=torch.float64)
    return BinnedModel(
        [
            Sample("signal", torch.tensor([1.0, 3.0, 5.0, 6.0], dtype=torch.float64), signal=True),
            Sample(
                "background",
                background,
                normsys={"norm": (0.92, 1.08)},
                histosys={"shape": (background * tilt, background / tilt)},
            ),
        ],
        edges=np.linspace(0.0, 1.0, 5),
    )


def test_binned_expected_limit_and_significance_agree_with_roostats():
    ROOT = import_root()
    model = _toy_model()
    ours = binned_expected(model)
    rs = ROOT.RooStats
    ws = histfactory_workspace(model, data=model.asimov(0.0).detach().numpy(), poi_range=(0.0, 5.0))
    mc = ws.genobj("ModelConfig")
    poi = mc.GetParametersOfInterest().first()
    sb, b = mc.Clone("sb"), mc.Clone("b")
    poi.setVal(1.0)
    sb.SetSnapshot(ROOT.RooArgSet(poi))
    poi.setVal(0.0)
    b.SetSnapshot(ROOT.RooArgSet(poi))
    calc = rs.AsymptoticCalculator(ws.data("obsData"), b, sb)
    calc.SetOneSided(True)
    calc.SetPrintLevel(-1)
    inverter = rs.HypoTestInverter(calc)
    inverter.SetConfidenceLevel(0.95)
    inverter.UseCLs(True)
    inverter.SetFixedScan(60, 0.5 * ours["cls_limit"], 1.5 * ours["cls_limit"])
    interval = inverter.GetInterval()
    assert interval.GetExpectedUpperLimit(0) == pytest.approx(ours["cls_limit"], rel=5e-3)
    # Discovery on the Asimov data at mu = 1: null mu = 0.
    asimov = histfactory_workspace(model, poi_range=(0.0, 5.0))
    mc1 = asimov.genobj("ModelConfig")
    poi1 = mc1.GetParametersOfInterest().first()
    sb1, b1 = mc1.Clone("sb1"), mc1.Clone("b1")
    poi1.setVal(1.0)
    sb1.SetSnapshot(ROOT.RooArgSet(poi1))
    poi1.setVal(0.0)
    b1.SetSnapshot(ROOT.RooArgSet(poi1))
    discovery = rs.AsymptoticCalculator(asimov.data("obsData"), sb1, b1)
    discovery.SetOneSidedDiscovery(True)
    discovery.SetPrintLevel(-1)
    assert discovery.GetHypoTest().Significance() == pytest.approx(ours["significance"], rel=2e-3)
    stat_only = binned_expected(BinnedModel([model.samples[0], Sample("background", model.samples[1].nominal)]))
    assert stat_only["cls_limit"] < ours["cls_limit"] and stat_only["significance"] > ours["significance"]


def test_solve_limit_and_unbinned_expected(problem):
    assert solve_limit(lambda mu: 4.0 * mu, 0.1) == pytest.approx(Z_CLS95 / 4.0, rel=1e-6)
    assert solve_limit(lambda mu: (3.0 * mu) ** 1.5, 2.0) == pytest.approx((Z_CLS95 ** (2 / 3)) / 3.0, rel=1e-5)
    ws = problem.workspace
    args = (ws.pdf("model"), problem.var("m"), problem.var("mu"))
    nuisances = [problem.var("alpha_scale"), problem.var("alpha_slope")]
    nominal = {"alpha_scale": 0.0, "alpha_slope": 0.0}

    def nll_of(data):
        return create_nll(ws.pdf("analytic_pdf"), data)

    with pytest.raises(InputError, match="nominal"):
        unbinned_expected(nll_of, *args, nuisances, {"alpha_scale": 0.0})
    profiled = unbinned_expected(nll_of, *args, nuisances, nominal, profile=True)
    fixed = unbinned_expected(nll_of, *args, nuisances, nominal, profile=False)
    assert fixed["cls_limit"] <= profiled["cls_limit"] < 1.1 * fixed["cls_limit"]
    assert fixed["significance"] >= profiled["significance"] > 4.0
    assert all(not v.isConstant() for v in nuisances) and problem.var("mu").getVal() == pytest.approx(1.0)


def test_summary_workspace_fits_like_python_in_the_macro(problem, tmp_path):
    settings = SummarySettings(n_events=3000, hidden=(16,), neos_steps=8, bce_steps=60, neos_batch_size=None)
    res = compare_summaries(problem, {"analytic": "analytic_pdf"}, seed=2, stage=tmp_path, settings=settings)
    for key in ("summaries", "summaries_stat_only"):
        assert list(res[key]) == [a for a in APPROACHES if a != "learned_unbinned"]
        assert all(np.isfinite(v["cls_limit"]) and v["cls_limit"] > 0 for v in res[key].values())
    on, off = res["summaries"], res["summaries_stat_only"]
    assert on["bce"]["cls_limit"] > off["bce"]["cls_limit"]  # the systematics cost the binned BCE summary
    info = res["summary_workspace"]
    assert info["native_vs_torch"] < 1e-6
    assert info["parameters"] == ["mu", "alpha_scale", "alpha_slope"]  # the problem's nuisance names
    assert info["fit"]["status"] == 0
    assert (tmp_path / "summary_neos.onnx").is_file()
    ROOT = import_root()
    file = ROOT.TFile.Open(str(tmp_path / "summary_workspace.root"))
    ws = file.Get("combined")
    assert ws.data("obsData").sumEntries() == pytest.approx(problem.data().sumEntries())
    assert ws.function("summary") and ws.data("obs_data_summary")
    file.Close()
    assert ROOT_EXE, "the root executable of the ROOT wheel was not found"
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{tmp_path / "summary_workspace.root"}", "{library_path()}")'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FIT neos ")]
    assert len(lines) == 1, proc.stdout + proc.stderr
    params = re.findall(r"(\w+)=(\S+) \+- (\S+)", lines[0])
    assert [p[0] for p in params] == info["parameters"]
    for name, value, error in params:
        assert float(value) == pytest.approx(info["fit"]["params"][name]["value"], abs=2e-3)
        assert float(error) == pytest.approx(info["fit"]["params"][name]["error"], rel=2e-2)
