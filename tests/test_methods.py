"""Training methods with gold (CARL, ROLR, RASCAL, ALICE, ALICES, CASCAL) and SALLY, on a problem with exact answers.

The simulator: a latent z ~ N(theta, 1), observed x = z + N(0, 1), so p(x|theta) = N(theta, sqrt 2).
The reference is the simulator at theta_0 = 0, theta is uniform in [-1, 1]. The gold is exact:
log r(x, z|theta) = log N(z; theta, 1) - log N(z; 0, 1), t(x, z|theta) = z - theta; and so is the
answer: log r(x|theta) = log N(x; theta, sqrt 2) - log N(x; 0, sqrt 2), score (x - theta) / 2.
"""

import numpy as np
import pytest
import torch

from roosbi.data.sample import ScoreSample, TrainingSample
from roosbi.estimators import (
    METHODS,
    SallyEstimator,
    SklearnRatioEstimator,
    TorchRatioEstimator,
    make_estimator,
    onnxruntime_score,
)
from roosbi.estimators.losses import alice_loss, carl_loss, clipped_exp, rolr_loss, score_loss
from roosbi.exceptions import InputError
from roosbi.inference import create_nll, fit_nll
from roosbi.library import import_root
from roosbi.onnx import read_metadata
from roosbi.roofit import learned_pdf, learned_ratio

THETA0 = 0.0
SETTINGS = {"hidden": (16, 16), "n_members": 2, "max_epochs": 20, "batch_size": 256, "progress": False, "seed": 1}


def _log_normal(v, mean, sigma):
    return -0.5 * ((v - mean) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))


def exact_log_ratio(x, theta):
    return _log_normal(x, theta, np.sqrt(2)) - _log_normal(x, THETA0, np.sqrt(2))


