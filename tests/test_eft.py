"""The EFT-like problem and the term machinery: term samples, gold from weights, the polynomial morph,
extended fits with the grid start. Real RooFit throughout."""

import numpy as np
import pytest

from roosbi.data.eft import MONOMIALS, eft, eft_cross_sections, eft_terms
from roosbi.data.terms import TermSample, joint_log_ratio, joint_score, quadratic_monomials, sample_from_terms
from roosbi.exceptions import InputError
from roosbi.inference import create_nll, fit_nll, grid_start
from roosbi.library import import_root
from roosbi.term_morph import expected_events, histograms_from, polynomial_morph, term_histograms

ROOT = import_root()
EDGES = np.linspace(-8.0, 10.0, 37)


@pytest.fixture(scope="module")
def problem():
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    return eft(seed=1)


@pytest.fixture(scope="module")
def terms(problem):
    return eft_terms(problem, n_events=100_000, seed=1)


@pytest.fixture(scope="module")
def sample(problem, terms):
    return sample_from_terms(
        terms, ["c2", "c1"], problem.parameter_ranges(), 20_000, problem.reference_point, seed=4
    )  # parameters reversed on purpose: the network order need not be the terms' order


def set_point(problem, theta):
    for name, value in zip(problem.parameters, theta, strict=True):
        problem.var(name).setVal(float(value))


def analytic_counts(problem, theta, edges=EDGES, n_sub=8):
    """Expected events per bin of the analytic extended model at theta (midpoint rule inside each bin)."""
    ws = problem.workspace
    x, model = ws.var("x"), ws.pdf("model")
    norm = ROOT.RooArgSet(x)
    set_point(problem, theta)
    counts = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        points = lo + (np.arange(n_sub) + 0.5) * (hi - lo) / n_sub
        values = []
        for v in points:
            x.setVal(float(v))
            values.append(model.getVal(norm))
        counts.append(np.mean(values) * (hi - lo))
    return np.array(counts) * model.expectedEvents(norm)


def latent_log_pdf(problem, z, theta):
    """log p(z | theta) from the workspace's latent pdf, one theta row per z."""
    ws = problem.workspace
    zvar, pdf = ws.var("z"), ws.pdf("latent_pdf")
    norm = ROOT.RooArgSet(zvar)
    out = np.empty(len(z))
    for i, (value, row) in enumerate(zip(z, theta, strict=True)):
        set_point(problem, row)
        zvar.setVal(float(value))
        out[i] = np.log(pdf.getVal(norm))
    return out


def chi2_per_bin(observed, expected, variance):
    keep = expected > 5
    return np.sum((observed[keep] - expected[keep]) ** 2 / variance[keep]) / keep.sum()


# --- the problem ------------------------------------------------------------------------------------------------


def test_problem_is_complete_and_persistable(problem, tmp_path):
    ws = problem.workspace
    assert problem.latents == ["z"] and problem.reference_point == {"c1": 0.0, "c2": 0.0}
    n_obs = problem.data().numEntries()
    set_point(problem, (0.3, 0.2))
    expected = ws.function(problem.components["expected_events"]).getVal()
    assert abs(n_obs - expected) < 4 * np.sqrt(expected)  # a Poisson number around sigma(truth) L
    assert 2500 < expected < 3500
    path = tmp_path / "eft.root"
    ws.writeToFile(str(path))
    file = ROOT.TFile.Open(str(path))
    saved = file.Get("w")
    saved.var("c1").setVal(0.3)
    saved.var("c2").setVal(0.2)
    assert saved.pdf("model").expectedEvents(ROOT.RooArgSet(saved.var("x"))) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("theta", [(0.0, 0.0), (0.3, 0.2), (-0.9, 0.8), (1.0, -1.0)])
