"""roosbi hypotest: RooStats discovery significance and CLs limits of a real (tiny) mixture workspace.

The mixture (rf618) is trained for a few seconds; its analytic, learned and template NLLs are tested
asymptotically (and checked against RooStats' own AsymptoticCalculator + HypoTestInverter), with
toys on one worker and on two Dask workers (the same numbers), through the CLI, and bad inputs are
refused before any work.
"""

import json
import math

import numpy as np
import pytest
import ROOT

import roosbi
from roosbi import InputError
from roosbi.cli import main
from roosbi.demo import run_demo
from roosbi.stats.hypotest import _SNAPSHOT, HYPOTEST_FILES, SIGMAS, _quiet, asymptotic, read_models, run_hypotests
from roosbi.workspace import open_workspace

SCAN = (0.2, 1.6, 4)  # coarse: the toy tests only need a few points


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The mixture demo with 5000 signal and background events, 30 epochs (a few seconds)."""
    out = tmp_path_factory.mktemp("mixture")
    run_demo(
        problem="mixture",
        out=out,
        seed=1,
        n_train=5000,
        estimator_settings={"max_epochs": 30},
        progress=False,
        plots=False,
    )
    return out


@pytest.fixture(scope="module")
def asymptotic_run(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("asymptotic")
    return out, run_hypotests(demo, out, toys=0, progress=False)


def test_asymptotic_results_are_sane_and_written(asymptotic_run):
    out, res = asymptotic_run
    assert {p.name for p in out.iterdir()} == set(HYPOTEST_FILES)
    assert json.loads((out / "hypotest.json").read_text()) == res
    assert res["nlls"] == ["analytic", "learned", "template"] and res["poi"] == "mu" and res["cl"] == 0.95
    assert res["toys"] == 0 and res["workers"] == 1 and res["wall_s"] > 0 and res["scan"]["toys"] is None
    assert res["scan"]["asymptotic"][2] == 40
    for name in res["nlls"]:
        r = res[name]
        # The observed data have mu = 1 on 2000 background events: about 4.8 sigma.
        assert 3 < r["significance_asymptotic"] < 7
        assert r["p0_asymptotic"] == pytest.approx(0.5 * math.erfc(r["significance_asymptotic"] / math.sqrt(2)))
        expected = [r["cls_expected_asymptotic"][str(k)] for k in SIGMAS]
        assert 0 < expected[0] < expected[1] < expected[2] < expected[3] < expected[4]
        assert 0.8 < r["cls_limit_asymptotic"] < 2  # above the fitted mu ~ 0.9
        assert all(r[key] is None for key in ("significance_toys", "p0_toys", "cls_limit_toys", "cls_expected_toys"))
    analytic, learned = res["analytic"], res["learned"]
    assert analytic["generator"] == learned["generator"] == "model"
    assert res["template"]["generator"] == "template_pdf" and res["template"]["data"] == "obs_data_score"
    # A few seconds of training: the learned limits are within 30 % of the analytic ones.
    assert learned["cls_limit_asymptotic"] == pytest.approx(analytic["cls_limit_asymptotic"], rel=0.3)
    exp = [r["cls_expected_asymptotic"]["0"] for r in (analytic, learned)]
    assert exp[1] == pytest.approx(exp[0], rel=0.3)
    assert "| learned |" in (out / "hypotest.md").read_text()


def test_asymptotics_match_roostats_asymptotic_calculator(demo):
    """Where the generator is the NLL's pdf, RooStats' AsymptoticCalculator and HypoTestInverter agree."""
    path = str(demo / "workspace.root")
    ws = open_workspace(path)
    ws.saveSnapshot(_SNAPSHOT, ws.allVars(), True)
    with _quiet():
        models, mu = read_models(ws, path, None)
        for name in ("analytic", "template"):
            model = models[name]
            ours = asymptotic(ws, model, mu, np.linspace(0.1, 1.6, 16), 0.95)
            ws.loadSnapshot(_SNAPSHOT)
            sb, b = model.config(ws, mu, "sb", 1.0), model.config(ws, mu, "b", 0.0)
            ws.loadSnapshot(_SNAPSHOT)
            calc = ROOT.RooStats.AsymptoticCalculator(model.data, b, sb)
            calc.SetOneSided(True)
            inverter = ROOT.RooStats.HypoTestInverter(calc)
            inverter.SetConfidenceLevel(0.95)
            inverter.UseCLs(True)
            inverter.SetFixedScan(16, 0.1, 1.6)
            theirs = inverter.GetInterval()
            assert ours["cls_limit_asymptotic"] == pytest.approx(theirs.UpperLimit(), rel=1e-3)
            for k in SIGMAS:
                assert ours["cls_expected_asymptotic"][str(k)] == pytest.approx(
                    theirs.GetExpectedUpperLimit(k), rel=2e-3
                )
            ws.loadSnapshot(_SNAPSHOT)
            null, alt = model.config(ws, mu, "d0", 0.0), model.config(ws, mu, "d1", ours["mu_hat"])
            ws.loadSnapshot(_SNAPSHOT)
            discovery = ROOT.RooStats.AsymptoticCalculator(model.data, alt, null)
            discovery.SetOneSidedDiscovery(True)
            result = discovery.GetHypoTest()
            assert ours["p0_asymptotic"] == pytest.approx(result.NullPValue(), rel=1e-4)


@pytest.fixture(scope="module")
def one_worker(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("toys1")
    return run_hypotests(demo, out, toys=10, workers=1, seed=3, scan=SCAN, progress=False)


def test_toys_on_one_worker_and_two_dask_workers_give_the_same_numbers(demo, one_worker, tmp_path):
    two = run_hypotests(demo, tmp_path, toys=10, workers=2, seed=3, scan=SCAN, progress=False)
    assert (one_worker["workers"], two["workers"]) == (1, 2)
    for name in one_worker["nlls"]:
        assert two[name] == one_worker[name]


def test_toy_results(one_worker):
    assert one_worker["scan"] == {"asymptotic": [0.2, 1.6, 4], "toys": [0.2, 1.6, 4]} and one_worker["toys"] == 10
    for name in one_worker["nlls"]:
        r = one_worker[name]
        assert r["n_toys"] == 10 and len(r["scan_toys"]["mu"]) == 4
        # No background-only toy of 10 reaches q0 of a 4.8 sigma excess: p0 < 0.1, Z > 1.28 is a bound.
        assert r["significance_toys_lower_bound"] is True and r["p0_toys_err"] is None
        assert r["p0_toys"] == pytest.approx(0.1) and r["significance_toys"] == pytest.approx(1.2816, abs=1e-4)
        assert 0.2 < r["cls_limit_toys"] < 1.6
        assert all(0 <= v <= 1 for v in r["scan_toys"]["clsb"] + r["scan_toys"]["clb"])
    # The analytic and learned NLLs see the same toys (same generator, same seeds).
    assert one_worker["analytic"]["p0_toys"] == one_worker["learned"]["p0_toys"]


def test_cli_writes_the_three_files(demo, tmp_path, capsys):
    assert main(["hypotest", str(demo), "--scan", "0.2,2,12", "--cl", "0.9", "--out", str(tmp_path), "--quiet"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(HYPOTEST_FILES)
    printed = capsys.readouterr().out
    assert "learned" in printed and "hypotest.json" in printed
    assert json.loads((tmp_path / "hypotest.json").read_text())["cl"] == 0.9
    assert main(["hypotest", str(demo), "--poi", "nope", "--out", str(tmp_path)]) == 2
    assert "choose from: mu" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["hypotest", str(demo), "--cl", "1.5", "--out", str(tmp_path)])
    assert exit_.value.code == 2


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A marked Gaussian peak on a flat background, and the same with mu's range removed."""
    paths = []
    for i, finite in enumerate((True, False)):
        ws = ROOT.RooWorkspace("w")
        ws.factory("SUM::model(prod::sy(mu[1, 0, 5], 50) * Gaussian::s(x[0, 10], 5, 0.5), nb[500] * Uniform::b(x))")
        ROOT.RooRandom.randomGenerator().SetSeed(2)
        data = ws.pdf("model").generate({ws.var("x")}, ROOT.RooFit.Extended(True))
        data.SetName("observed")
        roosbi.mark_fits(ws, {"analytic": "model"}, data, ["mu"])
        if not finite:
            ws.var("mu").removeRange()
        paths.append(tmp_path_factory.mktemp(f"small{i}") / "ws.root")
        ws.writeToFile(str(paths[-1]))
    return paths


