"""Mixture models (rf618): a learned signal/background ratio, the mixture NLL, the demo and its macro."""

import json

import numpy as np
import pytest
from test_demo import _check_macro_against_results

from roosbi.data.builtin import gauss1d, mixture
from roosbi.data.problems import Problem
from roosbi.demo import run_demo
from roosbi.estimators import SklearnRatioEstimator
from roosbi.exceptions import InputError
from roosbi.inference import create_nll
from roosbi.library import import_root
from roosbi.mixture import component_log_ratio, mixture_pdf, simulate_components, template_pdf
from roosbi.roofit import evaluate_log_ratio, learned_ratio

S, B = 100.0, 2000.0  # the mixture problem's default yields


@pytest.fixture(scope="module")
def mixture_demo(tmp_path_factory):
    """The whole mixture pipeline on a small budget (a few seconds of training)."""
    out = tmp_path_factory.mktemp("mixture")
    run_demo(
        problem="mixture",
        out=out,
        seed=2,
        n_train=10_000,
        estimator="torch",
        device="cpu",
        progress=False,
        estimator_settings={"hidden": (32, 32), "max_epochs": 15, "batch_size": 512},
    )
    return out


@pytest.fixture
def problem_and_ratio(mixture_demo):
    """A fresh mixture problem (other observed data) and the demo's network as its RooLearnedRatio."""
    prob = mixture(seed=5)
    return prob, learned_ratio(mixture_demo / "model.onnx", workspace=prob.workspace)


def test_mixture_demo_results(mixture_demo):
    res = json.loads((mixture_demo / "results.json").read_text())
    assert res["problem"] == "mixture" and res["truth"] == {"mu": 1.0}
    assert set(res["fits"]) == {"analytic", "learned", "template"}
    # 20 % of the 10 000 + 10 000 events are held out for the calibration of r.
    assert res["training"]["n_train"] == 16_000
    assert res["calibration"]["n_target"] + res["calibration"]["n_reference"] == 4_000
    analytic = res["fits"]["analytic"]["params"]["mu"]
    assert res["fits"]["analytic"]["status"] == 0 and res["fits"]["learned"]["status"] == 0
    assert 0.15 < analytic["error"] < 0.3  # the problem is set up for mu = 1 +- 0.2
    for name in ("learned", "template"):
        mu = res["fits"][name]["params"]["mu"]
        assert mu["minos"][0] < 0 < mu["minos"][1]
        # A small network trained briefly: this checks the pipeline; benchmarks/ measure accuracy.
        assert abs(mu["value"] - analytic["value"]) < 1.5 * analytic["error"], name
        assert 0.7 < mu["error"] / analytic["error"] < 1.3, name


def test_mixture_demo_files(mixture_demo):
    for name in (
        "results.json",
        "report.md",
        "workspace.root",
        "model.onnx",
        "delta_nll.png",
        "ratio.png",
        "templates.png",
        "calibration.png",
        "training.png",
        "libRooSBI.so",
    ):
        assert (mixture_demo / name).stat().st_size > 0, name
    assert not list(mixture_demo.glob(".*tmp*"))
    report = (mixture_demo / "report.md").read_text()
    for word in ("| analytic | mu |", "| learned | mu |", "| template | mu |", "templates.png", "Calibration"):
        assert word in report


def test_macro_fits_the_mixture_workspace_like_python(mixture_demo):
    """Learned mixture (extended), score templates on their own dataset: the same numbers in C++."""
    _check_macro_against_results(mixture_demo)


def test_learned_log_ratio_matches_the_exact_one(problem_and_ratio):
    prob, ratio = problem_and_ratio
    # The bulk of the signal (125 +- 2 widths): log r itself.
    m = np.linspace(120.0, 130.0, 101)[:, None]
    diff = evaluate_log_ratio(ratio, m) - component_log_ratio(prob, m)
    assert np.max(np.abs(diff)) < 0.3
    assert np.mean(np.abs(diff)) < 0.1
    # Everywhere: what enters the NLL per event, log(S r + B), is right to a few per cent (far
    # from the peak r is ~1e-40 and not learned, but then B dominates).
    m = np.linspace(100.0, 160.0, 601)[:, None]
    learned = np.log(S * np.exp(evaluate_log_ratio(ratio, m)) + B)
    exact = np.log(S * np.exp(component_log_ratio(prob, m)) + B)
    assert np.max(np.abs(learned - exact)) < 0.06


@pytest.mark.parametrize("workspace_yields", [False, True])
def test_mixture_nll_is_the_mixture_likelihood(problem_and_ratio, workspace_yields):
    """NLL(mu) = mu S + B - sum log(mu S r(x_i) + B) + const: differences to 1e-8 relative."""
    prob, ratio = problem_and_ratio
    ws = prob.workspace
    mu = ws.var("mu")
    yields = (ws.var("n_signal"), ws.var("n_background")) if workspace_yields else (S, B)
    pdf = mixture_pdf(ratio, mu, *yields, name="mix")
    nll = create_nll(pdf, prob.data())
    r = np.exp(evaluate_log_ratio(ratio, prob.data().to_numpy()["m"][:, None]))

    def expected(value):
        return value * S + B - np.sum(np.log(value * S * r + B))

    values = {}
    for value in (0.4, 1.7):
        mu.setVal(value)
        values[value] = nll.getVal()
    assert values[1.7] - values[0.4] == pytest.approx(expected(1.7) - expected(0.4), rel=1e-8)