def test_truncation_is_negligible(problem, theta):
    """The finite z and x ranges lose less than 1e-6 of any term: the analytic pdf is the untruncated one."""
    ws = problem.workspace
    set_point(problem, theta)
    full = ws.function("expected_events").getVal()
    assert ws.pdf("model").expectedEvents(ROOT.RooArgSet(ws.var("x"))) == pytest.approx(full, rel=1e-6)
    latent_norm = ws.pdf("latent_pdf").getNorm(ROOT.RooArgSet(ws.var("z")))
    luminosity = ws.var("luminosity").getVal()
    assert latent_norm * luminosity == pytest.approx(full, rel=1e-6)


@pytest.mark.parametrize("theta", [(0.0, 0.0), (0.3, 0.2), (-0.8, 0.9)])
def test_analytic_observed_pdf_matches_reweighted_events(problem, terms, theta):
    luminosity = problem.var("luminosity").getVal()
    w = terms.event_weights(theta) * luminosity
    observed = np.histogram(terms.x[:, 0], EDGES, weights=w)[0]
    variance = np.histogram(terms.x[:, 0], EDGES, weights=w**2)[0]
    expected = analytic_counts(problem, theta)
    assert chi2_per_bin(observed, expected, variance) < 2.0
    assert observed.sum() == pytest.approx(expected.sum(), rel=0.02)


def test_eft_terms_cross_sections_and_reproducibility(problem, terms):
    assert terms.weights.shape == (100_000, 6) and terms.z.shape == (100_000, 1)
    assert terms.term_names == ["1", "c1", "c2", "c1^2", "c1*c2", "c2^2"]
    assert terms.cross_sections == pytest.approx(eft_cross_sections(), rel=0.02, abs=2e-3)
    again = eft_terms(problem, n_events=1000, seed=7)
    assert np.array_equal(again.x, eft_terms(problem, n_events=1000, seed=7).x)
    assert not np.array_equal(again.x, eft_terms(problem, n_events=1000, seed=8).x)


def test_sigma_and_its_gradient_against_finite_differences(terms):
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, size=(20, 2))
    h = 1e-6
    for k in range(2):
        step = np.zeros(2)
        step[k] = h
        numeric = (terms.sigma(points + step) - terms.sigma(points - step)) / (2 * h)
        assert terms.sigma_gradient(points)[:, k] == pytest.approx(numeric, rel=1e-6, abs=1e-8)
        index = rng.integers(len(terms), size=50)
        theta = points[rng.integers(20, size=50)]
        numeric = (terms.event_weights(theta + step, index) - terms.event_weights(theta - step, index)) / (2 * h)
        assert terms.event_weight_gradients(theta, index)[:, k] == pytest.approx(numeric, rel=1e-5, abs=1e-12)
    # sigma from the terms is the analytic sigma(theta) (up to the sample's statistics)
    analytic = TermSample(np.zeros((1, 1)), eft_cross_sections()[None, :], MONOMIALS, ["x"], ["c1", "c2"])
    assert terms.sigma(points) == pytest.approx(analytic.sigma(points), rel=0.02)


# --- gold ------------------------------------------------------------------------------------------------------


def test_gold_from_weights_matches_the_latent_pdf(problem, terms):
    rng = np.random.default_rng(1)
    index = rng.integers(len(terms), size=200)
    theta = rng.uniform(-1, 1, size=(200, 2))
    z = terms.z[index, 0]
    exact = latent_log_pdf(problem, z, theta) - latent_log_pdf(problem, z, np.zeros((200, 2)))
    # the weights' ratio uses the sample's cross sections: off by their statistical error (~1%)
    assert joint_log_ratio(terms, theta, (0.0, 0.0), index) == pytest.approx(exact, abs=0.03)
    h = 1e-5
    for k in range(2):
        step = np.zeros(2)
        step[k] = h
        numeric = (latent_log_pdf(problem, z, theta + step) - latent_log_pdf(problem, z, theta - step)) / (2 * h)
        assert joint_score(terms, theta, index)[:, k] == pytest.approx(numeric, rel=0.02, abs=0.05)


