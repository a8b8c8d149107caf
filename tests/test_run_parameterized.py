"""``roosbi run --target``: a parameterized study from files of events simulated at many parameter points."""

import json
from pathlib import Path

import numpy as np
import pytest

from roosbi.cli import main
from roosbi.exceptions import InputError
from roosbi.library import import_root
from roosbi.run import PARAMETERIZED_KEYS, STUDY_KEYS, parameterized_from_samples, run_study
from roosbi.run.parameterized_run import training_sample

# Not a built-in problem: a peak x whose position is mu, and a decay time y whose mean grows with mu.
# Events at the grid points mu = 0, 1, 2, 3, 4 (1200 each) with weights that are not whole numbers,
# about 3 % of them negative.
X, Y = "gRandom->Gaus(mu, 1.0)", "gRandom->Exp(1.0 + 0.25 * mu)"
WEIGHT = "gRandom->Uniform() < 0.03 ? -0.3 : 0.5 + gRandom->Uniform()"
FAST = {"epochs": 40, "quiet": True}  # a few seconds: small, but enough for a real fit


def _write(path: Path, n: int, columns: dict[str, str], tree: str = "events") -> None:
    frame = import_root().RDataFrame(n)
    for name, expression in columns.items():
        frame = frame.Define(name, expression)
    frame.Snapshot(tree, str(path))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """grid.root (mu at 5 grid points), spread.root (mu uniform), ref.root (x, y only), data.root (mu = 1.5)."""
    ROOT = import_root()
    d = tmp_path_factory.mktemp("parameterized")
    ROOT.gRandom.SetSeed(17)
    _write(d / "grid.root", 6000, {"mu": "double(rdfentry_ % 5)", "x": X, "y": Y, "w": WEIGHT})
    _write(d / "spread.root", 6000, {"mu": "gRandom->Uniform(0, 4)", "x": X, "y": Y, "w": WEIGHT})
    _write(d / "ref.root", 6000, {"x": "gRandom->Uniform(-4, 8)", "y": "gRandom->Exp(2.0)", "w": "1.0"}, "ref")
    _write(d / "data.root", 400, {"mu": "1.5", "x": X, "y": Y}, "observed")
    return d


def _toml(path: Path, lines: dict) -> Path:
    text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in lines.items())
    path.write_text(text)
    return path


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def toml_run(files, tmp_path_factory) -> Path:
    """A study file: the grid target, the marginal reference (default), pseudo-data at mu = 2; with figures."""
    d = tmp_path_factory.mktemp("toml")
    study = {"target": str(files / "grid.root") + ":events", "observables": ["x", "y"], "parameters": "mu",
             "weight": "w", "data_point": "mu=2", **FAST, "out": "out"}  # fmt: skip
    assert main(["run", str(_toml(d / "study.toml", study))]) == 0
    return d / "out"


def test_outputs_and_the_learned_fit_near_the_truth(toml_run):
    for name in ("results.json", "report.md", "workspace.root", "model.onnx", "delta_nll.png", "training.png"):
        assert (toml_run / name).is_file(), name
    res = _results(toml_run)
    assert set(res["fits"]) == {"learned", "morphed"}  # no analytic fit: no pdf
    assert res["truth"] == {"mu": 2.0}
    learned = res["fits"]["learned"]["params"]["mu"]
    assert 0.03 < learned["error"] < 0.1  # 300 pseudo-data events: about 0.06
    assert abs(learned["value"] - 2.0) < 4 * learned["error"]
    assert abs(learned["value"] - res["fits"]["morphed"]["params"]["mu"]["value"]) < 0.3
    assert res["baseline"]["kind"] == "morphed" and res["baseline"]["templates"] == 5
    assert res["source"]["reference"]["kind"] == "marginal"
    assert res["source"]["grid"]["axes"] == {"mu": [0.0, 1.0, 2.0, 3.0, 4.0]} and res["source"]["grid"]["complete"]
    data = res["source"]["data"]
    assert data["pseudo_data"] and data["pool"] == 300 and data["events"] == 300  # 25 % of the 1200 at mu = 2
    assert len(res["normalization_check"]["learned"]) == 5
    report = (toml_run / "report.md").read_text()
    assert "pseudo-data at mu = 2" in report and "self-normalised" in report


def test_the_command_line_gives_the_study_file_results(toml_run, files, tmp_path):
    out = tmp_path / "cli"
    argv = ["run", "--target", f"{files / 'grid.root'}:events", "--observables", "x,y", "--parameters", "mu"]
    argv += ["--weight", "w", "--data-point", "mu=2", "--epochs", "40", "--quiet", "--no-plots", "--out", str(out)]
    assert main(argv) == 0
    a, b = _results(out)["fits"], _results(toml_run)["fits"]
    assert set(a) == set(b)
    for name in a:
        assert a[name]["params"] == b[name]["params"] and a[name]["status"] == b[name]["status"], name


def test_the_marginal_reference_permutes_the_targets_parameters(files):
    samples = parameterized_from_samples(f"{files / 'grid.root'}:events", "x,y", "mu", data_point=2.0, weight="w")
    sample, (x_check, _), rows = training_sample(samples, None, seed=3)
    target, reference = sample.y == 1, sample.y == 0
    assert target.sum() == reference.sum() == len(rows)
    # The same x in both classes, their parameters a permutation of the target's: x and mu independent.
    np.testing.assert_array_equal(sample.x[target], sample.x[reference])
    np.testing.assert_array_equal(np.sort(sample.theta[target], axis=0), np.sort(sample.theta[reference], axis=0))
    assert not np.array_equal(sample.theta[target], sample.theta[reference])
    assert abs(np.corrcoef(sample.x[reference][:, 0], sample.theta[reference][:, 0])[0, 1]) < 0.1
    assert np.corrcoef(sample.x[target][:, 0], sample.theta[target][:, 0])[0, 1] > 0.5
    assert sample.weights[target].sum() == pytest.approx(sample.weights[reference].sum())
    assert len(x_check) == 570  # 10 % of the 5700 target events left after the pseudo-data's 300
    again, _, _ = training_sample(samples, None, seed=3)  # seeded
    np.testing.assert_array_equal(again.theta, sample.theta)


