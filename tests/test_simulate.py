import numpy as np
import pytest

from roosbi.exceptions import InputError
from roosbi.problems import Problem, gauss1d, make_problem
from roosbi.simulate import simulate


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