def test_sample_from_terms_carries_the_gold_of_its_events(terms, sample):
    assert sample.has_gold and sample.parameters == ["c2", "c1"]
    assert sample.reference == "point c2=0, c1=0"
    row_of = {value: i for i, value in enumerate(terms.x[:, 0])}
    index = np.array([row_of[value] for value in sample.x[:, 0]])
    theta = sample.theta[:, ::-1]  # back to the terms' order (c1, c2)
    assert sample.joint_log_ratio == pytest.approx(joint_log_ratio(terms, theta, (0.0, 0.0), index))
    assert sample.joint_score == pytest.approx(joint_score(terms, theta, index)[:, ::-1])


def test_reference_events_average_the_joint_ratio_to_one(sample):
    ratio = np.exp(sample.joint_log_ratio[sample.y == 0])
    assert abs(ratio.mean() - 1.0) < 4 * ratio.std() / np.sqrt(len(ratio))
    target = sample.theta[sample.y == 1]
    assert target.min() >= -1 and target.max() <= 1 and abs(target.mean()) < 0.03  # the uniform prior
    assert np.array_equal(sample.weights, np.ones(len(sample)))


def test_unweighted_target_events_follow_the_analytic_model(problem, sample):
    """Target x drawn at prior theta are distributed as the prior average of the analytic p(x | theta)."""
    target = sample.y == 1
    edges = np.linspace(-5.0, 7.0, 25)
    observed = np.histogram(sample.x[target, 0], edges)[0]
    shapes = [analytic_counts(problem, t, edges, n_sub=4) for t in sample.theta[target][:60, ::-1]]
    probabilities = np.array([s / s.sum() for s in shapes])
    expected = probabilities.mean(axis=0) * observed.sum()
    # 60 theta stand for the prior in the expectation: add their spread to the Poisson variance
    spread = probabilities.std(axis=0) / np.sqrt(len(shapes)) * observed.sum()
    assert chi2_per_bin(observed, expected, expected + spread**2) < 2.0


def test_sample_from_terms_is_reproducible_and_weighted_works(problem, terms):
    args = (terms, problem.parameters, problem.parameter_ranges(), 2000, problem.reference_point)
    a, b, c = sample_from_terms(*args, seed=3), sample_from_terms(*args, seed=3), sample_from_terms(*args, seed=4)
    for column in ("x", "theta", "y", "weights", "joint_log_ratio", "joint_score"):
        assert np.array_equal(getattr(a, column), getattr(b, column))
    assert not np.array_equal(a.x, c.x)
    weighted = sample_from_terms(*args, seed=3, method="weighted")
    for label in (0, 1):
        assert weighted.weights[weighted.y == label].sum() == pytest.approx(2000)
    assert not np.allclose(weighted.weights, 1.0)


# --- the polynomial morph -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def morph(problem, terms):
    ws = problem.workspace
    histograms = term_histograms(terms, bins=36, ranges=[(-8.0, 10.0)])
    pdf = polynomial_morph(histograms, [ws.var("x")], [ws.var("c1"), ws.var("c2")], ws.var("luminosity"))
    ws.Import(pdf, Silence=True, RecycleConflictNodes=True)
    return ws.pdf("morph_pdf"), histograms


@pytest.mark.parametrize("theta", [(0.0, 0.0), (0.3, 0.2), (-0.8, 0.9)])
def test_morph_equals_the_analytic_expected_histogram(problem, terms, morph, theta):
    pdf, histograms = morph
    x = problem.var("x")
    norm = ROOT.RooArgSet(x)
    set_point(problem, theta)
    centres = 0.5 * (EDGES[1:] + EDGES[:-1])
    values = []
    for v in centres:
        x.setVal(float(v))
        values.append(pdf.getVal(norm))
    morphed = np.array(values) * np.diff(EDGES) * pdf.expectedEvents(norm)
    luminosity = problem.var("luminosity").getVal()
    # equal up to the floor in the SM term's empty bins (1e-4 of its mean bin, 0.007 events here)
    assert morphed == pytest.approx(histograms.expected(theta, luminosity), rel=1e-6, abs=0.01)
    w = terms.event_weights(theta) * luminosity
    variance = np.histogram(terms.x[:, 0], EDGES, weights=w**2)[0]
    assert chi2_per_bin(morphed, analytic_counts(problem, theta), variance) < 2.0


