"""``roosbi run`` on files of simulated events: a mixture (signal strength) with no pdf, from the API and the CLI."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from roosbi.cli import main
from roosbi.data.samples import sample_from_arrays, sample_from_trees
from roosbi.exceptions import InputError
from roosbi.library import import_root
from roosbi.mixture import classifier_score, score_histograms, template_pdf
from roosbi.run import SAMPLE_KEYS, STUDY_KEYS, parse_source, run_study
from roosbi.run.sources import read_events
from roosbi.workspace import open_workspace

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")

S, B = 150.0, 1500.0
OBSERVABLES = ["m", "y", "z"]
# Tiny but real: a few seconds per run.
TINY = {"epochs": 3, "no_plots": True, "quiet": True}

# A peak on a falling background in m, a correlated y and a weakly separating z; weights that are
# not whole numbers, about 3 % of them negative; w_alt reweights the background below m = 120.
SIGNAL = {"m": "gRandom->Gaus(125, 3)", "y": "gRandom->Gaus(0.5 * (m - 125) / 3, 1)", "z": "gRandom->Exp(2)"}
BACKGROUND = {"m": "100 + gRandom->Exp(25)", "y": "gRandom->Gaus(0, 1.5)", "z": "gRandom->Exp(3)"}
WEIGHT = "gRandom->Uniform() < 0.03 ? -0.3 : 0.5 + gRandom->Uniform()"


def _write(path: Path, n: int, columns: dict[str, str], extra: dict[str, str] | None = None, tree="events") -> None:
    ROOT = import_root()
    frame = ROOT.RDataFrame(n)
    for name, expression in {**columns, **(extra or {})}.items():
        frame = frame.Define(name, expression)
    frame.Snapshot(tree, str(path))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """sig.root and bkg.root (tree 'events', weighted), data.root (150 signal + 1500 background events)."""
    ROOT = import_root()
    d = tmp_path_factory.mktemp("samples")
    ROOT.gRandom.SetSeed(11)
    weights = {"w": WEIGHT, "w_neg": "-1.0 - gRandom->Uniform()"}
    _write(d / "sig.root", 4000, SIGNAL, {**weights, "w_alt": "w"})
    _write(d / "bkg.root", 8000, BACKGROUND, {**weights, "w_alt": "m < 120 ? 4 * w : w"})
    picked = {k: f"rdfentry_ < {int(S)} ? {SIGNAL[k]} : {BACKGROUND[k]}" for k in OBSERVABLES}
    picked["y"] = f"rdfentry_ < {int(S)} ? gRandom->Gaus(0.5 * (m - 125) / 3, 1) : gRandom->Gaus(0, 1.5)"
    _write(d / "data.root", int(S + B), picked, tree="observed")
    return d


def _study(files: Path, **extra) -> dict:
    return {
        "signal": f"{files / 'sig.root'}:events",
        "background": str(files / "bkg.root"),  # the file's only tree
        "observables": OBSERVABLES,
        "weight": "w",
        "n_signal": S,
        "n_background": B,
        **TINY,
        **extra,
    }


@pytest.fixture(scope="module")
def api_run(files, tmp_path_factory):
    """The Python API, pseudo-data at mu = 1 drawn from the held-out events."""
    out = tmp_path_factory.mktemp("api") / "out"
    return out, run_study(_study(files, out=str(out)))


@pytest.fixture(scope="module")
def cli_run(files, tmp_path_factory):
    """The CLI on a study file with relative paths and an observed data file; its output directory."""
    d = tmp_path_factory.mktemp("cli")
    for name in ("sig.root", "bkg.root", "data.root"):
        shutil.copy(files / name, d / name)
    (d / "study.toml").write_text(
        'signal = "sig.root:events"\nbackground = ["bkg.root:events"]\ndata = "data.root:observed"\n'
        'observables = "m,y,z"\nweight = "w"\nn_signal = 150\nn_background = 1500.0\npoi = "r"\n'
        'poi_range = [0, 4]\nselection = "z < 30"\nout = "out"\n'
    )
    assert main(["run", str(d / "study.toml"), "--epochs", "3", "--no-plots", "--quiet", "--seed", "2"]) == 0
    return d / "out"


def test_api_fits_pseudo_data_with_the_learned_mixture_and_the_templates(api_run):
    out, res = api_run
    for name in ("results.json", "report.md", "workspace.root", "model.onnx", "libRooSBI.so"):
        assert (out / name).stat().st_size > 0, name
    assert res == json.loads((out / "results.json").read_text())
    assert set(res["fits"]) == {"learned", "template"} and res["truth"] == {"mu": 1.0}
    for name, fit in res["fits"].items():
        mu = fit["params"]["mu"]
        assert fit["status"] == 0 and 0.1 < mu["error"] < 0.6, name
        # A few seconds of training: a generous margin around the pseudo-data's truth.
        assert abs(mu["value"] - 1.0) < max(3 * mu["error"], 0.8), (name, mu)
    source = res["source"]
    assert source["kind"] == "mixture from samples" and source["weight"] == "w"
    assert source["signal"]["events"] == 4000 and source["background"]["tree"] is None
    assert source["signal"]["negative_weights"] > 0 and source["signal"]["sum_weights"] % 1 != 0
    pseudo = source["data"]
    assert pseudo["pseudo_data"] and pseudo["signal"]["pool"] == 1000 and pseudo["background"]["pool"] == 2000
    assert pseudo["events"] == pseudo["signal"]["drawn"] + pseudo["background"]["drawn"]
    # The network sees 80 % of what is left after the pseudo-data's 25 %: 2400 + 4800 events.
    assert res["training"]["n_signal_events"] == 2400 and res["training"]["n_background_events"] == 4800
    assert res["calibration"]["held_out_share"] == 0.2
    report = (out / "report.md").read_text()
    assert "no analytic fit" in report.lower() and "pseudo-data at mu = 1" in report
    assert "(2400 signal + 4800 background)" in report


def test_cli_study_file_with_observed_data(cli_run, files, capsys):
    res = json.loads((cli_run / "results.json").read_text())
    assert res["truth"] == {} and res["seed"] == 2 and set(res["fits"]) == {"learned", "template"}
    assert res["source"]["data"]["files"] == [str((cli_run.parent / "data.root").resolve())]
    assert res["source"]["data"]["tree"] == "observed" and res["source"]["selection"] == "z < 30"
    assert res["source"]["poi"] == "r" and res["source"]["poi_range"] == [0.0, 4.0]
    for name, fit in res["fits"].items():
        r = fit["params"]["r"]
        assert fit["status"] == 0 and abs(r["value"] - 1.0) < max(3 * r["error"], 0.8), (name, r)
    n_data = res["source"]["data"]["events"]
    assert 1640 < n_data < 1650  # the selection z < 30 applies to the data too
    assert f"Observed data: {n_data} events" in (cli_run / "report.md").read_text()


@pytest.mark.skipif(ROOT_EXE is None, reason="no root executable")
def test_macro_fits_the_written_workspace(cli_run):
    """macros/fit_workspace.C in a fresh ROOT process gives the numbers of results.json."""
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{cli_run / "workspace.root"}")'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = re.findall(r"^FIT (\w+) r=(\S+) \+- (\S+) status=(-?\d+)$", proc.stdout, re.M)
    fits = json.loads((cli_run / "results.json").read_text())["fits"]
    assert sorted(line[0] for line in lines) == sorted(fits), proc.stdout + proc.stderr
    for name, value, error, status in lines:
        expected = fits[name]["params"]["r"]
        assert int(status) == fits[name]["status"] == 0
        assert float(value) == pytest.approx(expected["value"], abs=1e-4)
        assert float(error) == pytest.approx(expected["error"], rel=1e-3)


def test_validate_refuses_toys_without_a_pdf(cli_run, tmp_path, capsys):
    """Observed data given: no pdf of x and no held-out events to draw toys from; roosbi validate says so."""
    assert main(["validate", str(cli_run / "workspace.root"), "--toys", "2", "--workers", "1", "--out",
                 str(tmp_path / "v"), "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "can draw toys" in err and "no held-out events" in err
    assert not (tmp_path / "v").exists()
    assert main(["validate", str(cli_run), "--generator", "learned", "--toys", "2", "--workers", "1", "--out",
                 str(tmp_path / "v"), "--quiet"]) == 2  # fmt: skip
    assert "cannot generate toys: it is not a density" in capsys.readouterr().err


def test_validate_draws_toys_from_the_held_out_events(api_run, tmp_path):
    """Pseudo-data from held-out events: the toys are drawn from them, Poisson(mu S) + Poisson(B) events."""
    from roosbi.stats import run_validation
    from roosbi.stats.toys import run_toys

    out, _ = api_run
    kw = {"workers": 1, "seed": 3, "progress": False, "at": {"mu": 1.0}}
    res = run_validation(out / "workspace.root", 6, tmp_path / "v", **kw)
    assert res["generator"] == "pool" and res["skipped"] == {"template": res["skipped"]["template"]}
    counts = [t["n_events"] for t in run_toys(str(out / "workspace.root"), range(6), 3, {"mu": 1.0}, 0, "pool")]
    assert all(abs(n - (S + B)) < 5 * (S + B) ** 0.5 for n in counts) and len(set(counts)) > 1
    learned = res["learned"]["mu"]
    assert learned["n_toys"] == 6 and learned["n_failed"] == 0 and abs(learned["bias"]) < 0.5
    again = run_validation(out / "workspace.root", 6, tmp_path / "w", **kw)
    assert again["learned"] == res["learned"]  # same seed, same toys


def test_weights_fill_the_templates(files, api_run):
    """A template bin is the sum of its events' weights: reweighting the background changes its template."""
    ROOT = import_root()
    ws = open_workspace(api_run[0] / "workspace.root")
    ratio = ws.function("learned_ratio")
    sig, bkg = str(files / "sig.root"), str(files / "bkg.root")
    sample = sample_from_trees(sig, bkg, OBSERVABLES, [], weight="w")  # no parameters: a mixture's ratio
    assert sample.theta.shape == (12000, 0) and sample.input_names == OBSERVABLES
    reweighted = sample_from_trees(sig, bkg, OBSERVABLES, [], weight="w_alt")
    _, counts = score_histograms(ratio, sample, 20, pseudo_count=0)
    _, again = score_histograms(ratio, reweighted, 20, pseudo_count=0)
    np.testing.assert_array_equal(counts["signal"], again["signal"])  # the same weights
    shape, shape_alt = (c["background"] / c["background"].sum() for c in (counts, again))
    assert np.abs(shape - shape_alt).max() > 0.02  # m < 120 weighs 4 x: a different template
    assert counts["background"].sum() == pytest.approx(sample.weights[sample.y == 0].sum(), rel=1e-3)

    # template_pdf on a bare workspace: the POI, the yields and the data, no Problem.
    fresh = ROOT.RooWorkspace("fresh")
    for name in OBSERVABLES:
        fresh.Import(ws.var(name), Silence=True)
    fresh.factory("mu[1, 0, 5]")
    fresh.Import(ws.data("obs_data"), Silence=True)
    pdf = template_pdf(
        fresh, ratio, reweighted, 20, mu="mu", n_signal=S, n_background=B, data="obs_data", pseudo_count=0
    )
    assert pdf.getStringAttribute("roosbi_data") == "obs_data_score"
    hist = fresh.pdf("template_pdf_background").dataHist()
    assert hist.sumEntries() == pytest.approx(again["background"].sum(), rel=1e-9)
    with pytest.raises(InputError, match="needs n_background, data"):
        template_pdf(fresh, ratio, reweighted, 20, name="t2", mu="mu", n_signal=S)


