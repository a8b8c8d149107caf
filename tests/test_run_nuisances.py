"""``roosbi run`` with nuisance parameters on a user's workspace (not a mixture, not a built-in problem)."""

import json

import numpy as np
import pytest

from roosbi.cli import main
from roosbi.exceptions import InputError
from roosbi.library import import_root
from roosbi.run import problem_from_workspace


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory):
    """A peak position mu seen with an uncertain detector scale: x ~ Gauss(mu (1 + 0.05 alpha), 1).

    alpha has a unit Gaussian constraint around a constant global observable (an auxiliary
    measurement); the scale and the position trade off, so profiling alpha widens mu's interval.
    """
    ROOT = import_root()
    ws = ROOT.RooWorkspace("scale")
    ws.factory("expr::mean('mu * (1 + 0.05 * alpha)', mu[2, 0, 4], alpha[0, -4, 4])")
    ws.factory("Gaussian::peak(x[-4, 9], mean, 1.0)")
    ws.factory("Gaussian::alpha_constraint(alpha_global[0], alpha, 1)")
    ws.factory("Gaussian::unrelated(x, 0, 2)")
    ROOT.RooRandom.randomGenerator().SetSeed(21)
    ws.var("mu").setVal(2.5)
    data = ws.pdf("peak").generate(ROOT.RooArgSet(ws.var("x")), 2000)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    path = tmp_path_factory.mktemp("scale") / "scale.root"
    ws.writeToFile(str(path))
    return path


NAMES = ["--pdf", "peak", "--observables", "x", "--parameters", "mu", "--data", "obs"]
CONSTRAINT = "alpha_constraint"
NUISANCES = ["--nuisances", "alpha", "--constraints", CONSTRAINT]