def test_continuous_parameters_a_reference_file_and_observed_data(files, tmp_path):
    """mu spread continuously: no morphing baseline (said in results.json and report.md)."""
    out = tmp_path / "spread"
    res = run_study(
        {
            "target": f"{files / 'spread.root'}:events",
            "reference": f"{files / 'ref.root'}:ref",
            "data": f"{files / 'data.root'}:observed",
            "observables": ["x", "y"],
            "parameters": ["mu"],
            "weight": "w",
            **FAST,
            "no_plots": True,
            "out": str(out),
        }  # fmt: skip
    )
    assert set(res["fits"]) == {"learned"} and res["truth"] == {}
    assert res["baseline"]["kind"] is None and "spread continuously" in res["baseline"]["reason"]
    assert res["source"]["grid"] is None and res["source"]["reference"]["events"] == 6000
    assert res["source"]["data"]["events"] == 400
    learned = res["fits"]["learned"]["params"]["mu"]
    assert learned["error"] < 0.1 and abs(learned["value"] - 1.5) < 4 * learned["error"]
    report = (out / "report.md").read_text()
    assert "No morphing baseline" in report and "Observed data: 400 events" in report


def test_bad_input_is_refused_before_any_work(files, tmp_path, capsys):
    out = tmp_path / "never"
    base = {"target": f"{files / 'grid.root'}:events", "observables": ["x", "y"], "parameters": ["mu"],
            "data_point": "mu=2", "out": str(out)}  # fmt: skip
    with pytest.raises(InputError, match=r"no branch 'q'.*it has: mu, w, x, y"):
        run_study({**base, "observables": ["x", "q"]})
    with pytest.raises(InputError, match=r"no branch 'mass'.*it has: mu, w, x, y"):
        run_study({**base, "parameters": ["mass"]})
    with pytest.raises(InputError, match=r"no branch 'w'.*it has: mu, x, y"):  # a reference without the weights
        run_study({**base, "reference": f"{files / 'data.root'}:observed", "weight": "w"})
    with pytest.raises(InputError, match=r"mu=2.5 is not one of the target's grid points: mu=0; mu=1; mu=2"):
        run_study({**base, "data_point": "mu=2.5"})
    with pytest.raises(InputError, match="spread continuously"):
        run_study({**base, "target": f"{files / 'spread.root'}:events"})
    with pytest.raises(InputError, match="data .* or data_point"):
        run_study({**base, "data_point": None})
    with pytest.raises(InputError, match="not both"):
        run_study({**base, "data": f"{files / 'data.root'}:observed"})
    with pytest.raises(InputError, match="'pdf', 'n_signal' and 'target' do not go together"):
        run_study({**base, "pdf": "model", "n_signal": 3.0})
    with pytest.raises(InputError, match="carl only"):
        run_study({**base, "method": "alices"})
    with pytest.raises(InputError, match="'data_point' belongs to a parameterized study"):
        run_study({"workspace": "w.root", "pdf": "p", "observables": "x", "parameters": "a", "data": "d",
                   "data_point": "a=1", "out": str(out)})  # fmt: skip
    assert main(["run", "--target", f"{files / 'grid.root'}", "--observables", "x", "--parameters", "mu",
                 "--data-point", "mu=7", "--out", str(out)]) == 2  # fmt: skip
    assert "not one of the target's grid points" in capsys.readouterr().err
    assert set(PARAMETERIZED_KEYS) <= set(STUDY_KEYS)
    assert not out.exists()


def test_a_study_file_searches_the_budget(files, tmp_path, capsys):
    """budget = "auto" in the file: bootstrap runs at doubling n_train, as roosbi run --budget auto."""
    study = {"target": f"{files / 'grid.root'}:events", "observables": ["x", "y"], "parameters": ["mu"],
             "data_point": "mu=2", "n_train": 500, "epochs": 2, "quiet": True, "no_plots": True,
             "budget": "auto", "budget_target": 1000, "out": "out"}  # fmt: skip
    assert main(["run", str(_toml(tmp_path / "study.toml", study))]) == 0
    assert "budget: n_train 500" in capsys.readouterr().out
    res = _results(tmp_path / "out")
    assert res["budget"]["reached"] and [s["n_train"] for s in res["budget"]["steps"]] == [500]
    assert res["fits"]["learned"]["params"]["mu"]["training_error"] > 0
    assert "## Training budget" in (tmp_path / "out" / "report.md").read_text()
    with pytest.raises(InputError, match="budget_target and budget_max need budget = 'auto'"):
        run_study({**study, "budget": None, "out": str(tmp_path / "o")})
    with pytest.raises(InputError, match="budget must be 'auto'"):
        run_study({**study, "budget": "yes", "out": str(tmp_path / "o")})
    with pytest.raises(InputError, match="a mixture from sample files does not have"):
        run_study({"signal": "s.root", "background": "b.root", "observables": "x", "n_signal": 1.0,
                   "n_background": 2.0, "budget": "auto", "out": str(tmp_path / "o")})  # fmt: skip
    assert not (tmp_path / "o").exists()