def gold_sample(n=4000, seed=1, joint_log_ratio=True, joint_score=True):
    """n target events (theta uniform in [-1, 1]) and n reference events (theta_0) with their gold."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1.0, 1.0, n)
    z = np.r_[rng.normal(theta, 1.0), rng.normal(THETA0, 1.0, n)]
    x = z + rng.normal(0.0, 1.0, 2 * n)
    thetas = np.r_[theta, theta]
    return TrainingSample(
        x[:, None],
        thetas[:, None],
        np.r_[np.ones(n), np.zeros(n)],
        ["x"],
        ["mu"],
        {"mu": (-1.0, 1.0)},
        joint_log_ratio=_log_normal(z, thetas, 1.0) - _log_normal(z, THETA0, 1.0) if joint_log_ratio else None,
        joint_score=(z - thetas)[:, None] if joint_score else None,
    )


@pytest.fixture(scope="module")
def sample():
    return gold_sample()


@pytest.fixture(scope="module")
def trained(sample):
    """One small real model per method, all on the same sample with the same settings."""
    return {method: TorchRatioEstimator(method=method, **SETTINGS).fit(sample) for method in METHODS}


def errors(est):
    """RMS errors of the learned log r and of its theta-derivative (the score) where the data are."""
    err_r, err_s = [], []
    h = 0.05
    for theta in (-0.6, 0.0, 0.6):
        x = np.linspace(theta - 2.0, theta + 2.0, 41)[:, None]
        err_r.append(est.log_ratio(x, [theta]) - exact_log_ratio(x[:, 0], theta))
        score = (est.log_ratio(x, [theta + h]) - est.log_ratio(x, [theta - h])) / (2 * h)
        err_s.append(score - (x[:, 0] - theta) / 2)
    return float(np.sqrt(np.mean(np.square(err_r)))), float(np.sqrt(np.mean(np.square(err_s))))


# --- the losses on hand-computed values ---


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)[:, None]


def test_carl_loss_is_the_cross_entropy():
    loss = carl_loss(_t(0.0, 2.0, -1.0), _t(1.0, 0.0, 1.0))
    np.testing.assert_allclose(loss[:, 0], [np.log(2), np.log1p(np.exp(2.0)), np.log1p(np.exp(1.0))])


def test_rolr_loss_is_the_squared_error_of_r_and_of_1_over_r():
    # reference: (e^f - r)^2 = (2 - 3)^2; target: (e^-f - 1/r)^2 = (1/2 - 1/4)^2
    loss = rolr_loss(_t(np.log(2.0), np.log(2.0)), _t(0.0, 1.0), _t(np.log(3.0), np.log(4.0)))
    np.testing.assert_allclose(loss[:, 0], [1.0, 1 / 16])


def test_rolr_loss_stays_finite_and_pulls_back_far_out_logits():
    logit = _t(200.0, -200.0).requires_grad_(True)
    loss = rolr_loss(logit, _t(0.0, 1.0), _t(0.0, 50.0))  # a joint log ratio of 50 is clipped to 10
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logit.grad).all()
    assert logit.grad[0, 0] > 0 and logit.grad[1, 0] < 0  # gradient descent brings both back
    below, above = clipped_exp(torch.tensor([10.0 - 1e-9, 10.0 + 1e-9], dtype=torch.float64)).tolist()
    assert above == pytest.approx(below, rel=1e-8)  # continuous at the clip


def test_alice_loss_is_the_cross_entropy_with_the_soft_label():
    loss = alice_loss(_t(0.0, np.log(3.0)), _t(0.0, np.log(3.0)))
    np.testing.assert_allclose(loss[:, 0], [np.log(2), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))])


def test_score_loss_sums_the_squares_over_the_parameters():
    assert float(score_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))[0]) == 5.0


def test_methods_say_what_gold_they_need():
    assert list(METHODS) == ["carl", "rolr", "rascal", "alice", "alices", "cascal"]
    assert METHODS["carl"].needs == () and METHODS["cascal"].needs == ("joint_score",)
    assert METHODS["alices"].needs == ("joint_log_ratio", "joint_score") and METHODS["alices"].uses_score
    assert METHODS["rolr"].needs == ("joint_log_ratio",) and not METHODS["rolr"].uses_score


# --- what the methods learn ---


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_learns_the_exact_ratio_and_score(trained, method):
    rms_ratio, rms_score = errors(trained[method])
    assert rms_ratio < 0.2
    assert rms_score < (0.1 if METHODS[method].uses_score else 0.45)


def test_gold_beats_carl_on_the_same_small_sample(trained):
    carl_ratio, carl_score = errors(trained["carl"])
    for method in ("alice", "rascal", "alices", "cascal"):
        assert errors(trained[method])[0] < carl_ratio, method
    for method in ("rascal", "alices", "cascal"):  # the score term teaches the theta-dependence
        assert errors(trained[method])[1] < 0.5 * carl_score, method


def test_each_member_gets_its_own_input_gradient(trained):
    est = trained["alices"]
    net = est.network_
    inputs = torch.tensor([[0.3, -0.2], [1.5, 0.4], [-1.0, 0.9]])
    _, score = est._forward(net, inputs, 3, create_graph=False)
    h = 1e-2
    with torch.no_grad():
        step = torch.tensor([0.0, h])
        finite = (net(inputs + step) - net(inputs - step)) / (2 * h)
    assert score.shape == (3, 2, 1)
    np.testing.assert_allclose(score[..., 0].detach().numpy(), finite.numpy(), atol=2e-3)
    assert np.ptp(finite.numpy(), axis=1).max() > 1e-3  # the members differ, so a mix-up would show


def test_history_holds_the_method_loss(trained):
    est = trained["alices"]
    assert len(est.history_["val_loss"]) == est.n_epochs_
    # cross-entropy against soft labels plus a score term: above CARL's floor, finite
    assert np.isfinite(est.history_["val_loss"]).all() and min(est.history_["val_loss"]) > 0.5


# --- bad input, refused before any training ---


def test_unknown_method_lists_the_methods():
    with pytest.raises(InputError, match="unknown method 'nope'; choose one of: carl, rolr, rascal, alice"):
        TorchRatioEstimator(method="nope")
    with pytest.raises(InputError, match="unknown method"):
        make_estimator("torch", method="nope")


@pytest.mark.parametrize(
    ("method", "gold", "missing"),
    [
        ("alices", {"joint_log_ratio": False, "joint_score": False}, "joint_log_ratio and joint_score"),
        ("rolr", {"joint_log_ratio": False}, "joint_log_ratio"),
        ("cascal", {"joint_score": False}, "joint_score"),
        ("rascal", {"joint_score": False}, "joint_score"),
    ],
)
def test_a_method_without_its_gold_is_refused_before_training(method, gold, missing):
    est = TorchRatioEstimator(method=method, **SETTINGS)
    with pytest.raises(InputError, match=f"trains on {missing}.*gold=True.*sample_from_arrays.*method='carl'"):
        est.fit(gold_sample(n=50, **gold))
    assert not hasattr(est, "history_")


@pytest.mark.parametrize("weight", [-1.0, float("nan"), "a lot"])
def test_bad_score_weight_is_refused(weight):
    with pytest.raises(InputError, match="score_weight must be a finite number >= 0"):
        TorchRatioEstimator(method="alices", score_weight=weight)


def test_sklearn_trains_carl_only():
    with pytest.raises(InputError, match="method='carl' only.*estimator='torch'"):
        SklearnRatioEstimator(method="alices")
    with pytest.raises(InputError, match="method='carl' only.*estimator='torch'"):
        make_estimator("sklearn", method="rolr")
    with pytest.raises(InputError, match="unknown method 'bogus'"):
        SklearnRatioEstimator(method="bogus")


def test_carl_trains_on_a_gold_sample_and_ignores_the_gold():
    sample = gold_sample(n=300)
    plain = gold_sample(n=300, joint_log_ratio=False, joint_score=False)
    small = dict(SETTINGS, max_epochs=2)
    runs = [TorchRatioEstimator(**small).fit(s) for s in (sample, plain)]
    x = np.linspace(-2, 2, 5)[:, None]
    np.testing.assert_array_equal(runs[0].log_ratio(x, [0.3]), runs[1].log_ratio(x, [0.3]))


# --- export and RooFit ---


def test_export_records_the_method(trained, tmp_path):
    meta = read_metadata(trained["alices"].to_onnx(tmp_path / "alices.onnx"))
    assert meta["method"] == "alices" and meta["score_weight"] == 1.0 and meta["output"] == "log_ratio"
    meta = read_metadata(trained["carl"].to_onnx(tmp_path / "carl.onnx"))
    assert meta["method"] == "carl" and meta["score_weight"] is None


def _grid_mle(est, xs, near):
    """The maximum of the summed learned log r over a fine grid of theta, refined by a parabola."""
    grid = near + np.linspace(-0.2, 0.2, 81)
    total = np.array([est.log_ratio(xs[:, None], [t]).sum() for t in grid])
    k = int(np.clip(total.argmax(), 1, len(grid) - 2))
    a, b, c = total[k - 1 : k + 2]
    return grid[k] + 0.5 * (grid[1] - grid[0]) * (a - c) / (a - 2 * b + c)


def test_gold_model_fits_in_roofit(trained, tmp_path):
    ROOT = import_root()
    est = trained["alices"]
    path = est.to_onnx(tmp_path / "alices.onnx")
    ws = ROOT.RooWorkspace("w")
    ws.factory("x[-5, 5]")
    ws.factory("mu[-1, 1]")
    truth = 0.4
    xs = np.random.default_rng(11).normal(truth, np.sqrt(2), 2000)
    xs = xs[np.abs(xs) < 5]
    data = ROOT.RooDataSet.from_numpy({"x": xs}, ROOT.RooArgSet(ws.var("x")))
    ratio = learned_ratio(path, workspace=ws)
    pdf = learned_pdf(ratio, [ws.var("x")], normalize=False)
    fit = fit_nll(create_nll(pdf, data), [ws.var("mu")], {"mu": 0.0}, minos=False)
    sigma = np.sqrt(2 / len(xs))
    assert fit.status == 0
    assert fit.params["mu"].error == pytest.approx(sigma, rel=0.2)
    # RooFit's minimum is the learned model's own maximum likelihood estimate ...
    assert abs(fit.params["mu"].value - _grid_mle(est, xs, truth)) < 0.05 * sigma
    # ... which is near the exact one (the sample mean), for a model trained on 8000 events.
    assert abs(fit.params["mu"].value - xs.mean()) < 2 * sigma
    assert abs(fit.params["mu"].value - truth) < 4 * sigma


# --- SALLY ---


def score_sample(n=4000, point=0.3, seed=2, two_parameters=False):
    """Events at mu = point with their joint score; with two_parameters, also d/d log sigma_z at sigma_z = 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(point, 1.0, n)
    x = z + rng.normal(0.0, 1.0, n)
    score = np.column_stack([z - point, (z - point) ** 2 - 1.0]) if two_parameters else (z - point)[:, None]
    names = ["mu", "log_sigma"] if two_parameters else ["mu"]
    return ScoreSample(x[:, None], score, ["x"], names, dict(zip(names, [point, 0.0], strict=False)))


