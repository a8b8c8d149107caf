"""Scale (issue 11): torch's threads during a fit, the automatic batch size and learning rate, and
parallel simulation that gives the same sample for any number of workers."""

import logging
import math

import numpy as np
import pytest
import torch

from roosbi.data.builtin import gauss1d, smeared
from roosbi.data.parallel import chunk_seed, chunk_sizes, simulate_parallel
from roosbi.data.sample import TrainingSample
from roosbi.data.simulate import simulate
from roosbi.estimators import TorchRatioEstimator
from roosbi.estimators.resources import (
    WORK_PER_THREAD,
    auto_batch_size,
    auto_learning_rate,
    choose_threads,
    torch_default_threads,
    usable_cpus,
)
from roosbi.exceptions import InputError
from roosbi.onnx import read_metadata


def _sample(n=600, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.0, 4.0, size=n)
    x = np.concatenate([rng.normal(mu[: n // 2], 1.5), rng.uniform(-5.0, 15.0, size=n - n // 2)])
    y = np.r_[np.ones(n // 2), np.zeros(n - n // 2)]
    return TrainingSample(x[:, None], mu[:, None], y, ["x"], ["mu"], {"mu": (0.0, 4.0)})


def _small(**settings):
    return TorchRatioEstimator(hidden=(8,), n_members=2, max_epochs=1, progress=False, device="cpu", **settings)


# ----------------------------------------------------------------------------- threads


def test_explicit_n_threads_is_used_logged_and_the_global_setting_comes_back(caplog):
    before = torch.get_num_threads()
    other = 2 if before != 2 else 1
    with caplog.at_level(logging.INFO, logger="roosbi.estimators.resources"):
        est = _small(n_threads=other).fit(_sample())
    assert est.n_threads_ == other
    assert torch.get_num_threads() == before
    lines = [r.getMessage() for r in caplog.records if r.name == "roosbi.estimators.resources"]
    assert len(lines) == 1, lines  # once per fit
    assert lines[0].startswith(f"torch: {other} intra-op thread") and f"n_threads={other}" in lines[0]


def test_a_thread_count_the_user_set_is_honoured_and_kept():
    before = torch.get_num_threads()
    user = torch_default_threads() + 1  # not torch's default: the user's choice
    torch.set_num_threads(user)
    try:
        est = _small().fit(_sample())
        assert est.n_threads_ == user
        assert torch.get_num_threads() == user
    finally:
        torch.set_num_threads(before)


def test_thread_rule(monkeypatch):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the test command may set them
        monkeypatch.delenv(name, raising=False)
    default = torch_default_threads()
    # a count the user set wins over the rule, whatever the network
    assert choose_threads(None, "cpu", 10, default + 1)[0] == default + 1
    assert "set_num_threads" in choose_threads(None, "cpu", 10, default + 1)[1]
    # explicit n_threads wins over everything
    assert choose_threads(3, "cpu", 10, default + 1) == (3, "n_threads=3")
    # a GPU leaves the CPU threads alone
    assert choose_threads(None, "cuda", 10**12, default)[0] == default
    # tiny networks: one thread; large ones: one more per WORK_PER_THREAD, at most the usable CPUs
    assert choose_threads(None, "cpu", WORK_PER_THREAD - 1, default)[0] == 1
    assert choose_threads(None, "cpu", WORK_PER_THREAD, default)[0] == min(2, usable_cpus())
    assert choose_threads(None, "cpu", 10**15, default)[0] == usable_cpus()


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    # torch read OMP_NUM_THREADS at start-up: a process started with it has it as its default
    n, why = choose_threads(None, "cpu", 10, torch_default_threads())
    assert n == 3 and why == "OMP_NUM_THREADS=3"


def test_roosbis_default_network_trains_on_one_thread():
    net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Linear(32, 32), torch.nn.Linear(32, 1))
    from roosbi.estimators.resources import network_work

    work = network_work(2048, net) * 4  # four members
    assert work < WORK_PER_THREAD
    assert usable_cpus() >= 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_bad_thread_and_batch_settings_are_refused(bad):
    with pytest.raises(InputError, match="n_threads must be"):
        _small(n_threads=bad).fit(_sample())
    with pytest.raises(InputError, match="batch_size must be"):
        _small(batch_size=bad).fit(_sample())


def test_bad_learning_rate_is_refused():
    for bad in (0.0, -1e-3, math.nan, "fast"):
        with pytest.raises(InputError, match="learning_rate must be"):
            _small(learning_rate=bad).fit(_sample())


# ----------------------------------------------------------------------------- batch size and learning rate


def test_automatic_batch_size_and_learning_rate():
    # The demo's 50 000 + 50 000 rows on the CPU: exactly the settings of every earlier version.
    assert auto_batch_size(100_000, "cpu") == 2048
    assert auto_learning_rate(2048) == 5e-3
    assert auto_batch_size(10**6, "cpu") == auto_batch_size(10**6, "cuda") == 2048
    assert [auto_batch_size(n, "cpu") for n in (2 * 10**6, 4 * 10**6, 8 * 10**6, 10**7, 10**9)] == [
        4096,
        8192,
        16384,
        16384,
        16384,
    ]
    assert [auto_batch_size(n, "cuda:0") for n in (10**6 + 1, 2 * 10**6, 4 * 10**6, 10**8)] == [
        16384,
        32768,
        65536,
        65536,
    ]
    assert auto_learning_rate(8192) == pytest.approx(1e-2)
    assert auto_learning_rate(65536) == 2e-2  # capped
    assert auto_learning_rate(512) == 5e-3  # small batches keep the old default


def test_fitted_estimator_records_its_batch_size_and_learning_rate(tmp_path):
    est = _small().fit(_sample())
    assert (est.batch_size_, est.learning_rate_) == (2048, 5e-3)
    meta = read_metadata(est.to_onnx(tmp_path / "m.onnx"))
    assert (meta["batch_size"], meta["learning_rate"]) == (2048, 5e-3)
    given = _small(batch_size=128).fit(_sample())
    assert given.batch_size_ == 128 and given.learning_rate_ == 5e-3
    both = _small(batch_size=128, learning_rate=1e-3).fit(_sample())
    assert (both.batch_size_, both.learning_rate_) == (128, 1e-3)


# ----------------------------------------------------------------------------- parallel simulation


def test_chunks_and_their_seeds():
    assert chunk_sizes(10, 3) == [4, 3, 3] and sum(chunk_sizes(10**7, 7)) == 10**7
    spawned = np.random.SeedSequence(9).spawn(5)
    assert chunk_seed(9, 3).generate_state(4).tolist() == spawned[3].generate_state(4).tolist()


def test_one_worker_and_two_workers_give_the_same_sample():
    problem = gauss1d(seed=3)
    one = simulate_parallel(problem, 9000, seed=4, workers=1, chunk_size=2000)
    two = simulate_parallel(problem, 9000, seed=4, workers=2, chunk_size=2000)
    assert (one.n_chunks, one.workers, two.workers) == (5, 1, 2)
    for name in ("x", "theta", "y"):
        np.testing.assert_array_equal(getattr(one.sample, name), getattr(two.sample, name))
    assert one.events == 18_000 and one.events_per_s > 0 and two.events_per_s > 0
    s = one.sample
    target = s.y == 1
    np.testing.assert_array_equal(s.theta[target], s.theta[~target])  # reference events paired with theta
    residual = s.x[target, 0] - s.theta[target, 0]
    assert abs(residual.mean()) < 0.06 and abs(residual.std() - 1.5) < 0.05
    assert abs(s.x[~target, 0].mean() - 5.0) < 0.2 and s.reference == "pdf uniform" and s.reference_uniform
    # the chunks are not one stream: not the sample of workers=None, and each chunk differs
    assert not np.array_equal(s.x, simulate(problem, 9000, seed=4).x)
    assert not np.array_equal(s.x[:1800], s.x[1800:3600])


def test_gold_travels_through_the_chunks():
    problem = smeared()
    a = simulate(problem, n_target=3000, n_reference=2000, seed=2, workers=1)
    b = simulate_parallel(problem, 3000, 2000, seed=2, workers=1, chunk_size=3000)
    c = simulate_parallel(problem, 3000, 2000, seed=2, workers=1, chunk_size=1000)
    assert a.has_gold and a.joint_score.shape == (5000, 1) and (a.y == 1).sum() == 3000
    # workers=1 through simulate() is simulate_parallel with the default chunk size (one chunk here)
    np.testing.assert_array_equal(a.joint_log_ratio, b.sample.joint_log_ratio)
    assert c.n_chunks == 3 and not np.array_equal(b.sample.x, c.sample.x)
    assert np.isfinite(c.sample.joint_score).all()


def test_parallel_priors_references_and_bad_settings():
    problem = gauss1d(seed=3)
    problem.workspace.factory("Gaussian::prior(mu, 2.0, 0.5)")
    by_name = simulate_parallel(problem, 2000, seed=3, prior="prior", reference={"mu": 1.0}, workers=1)
    by_object = simulate_parallel(
        problem, 2000, seed=3, prior=problem.workspace.pdf("prior"), reference={"mu": 1.0}, workers=1
    )
    np.testing.assert_array_equal(by_name.sample.x, by_object.sample.x)
    assert by_name.sample.reference == "point mu=1" and abs(by_name.sample.theta.mean() - 2.0) < 0.05
    from roosbi.library import import_root

    ROOT = import_root()
    outside = ROOT.RooGaussian("outside", "", problem.var("mu"), ROOT.RooFit.RooConst(2.0), ROOT.RooFit.RooConst(1.0))
    with pytest.raises(InputError, match="must be in the problem's workspace"):
        simulate_parallel(problem, 100, prior=outside, workers=1)
    for bad in (0, -3, 1.5, True):
        with pytest.raises(InputError, match="workers must be"):
            simulate(problem, 100, workers=bad)
    with pytest.raises(InputError, match="chunk_size"):
        simulate_parallel(problem, 100, chunk_size=0, workers=1)
    with pytest.raises(InputError, match="reference must be"):
        simulate(problem, 100, reference=3.0, workers=2)  # refused before any process starts