def test_template_bins_that_are_not_positive(api_run, caplog):
    ws = open_workspace(api_run[0] / "workspace.root")
    ratio = ws.function("learned_ratio")
    rng = np.random.default_rng(3)
    signal = np.column_stack([rng.normal(125, 3, 200), rng.normal(0, 1, 200), rng.exponential(2, 200)])
    background = np.column_stack([100 + rng.exponential(25, 200), rng.normal(0, 1.5, 200), rng.exponential(3, 200)])
    n_bins = 200  # narrow bins: the classifier of a 3-epoch run separates little

    def score_bin(points):
        return np.minimum((classifier_score(ratio, points) * n_bins).astype(int), n_bins - 1)

    free = np.flatnonzero(~np.isin(score_bin(signal), score_bin(background[:-5])))
    assert len(free), "no score bin holds signal events only"
    background[-5:] = signal[free[0]]  # five background events in a bin of signal events only ...
    x, y = np.vstack([signal, background]), np.repeat([1.0, 0.0], 200)
    w = np.full(400, 0.7)
    w[-5:] = -0.2  # ... with negative weights
    with caplog.at_level(logging.WARNING, logger="roosbi.mixture"):
        sample = sample_from_arrays(x, None, y, OBSERVABLES, [], weights=w)
        _, counts = score_histograms(ratio, sample, n_bins, pseudo_count=0)
    assert "negative sum of weights" in caplog.text
    floor = 0.1 * np.abs(w[y == 0]).mean()
    assert counts["background"][score_bin(signal[free[:1]])[0]] == pytest.approx(floor)
    assert (counts["background"] > 0).all()
    sample = sample_from_arrays(x, None, y, OBSERVABLES, [], weights=np.abs(w))
    sample.weights[y == 0] = -0.1  # changed after the sample was checked: a class that sums to less than zero
    with pytest.raises(InputError, match="background events' weights sum to -20 .* positive total"):
        score_histograms(ratio, sample, 10, 0)


