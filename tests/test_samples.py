"""Samples from outside RooFit: numpy, pandas, TTree/RNTuple files, RDataFrame; observed data."""

import logging
import os
import stat

import numpy as np
import pytest
import torch
from conftest import exact_log_ratio

from roosbi.data.observed import observed_data_from_arrays, observed_data_from_tree
from roosbi.data.sample import TrainingSample
from roosbi.data.sample_files import read_sample, write_sample
from roosbi.data.samples import (
    balance_classes,
    sample_from_arrays,
    sample_from_dataframe,
    sample_from_tree,
    sample_from_trees,
)
from roosbi.estimators import TorchRatioEstimator
from roosbi.exceptions import InputError
from roosbi.library import import_root

ROOT = import_root()


@pytest.fixture
def pd():
    """pandas (in the test extra; the tests that need it are skipped without it)."""
    return pytest.importorskip("pandas")


def write_tree(path, columns, name="events", rntuple=False):
    """Write numpy columns to a ROOT file as a TTree (or an RNTuple) with RDataFrame."""
    options = ROOT.RDF.RSnapshotOptions()
    options.fMode = "RECREATE" if not os.path.exists(path) else "UPDATE"
    if rntuple:
        options.fOutputFormat = ROOT.RDF.ESnapshotOutputFormat.kRNTuple
    columns = {k: np.ascontiguousarray(v) for k, v in columns.items()}
    ROOT.RDF.FromNumpy(columns).Snapshot(name, str(path), list(columns), options)
    return path


