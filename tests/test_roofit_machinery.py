"""RooLearnedRatio inside RooFit's own tools: fitTo, both evaluation backends, offsetting, NumCPU,
plotting, and RooStats' profile-likelihood interval."""

import numpy as np
import pytest

from roosbi.inference import create_nll, fit_nll
from roosbi.library import import_root
from roosbi.roofit import learned_pdf, learned_ratio

ROOT = import_root()


@pytest.fixture
def learned(problem, torch_onnx):
    ws = problem.workspace
    pdf = learned_pdf(learned_ratio(torch_onnx, workspace=ws), [ws.var("x")], ws.pdf("uniform"))
    ws.Import(pdf, Silence=True)
    return ws.pdf("learned_pdf"), problem.data(), ws.var("mu"), ws.var("x"), ws


@pytest.mark.parametrize(
    "options", [{}, {"EvalBackend": "legacy"}, {"Offset": True}, {"NumCPU": 2, "EvalBackend": "legacy"}, {"NumCPU": 2}]
)
def test_fitto_agrees_with_roosbi_fit(learned, options):
    pdf, data, mu, _, _ = learned
    reference = fit_nll(create_nll(pdf, data), [mu], {"mu": 2.0}).params["mu"]
    mu.setVal(2.0)
    result = pdf.fitTo(data, Save=True, PrintLevel=-1, **options)
    ROOT.SetOwnership(result, True)
    assert result.status() == 0
    assert mu.getVal() == pytest.approx(reference.value, abs=0.05 * reference.error)
    assert mu.getError() == pytest.approx(reference.error, rel=0.02)


def test_plot_on_a_frame(learned):
    pdf, data, _, x, _ = learned
    frame = x.frame()
    data.plotOn(frame)
    pdf.plotOn(frame)
    curve = frame.getCurve()
    assert curve and curve.GetN() > 50
    ys = np.array([curve.GetPointY(i) for i in range(curve.GetN())])
    assert np.isfinite(ys).all() and ys.max() > 0


def test_profile_likelihood_interval(learned):
    pdf, data, mu, x, ws = learned
    mc = ROOT.RooStats.ModelConfig("mc", ws)
    mc.SetPdf(pdf)
    mc.SetParametersOfInterest(ROOT.RooArgSet(mu))
    mc.SetObservables(ROOT.RooArgSet(x))
    calc = ROOT.RooStats.ProfileLikelihoodCalculator(data, mc)
    calc.SetConfidenceLevel(0.6827)
    interval = calc.GetInterval()
    ROOT.SetOwnership(interval, True)
    fit = fit_nll(create_nll(pdf, data), [mu], {"mu": 2.0}).params["mu"]
    assert interval.LowerLimit(mu) == pytest.approx(fit.value + fit.minos[0], abs=0.1 * fit.error)
    assert interval.UpperLimit(mu) == pytest.approx(fit.value + fit.minos[1], abs=0.1 * fit.error)


def test_json_export_refuses_a_learned_ratio_clearly(learned, tmp_path):
    from roosbi.exceptions import UnsupportedModelError
    from roosbi.roofit import export_json

    *_, ws = learned
    with pytest.raises(UnsupportedModelError, match="HS3.*writeToFile"):
        export_json(ws, tmp_path / "ws.json")
    assert not (tmp_path / "ws.json").exists()


def test_json_export_of_a_plain_workspace(problem, tmp_path):
    from roosbi.roofit import export_json

    path = export_json(problem.workspace, tmp_path / "ws.json")
    assert '"gauss"' in path.read_text()
