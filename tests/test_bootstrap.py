"""Bagging (bootstrap=True): members trained on resamples, exported one by one, and the demo's training error."""

import json

import numpy as np
import pytest

from roosbi.data.sample import TrainingSample
from roosbi.demo import check_demo_settings, run_demo
from roosbi.estimators import TorchRatioEstimator
from roosbi.exceptions import InputError
from roosbi.library import import_root
from roosbi.onnx import onnxruntime_log_ratio, read_metadata

SETTINGS = {"hidden": (8,), "max_epochs": 3, "n_members": 3, "seed": 7, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def sample(small_sample):
    s = small_sample
    return TrainingSample(s.x[::4], s.theta[::4], s.y[::4], ["x"], ["mu"], {"mu": (0.0, 4.0)})


@pytest.fixture(scope="module")
def bagged(sample):
    return TorchRatioEstimator(bootstrap=True, **SETTINGS).fit(sample)


def _columns(est, sample):
    est.device_ = "cpu"
    return est._columns(sample.inputs, sample.y, sample.weights, {})


def test_default_training_weights_are_untouched(sample):
    """bootstrap=False trains on exactly the weights of the code path without the option: w (1 - held_out)."""
    plain = TorchRatioEstimator(**SETTINGS)
    assert plain.bootstrap is False
    cols = _columns(plain, sample)
    held_out = plain._held_out(len(sample.y))
    expected = sample.weights[:, None] * (1.0 - held_out)
    np.testing.assert_array_equal(cols.train_w.numpy(), expected.astype(np.float32))
    np.testing.assert_array_equal(cols.val_w.numpy(), (sample.weights[:, None] * held_out).astype(np.float32))


def test_bootstrap_weights_resample_the_training_part_only(sample):
    plain = _columns(TorchRatioEstimator(**SETTINGS), sample)
    bagged = _columns(TorchRatioEstimator(bootstrap=True, **SETTINGS), sample)
    counts = TorchRatioEstimator(bootstrap=True, **SETTINGS)._resample_counts(len(sample.y))
    np.testing.assert_array_equal(bagged.train_w.numpy(), plain.train_w.numpy() * counts)
    # The held-out events, and so the validation weights, are those of bootstrap=False.
    np.testing.assert_array_equal(bagged.val_w.numpy(), plain.val_w.numpy())
    assert abs(counts.mean() - 1.0) < 0.05
    assert (counts == 0).mean() == pytest.approx(np.exp(-1.0), abs=0.03)  # ~37 % out of each resample
    assert not np.array_equal(counts[:, 0], counts[:, 1])  # each member its own resample


def test_default_is_the_explicit_false_and_bootstrap_changes_the_members(sample, bagged):
    x = np.linspace(-2, 6, 9)[:, None]
    default = TorchRatioEstimator(**SETTINGS).fit(sample)
    explicit = TorchRatioEstimator(bootstrap=False, **SETTINGS).fit(sample)
    np.testing.assert_array_equal(default.log_ratio(x, [2.0]), explicit.log_ratio(x, [2.0]))
    assert not np.allclose(default.log_ratio(x, [2.0]), bagged.log_ratio(x, [2.0]))
    members = np.stack([bagged.member_log_ratio(k, x, [2.0]) for k in range(3)])
    assert np.all(np.std(members, axis=0) > 1e-4)
    np.testing.assert_allclose(members.mean(axis=0), bagged.log_ratio(x, [2.0]), atol=1e-5)


def test_member_onnx_is_that_member(bagged, tmp_path):
    probe = np.column_stack([np.linspace(-3, 7, 21), np.linspace(0.2, 3.8, 21)])
    for k in (0, 2):
        path = bagged.member_onnx(k, tmp_path / f"member{k}.onnx")
        np.testing.assert_allclose(
            onnxruntime_log_ratio(path, probe), bagged.member_log_ratio(k, probe[:, :1], probe[:, 1:]), atol=1e-5
        )
        meta = read_metadata(path)
        assert meta["n_members"] == 1 and meta["member"] == k and meta["bootstrap"] is True
        assert meta["inputs"] == ["x", "mu"] and meta["output"] == "log_ratio"
    # The full export is still the members' mean.
    full = bagged.to_onnx(tmp_path / "model.onnx")
    np.testing.assert_allclose(onnxruntime_log_ratio(full, probe), bagged._log_ratio(probe), atol=1e-5)
    assert read_metadata(full)["n_members"] == 3


def test_bad_input(bagged, sample, tmp_path):
    with pytest.raises(InputError, match="bootstrap must be True or False"):
        TorchRatioEstimator(bootstrap="yes")
    for k in (-1, 3, 1.0, True):
        with pytest.raises(InputError, match="member must be an integer"):
            bagged.member_onnx(k, tmp_path / "m.onnx")
    with pytest.raises(InputError, match="not fitted"):
        TorchRatioEstimator(bootstrap=True).member_onnx(0, tmp_path / "m.onnx")
    with pytest.raises(InputError, match="estimator torch"):
        check_demo_settings(estimator="sklearn", bootstrap=True)
    with pytest.raises(InputError, match="ratio method"):
        check_demo_settings(methods=["sally"], bootstrap=True)
    with pytest.raises(InputError, match="eft"):
        check_demo_settings(problem="eft", bootstrap=True)
    with pytest.raises(InputError, match="bootstrap must be True or False"):
        check_demo_settings(bootstrap="on")


def test_demo_reports_the_training_error(tmp_path):
    out = tmp_path / "demo"
    results = run_demo(
        out=out,
        seed=2,
        n_train=6000,
        estimator="torch",
        device="cpu",
        progress=False,
        plots=False,
        estimator_settings={"hidden": (16, 16), "max_epochs": 8},
        bootstrap=True,
    )
    learned = results["fits"]["learned"]
    assert len(learned["members"]) == 4
    assert learned["params"]["mu"]["training_error"] > 0
    values = [m["params"]["mu"] for m in learned["members"]]
    assert learned["params"]["mu"]["training_error"] == pytest.approx(np.std(values, ddof=1))
    assert "training_error" not in results["fits"]["analytic"]["params"]["mu"]
    assert json.loads((out / "results.json").read_text())["fits"]["learned"]["members"] == learned["members"]
    report = (out / "report.md").read_text()
    assert "## Training-statistics uncertainty" in report and "training error" in report
    # The members are not in the workspace, nor among its marked fits.
    ROOT = import_root()
    f = ROOT.TFile.Open(str(out / "workspace.root"))
    ws = f.Get(next(k.GetName() for k in f.GetListOfKeys()))
    assert not ws.pdf("learned_member0_pdf") and not ws.function("learned_member0_ratio")
    f.Close()
    assert not list(out.glob("*member*"))