def gauss_columns(n=400, seed=0, negative=0.0):
    """Target x ~ N(mu, 1.5), mu ~ U(0, 4); reference x ~ U(-5, 15) with the same mu; weights +-1."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0, 4, n)
    x = np.concatenate([rng.normal(mu, 1.5), rng.uniform(-5, 15, n)])
    w = np.where(rng.random(2 * n) < negative, -1.0, 1.0)
    return {
        "x": x,
        "mu": np.concatenate([mu, mu]),
        "is_signal": np.concatenate([np.ones(n, np.int32), np.zeros(n, np.int32)]),
        "w": w,
        "other": rng.normal(size=2 * n),
    }


def assert_same(a: TrainingSample, b: TrainingSample):
    for field in ("x", "theta", "y", "weights"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.observables == b.observables
    assert a.parameters == b.parameters
    assert a.parameter_ranges == b.parameter_ranges


# ---------------------------------------------------------------------------------------------
# Construction from numpy, pandas and ROOT files
# ---------------------------------------------------------------------------------------------


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    n = 1000
    sample = sample_from_arrays(
        x=rng.normal(size=(n, 2)),
        theta=rng.uniform(size=(n, 2)) * [1.0, 3e-7],
        y=rng.integers(0, 2, n),
        observables=["m", "pt"],
        parameters=["mu", "kappa"],
        weights=rng.normal(1.0, 0.5, n),
        parameter_ranges={"mu": (0.0, 1.0), "kappa": (0.0, 1.0 / 3.0)},
    )
    path = write_sample(sample, tmp_path / "sub" / "sample.root")
    back = read_sample(path)
    assert_same(sample, back)
    assert back.parameter_ranges["kappa"][1] == 1.0 / 3.0
    # Written atomically: no temporary file left, ordinary permissions.
    assert sorted(p.name for p in path.parent.iterdir()) == ["sample.root"]
    assert stat.S_IMODE(path.stat().st_mode) & 0o044
    # A plain TTree that ROOT users read with the branch names.
    arrays = ROOT.RDataFrame("roosbi_sample", str(path)).AsNumpy(["m", "mu", "label", "weight"])
    assert np.array_equal(arrays["m"], sample.x[:, 0])
    assert np.array_equal(arrays["label"], sample.y.astype(int))


def test_round_trip_with_reserved_names_and_other_tree_name(tmp_path):
    rng = np.random.default_rng(2)
    sample = sample_from_arrays(
        rng.normal(size=(50, 2)), rng.uniform(size=50), np.arange(50) % 2, ["label", "weight"], ["y"]
    )
    back = read_sample(write_sample(sample, tmp_path / "s.root", tree="train"), tree="train")
    assert_same(sample, back)
    with pytest.raises(InputError, match="no roosbi sample 'roosbi_sample'.*'train' \\(TTree\\)"):
        read_sample(tmp_path / "s.root")


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "s.root"
    good = sample_from_arrays(np.arange(10.0), np.arange(10.0), np.arange(10) % 2, ["x"], ["mu"])
    write_sample(good, path)
    bad = sample_from_arrays(np.arange(10.0), np.arange(10.0), np.arange(10) % 2, ["x[0]"], ["mu"])
    with pytest.raises(InputError, match="'x\\[0\\]' cannot name a branch"):
        write_sample(bad, path)
    assert_same(read_sample(path), good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.root"]


def test_from_numpy_default_ranges(caplog):
    cols = gauss_columns()
    with caplog.at_level(logging.INFO, logger="roosbi.data.samples"):
        sample = sample_from_arrays(cols["x"], cols["mu"], cols["is_signal"], ["x"], ["mu"])
    assert sample.parameter_ranges["mu"] == (cols["mu"].min(), cols["mu"].max())
    assert "parameter ranges from the sample's minimum and maximum: mu in" in caplog.text
    assert np.array_equal(sample.weights, np.ones(800))
    assert sample.x.shape == (800, 1) and sample.theta.shape == (800, 1)


def test_from_arrays_takes_pandas_columns_by_name(pd):
    cols = gauss_columns()
    df = pd.DataFrame(cols)
    sample = sample_from_arrays(
        df[["other", "x"]], df["mu"], df["is_signal"] == 1, ["x", "other"], ["mu"], weights=df["w"]
    )
    assert np.array_equal(sample.x, np.column_stack([cols["x"], cols["other"]]))
    assert np.array_equal(sample.y, cols["is_signal"])


def test_from_dataframe_with_weights(pd):
    cols = gauss_columns(negative=0.1)
    df = pd.DataFrame(cols).astype({"is_signal": bool})
    sample = sample_from_dataframe(df, ["x"], ["mu"], label="is_signal", weight="w", parameter_ranges={"mu": (0, 4)})
    assert np.array_equal(sample.weights, cols["w"])
    assert sample.parameter_ranges == {"mu": (0.0, 4.0)}
    assert sample.input_names == ["x", "mu"]


def test_from_tree_file(tmp_path):
    cols = gauss_columns()
    path = write_tree(tmp_path / "train.root", cols)
    sample = sample_from_tree(path, ["x", "other"], ["mu"], label="is_signal", weight="w")
    assert np.array_equal(sample.x[:, 1], cols["other"])
    assert np.array_equal(sample.y, cols["is_signal"])
    # Two trees in the file: name one; a selection keeps some events.
    write_tree(path, {"a": np.zeros(3)}, name="friends")
    picked = sample_from_tree(str(path), ["x"], ["mu"], "is_signal", tree="events", selection="x > 0 && x < 5")
    keep = (cols["x"] > 0) & (cols["x"] < 5)
    assert np.array_equal(picked.x[:, 0], cols["x"][keep])
    # Several files are chained.
    second = write_tree(tmp_path / "more.root", cols)
    both = sample_from_tree([path, second], ["x"], ["mu"], "is_signal", tree="events")
    assert len(both) == 2 * len(sample)


def test_from_ttree_rdataframe_and_rntuple(tmp_path):
    cols = gauss_columns()
    path = write_tree(tmp_path / "train.root", cols)
    expected = sample_from_tree(path, ["x"], ["mu"], "is_signal", weight="w")
    handle = ROOT.TFile.Open(str(path))
    assert_same(sample_from_tree(handle.Get("events"), ["x"], ["mu"], "is_signal", weight="w"), expected)
    handle.Close()
    frame = ROOT.RDataFrame("events", str(path)).Define("x2", "2 * x")
    doubled = sample_from_tree(frame, ["x2"], ["mu"], "is_signal", weight="w")
    assert np.array_equal(doubled.x[:, 0], 2 * cols["x"])
    ntuple = write_tree(tmp_path / "ntuple.root", cols, name="nt", rntuple=True)
    assert_same(sample_from_tree(ntuple, ["x"], ["mu"], "is_signal", weight="w"), expected)


def test_two_files_target_and_reference(tmp_path):
    cols = gauss_columns(n=300)
    target = {k: v[:300] for k, v in cols.items() if k != "is_signal"}
    reference = {"x": cols["x"][300:], "w": cols["w"][300:]}
    t_path = write_tree(tmp_path / "target.root", target, name="sig")
    r_path = write_tree(tmp_path / "reference.root", reference, name="ref")
    sample = sample_from_trees(t_path, r_path, ["x"], ["mu"], weight="w", reference_tree="ref", seed=4)
    assert np.array_equal(sample.y, np.r_[np.ones(300), np.zeros(300)])
    assert np.array_equal(sample.x[:, 0], cols["x"])
    # The reference takes the target's parameter values: the same values, shuffled.
    assert np.array_equal(np.sort(sample.theta[300:, 0]), np.sort(target["mu"]))
    assert not np.array_equal(sample.theta[300:, 0], target["mu"])
    # A reference with parameter branches keeps them.
    with_mu = write_tree(tmp_path / "ref_mu.root", {**reference, "mu": cols["mu"][300:]})
    paired = sample_from_trees(t_path, with_mu, ["x"], ["mu"], weight="w")
    assert np.array_equal(paired.theta[:, 0], cols["mu"])
    # More reference events than target events: every target value is used once before any twice.
    big = write_tree(tmp_path / "big.root", {"x": np.linspace(-5, 15, 700), "w": np.ones(700)})
    bigger = sample_from_trees(t_path, big, ["x"], ["mu"], weight="w")
    counts = np.unique(bigger.theta[300:, 0], return_counts=True)[1]
    assert set(counts) == {2, 3} and len(counts) == 300


def test_two_files_partial_parameters_refused(tmp_path):
    rng = np.random.default_rng(0)
    t_path = write_tree(tmp_path / "t.root", {"x": rng.normal(size=20), "a": rng.random(20), "b": rng.random(20)})
    r_path = write_tree(tmp_path / "r.root", {"x": rng.normal(size=20), "a": rng.random(20)})
    with pytest.raises(InputError, match="has parameter branch 'a' but not 'b'"):
        sample_from_trees(t_path, r_path, ["x"], ["a", "b"])
    with pytest.raises(
        InputError, match="the target \\(in 'events' of .*t.root'\\) holds no events that pass the selection"
    ):
        sample_from_trees(t_path, r_path, ["x"], ["a"], selection="x > 100")


def test_negative_weights_are_kept_and_reported(caplog):
    cols = gauss_columns(negative=0.2)
    with caplog.at_level(logging.WARNING, logger="roosbi.data.samples"):
        sample = sample_from_arrays(cols["x"], cols["mu"], cols["is_signal"], ["x"], ["mu"], weights=cols["w"])
    fraction = 100 * np.mean(cols["w"] < 0)
    assert (
        f"{(cols['w'] < 0).sum()} of 800 events ({fraction:.2f}%) have negative weights; they are kept" in caplog.text
    )
    assert np.array_equal(sample.weights, cols["w"])


def test_balance_classes():
    cols = gauss_columns()
    w = np.where(cols["is_signal"] == 1, 2.0, 0.5)
    sample = sample_from_arrays(cols["x"], cols["mu"], cols["is_signal"], ["x"], ["mu"], weights=w)
    balanced = balance_classes(sample)
    assert balanced.weights[sample.y == 0].sum() == pytest.approx(balanced.weights[sample.y == 1].sum())
    assert np.array_equal(sample.weights, w)  # the original is untouched


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def arrays(**change):
    cols = gauss_columns(n=50)
    args = {"x": cols["x"], "theta": cols["mu"], "y": cols["is_signal"], "weights": cols["w"]}
    args.update(change)
    return sample_from_arrays(observables=["x"], parameters=["mu"], **args)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"theta": np.zeros(99)}, "different numbers of rows \\(x 100, theta 99, y 100, weights 100\\)"),
        ({"x": np.zeros((100, 2))}, "x has shape \\(100, 2\\) but 1 column name"),
        ({"x": np.r_[np.zeros(99), np.nan]}, "column 'x' holds 1 NaN/Inf value\\(s\\), first in row 99"),
        ({"weights": np.r_[np.inf, np.ones(99)]}, "column 'weights' holds 1 NaN/Inf value\\(s\\), first in row 0"),
        ({"y": np.r_[np.zeros(50), np.full(50, 2.0)]}, "must hold 1 \\(target\\) or 0 \\(reference\\); 50 event"),
        ({"y": np.zeros(100)}, "no target \\(label 1\\) events"),
        ({"weights": np.r_[np.ones(50), np.zeros(50)]}, "reference \\(label 0\\) events sum to 0 \\(50 events"),
        (
            {"weights": np.r_[np.full(50, -1.0), np.ones(50)]},
            "target \\(label 1\\) events sum to -50 .*50 with negative",
        ),
        ({"theta": np.full(100, 2.0)}, "'mu' takes the single value 2 in every event.*parameter_ranges="),
        ({"parameter_ranges": {"nu": (0, 1)}}, "parameter_ranges names 'nu', which is not among the parameters"),
        ({"parameter_ranges": {"mu": (1, 1)}}, "must be finite with lo < hi"),
        ({"x": ["a"] * 100}, "x is not a numeric array"),
    ],
)
def test_bad_arrays(change, message):
    with pytest.raises(InputError, match=message):
        arrays(**change)


def test_single_valued_parameter_with_given_range_is_fine():
    assert arrays(theta=np.full(100, 2.0), parameter_ranges={"mu": (0, 4)}).parameter_ranges == {"mu": (0.0, 4.0)}


def test_bad_dataframe(pd):
    df = pd.DataFrame(gauss_columns(n=20))
    with pytest.raises(InputError, match="no column 'y'; it has: is_signal, mu, other, w, x"):
        sample_from_dataframe(df, ["x", "y"], ["mu"], "is_signal")
    with pytest.raises(InputError, match="'x' is given more than one role"):
        sample_from_dataframe(df, ["x"], ["mu"], "is_signal", weight="x")
    df.loc[3, "mu"] = np.nan
    with pytest.raises(InputError, match="column 'mu' of the DataFrame holds 1 NaN/Inf value\\(s\\), first in row 3"):
        sample_from_dataframe(df, ["x"], ["mu"], "is_signal")


def test_bad_trees(tmp_path):
    path = write_tree(tmp_path / "a.root", gauss_columns(n=20))
    write_tree(path, {"q": np.zeros(2)}, name="other")
    with pytest.raises(InputError, match="ROOT file '.*missing.root' does not exist"):
        sample_from_tree(tmp_path / "missing.root", ["x"], ["mu"], "is_signal")
    (tmp_path / "junk.root").write_text("not root")
    with pytest.raises(InputError, match="is not a readable ROOT file"):
        sample_from_tree(tmp_path / "junk.root", ["x"], ["mu"], "is_signal")
    with pytest.raises(
        InputError, match="has no TTree or RNTuple 'evts'; it has 'events' \\(TTree\\), 'other' \\(TTree\\)"
    ):
        sample_from_tree(path, ["x"], ["mu"], "is_signal", tree="evts")
    with pytest.raises(InputError, match="holds several trees.*pass tree="):
        sample_from_tree(path, ["x"], ["mu"], "is_signal")
    with pytest.raises(InputError, match="no branch 'pt', 'nu' in 'events' .*; it has: is_signal, mu, other, w, x"):
        sample_from_tree(path, ["x", "pt"], ["nu"], "is_signal", tree="events")
    with pytest.raises(InputError, match="the selection 'x >' does not compile"):
        sample_from_tree(path, ["x"], ["mu"], "is_signal", tree="events", selection="x >")
    with pytest.raises(InputError, match="must hold 1 \\(target\\) or 0 \\(reference\\)"):
        sample_from_tree(path, ["x"], ["is_signal"], "mu", tree="events")
    with pytest.raises(InputError, match="a source is a ROOT file path"):
        sample_from_tree(42, ["x"], ["mu"], "is_signal")
    vector = ROOT.RDataFrame("events", str(path)).Define("v", "ROOT::RVecD{x, x}")
    with pytest.raises(InputError, match="column 'v' .* not one number per event"):
        sample_from_tree(vector, ["v"], ["mu"], "is_signal")
    with pytest.raises(InputError, match="holds no roosbi sample 'events'.*sample_from_tree"):
        read_sample(path, tree="events")


# ---------------------------------------------------------------------------------------------
# Observed data
# ---------------------------------------------------------------------------------------------


def test_observed_data_from_tree_weighted_fit(tmp_path, caplog):
    rng = np.random.default_rng(7)
    n = 2000
    x = rng.normal(2.0, 1.0, n)
    x[:10] = 20.0  # outside x's range [-5, 15]
    w = rng.uniform(0.2, 1.8, n)
    path = write_tree(tmp_path / "data.root", {"x": x, "w": w, "y": rng.random(n)})
    ws = ROOT.RooWorkspace("w")
    ws.factory("Gaussian::g(x[-5, 15], m[0, -5, 5], s[1, 0.1, 5])")
    with caplog.at_level(logging.WARNING, logger="roosbi.data.observed"):
        data = observed_data_from_tree(path, ["x"], weight="w", workspace=ws, name="obs")
    assert "10 of 2000 observed events (0.50%" in caplog.text and "x: 0 below -5, 10 above 15" in caplog.text
    assert data.GetName() == "obs" and data.isWeighted() and data.numEntries() == n - 10
    assert data.sumEntries() == pytest.approx(w[10:].sum())
    result = ws.pdf("g").fitTo(data, Save=True, PrintLevel=-1, SumW2Error=True)
    assert result.status() == 0
    assert ws.var("m").getVal() == pytest.approx(np.average(x[10:], weights=w[10:]), abs=2e-3)
    assert ws.var("s").getVal() == pytest.approx(np.sqrt(np.cov(x[10:], aweights=w[10:], ddof=0)), abs=2e-3)


def test_observed_data_from_rntuple_and_arrays(tmp_path, pd):
    x_var = ROOT.RooRealVar("x", "x", -5, 15)
    y_var = ROOT.RooRealVar("y", "y", 0, 1)
    values = np.column_stack([np.linspace(-4, 14, 30), np.linspace(0, 1, 30)])
    path = write_tree(tmp_path / "nt.root", {"x": values[:, 0], "y": values[:, 1]}, name="nt", rntuple=True)
    data = observed_data_from_tree(path, ROOT.RooArgSet(x_var, y_var), selection="x > 0")
    assert not data.isWeighted()
    assert np.array_equal(data.to_numpy()["x"], values[values[:, 0] > 0, 0])
    from_arrays = observed_data_from_arrays(values, [x_var, y_var], weights=np.full(30, 0.5))
    assert from_arrays.sumEntries() == pytest.approx(15.0)
    from_pandas = observed_data_from_arrays(pd.DataFrame({"y": values[:, 1], "x": values[:, 0]}), [x_var, y_var])
    assert np.array_equal(from_pandas.to_numpy()["x"], values[:, 0])


def test_bad_observed_data(tmp_path):
    x_var = ROOT.RooRealVar("x", "x", 0, 1)
    ws = ROOT.RooWorkspace("ws")
    ws.Import(x_var)
    with pytest.raises(InputError, match="workspace 'ws' has no variable 'z'; it has: x"):
        observed_data_from_arrays(np.zeros(3), ["z"], workspace=ws)
    with pytest.raises(InputError, match="given by name: pass workspace="):
        observed_data_from_arrays(np.zeros(3), ["x"])
    with pytest.raises(InputError, match="none of the 3 observed events is inside"):
        observed_data_from_arrays(np.full(3, 5.0), [x_var])
    with pytest.raises(InputError, match="column 'x' holds 1 NaN/Inf value\\(s\\), first in row 1"):
        observed_data_from_arrays(np.array([0.5, np.nan]), [x_var])
    with pytest.raises(InputError, match="weights.* sum to -1"):
        observed_data_from_arrays(np.full(2, 0.5), [x_var], weights=[1.0, -2.0])
    path = write_tree(tmp_path / "d.root", {"x": np.full(3, 0.5)})
    with pytest.raises(InputError, match="no branch 'wt'"):
        observed_data_from_tree(path, x_var, weight="wt")


# ---------------------------------------------------------------------------------------------
# A real training from a sample that went through a ROOT file
# ---------------------------------------------------------------------------------------------


def test_training_on_a_sample_read_from_a_file(tmp_path):
    rng = np.random.default_rng(11)
    n = 20_000
    mu = rng.uniform(0, 4, n)
    x = np.concatenate([rng.normal(mu, 1.5), rng.uniform(-5, 15, n)])
    y = np.r_[np.ones(n), np.zeros(n)]
    sample = sample_from_arrays(x, np.r_[mu, mu], y, ["x"], ["mu"], parameter_ranges={"mu": (0, 4)})
    back = read_sample(write_sample(sample, tmp_path / "train.root"))
    assert_same(sample, back)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 16-wide network gains nothing from threads, and they spin on a busy machine
    try:
        est = TorchRatioEstimator(hidden=(16, 16), max_epochs=5, batch_size=256, progress=False, seed=1).fit(back)
    finally:
        torch.set_num_threads(threads)
    assert est.parameter_ranges_ == {"mu": (0.0, 4.0)}
    for m in (1.0, 2.5):
        grid = np.linspace(m - 3, m + 3, 61)
        diff = est.log_ratio(grid[:, None], [m]) - exact_log_ratio(grid, m)
        assert np.median(np.abs(diff)) < 0.3, (m, diff)