def test_mixture_pdf_survives_a_workspace_file(problem_and_ratio, tmp_path):
    prob, ratio = problem_and_ratio
    ROOT = import_root()
    ws = prob.workspace
    ws.Import(mixture_pdf(ratio, ws.var("mu"), ws.var("n_signal"), ws.var("n_background"), name="mix"), Silence=True)
    mu = ws.var("mu")
    mu.setVal(1.3)
    before = create_nll(ws.pdf("mix"), prob.data()).getVal()
    ws.writeToFile(str(tmp_path / "ws.root"))
    f = ROOT.TFile.Open(str(tmp_path / "ws.root"))
    read = f.Get(ws.GetName())
    read.var("mu").setVal(1.3)
    assert create_nll(read.pdf("mix"), read.data("obs_data")).getVal() == pytest.approx(before, rel=1e-12)
    f.Close()


def test_template_fit_uses_its_own_dataset(problem_and_ratio):
    prob, ratio = problem_and_ratio
    sample = simulate_components(prob, n_signal_events=2000, seed=4)
    pdf = template_pdf(prob, ratio, sample, n_bins=20, name="tpl")
    data = prob.workspace.data(pdf.getStringAttribute("roosbi_data"))
    assert data.numEntries() == prob.data().numEntries()
    assert pdf.mustBeExtended() and prob.workspace.var("score").getBins() == 20


def test_simulated_components_have_no_parameter_columns():
    prob = mixture(seed=1)
    sample = simulate_components(prob, n_signal_events=600, n_background_events=400, seed=7)
    assert sample.theta.shape == (1000, 0) and sample.parameters == [] and sample.input_names == ["m"]
    assert sample.y.sum() == 600
    signal = sample.x[sample.y == 1, 0]
    assert abs(np.mean(signal) - 125.0) < 0.5 and abs(np.std(signal) - 2.5) < 0.3
    again = simulate_components(prob, n_signal_events=600, n_background_events=400, seed=7)
    np.testing.assert_array_equal(sample.x, again.x)


def test_zero_parameter_sklearn_estimator_exports(tmp_path):
    """A classifier with no parameter input: fit, ONNX export and RooLearnedRatio agree."""
    prob = mixture(seed=1)
    sample = simulate_components(prob, n_signal_events=2000, seed=3)
    est = SklearnRatioEstimator(hidden=(8,), max_epochs=3, progress=False).fit(sample)
    ratio = learned_ratio(est.to_onnx(tmp_path / "model.onnx"), workspace=prob.workspace)
    m = np.linspace(100.0, 160.0, 13)[:, None]
    np.testing.assert_allclose(evaluate_log_ratio(ratio, m), est.log_ratio(m, np.empty(0)), rtol=1e-5, atol=1e-5)


def test_mixture_problem_rejects_bad_yields():
    with pytest.raises(InputError, match="n_signal .* must be positive"):
        mixture(n_signal=0.0)
    with pytest.raises(InputError, match="n_background .* must be positive"):
        mixture(n_background=-100.0)
    with pytest.raises(InputError, match="mu_observed"):
        mixture(mu_observed=7.0)


def test_problem_checks_its_components():
    prob = mixture(seed=1)
    with pytest.raises(InputError, match="no object named 'nope' \\(the signal\\)"):
        Problem(**{**prob.__dict__, "components": {"signal": "nope"}})


def test_mixture_pdf_rejects_bad_input(problem_and_ratio, mixture_demo):
    prob, ratio = problem_and_ratio
    ROOT = import_root()
    mu = prob.workspace.var("mu")
    for n_signal, n_background in ((0.0, B), (S, -1.0), (float("nan"), B)):
        with pytest.raises(InputError, match="must be positive and finite"):
            mixture_pdf(ratio, mu, n_signal, n_background)
    zero = ROOT.RooRealVar("zero_yield", "zero", 0.0)
    with pytest.raises(InputError, match="n_background .* must be positive"):
        mixture_pdf(ratio, mu, S, zero)
    log_ratio = learned_ratio(mixture_demo / "model.onnx", workspace=prob.workspace, name="lr", output="log_ratio")
    with pytest.raises(InputError, match="returns log_ratio; build it with learned_ratio\\(..., output='ratio'\\)"):
        mixture_pdf(log_ratio, mu, S, B)
    free = ROOT.RooRealVar("mu_free", "mu", 1.0)
    with pytest.raises(InputError, match="needs a finite range"):
        mixture_pdf(ratio, free, S, B)
    with pytest.raises(InputError, match="RooRealVar"):
        mixture_pdf(ratio, "mu", S, B)


def test_mixture_stages_refuse_a_problem_that_is_not_a_mixture(problem_and_ratio):
    prob, ratio = problem_and_ratio
    with pytest.raises(InputError, match="is not a mixture"):
        simulate_components(gauss1d(n_observed=10), n_signal_events=10)
    with pytest.raises(InputError, match="at least 2 bins"):
        template_pdf(prob, ratio, simulate_components(prob, n_signal_events=100), n_bins=1)