def test_morph_from_root_and_numpy_histograms(problem, terms, morph):
    _, histograms = morph
    ths, datahists, arrays = [], [], []
    x = problem.var("x")
    for i, counts in enumerate(histograms.counts):
        th = ROOT.TH1D(f"term{i}", "", 36, -8.0, 10.0)
        for b, value in enumerate(counts):
            th.SetBinContent(b + 1, value)
            th.SetBinError(b + 1, np.sqrt(histograms.variances[i][b]))
        ths.append(th)
        datahists.append(
            ROOT.RooDataHist.from_numpy(counts, [x], bins=[EDGES], weights_squared_sum=histograms.variances[i])
        )
        arrays.append((counts, EDGES))
    for given in (ths, datahists, arrays):
        converted = histograms_from(given, MONOMIALS, ["c1", "c2"], ["x"])
        assert converted.counts == pytest.approx(histograms.counts, rel=1e-12, abs=1e-15)
        assert converted.edges[0] == pytest.approx(EDGES)
    assert histograms_from(ths, MONOMIALS, ["c1", "c2"], ["x"]).variances == pytest.approx(histograms.variances)


def test_morph_is_persistable(problem, morph, tmp_path):
    pdf, _ = morph
    x = problem.var("x")
    set_point(problem, (-0.5, 0.6))
    x.setVal(1.3)
    value, n_expected = pdf.getVal(ROOT.RooArgSet(x)), pdf.expectedEvents(ROOT.RooArgSet(x))
    path = tmp_path / "morph.root"
    problem.workspace.writeToFile(str(path))
    file = ROOT.TFile.Open(str(path))
    saved = file.Get("w")
    for name, v in (("c1", -0.5), ("c2", 0.6), ("x", 1.3)):
        saved.var(name).setVal(v)
    norm = ROOT.RooArgSet(saved.var("x"))
    assert saved.pdf("morph_pdf").getVal(norm) == pytest.approx(value, rel=1e-12)
    assert saved.pdf("morph_pdf").expectedEvents(norm) == pytest.approx(n_expected, rel=1e-12)


def test_morph_in_two_observables():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 2))
    weights = np.column_stack([np.ones(5000), 0.3 * x[:, 0], np.exp(-(x[:, 1] ** 2))]) / 5000
    histograms = term_histograms(
        TermSample(x, weights, quadratic_monomials(["c"]), ["a", "b"], ["c"]), bins=[4, 3], ranges=[(-3, 3), (-2, 4)]
    )
    a, b = ROOT.RooRealVar("a", "a", -3, 3), ROOT.RooRealVar("b", "b", -2, 4)
    c = ROOT.RooRealVar("c", "c", 0.7, -1, 1)
    pdf = polynomial_morph(histograms, [a, b], [c], 100.0, name="morph2d", floor=0.0)
    norm = ROOT.RooArgSet(a, b)
    got = np.empty((4, 3))
    for i, u in enumerate(0.5 * (histograms.edges[0][1:] + histograms.edges[0][:-1])):
        for j, v in enumerate(0.5 * (histograms.edges[1][1:] + histograms.edges[1][:-1])):
            a.setVal(u)
            b.setVal(v)
            got[i, j] = pdf.getVal(norm) * 1.5 * 2.0 * pdf.expectedEvents(norm)
    assert got == pytest.approx(histograms.expected([0.7], 100.0), rel=1e-9, abs=1e-12)
    with pytest.raises(InputError, match="range is"):
        polynomial_morph(histograms, [a, ROOT.RooRealVar("b", "b", -2, 5)], [c], 100.0)


