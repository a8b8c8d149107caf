import numpy as np
import pytest

from roosbi.data.builtin import gauss1d
from roosbi.data.problems import Problem, make_problem
from roosbi.data.simulate import simulate
from roosbi.exceptions import InputError


def test_simulation_is_reproducible_and_follows_the_model(problem):
    a = simulate(problem, n_target=5000, seed=11)
    b = simulate(problem, n_target=5000, seed=11)
    c = simulate(problem, n_target=5000, seed=12)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)
    target = a.y == 1
    residual = a.x[target, 0] - a.theta[target, 0]
    assert abs(residual.mean()) < 0.08 and abs(residual.std() - 1.5) < 0.06
    assert a.theta.min() >= 0.0 and a.theta.max() <= 4.0
    ref = a.x[~target, 0]
    assert ref.min() >= -5 and ref.max() <= 15 and abs(ref.mean() - 5.0) < 0.3
    # The reference events carry the same theta values as the target events.
    np.testing.assert_array_equal(a.theta[target], a.theta[~target])


def test_observed_data_follow_the_seed():
    d1, d2 = gauss1d(seed=4).data(), gauss1d(seed=4).data()
    assert d1.numEntries() == 1000
    np.testing.assert_array_equal(d1.to_numpy()["x"], d2.to_numpy()["x"])


def test_unknown_names_are_refused(problem):
    ws = problem.workspace
    with pytest.raises(InputError, match="no pdf named 'gaus'.*gauss"):
        Problem("p", ws, "gaus", "uniform", ["x"], ["mu"], "obs_data")
    with pytest.raises(InputError, match="no variable named 'nu'"):
        Problem("p", ws, "gauss", "uniform", ["x"], ["nu"], "obs_data")
    with pytest.raises(InputError, match="no dataset named 'data'"):
        Problem("p", ws, "gauss", "uniform", ["x"], ["mu"], "data")
    with pytest.raises(InputError, match="unknown problem"):
        make_problem("gauss7d")


# ----------------------------------------------------------------------------- priors and references


def test_prior_from_a_roofit_pdf(problem):
    problem.workspace.factory("Gaussian::prior(mu, 2.0, 0.5)")
    a = simulate(problem, n_target=20_000, seed=3, prior="prior")
    b = simulate(problem, n_target=20_000, seed=3, prior=problem.workspace.pdf("prior"))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    theta = a.theta[a.y == 1, 0]
    assert abs(theta.mean() - 2.0) < 0.02 and abs(theta.std() - 0.5) < 0.02
    assert theta.min() >= 0.0 and theta.max() <= 4.0
    assert a.reference == "pdf uniform"


def test_bad_priors_are_refused(problem):
    ws = problem.workspace
    ws.factory("Gaussian::px(x, 2.0, 0.5)")
    with pytest.raises(InputError, match="depends on the observable 'x'"):
        simulate(problem, n_target=100, prior="px")
    with pytest.raises(InputError, match="no pdf named 'nope' for the prior"):
        simulate(problem, n_target=100, prior="nope")
    two = make_problem("gauss2d")
    two.workspace.factory("Gaussian::prior0(mu0, 2.0, 0.5)")
    with pytest.raises(InputError, match="does not depend on mu1"):
        simulate(two, n_target=100, prior="prior0")


def test_reference_at_a_fixed_parameter_point(problem):
    s = simulate(problem, n_target=20_000, seed=4, reference={"mu": 1.0})
    ref = s.x[s.y == 0, 0]
    assert abs(ref.mean() - 1.0) < 0.05 and abs(ref.std() - 1.5) < 0.05
    np.testing.assert_array_equal(s.theta[s.y == 1], s.theta[s.y == 0])
    assert s.reference == "point mu=1"
    with pytest.raises(InputError, match="unknown: nu"):
        simulate(problem, n_target=100, reference={"mu": 1.0, "nu": 2.0})
    with pytest.raises(InputError, match="outside its range"):
        simulate(problem, n_target=100, reference={"mu": 7.0})
    with pytest.raises(InputError, match="reference must be"):
        simulate(problem, n_target=100, reference=3.0)


def test_marginal_reference_decouples_x_and_theta(problem):
    s = simulate(problem, n_target=40_000, seed=5, reference="marginal")
    target, ref = s.y == 1, s.y == 0
    assert s.reference == "marginal"
    # x of the reference follows the marginal: mean 2, variance 1.5^2 + 4^2 / 12
    assert abs(s.x[ref, 0].mean() - 2.0) < 0.05 and abs(s.x[ref, 0].std() - np.sqrt(2.25 + 16 / 12)) < 0.05
    assert np.corrcoef(s.x[target, 0], s.theta[target, 0])[0, 1] > 0.5
    assert abs(np.corrcoef(s.x[ref, 0], s.theta[ref, 0])[0, 1]) < 0.02
    # both classes carry the same theta values
    np.testing.assert_array_equal(np.sort(s.theta[target, 0]), np.sort(s.theta[ref, 0]))


def test_marginal_reference_learns_likelihood_to_evidence(problem):
    """A real small network trained against the marginal learns log p(x|mu) - log p(x)."""
    from scipy.stats import norm

    from roosbi.estimators import TorchRatioEstimator

    sample = simulate(problem, n_target=30_000, seed=6, reference="marginal")
    est = TorchRatioEstimator(hidden=(32, 32), n_members=2, max_epochs=25, seed=2, progress=False).fit(sample)
    mu = 2.0
    x = np.linspace(mu - 2.5, mu + 2.5, 41)
    evidence = (norm.cdf(x / 1.5) - norm.cdf((x - 4.0) / 1.5)) / 4.0  # integral of N(x; m, 1.5) / 4 over m in [0, 4]
    exact = norm.logpdf(x, mu, 1.5) - np.log(evidence)
    learned = est.log_ratio(x[:, None], [mu])
    assert np.max(np.abs(learned - exact)) < 0.2


def test_the_single_process_sample_is_that_of_earlier_versions():
    """simulate() without workers draws what roosbi drew before parallel simulation existed
    (values written by the previous version; the demo's numbers depend on them)."""
    a = simulate(gauss1d(seed=3), n_target=2000, seed=5)
    assert a.x[:3, 0].tolist() == [4.669568302858683, 1.7550677929050909, 0.370547548506694]
    assert a.theta[:3, 0].tolist() == [3.2200116949815207, 3.231763158945975, 2.061302244168568]
    assert float(a.x.sum()) == 13899.88421233335 and float(a.theta.sum()) == 7870.542713498921
    b = simulate(gauss1d(seed=3), n_target=1000, n_reference=1500, seed=6, reference="marginal")
    assert float(b.x.sum()) == 5011.766769334501 and float(b.theta.sum()) == 5079.143656314424
