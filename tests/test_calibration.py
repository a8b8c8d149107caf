"""Calibration of a learned ratio on held-out events: the checks, the fits, the C++ object, the demo."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from roosbi.demo import run_demo
from roosbi.exceptions import InputError
from roosbi.library import import_root
from roosbi.onnx import DenseNetwork
from roosbi.roofit import evaluate_log_ratio, ratio_from_network
from roosbi.stats.calibration import (
    RatioCalibration,
    fit_calibration,
    normalization_check,
    reliability_curve,
    shrunk_log_correction,
)

ROOT = import_root()


def _gaussian_classes(n: int = 20_000, shift: float = 1.0, seed: int = 1):
    """Target N(shift, 1) against reference N(0, 1): labels, x and the exact log r."""
    rng = np.random.default_rng(seed)
    y = np.repeat([1.0, 0.0], n)
    x = rng.normal(loc=shift * y)
    return y, x, shift * x - 0.5 * shift**2


def _network() -> DenseNetwork:
    """A fixed 2-3-1 tanh network of (x, mu)."""
    return DenseNetwork(
        weights=[np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.25]]), np.array([[0.7, -0.6, 0.9]])],
        biases=[np.array([0.1, -0.3, 0.2]), np.array([0.05])],
        activations=["tanh", "identity"],
        activation_params=[0.0, 0.0],
    )


def _calibration(knots_in, knots_out, log_norm: float) -> RatioCalibration:
    y, _, log_r = _gaussian_classes(200)
    cal = fit_calibration(log_r, y, method="none")
    cal.knots_in, cal.knots_out, cal.log_normalization = np.array(knots_in), np.array(knots_out), log_norm
    return cal


# --- checks on held-out events ----------------------------------------------------------------


def test_the_exact_ratio_passes_the_normalization_check_and_a_scaled_one_fails():
    y, _, log_r = _gaussian_classes()
    exact = normalization_check(log_r[y == 0])
    assert abs(exact.pull) < 3
    scaled = normalization_check(log_r[y == 0] + np.log(1.1))
    assert scaled.mean == pytest.approx(1.1 * exact.mean)
    assert scaled.pull > 3


def test_normalization_check_uses_the_effective_number_of_weighted_events():
    rng = np.random.default_rng(2)
    log_r = rng.normal(0.0, 0.3, size=4000)
    weights = np.where(np.arange(4000) % 2 == 0, 3.0, 1.0)
    check = normalization_check(log_r, weights)
    assert check.n_effective == pytest.approx(weights.sum() ** 2 / np.sum(weights**2))
    assert check.mean == pytest.approx(np.average(np.exp(log_r), weights=weights))


def test_reliability_curve_tells_a_calibrated_classifier_from_an_overconfident_one():
    y, _, log_r = _gaussian_classes()
    good = reliability_curve(log_r, y)
    assert np.all(np.abs(good.observed - good.predicted) < 4 * good.observed_error)
    bad = reliability_curve(3 * log_r, y)  # overconfident: scores too close to 0 and 1
    assert bad.predicted[-1] - bad.observed[-1] > 10 * bad.observed_error[-1]
    assert bad.n_events.sum() == len(y)


# --- fitting a calibration --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_a_distorted_ratio_is_mapped_back_to_the_exact_one(method):
    y, _, exact = _gaussian_classes(n=40_000)
    distorted = 2.0 * exact + 0.4  # overconfident and off in scale
    cal = fit_calibration(distorted, y, method=method, n_bins=20)
    inner = (exact > -2) & (exact < 2)  # where the held-out events are dense
    error = cal.transform(distorted[inner]) - exact[inner]
    assert np.sqrt(np.mean(error**2)) < 0.1
    assert np.sqrt(np.mean((distorted[inner] - exact[inner]) ** 2)) > 0.5
    after = reliability_curve(cal.transform(distorted), y)
    assert np.all(np.abs(after.observed - after.predicted) < 0.03)


def test_normalization_correction_divides_by_the_mean_over_the_reference():
    y, _, exact = _gaussian_classes(n=40_000)
    cal = fit_calibration(exact + np.log(1.25), y, method="normalization")
    assert cal.correction == pytest.approx(1.25, rel=0.03)
    assert len(cal.knots_in) == 0
    calibrated = normalization_check(cal.transform(exact + np.log(1.25))[y == 0])
    assert calibrated.mean == pytest.approx(1.0, abs=3 * calibrated.error)


def test_a_correction_within_its_error_is_shrunk_away():
    check = normalization_check(np.log(np.full(100, 1.0)) + np.random.default_rng(1).normal(0, 0.5, 100))
    t, s = np.log(check.mean), check.error / check.mean
    shrunk = shrunk_log_correction(check)
    if abs(t) <= s:
        assert shrunk == 0.0
    else:
        assert abs(shrunk) < abs(t)
    clear = normalization_check(np.full(100, np.log(1.3)) + np.random.default_rng(2).normal(0, 0.01, 100))
    assert shrunk_log_correction(clear) == pytest.approx(np.log(clear.mean), rel=1e-3)


def test_none_records_the_checks_and_changes_nothing():
    y, _, exact = _gaussian_classes(n=2000)
    cal = fit_calibration(exact + 0.3, y, method="none")
    assert cal.log_normalization == 0.0
    assert cal.before.mean > 1.2
    np.testing.assert_array_equal(cal.transform(exact), exact)
    assert cal.as_dict()["reliability_before"]["n_events"]


def test_bad_calibration_input_is_refused():
    y, _, log_r = _gaussian_classes(n=500)
    with pytest.raises(InputError, match="unknown calibration method 'platt'"):
        fit_calibration(log_r, y, method="platt")
    with pytest.raises(InputError, match="class 1 has none"):
        fit_calibration(log_r[y == 0], y[y == 0])
    with pytest.raises(InputError, match="too few"):
        fit_calibration(np.r_[log_r[:15], log_r[-15:]], np.r_[y[:15], y[-15:]], n_bins=20)
    with pytest.raises(InputError, match="labels must be 0"):
        fit_calibration(log_r, y * 2)
    with pytest.raises(InputError, match="not finite"):
        fit_calibration(np.where(y == 1, np.nan, log_r), y)
    with pytest.raises(InputError, match="1000 labels for 999 events"):
        fit_calibration(log_r[:-1], y)


# --- in the C++ object ------------------------------------------------------------------------


def test_the_cpp_object_applies_the_calibration_everywhere(problem):
    ws = problem.workspace
    x, mu = ws.var("x"), ws.var("mu")
    ratio = ratio_from_network(_network(), [x, mu], name="calibrated", output="log_ratio")
    rows = np.column_stack([np.linspace(-5, 15, 41), np.full(41, 1.5)])
    raw = evaluate_log_ratio(ratio, rows)
    cal = _calibration([-0.5, 0.0, 0.5], [-0.8, 0.1, 0.3], 0.2)
    cal.apply(ratio)
    assert ratio.isCalibrated()
    expected = cal.transform(raw)
    np.testing.assert_allclose(evaluate_log_ratio(ratio, rows), expected, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(evaluate_log_ratio(ratio, rows, calibrated=False), raw)
    mu.setVal(1.5)
    for row, value in zip(rows[::10], expected[::10], strict=True):  # evaluate(), one event at a time
        x.setVal(row[0])
        assert ratio.getVal() == pytest.approx(value, abs=1e-13)
    # Beyond the knots: slope 1 from the end knots.
    assert cal.transform(np.array([2.0]))[0] == pytest.approx(0.3 + 1.5 - 0.2)
    ratio.setCalibration([], [], 0.0)
    assert not ratio.isCalibrated()


def test_the_integral_and_batches_see_the_calibration(problem):
    ws = problem.workspace
    x, mu = ws.var("x"), ws.var("mu")
    ratio = ratio_from_network(_network(), [x, mu], name="scaled", output="ratio")
    code = ratio.getAnalyticalIntegral(ROOT.RooArgSet(x), ROOT.RooArgSet())
    assert code > 0
    integral = ratio.analyticalIntegral(code)
    ratio.setCalibration([], [], np.log(4.0))
    assert ratio.analyticalIntegral(code) == pytest.approx(integral / 4.0, rel=1e-12)
    # An NLL of r normalised over x (by the integral above) through RooFit's batch and scalar paths.
    ratio.setCalibration([-0.5, 0.5], [-1.0, 0.7], 0.3)
    pdf = ROOT.RooWrapperPdf("scaled_pdf", "", ratio, False)
    data = ROOT.RooDataSet.from_numpy({"x": np.linspace(-5, 15, 100)}, ROOT.RooArgSet(x))
    batch = pdf.createNLL(data, EvalBackend="cpu").getVal()
    scalar = pdf.createNLL(data, EvalBackend="legacy").getVal()
    assert batch == pytest.approx(scalar, rel=1e-12)
    rows = np.column_stack([np.linspace(-5, 15, 100), np.full(100, mu.getVal())])
    log_r = evaluate_log_ratio(ratio, rows)
    assert batch == pytest.approx(-np.sum(log_r) + 100 * np.log(ratio.analyticalIntegral(code)), rel=1e-10)


def test_bad_knots_are_refused_before_and_by_the_object(problem):
    ws = problem.workspace
    ratio = ratio_from_network(_network(), [ws.var("x"), ws.var("mu")], name="bad_knots")
    bad = [
        ([0.0, 0.0], [1.0, 2.0], 0.0, "strictly increasing"),
        ([0.0], [1.0, 2.0], 0.0, "one output per knot"),
        ([0.0], [np.nan], 0.0, "finite"),
        ([], [], np.inf, "finite"),
    ]
    for knots_in, knots_out, norm, match in bad:
        with pytest.raises(InputError, match=match):
            _calibration(knots_in, knots_out, norm).apply(ratio)
        with pytest.raises(Exception, match="setCalibration"):  # the C++ object checks too
            ratio.setCalibration(knots_in, knots_out, norm)
    assert not ratio.isCalibrated()


def test_the_calibration_is_written_with_the_workspace(problem, tmp_path):
    ws = problem.workspace
    ratio = ratio_from_network(_network(), [ws.var("x"), ws.var("mu")], name="stored", output="log_ratio")
    _calibration([-1.0, 1.0], [-0.5, 0.7], 0.125).apply(ratio)
    ws.Import(ratio, Silence=True)
    path = tmp_path / "ws.root"
    ws.writeToFile(str(path))
    expected = ws.function("stored").getVal()
    code = textwrap.dedent(f"""
        import warnings; warnings.simplefilter("ignore")
        import roosbi, ROOT
        r = ROOT.TFile.Open("{path}").Get("w").function("stored")
        print("VALUE", repr(r.getVal()), list(r.calibrationIn()), r.logNormalization())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    value, knots = out.stdout.split("VALUE ")[1].split(" ", 1)
    assert float(value) == pytest.approx(expected, abs=1e-14)
    assert knots.strip() == "[-1.0, 1.0] 0.125"