def _error(argv: list[str], capsys) -> str:
    """Run the CLI, expect the one-line input error (exit status 2); its message."""
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("roosbi: error: ")]
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_input_is_named_before_any_work(files, tmp_path, capsys):
    out = tmp_path / "out"
    sig, bkg = f"{files / 'sig.root'}:events", f"{files / 'bkg.root'}:events"
    base = ["run", "--signal", sig, "--background", bkg, "--observables", "m,y,z", "--n-signal", "150",
            "--n-background", "1500", "--out", str(out), "--quiet", "--no-plots"]  # fmt: skip
    err = _error([*base[:2], f"{files / 'sig.root'}:nope", *base[3:]], capsys)
    assert "has no TTree or RNTuple 'nope'; it has 'events' (TTree)" in err
    err = _error([*base[:6], "m,q,z", *base[7:]], capsys)
    assert "no branch 'q'" in err and "it has: m, w, w_alt, w_neg, y, z" in err
    err = _error([*base, "--weight", "w_neg"], capsys)
    assert "signal events' weights ('w_neg'" in err and "sum to -" in err and "positive total weight" in err
    err = _error([*base, "--selection", "m > 1e9"], capsys)
    assert "hold no events that pass the selection 'm > 1e9'" in err
    err = _error([*base, "--pdf", "model"], capsys)
    assert "'pdf' and 'signal'/'background' do not go together" in err
    err = _error(["run", str(files / "ws.root"), *base[1:]], capsys)
    assert "'workspace' and 'signal'/'background' do not go together" in err
    err = _error([*base[:9], *base[11:]], capsys)
    assert "the study needs n_background (on the command line: --n-background)" in err
    err = _error(["run", "--quiet"], capsys)
    assert "give WORKSPACE.root, a study file STUDY.toml, or --signal and --background" in err
    err = _error([*base, "--n-signal", "-3"], capsys)
    assert "n_signal (an expected number of events) must be positive" in err
    assert not out.exists()


