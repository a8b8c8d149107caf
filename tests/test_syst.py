"""Nuisance parameters: Problem checks, simulation over (theta, nu), profiling, impacts, and ``roosbi demo syst``."""

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

from roosbi.data.builtin import gauss1d
from roosbi.data.problems import Problem
from roosbi.data.simulate import simulate
from roosbi.data.syst import syst
from roosbi.demo import run_demo
from roosbi.exceptions import InputError
from roosbi.inference import create_nll, fit_nll
from roosbi.library import import_root
from roosbi.stats.profile import (
    constrained_pdf,
    fit_without_systematics,
    impacts,
    interval_from_curve,
    nuisance_priors,
    profile_scan,
)

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


def _fields(prob: Problem, **changes) -> dict:
    fields = {
        name: getattr(prob, name)
        for name in ("name", "workspace", "target_pdf", "reference_pdf", "observables", "parameters", "observed_data")
    }
    fields.update(nuisance_parameters=list(prob.nuisance_parameters), constraints=list(prob.constraints))
    fields.update(changes)
    return fields


def test_bad_nuisances_are_refused_before_any_training(caplog):
    prob = syst(seed=2)
    ws = prob.workspace
    ws.factory("Gaussian::on_m(m, alpha_scale, 10)")
    with pytest.raises(InputError, match="constraint pdf 'on_m' depends on the observable"):
        Problem(**_fields(prob, constraints=["on_m", "alpha_slope_constraint"]))
    ws.factory("PROD::both(alpha_scale_constraint, alpha_slope_constraint)")
    with pytest.raises(InputError, match="depends on 2 nuisance parameters"):
        Problem(**_fields(prob, constraints=["both"]))
    with pytest.raises(InputError, match="no constraint pdf named 'nope'"):
        Problem(**_fields(prob, constraints=["nope"]))
    with pytest.raises(InputError, match="two constraints"):
        ws.factory("Gaussian::second(g2[0], alpha_scale, 2)")
        Problem(**_fields(prob, constraints=["alpha_scale_constraint", "second"]))
    with pytest.raises(InputError, match="as a nuisance parameter and as a parameter of interest"):
        Problem(**_fields(prob, nuisance_parameters=["mu"], constraints=[]))
    ws.factory("free_nu[0, -1, 1]")
    ws.var("free_nu").removeRange()
    with pytest.raises(InputError, match="needs a finite range"):
        Problem(**_fields(prob, nuisance_parameters=["free_nu"], constraints=[]))
    with pytest.raises(InputError, match="constraints need nuisance parameters"):
        Problem(**_fields(prob, nuisance_parameters=[]))
    with caplog.at_level(logging.WARNING, logger="roosbi.data.problems"):
        free = Problem(**_fields(prob, constraints=["alpha_scale_constraint"]))
    assert "'alpha_slope' of problem 'syst' has no constraint: it is then a free parameter" in caplog.text
    assert nuisance_priors(free)["alpha_slope"].sigma is None


def test_simulation_draws_theta_and_nu_over_their_ranges():
    prob = syst(seed=2)
    assert prob.all_parameters == ["mu", "alpha_scale", "alpha_slope"]
    sample = simulate(prob, n_target=400, seed=3)
    assert sample.parameters == ["mu", "alpha_scale", "alpha_slope"]
    assert sample.parameter_ranges["alpha_scale"] == (-4.0, 4.0)
    target = sample.theta[sample.y == 1]
    assert target[:, 1].min() < -3 and target[:, 1].max() > 3  # uniform over the whole range
    # Problems without nuisances are simulated as before: theta holds their parameters only.
    assert simulate(gauss1d(seed=3), n_target=50, seed=5).theta.shape == (100, 1)