def test_expected_events_extends_a_shape(problem, terms):
    ws = problem.workspace
    params = [ws.var("c1"), ws.var("c2")]
    n_expected = expected_events(params, MONOMIALS, terms.cross_sections, 2500.0, name="n_terms")
    extended = ROOT.RooExtendPdf("extended_reference", "", ws.pdf("reference"), n_expected)
    set_point(problem, (-0.4, 0.7))
    assert n_expected.getVal() == pytest.approx(2500.0 * terms.sigma((-0.4, 0.7))[0], rel=1e-12)
    assert extended.expectedEvents(ROOT.RooArgSet(ws.var("x"))) == pytest.approx(n_expected.getVal())


# --- fits -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["model", "morph_pdf"])
def test_extended_fit_from_the_grid_start_recovers_the_truth(problem, morph, which):
    pars = [problem.var("c1"), problem.var("c2")]
    nll = create_nll(problem.workspace.pdf(which), problem.data())
    start = grid_start(nll, pars, n_per_axis=11)
    assert start["c1"] > 0  # the grid sees the global minimum, not the sign-flipped one
    fit = fit_nll(nll, pars, start)
    assert fit.status == 0 and not fit.flags
    for name, value in problem.truth.items():
        assert abs(fit.params[name].value - value) < 3 * fit.params[name].error
        assert 0.01 < fit.params[name].error < 0.06
    # MIGRAD started on the wrong side of c1 stays in the local minimum, with Minuit status 0
    local = fit_nll(nll, pars, {"c1": -0.8, "c2": 0.4}, minos=False, check_points=0)
    assert local.status == 0 and local.params["c1"].value < -0.5 and local.nll_min > fit.nll_min + 50


def test_morph_fit_agrees_with_the_analytic_fit(problem, morph):
    pars = [problem.var("c1"), problem.var("c2")]
    fits = {}
    for which in ("model", "morph_pdf"):
        nll = create_nll(problem.workspace.pdf(which), problem.data())
        fits[which] = fit_nll(nll, pars, grid_start(nll, pars), minos=False, check_points=0)
    for name in problem.parameters:
        analytic = fits["model"].params[name]
        assert abs(fits["morph_pdf"].params[name].value - analytic.value) < 0.5 * analytic.error


def test_grid_start_evaluates_cell_centres_and_restores_values():
    ws = ROOT.RooWorkspace("grid")
    ws.factory("Gaussian::g(x[-10, 10], mu[0.3, -2, 2], 1)")
    data = ws.pdf("g").generate(ROOT.RooArgSet(ws.var("x")), 200)
    nll = create_nll(ws.pdf("g"), data)
    mu = ws.var("mu")
    mu.setVal(1.7)
    start = grid_start(nll, [mu], n_per_axis=4)
    assert start["mu"] in (-1.5, -0.5, 0.5, 1.5) and mu.getVal() == 1.7
    with pytest.raises(InputError, match="lower n_per_axis"):
        grid_start(nll, [mu], n_per_axis=30_000)


# --- bad inputs -------------------------------------------------------------------------------------------------


def small_terms(**changes):
    rng = np.random.default_rng(0)
    args = {
        "x": rng.normal(size=50),
        "weights": np.abs(rng.normal(size=(50, 3))),
        "monomials": quadratic_monomials(["c"]),
        "observables": ["x"],
        "parameters": ["c"],
    }
    args.update(changes)
    return TermSample(**args)