def test_bad_inputs_are_refused_before_any_work(small, tmp_path):
    good, infinite = small
    unmarked = tmp_path / "unmarked.root"
    ws = ROOT.RooWorkspace("w")
    ws.factory("Gaussian::g(x[-5, 5], mu[0, -1, 1], 1)")
    ws.writeToFile(str(unmarked))
    out = tmp_path / "out"
    cases = [
        ({"path": unmarked}, "records no NLLs"),
        ({"poi": "sigma"}, "choose from: mu"),
        ({"path": infinite}, "finite range"),
        ({"toys": -1}, "non-negative"),
        ({"scan": (0, 9, 5)}, "scan must be"),
        ({"toys": 1, "scheduler": "tcp://127.0.0.1:9"}, "did not answer"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            run_hypotests(**{"path": good, "out": out, "progress": False, **kwargs})
    assert not out.exists()


def test_a_small_workspace_gives_a_limit(small, tmp_path):
    res = run_hypotests(small[0], tmp_path, toys=0, progress=False)
    r = res["analytic"]
    assert r["significance_asymptotic"] > 2 and r["cls_limit_asymptotic"] > r["mu_hat"]


def test_toys_draw_the_auxiliary_measurements_too(tmp_path):
    """A count with a 30 % background uncertainty constrained by an auxiliary measurement (alpha_obs).

    Toys must draw alpha_obs from its constraint as well as the count (the unconditional ensemble): then q_mu of
    toys at mu follows ½ δ + ½ χ²₁ (mean 0.5, 5 % above 2.71). With alpha_obs held at its value, the background
    uncertainty never fluctuates in the toys and q_mu's mean was 0.04: limits far too strong.
    """
    from roosbi.stats.hypotest import run_chunk

    ws = ROOT.RooWorkspace("w")
    ws.factory("expr::nexp('mu * 10 + 100 * (1 + 0.3 * alpha)', mu[1, -20, 20], alpha[0, -5, 5])")
    ws.factory("PROD::model(Poisson::main(n[0, 400], nexp), Gaussian::aux(alpha_obs[0, -5, 5], alpha, 1))")
    ws.var("alpha_obs").setConstant(True)
    data = ROOT.RooDataSet("observed", "", ROOT.RooArgSet(ws.var("n")))
    ws.var("n").setVal(110)
    data.add(ROOT.RooArgSet(ws.var("n")))
    roosbi.mark_fits(ws, {"analytic": "model"}, data, ["mu", "alpha"])
    path = tmp_path / "count.root"
    ws.writeToFile(str(path))
    models, _ = read_models(open_workspace(path), str(path), "mu")
    assert [v.GetName() for v in models["analytic"].global_observables] == ["alpha_obs"]
    q = 2 * run_chunk(str(path), "mu", 1, "analytic", 0, 1.0, 0, 300, 1.0)["null"]
    assert 0.35 < q.mean() < 0.65
    assert 0.015 < np.mean(q > 2.71) < 0.1


def test_toys_on_a_histfactory_workspace(tmp_path):
    """HistFactory's model (a RooSimultaneous, weighted binned obsData, global observables) with toys: it used to
    segfault in RooStats' ModelConfig::Print, then refuse unbinned toys for an NLL built on binned data."""
    from roosbi.diffana import BinnedModel, Sample, histfactory_workspace

    model = BinnedModel(
        [
            Sample("signal", [4.0, 8.0, 3.0], signal=True),
            Sample("background", [50.0, 20.0, 5.0], normsys={"norm": (0.9, 1.1)}, staterror=[5.0, 3.0, 1.5]),
        ],
        edges=[0.0, 1.0, 2.0, 3.0],
    )
    ws = histfactory_workspace(model, data=[52.0, 25.0, 6.0], poi_range=(0.0, 10.0))
    mc = ws.genobj("ModelConfig")
    params = [p.GetName() for p in [*mc.GetParametersOfInterest(), *mc.GetNuisanceParameters()]]
    roosbi.mark_fits(ws, {"histfactory": mc.GetPdf()}, "obsData", params)
    path = tmp_path / "hf.root"
    ws.writeToFile(str(path))
    globs = read_models(open_workspace(path), str(path), "mu")[0]["histfactory"].global_observables
    stat = [f"nom_gamma_stat_channel_bin_{b}" for b in range(3)]
    assert sorted(v.GetName() for v in globs) == ["nom_alpha_norm", *stat]
    res = run_hypotests(path, tmp_path / "out", toys=100, scan=(0.5, 3.5, 7), progress=False)["histfactory"]
    assert res["cls_limit_toys"] == pytest.approx(res["cls_limit_asymptotic"], rel=0.25)
    assert res["cls_expected_toys"]["0"] == pytest.approx(res["cls_expected_asymptotic"]["0"], rel=0.25)