def test_bad_study_keys(files, tmp_path):
    with pytest.raises(InputError, match="'n_signal' belongs to a mixture from sample files"):
        run_study({"workspace": "w.root", "pdf": "p", "observables": "x", "parameters": "a", "data": "d",
                   "n_signal": 3.0, "out": str(tmp_path / "o")})  # fmt: skip
    with pytest.raises(InputError, match="carl only"):
        run_study(_study(files, method="alices", out=str(tmp_path / "o")))
    with pytest.raises(InputError, match="poi_range must be two numbers"):
        run_study(_study(files, poi_range=[1], out=str(tmp_path / "o")))
    with pytest.raises(InputError, match="mu_observed = 7 is outside the range of 'mu'"):
        run_study(_study(files, mu_observed=7, out=str(tmp_path / "o")))
    assert set(SAMPLE_KEYS) <= set(STUDY_KEYS)
    assert not (tmp_path / "o").exists()


def test_sources_from_tables(files, tmp_path):
    """Tables through pandas (csv) and numpy (npz), with a DataFrame.query selection."""
    rng = np.random.default_rng(1)
    columns = {"m": rng.normal(125, 3, 50), "y": rng.normal(size=50), "z": rng.exponential(size=50)}
    np.savez(tmp_path / "sig.npz", **columns)
    import pandas as pd

    pd.DataFrame(columns).to_csv(tmp_path / "sig.csv", index=False)
    for name in ("sig.npz", "sig.csv"):
        source = parse_source(str(tmp_path / name), "signal")
        arrays, _ = read_events(source, OBSERVABLES, "m > 125 and z < 5")
        expected = (columns["m"] > 125) & (columns["z"] < 5)
        np.testing.assert_allclose(arrays["y"], columns["y"][expected])
    with pytest.raises(InputError, match="no column 'q' in .*it has: m, y, z"):
        read_events(parse_source(str(tmp_path / "sig.csv"), "signal"), ["m", "q"], None)
    with pytest.raises(InputError, match="not a pandas query"):
        read_events(parse_source(str(tmp_path / "sig.csv"), "signal"), ["m"], "m >> ")
    with pytest.raises(InputError, match="only ROOT files hold trees"):
        parse_source(f"{tmp_path / 'sig.csv'}:t", "signal")
    with pytest.raises(InputError, match="not a file of events"):
        parse_source("sig.txt", "signal")
    with pytest.raises(InputError, match="different kinds"):
        parse_source([str(files / "sig.root"), str(tmp_path / "sig.csv")], "signal")