def test_bad_term_samples_are_refused():
    weights = np.ones((50, 3))
    weights[7, 1] = np.nan
    with pytest.raises(InputError, match="'weights' holds 1 NaN/Inf.*event 7"):
        small_terms(weights=weights)
    with pytest.raises(InputError, match=r"shape \(50, 3\) for 3 monomials"):
        small_terms(weights=np.ones((50, 4)))
    with pytest.raises(InputError, match="unknown parameter.*c3"):
        small_terms(monomials=[{}, {"c": 1}, {"c3": 1}])
    with pytest.raises(InputError, match="one exponent per parameter"):
        small_terms(monomials=[(0,), (1,), (1, 1)])
    with pytest.raises(InputError, match="same monomial"):
        small_terms(monomials=[(0,), (1,), (1,)])
    with pytest.raises(InputError, match="shape"):
        small_terms(x=np.ones((50, 2)))


def test_ranges_where_the_cross_section_is_not_positive_are_refused():
    # sigma(c) = 1 + 3 c + c^2 is negative between -2.62 and -0.38
    weights = np.tile([1.0, 3.0, 1.0], (50, 1)) / 50
    terms = small_terms(weights=weights)
    assert terms.check_cross_section({"c": (0.0, 1.0)})[0] == pytest.approx(1.0)
    with pytest.raises(InputError, match=r"sigma\(theta\).*<= 0 at c=.*Narrow the ranges"):
        terms.check_cross_section({"c": (-1.0, 1.0)})
    with pytest.raises(InputError, match="<= 0"):
        sample_from_terms(terms, ["c"], {"c": (-1.0, 1.0)}, 100, {"c": 0.0})
    # (1 + c)^2 - 1e-4 is negative only for |1 + c| < 0.01, between the check's grid points: found too
    narrow = small_terms(weights=np.tile([1.0 - 1e-4, 2.0, 1.0], (50, 1)) / 50)
    with pytest.raises(InputError, match="<= 0 at c=-1,"):
        narrow.check_cross_section({"c": (-1.3, 1.0)})
    with pytest.raises(InputError, match="<= 0"):  # a double root, zero to rounding
        small_terms(weights=np.tile([1.0, 2.0, 1.0], (50, 1)) / 50).check_cross_section({"c": (-1.3, 1.0)})


def test_bad_sampling_arguments_are_refused(problem, terms):
    ranges = problem.parameter_ranges()
    with pytest.raises(InputError, match="outside its range"):
        sample_from_terms(terms, problem.parameters, ranges, 100, {"c1": 2.0, "c2": 0.0})
    with pytest.raises(InputError, match="must be the term sample's parameters"):
        sample_from_terms(terms, ["c1", "mu"], ranges, 100, {"c1": 0.0, "mu": 0.0})
    with pytest.raises(InputError, match="method"):
        sample_from_terms(terms, problem.parameters, ranges, 100, (0.0, 0.0), method="resample")
    with pytest.raises(InputError, match="range for each"):
        sample_from_terms(terms, problem.parameters, {"c1": (-1, 1)}, 100, (0.0, 0.0))
    with pytest.raises(InputError, match="inside c_range"):
        eft(c_observed=(1.5, 0.0))


def test_negative_event_weights_need_the_weighted_method():
    weights = np.tile([1.0, 0.0, 1.0], (50, 1))
    weights[3] = [0.1, -1.0, 0.1]  # an interference-dominated event, negative for c > 0.1
    terms = small_terms(weights=weights)
    with pytest.raises(InputError, match="method='weighted'"):
        sample_from_terms(terms, ["c"], {"c": (-1.0, 1.0)}, 2000, {"c": 0.0}, gold=False)
    sample = sample_from_terms(terms, ["c"], {"c": (-1.0, 1.0)}, 2000, {"c": 0.0}, method="weighted", gold=False)
    assert (sample.weights < 0).any() and not sample.has_gold
    with pytest.raises(InputError, match="gold=False"):
        sample_from_terms(terms, ["c"], {"c": (-1.0, 1.0)}, 2000, {"c": 0.0}, method="weighted")