# --- the mixture demo -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory):
    """The mixture demo with a network trained briefly (5 epochs on 4000 + 4000 events): far off its normalisation."""
    out = tmp_path_factory.mktemp("mixture")
    settings = {"max_epochs": 5}
    results = run_demo("mixture", out=out, n_train=5000, estimator_settings=settings, progress=False)
    return out, results


def test_the_mixture_demo_calibrates_on_held_out_events(mixture_run):
    out, results = mixture_run
    cal = results["calibration"]
    assert cal["method"] == "normalization"
    assert cal["n_target"] == cal["n_reference"] == 1000
    before = cal["normalization_before"]
    assert before["error"] > 0 and before["n_events"] == 1000
    assert cal["correction"] == pytest.approx(before["mean"], rel=0.05)
    assert (out / "calibration.png").stat().st_size > 10_000
    assert "Calibration (normalization)" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["calibration"]["correction"] == cal["correction"]


def test_the_calibrated_mixture_ratio_is_normalised_on_fresh_events(mixture_run):
    """Over background events the network never saw, the stored ratio averages 1 within its errors."""
    out, results = mixture_run
    f = ROOT.TFile.Open(str(out / "workspace.root"))
    ws = f.Get("w")
    ratio = next(r for r in ws.allFunctions() if r.InheritsFrom("RooLearnedRatio"))
    assert ratio.logNormalization() == pytest.approx(results["calibration"]["log_normalization"])
    ROOT.RooRandom.randomGenerator().SetSeed(11)
    fresh = ws.pdf("background").generate(ROOT.RooArgSet(ws.var("m")), 20_000)
    m = fresh.to_numpy()["m"][:, None]
    calibrated = normalization_check(evaluate_log_ratio(ratio, m))
    network = normalization_check(evaluate_log_ratio(ratio, m, calibrated=False))
    cal_error = results["calibration"]["normalization_before"]["error"]
    assert abs(calibrated.mean - 1) < 3 * np.hypot(calibrated.error, cal_error)
    assert abs(calibrated.mean - 1) < abs(network.mean - 1)
    # What that does to the fit: the calibrated learned mu is close to the analytic one.
    fits = results["fits"]
    assert (
        abs(fits["learned"]["params"]["mu"]["value"] - fits["analytic"]["params"]["mu"]["value"])
        < (fits["analytic"]["params"]["mu"]["error"])
    )
    f.Close()


def test_calibration_is_refused_where_it_does_not_apply(tmp_path):
    with pytest.raises(InputError, match="applies to the mixture"):
        run_demo("gauss1d", out=tmp_path, calibration="isotonic")
    with pytest.raises(InputError, match="unknown calibration 'platt'"):
        run_demo("mixture", out=tmp_path, calibration="platt")
    assert not any(tmp_path.iterdir())