def test_morphed_pdf_from_given_histograms():
    """Histograms at grid points (e.g. from events simulated there) give the simulated morph's pdf exactly."""
    from roosbi.data.builtin import gauss1d, gauss2d
    from roosbi.morphing import grid_points, morphed_pdf

    ROOT = import_root()
    prob = gauss1d(seed=1)
    ws, x, mu = prob.workspace, prob.var("x"), prob.var("mu")
    simulated = morphed_pdf(prob, n_templates=3, n_events=5000, n_bins=40, seed=4, name="simulated")
    ROOT.RooRandom.randomGenerator().SetSeed(4)  # the same histograms, made here
    templates = {}
    for _, point in grid_points([mu], 3):
        mu.setVal(float(point[0]))
        templates[float(point[0])] = ws.pdf(prob.target_pdf).generateBinned(ROOT.RooArgSet(x), 5000)
    given = morphed_pdf(prob, templates=templates, name="given")
    norm = ROOT.RooArgSet(x)
    # The morph's unused non-linear terms (0 * inf) are evaluation errors RooFit would print: count them.
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
    for m in (0.3, 1.7, 3.2):
        mu.setVal(m)
        for value in (-2.0, 0.5, 3.0):
            x.setVal(value)
            assert given.getVal(norm) == pytest.approx(simulated.getVal(norm), rel=1e-9)
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
    ROOT.RooAbsReal.clearEvalErrorLog()
    assert templates[0.0].sumEntries() == pytest.approx(5000)  # copied, not changed
    # Templates of different totals (fewer events at one point) fit as templates of one total do.
    ROOT.RooRandom.randomGenerator().SetSeed(5)
    uneven = {}
    for (_, point), n in zip(grid_points([mu], 3), (5000, 1000, 5000), strict=True):
        mu.setVal(float(point[0]))
        uneven[float(point[0])] = ws.pdf(prob.target_pdf).generateBinned(ROOT.RooArgSet(x), n)
    short = morphed_pdf(prob, templates=uneven, name="short")
    mu.setVal(2.7)
    data = ws.pdf(prob.target_pdf).generate(ROOT.RooArgSet(x), 5000)
    fitted = []
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
    for pdf in (given, short):
        mu.setVal(1.0)
        nll = pdf.createNLL(data)
        minimizer = ROOT.RooMinimizer(nll)
        minimizer.setPrintLevel(-1)
        minimizer.migrad()
        fitted.append(mu.getVal())
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
    ROOT.RooAbsReal.clearEvalErrorLog()
    assert fitted[1] == pytest.approx(fitted[0], abs=0.05), fitted  # unscaled: the short template biases it
    with pytest.raises(InputError, match="takes the problem first"):
        morphed_pdf(templates)
    two = gauss2d(seed=1)
    empty = ROOT.RooDataHist("empty", "", ROOT.RooArgSet(*[two.var(n) for n in two.observables]))
    corners = [
        (a, b) for a in two.parameter_ranges()[two.parameters[0]] for b in two.parameter_ranges()[two.parameters[1]]
    ]
    with pytest.raises(InputError, match="1 of 4 points missing"):
        morphed_pdf(two, templates=dict.fromkeys(corners[:3], empty), name="g2")
    with pytest.raises(InputError, match="outside its range"):
        morphed_pdf(prob, templates={-1.0: templates[0.0], 4.0: templates[4.0]}, name="g3")