def test_run_profiles_the_nuisance(workspace_file, tmp_path):
    out = tmp_path / "out"
    tiny = ["--n-train", "20000", "--epochs", "8", "--no-plots", "--quiet"]
    assert main(["run", str(workspace_file), *NAMES, *NUISANCES, *tiny, "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["fits"]) == {"analytic", "learned", "morphed"}
    for fit in res["fits"].values():
        assert set(fit["params"]) == {"mu", "alpha"}
    analytic = res["fits"]["analytic"]["params"]
    # 2000 events at mu = 2.5: the position is known to 0.022 statistically, the 5 % scale adds ~0.125.
    assert analytic["mu"]["value"] == pytest.approx(2.5, abs=0.4)
    assert 0.08 < analytic["mu"]["error"] < 0.2
    syst = res["systematics"]
    assert syst["poi"] == "mu" and list(syst["nuisance_parameters"]) == ["alpha"]
    intervals = syst["intervals"]["analytic"]
    assert intervals["with_systematics"]["width"] > 3 * intervals["without_systematics"]["width"]
    learned = syst["intervals"]["learned"]["vs_analytic"]
    assert learned["width_ratio"] == pytest.approx(1.0, abs=0.25)
    assert res["source"]["nuisances"] == ["alpha"] and res["source"]["constraints"] == ["alpha_constraint"]


def test_bad_nuisances_are_named(workspace_file, tmp_path, capsys):
    with pytest.raises(InputError, match="x2"):
        problem_from_workspace(workspace_file, "peak", "x", "mu", "obs", nuisances="x2")
    with pytest.raises(InputError, match="constraints need nuisance parameters"):
        problem_from_workspace(workspace_file, "peak", "x", "mu", "obs", constraints="alpha_constraint")
    with pytest.raises(InputError, match="depends on the observable"):
        problem_from_workspace(workspace_file, "peak", "x", "mu", "obs", nuisances="alpha", constraints="unrelated")
    with pytest.raises(InputError, match="reference must be a pdf"):
        problem_from_workspace(workspace_file, "peak", "x", "mu", "obs", reference="marginal", nuisances="alpha")
    prob = problem_from_workspace(workspace_file, "peak", "x", "mu", "obs", nuisances="alpha")
    assert prob.nuisance_parameters == ["alpha"] and prob.constraints == []  # warned: a free parameter
    out = tmp_path / "never"
    assert main(["run", str(workspace_file), *NAMES, "--nuisances", "beta", "--out", str(out)]) == 2
    assert "beta" in capsys.readouterr().err and not out.exists()


def test_parallel_simulation_draws_the_nuisances_alike(workspace_file):
    """Spawned workers draw (theta, nu) as one process does: the same sample for 1 and 2 workers."""
    from roosbi.data.parallel import simulate_parallel

    prob = problem_from_workspace(workspace_file, "peak", "x", "mu", "obs", nuisances="alpha",
                                  constraints="alpha_constraint")  # fmt: skip
    one = simulate_parallel(prob, 3000, seed=4, workers=1, chunk_size=1000)
    two = simulate_parallel(prob, 3000, seed=4, workers=2, chunk_size=1000)
    assert one.sample.parameters == ["mu", "alpha"] and one.sample.theta.shape == (6000, 2)
    for column in ("x", "theta", "y", "weights"):
        np.testing.assert_array_equal(getattr(one.sample, column), getattr(two.sample, column))
    alpha = one.sample.theta[:, 1]
    assert alpha.min() >= -4 and alpha.max() <= 4 and abs(alpha.mean()) < 0.2  # uniform over its range


def test_every_parameter_of_interest_is_profiled_over_the_others(tmp_path):
    """Two parameters of interest that trade off: x ~ Gauss(mu (1 + 0.05 alpha) + s, 1), y ~ Gauss(s, 1).

    Each one's profile curve must minimise over the other as well as over alpha, so that the interval read off
    the curve is MINOS's (which floats everything); a slice at the other's best fit would be about 1/sqrt(2) as
    wide for mu. The fit without systematics floats the other POI too.
    """
    from roosbi.demo.syst import systematics_results
    from roosbi.inference import fit_pdfs
    from roosbi.report.systematics import systematics_lines
    from roosbi.stats.profile import constrained_pdf

    ROOT = import_root()
    ws = ROOT.RooWorkspace("two")
    ws.factory("expr::mean_x('mu * (1 + 0.05 * alpha) + s', mu[2, 0, 4], alpha[0, -4, 4], s[0, -2, 2])")
    ws.factory("PROD::model(Gaussian::gx(x[-6, 10], mean_x, 1.0), Gaussian::gy(y[-5, 5], s, 1.0))")
    ws.factory("Gaussian::alpha_constraint(alpha_global[0], alpha, 1)")
    ROOT.RooRandom.randomGenerator().SetSeed(5)
    ws.var("mu").setVal(2.5)
    ws.var("s").setVal(0.3)
    data = ws.pdf("model").generate(ROOT.RooArgSet(ws.var("x"), ws.var("y")), 2000)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    path = tmp_path / "two.root"
    ws.writeToFile(str(path))

    prob = problem_from_workspace(path, "model", "x,y", "mu,s", "obs", nuisances="alpha", constraints=CONSTRAINT)
    pdf = constrained_pdf(prob, prob.workspace.pdf("model"), "analytic_pdf")
    prob.workspace.Import(pdf, RecycleConflictNodes=True, Silence=True)
    pdfs = {"analytic": pdf.GetName()}
    fits, nlls = fit_pdfs(prob.workspace, pdfs, prob.data(), [prob.var(n) for n in prob.all_parameters])
    syst = systematics_results(prob, pdfs, fits, nlls)

    assert syst["poi"] == "mu" and list(syst["other_pois"]) == ["s"]
    for entry in (syst, syst["other_pois"]["s"]):
        for kind in ("with_systematics", "without_systematics"):
            interval = entry["intervals"]["analytic"][kind]
            # the curve's interval is MINOS's: both minimise over every other floating parameter
            width = interval["width"]
            np.testing.assert_allclose(interval["interval_from_curve"], interval["interval"], atol=0.03 * width)
        assert set(entry["impacts"]["analytic"]) == {"alpha"}
    mu = syst["intervals"]["analytic"]
    # mu's statistical error alone is sqrt(2)/sqrt(2000) (x and y weigh s equally); the 5 % scale adds to it
    assert mu["without_systematics"]["width"] == pytest.approx(2 * np.sqrt(2 / 2000), rel=0.1)
    assert mu["with_systematics"]["width"] > 1.5 * mu["without_systematics"]["width"]
    report = "\n".join(systematics_lines(syst))
    assert "68 % intervals of mu" in report and "68 % intervals of s" in report and "Impacts on s" in report
