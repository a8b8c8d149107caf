"""Real (small) models trained on the rf615 problem, checked against the analytic log r."""

import numpy as np
import pytest
from conftest import exact_log_ratio

from roosbi.data.sample import TrainingSample
from roosbi.estimators import SklearnRatioEstimator, TorchRatioEstimator, make_estimator
from roosbi.exceptions import InputError


def _grid_error(est, mus=(1.5, 2.5)):
    """Largest |learned - exact| log r where the target density is not negligible (|x - mu| < 2 sigma)."""
    worst = 0.0
    for mu in mus:
        x = np.linspace(mu - 3.0, mu + 3.0, 61)
        learned = est.log_ratio(x[:, None], [mu])
        worst = max(worst, np.max(np.abs(learned - exact_log_ratio(x, mu))))
    return worst


def test_torch_learns_the_gaussian_ratio(trained_torch):
    assert _grid_error(trained_torch) < 0.15
    assert trained_torch.history_["val_loss"][-1] < 0.45
    assert len(trained_torch.history_["train_loss"]) == trained_torch.n_epochs_


def test_sklearn_learns_the_gaussian_ratio(small_sample):
    est = SklearnRatioEstimator(hidden=(32, 32), max_epochs=15, seed=1, progress=False).fit(small_sample)
    assert _grid_error(est) < 0.2
    assert est.device_ == "cpu"


def test_same_seed_same_numbers(small_sample):
    sub = TrainingSample(
        small_sample.x[::4], small_sample.theta[::4], small_sample.y[::4], ["x"], ["mu"], {"mu": (0.0, 4.0)}
    )
    runs = [TorchRatioEstimator(hidden=(8,), max_epochs=3, seed=7, progress=False).fit(sub) for _ in range(2)]
    x = np.linspace(-2, 6, 9)[:, None]
    np.testing.assert_array_equal(runs[0].log_ratio(x, [2.0]), runs[1].log_ratio(x, [2.0]))
    assert runs[0].history_ == runs[1].history_


def test_nan_in_training_data_is_refused(small_sample):
    x = small_sample.x.copy()
    x[17, 0] = np.nan
    with pytest.raises(InputError, match="NaN/Inf.*row 17"):
        TrainingSample(x, small_sample.theta, small_sample.y, ["x"], ["mu"], {"mu": (0.0, 4.0)})


def test_mismatched_columns_are_refused(small_sample):
    with pytest.raises(InputError, match="rows"):
        TrainingSample(small_sample.x[:-1], small_sample.theta, small_sample.y, ["x"], ["mu"], {"mu": (0.0, 4.0)})
    with pytest.raises(InputError, match="columns"):
        TrainingSample(small_sample.x, small_sample.theta, small_sample.y, ["x", "y"], ["mu"], {"mu": (0.0, 4.0)})


def test_unknown_estimator_and_activation():
    with pytest.raises(InputError, match="unknown estimator 'xgb'"):
        make_estimator("xgb")
    with pytest.raises(InputError, match="activation 'gelu'"):
        SklearnRatioEstimator(activation="gelu").fit(_tiny_sample())


def test_unfitted_estimator_says_so():
    with pytest.raises(InputError, match="not fitted"):
        TorchRatioEstimator().log_ratio(np.zeros((1, 1)), [1.0])


def _tiny_sample():
    rng = np.random.default_rng(0)
    return TrainingSample(
        rng.normal(size=(40, 1)),
        rng.uniform(size=(40, 1)),
        np.r_[np.ones(20), np.zeros(20)],
        ["x"],
        ["mu"],
        {"mu": (0.0, 1.0)},
    )


def test_ensemble_exports_as_one_mlp_equal_to_the_member_mean(small_sample, tmp_path):
    import torch

    from roosbi.onnx import onnxruntime_log_ratio, translate

    est = TorchRatioEstimator(hidden=(8, 6), n_members=3, max_epochs=2, seed=4, progress=False).fit(small_sample)
    path = est.to_onnx(tmp_path / "ens.onnx")
    net = translate(path)
    assert net.layer_sizes == [2, 24, 18, 1]
    inputs = np.column_stack([np.linspace(-3, 8, 50), np.linspace(0, 4, 50)])
    with torch.no_grad():
        members = est.network_(torch.as_tensor(inputs, dtype=torch.float32)).numpy()
    assert members.shape == (50, 3) and np.ptp(members, axis=1).max() > 1e-3  # the members differ
    np.testing.assert_allclose(est.log_ratio(inputs[:, :1], inputs[:, 1:]), members.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(onnxruntime_log_ratio(path, inputs), members.mean(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.log_ratio(inputs), members.mean(axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_torch_trains_on_cuda(small_sample):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    est = TorchRatioEstimator(hidden=(16,), max_epochs=3, device="cuda", progress=False).fit(small_sample)
    assert est.device_ == "cuda"
    assert np.isfinite(est.log_ratio(np.zeros((4, 1)), [2.0])).all()


def test_cuda_without_gpu_is_a_clear_error(small_sample):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match="no CUDA GPU"):
        TorchRatioEstimator(device="cuda", progress=False).fit(small_sample)


def test_negative_weights_count_as_physicists_expect(small_sample):
    """Reference events entered as weight 1.5 plus a copy at -0.5 describe the same density as
    weight 1: a real network trained on that sample still learns the exact ratio."""
    s = small_sample
    ref = np.flatnonzero(s.y == 0)[: len(s.y) // 4]
    weights = s.weights.copy()
    weights[ref] = 1.5
    signed = TrainingSample(
        x=np.vstack([s.x, s.x[ref]]),
        theta=np.vstack([s.theta, s.theta[ref]]),
        y=np.concatenate([s.y, s.y[ref]]),
        weights=np.concatenate([weights, np.full(len(ref), -0.5)]),
        observables=s.observables,
        parameters=s.parameters,
        parameter_ranges=s.parameter_ranges,
    )
    est = TorchRatioEstimator(hidden=(32, 32), n_members=2, max_epochs=25, seed=3, progress=False).fit(signed)
    x = np.linspace(0.0, 5.0, 26)
    assert np.max(np.abs(est.log_ratio(x[:, None], [2.5]) - exact_log_ratio(x, 2.5))) < 0.25