@pytest.fixture(scope="module")
def sally():
    return SallyEstimator(**SETTINGS).fit(score_sample())


def test_sally_learns_the_score_at_its_point(sally):
    x = np.linspace(-1.7, 2.3, 41)
    t_hat = sally.score(x[:, None])
    assert t_hat.shape == (41, 1)
    assert np.sqrt(np.mean((t_hat[:, 0] - (x - 0.3) / 2) ** 2)) < 0.08


def test_sally_onnx_round_trip_and_metadata(sally, tmp_path):
    path = sally.to_onnx(tmp_path / "sally.onnx")
    x = np.linspace(-4, 4, 33)[:, None]
    np.testing.assert_allclose(onnxruntime_score(path, x), sally.score(x), rtol=1e-5, atol=1e-5)
    meta = read_metadata(path)
    assert meta["output"] == "score" and meta["method"] == "sally" and meta["estimator"] == "sally"
    assert meta["observables"] == ["x"] and meta["parameters"] == ["mu"] and meta["point"] == {"mu": 0.3}
    assert set(meta["input_ranges"]) == {"x"}


def test_sally_with_two_parameters(tmp_path):
    est = SallyEstimator(**dict(SETTINGS, max_epochs=10)).fit(score_sample(two_parameters=True))
    x = np.linspace(-1.2, 1.8, 13)[:, None]
    u = (x[:, 0] - 0.3) / 2  # E[z - mu | x]; Var[z | x] = 1/2
    np.testing.assert_allclose(est.score(x)[:, 0], u, atol=0.15)
    np.testing.assert_allclose(est.score(x)[:, 1], u**2 - 0.5, atol=0.3)
    path = est.to_onnx(tmp_path / "sally2.onnx")
    np.testing.assert_allclose(onnxruntime_score(path, x), est.score(x), rtol=1e-5, atol=1e-5)


def test_learned_ratio_refuses_a_sally_model(sally, tmp_path):
    ROOT = import_root()
    path = sally.to_onnx(tmp_path / "sally.onnx")
    ws = ROOT.RooWorkspace("w")
    ws.factory("x[-7, 7]")
    for kwargs in ({}, {"model_output": "log_ratio"}, {"backend": "onnxruntime"}):
        with pytest.raises(InputError, match="SALLY local score estimator.*not a likelihood ratio"):
            learned_ratio(path, workspace=ws, **kwargs)


def test_sally_bad_input(sally, sample, tmp_path):
    with pytest.raises(InputError, match="needs a ScoreSample"):
        SallyEstimator(**SETTINGS).fit(sample)
    with pytest.raises(InputError, match="not fitted"):
        SallyEstimator().score(np.zeros((2, 1)))
    with pytest.raises(InputError, match="expected 1 observables"):
        sally.score(np.zeros((2, 2)))
    ratio_model = TorchRatioEstimator(**dict(SETTINGS, max_epochs=1)).fit(gold_sample(n=100))
    with pytest.raises(InputError, match="not a SALLY score model"):
        onnxruntime_score(ratio_model.to_onnx(tmp_path / "ratio.onnx"), np.zeros((2, 2)))