def test_profile_intervals_and_impacts_on_the_analytic_model():
    ROOT = import_root()
    prob = syst(seed=4)
    priors = nuisance_priors(prob)
    assert priors["alpha_scale"].nominal == pytest.approx(0.0, abs=1e-9)
    assert priors["alpha_scale"].sigma == pytest.approx(1.0, abs=2e-3)  # N(0, 1) cut at +-4
    pdf = constrained_pdf(prob, prob.workspace.pdf("model"), "model_constrained")
    assert isinstance(pdf, ROOT.RooProdPdf)
    nll = create_nll(pdf, prob.data())
    alpha = prob.var("alpha_scale")
    unconstrained = create_nll(prob.workspace.pdf("model"), prob.data())
    values = []
    for a in (0.0, 1.5):
        alpha.setVal(a)
        values.append(nll.getVal() - unconstrained.getVal())
    assert values[1] - values[0] == pytest.approx(0.5 * 1.5**2, abs=1e-9)  # the Gaussian constraint's term
    alpha.setVal(0.0)
    mu = prob.var("mu")
    nuisances = [prob.var("alpha_scale"), prob.var("alpha_slope")]
    fit = fit_nll(nll, [mu, *nuisances], {"mu": 2.5, "alpha_scale": 0.0, "alpha_slope": 0.0})
    stat = fit_without_systematics(nll, mu, nuisances, priors, {"mu": 2.5})
    assert alpha.getVal() == fit.params["alpha_scale"].value and not alpha.isConstant()  # restored
    width = fit.params["mu"].minos[1] - fit.params["mu"].minos[0]
    assert stat.status == 0 and set(stat.params) == {"mu"}
    assert stat.params["mu"].error < fit.params["mu"].error  # HESSE: profiling can only widen the curvature
    points = np.linspace(fit.params["mu"].value - 2 * width, fit.params["mu"].value + 2 * width, 21)
    curve = profile_scan(nll, mu, nuisances, points, fit)
    assert curve.min() > -1e-3
    lo, hi = interval_from_curve(points, curve)
    assert hi - lo == pytest.approx(width, rel=0.05)  # the profile curve agrees with MINOS
    result = impacts(nll, mu, nuisances, fit, priors)
    for name, entry in result.items():
        assert entry["value"] == fit.params[name].value
        assert entry["constraint"] < 1.0  # the data constrain both beyond their priors
        # The data constrain the nuisances to ~0.2 of their priors: the post-fit impacts are small; the
        # pre-fit ones (nu held 1 prior sigma away) are not, since syst's systematics are large on purpose.
        assert all(abs(entry["postfit"][side]) < 0.5 * fit.params["mu"].error for side in ("up", "down"))
        assert all(np.isfinite(entry["prefit"][side]) for side in ("up", "down"))
    assert all(not p.isConstant() for p in [mu, *nuisances])


def _check_macro(out: Path, res: dict) -> None:
    assert ROOT_EXE, "the root executable of the ROOT wheel was not found"
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{out / "workspace.root"}")'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FIT ")]
    assert sorted(line.split()[1] for line in lines) == sorted(res["fits"]), proc.stdout + proc.stderr
    for line in lines:
        name, rest = line.split()[1], line
        fit = res["fits"][name]
        params = re.findall(r"(\w+)=(\S+) \+- (\S+)", rest)
        assert [p[0] for p in params] == ["mu", "alpha_scale", "alpha_slope"]  # the nuisances float: profiled
        for par, value, error in params:
            assert float(value) == pytest.approx(fit["params"][par]["value"], abs=2e-3), line
            assert float(error) == pytest.approx(fit["params"][par]["error"], rel=2e-2), line


def test_demo_syst_end_to_end(tmp_path):
    """``roosbi demo syst`` on a small budget: profiled fits, intervals, impacts, files, and the macro."""
    out = tmp_path / "syst"
    res = run_demo(
        problem="syst",
        out=out,
        seed=1,
        n_train=4000,
        estimator="torch",
        device="cpu",
        progress=False,
        estimator_settings={"max_epochs": 4},
    )
    assert res == json.loads((out / "results.json").read_text())
    for name in ("report.md", "workspace.root", "model_signal.onnx", "model_background.onnx", "systematics.png"):
        assert (out / name).is_file(), name
    assert set(res["fits"]) == {"analytic", "learned", "morphed"}
    for fit in res["fits"].values():
        assert set(fit["params"]) == {"mu", "alpha_scale", "alpha_slope"}
    syst_results = res["systematics"]
    assert syst_results["poi"] == "mu"
    assert set(syst_results["nuisance_parameters"]) == {"alpha_scale", "alpha_slope"}
    analytic = syst_results["intervals"]["analytic"]
    assert analytic["systematic"] >= 0.0 and analytic["without_systematics"]["status"] == 0
    assert analytic["with_systematics"]["value"] == res["fits"]["analytic"]["params"]["mu"]["value"]
    assert set(syst_results["intervals"]["learned"]["vs_analytic"]) == {"width_ratio", "centre_shift"}
    assert set(syst_results["impacts"]["morphed"]) == {"alpha_scale", "alpha_slope"}
    assert len(syst_results["profile"]["delta_nll"]["learned"]) == len(syst_results["profile"]["values"])
    for key in ("summaries", "summaries_stat_only"):  # the comparison of summary statistics (tests/test_summaries.py)
        assert list(res[key]) == ["neos", "bce", "learned_unbinned", "analytic"]
        assert all(set(v) == {"cls_limit", "significance"} for v in res[key].values())
    assert set(res["training"]["components"]) == {"signal", "background"}
    report = (out / "report.md").read_text()
    assert "## Systematic uncertainties (nuisance parameters profiled)" in report
    assert "| learned | alpha_slope |" in report
    _check_macro(out, res)
