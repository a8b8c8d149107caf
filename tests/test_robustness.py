"""What a new user ran into (issue 8): crashes, silent wrong answers and unclear errors, each reproduced."""

import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import roosbi
from roosbi import (
    InputError,
    SklearnRatioEstimator,
    TorchRatioEstimator,
    TrainingSample,
    create_nll,
    fit_nll,
    learned_pdf,
    learned_ratio,
    mark_fits,
    open_workspace,
)
from roosbi.data.builtin import gauss1d
from roosbi.data.simulate import simulate
from roosbi.library import import_root, load_library
from roosbi.report import markdown_report, results_dict

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


def run_python(code: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (a crash there is an exit code here, not a dead test run)."""
    full_env = {**os.environ, **(env or {})}
    prelude = "import warnings; warnings.simplefilter('ignore')\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=full_env,
    )


@pytest.fixture
def saved_workspace(problem, torch_onnx, tmp_path):
    """A workspace file holding a RooLearnedRatio, marked for the macro, and the NLL it should give."""
    ws = problem.workspace
    pdf = learned_pdf(learned_ratio(torch_onnx, workspace=ws), [ws.var("x")])
    ws.Import(pdf, Silence=True)
    mark_fits(ws, {"learned": "learned_pdf"}, problem.data(), ["mu"])
    ws.var("mu").setVal(2.3)
    expected = create_nll(ws.pdf("learned_pdf"), problem.data()).getVal()
    path = tmp_path / "saved" / "workspace.root"
    path.parent.mkdir()
    ws.writeToFile(str(path))
    return path, expected


READ_AND_EVALUATE = """
    f = ROOT.TFile.Open("{path}")
    w = f.Get("w")
    w.var("mu").setVal(2.3)
    print(repr(w.pdf("learned_pdf").createNLL(w.data("obs_data"), ROOT.RooFit.Offset("none")).getVal()))
"""


def test_reading_a_learned_ratio_after_import_roosbi_does_not_crash(saved_workspace):
    path, expected = saved_workspace
    out = run_python("import roosbi\nimport ROOT\n" + textwrap.dedent(READ_AND_EVALUATE).format(path=path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) == pytest.approx(expected, rel=1e-12)


def test_open_workspace_in_a_fresh_process(saved_workspace):
    path, expected = saved_workspace
    code = f"""
        import ROOT, roosbi
        w = roosbi.open_workspace("{path}")
        w.var("mu").setVal(2.3)
        print(repr(w.pdf("learned_pdf").createNLL(w.data("obs_data"), ROOT.RooFit.Offset("none")).getVal()))
    """
    out = run_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) == pytest.approx(expected, rel=1e-12)


def test_plain_root_finds_the_class_through_its_rootmap(saved_workspace, tmp_path):
    """README: plain ROOT, with the library's directory on LD_LIBRARY_PATH, autoloads the class."""
    path, expected = saved_workspace
    library_dir = str(load_library().parent)
    env = {"LD_LIBRARY_PATH": f"{library_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    out = run_python("import ROOT\n" + textwrap.dedent(READ_AND_EVALUATE).format(path=path), env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) == pytest.approx(expected, rel=1e-12)
    # The library beside the file (as `roosbi demo` leaves it), with ROOT started in that directory.
    for item in load_library().parent.iterdir():
        shutil.copy(item, path.parent / item.name)
    out = run_python("import ROOT\n" + textwrap.dedent(READ_AND_EVALUATE).format(path=path.name), cwd=path.parent)
    assert out.returncode == 0, out.stderr[-2000:]


def test_open_workspace_refuses_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_workspace(tmp_path / "missing.root")
    (tmp_path / "empty.root").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_workspace(tmp_path / "empty.root")
    (tmp_path / "text.root").write_text("not a ROOT file")
    with pytest.raises(InputError, match="not a readable ROOT file"):
        open_workspace(tmp_path / "text.root")
    with pytest.raises(InputError, match="empty"):  # the same check guards every reader of ROOT files
        roosbi.read_sample(tmp_path / "empty.root")
    with pytest.raises(InputError, match="not a readable ROOT file"):
        roosbi.sample_from_tree(tmp_path / "text.root", ["x"], ["mu"], "y", tree="t")
    ROOT = import_root()
    f = ROOT.TFile.Open(str(tmp_path / "two.root"), "RECREATE")
    for name in ("w1", "w2"):
        ROOT.RooWorkspace(name).Write()
    f.Close()
    with pytest.raises(InputError, match="2 workspaces .*w1, w2"):
        open_workspace(tmp_path / "two.root")
    assert open_workspace(tmp_path / "two.root", name="w2").GetName() == "w2"
    with pytest.raises(InputError, match="no workspace named 'w3'"):
        open_workspace(tmp_path / "two.root", name="w3")


@pytest.mark.skipif(ROOT_EXE is None, reason="no root executable")
def test_macro_fits_a_workspace_marked_with_mark_fits(saved_workspace, problem, torch_onnx):
    """The README's 30-second example: marked by the API, fitted by the macro with no Python."""
    path, _ = saved_workspace
    env = {**os.environ, "ROOSBI_LIBRARY": str(load_library())}
    out = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{path}")'], capture_output=True, text=True, timeout=300, env=env
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("FIT")]
    assert len(lines) == 1 and lines[0].startswith("FIT learned mu="), out.stdout + out.stderr
    value = float(lines[0].split("mu=")[1].split()[0])
    ws = problem.workspace
    fit = fit_nll(create_nll(ws.pdf("learned_pdf"), problem.data()), [ws.var("mu")], start={"mu": 2.0})
    assert value == pytest.approx(fit.params["mu"].value, abs=1e-4)


@pytest.mark.skipif(ROOT_EXE is None, reason="no root executable")
def test_macro_says_how_to_mark_an_unmarked_workspace(problem, tmp_path):
    path = tmp_path / "plain.root"
    problem.workspace.writeToFile(str(path))
    out = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{path}")'],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ROOSBI_LIBRARY": str(load_library())},
    )
    assert "roosbi.mark_fits" in out.stdout


def test_mark_fits_checks_names(problem):
    ws = problem.workspace
    with pytest.raises(InputError, match="no pdf named 'nope'"):
        mark_fits(ws, {"x": "nope"}, problem.data(), ["mu"])
    with pytest.raises(InputError, match="no dataset named 'nodata'"):
        mark_fits(ws, {"analytic": problem.target_pdf}, "nodata", ["mu"])
    with pytest.raises(InputError, match="'nosuch' is not a variable"):
        mark_fits(ws, {"analytic": problem.target_pdf}, problem.data(), ["nosuch"])


# ---------------------------------------------------------------------------- item 4: class weights


def _sample(ref_weight: float) -> TrainingSample:
    rng = np.random.default_rng(1)
    n = 200
    y = np.r_[np.ones(n), np.zeros(n)]
    w = np.where(y == 1, 1.0, ref_weight)
    return TrainingSample(
        x=rng.normal(size=2 * n), theta=rng.uniform(0, 4, 2 * n), y=y, weights=w, observables=["x"],
        parameters=["mu"], parameter_ranges={"mu": (0.0, 4.0)},
    )  # fmt: skip


def test_negative_reference_weight_total_is_refused():
    with pytest.raises(InputError, match="reference .* weights sum to -80"):
        _sample(-0.4)
    sample = _sample(1.0)
    sample.weights[sample.y == 0] = -0.4  # changed after the sample was made
    for est in (TorchRatioEstimator(max_epochs=1, progress=False), SklearnRatioEstimator(max_epochs=1)):
        with pytest.raises(InputError, match="positive total weight"):
            est.fit(sample)


# ------------------------------------------------------------------- item 6: what the reference was


def _tiny_model(sample, path):
    est = TorchRatioEstimator(hidden=(8,), n_members=1, max_epochs=1, progress=False, seed=1)
    return est.fit(sample).to_onnx(path)


def test_learned_pdf_refuses_a_point_reference_without_its_density(tmp_path):
    prob = gauss1d(n_observed=200, seed=3)
    sample = simulate(prob, n_target=1000, seed=2, reference={"mu": 1.0})
    model = _tiny_model(sample, tmp_path / "point.onnx")
    assert roosbi.onnx.read_metadata(model)["reference"] == "point mu=1"
    ws = prob.workspace
    ratio = learned_ratio(model, workspace=ws)
    with pytest.raises(InputError, match="point mu=1.*normalize=False"):
        learned_pdf(ratio, [ws.var("x")])
    with pytest.raises(InputError, match="point mu=1"):
        learned_pdf(ratio, [ws.var("x")], ws.pdf("uniform"))  # a uniform reference is not what it was trained on
    assert learned_pdf(ratio, [ws.var("x")], normalize=False).getVal() > 0  # -sum log r + const: fits right


def test_learned_pdf_needs_a_non_uniform_reference_pdf(tmp_path):
    prob = gauss1d(n_observed=200, seed=3)
    ws = prob.workspace
    ws.factory("Gaussian::wide(x, 5.0, 6.0)")
    sample = simulate(prob, n_target=1000, seed=2, reference="wide")
    assert sample.reference == "pdf wide" and not sample.reference_uniform
    ratio = learned_ratio(_tiny_model(sample, tmp_path / "wide.onnx"), workspace=ws)
    with pytest.raises(InputError, match=r"reference_pdf=ws.pdf\('wide'\)"):
        learned_pdf(ratio, [ws.var("x")])
    assert learned_pdf(ratio, [ws.var("x")], ws.pdf("wide")).getVal() > 0


def test_uniform_reference_is_recorded(small_sample, torch_onnx):
    assert small_sample.reference == "pdf uniform" and small_sample.reference_uniform
    meta = roosbi.onnx.read_metadata(torch_onnx)
    assert meta["reference"] == "pdf uniform" and meta["reference_uniform"] is True


# ------------------------------------------------------- item 7: minima that Minuit's status hides


def test_fit_at_a_limit_is_flagged(problem):
    ws = problem.workspace
    ws.var("mu").setRange(0.0, 2.0)  # the data were made at mu = 2.5
    fit = fit_nll(create_nll(ws.pdf(problem.target_pdf), problem.data()), [ws.var("mu")], {"mu": 1.0})
    assert fit.at_limit == ["mu"] and fit.flags == ["mu at a limit of its range"]
    training = {"estimator": "torch", "n_train": 2, "epochs": 1, "time_s": 0.0, "device": "cpu"}
    results = results_dict("p", 1, {}, {"analytic": fit}, training, {}, versions={"roosbi": "0", "root": "0"})
    assert results["fits"]["analytic"]["at_limit"] == ["mu"]
    assert "mu at a limit of its range" in markdown_report(results, {"analytic": fit}, {}, [])


def test_local_minimum_is_flagged(caplog):
    """mean mu^2, width 1 + 0.2 mu: mu = -2 gives the right mean but the wrong width (a local minimum)."""
    ROOT = import_root()
    ws = ROOT.RooWorkspace("local")
    ws.factory("expr::mean('mu*mu', mu[-3, 3])")
    ws.factory("expr::width('1 + 0.2*mu', mu)")
    ws.factory("Gaussian::g(x[-10, 20], mean, width)")
    ws.var("mu").setVal(2.0)
    ROOT.RooRandom.randomGenerator().SetSeed(5)
    data = ws.pdf("g").generate({ws.var("x")}, 2000)
    nll = create_nll(ws.pdf("g"), data)
    with caplog.at_level(logging.WARNING, logger="roosbi.inference"):
        fit = fit_nll(nll, [ws.var("mu")], {"mu": -2.5})
    assert fit.status == 0 and fit.params["mu"].value < 0  # Minuit is content with the local minimum
    assert fit.lower_point is not None and fit.lower_point["mu"] > 0
    assert fit.nll_min - fit.lower_nll > 1.0
    assert "not the global minimum" in caplog.text
    good = fit_nll(nll, [ws.var("mu")], {"mu": 1.5})
    assert good.lower_point is None and good.flags == []


# ------------------------------------------------------------------------- item 10: null pointers


def test_null_pointers_are_named_not_dereferenced(problem, torch_onnx):
    ws = problem.workspace
    missing = ws.var("missing")
    ratio = learned_ratio(torch_onnx, workspace=ws)
    cases = {
        "inputs[0]": lambda: learned_ratio(torch_onnx, inputs=[missing, ws.var("mu")]),
        "observables[0]": lambda: learned_pdf(ratio, [missing]),
        "reference_pdf": lambda: learned_pdf(ratio, [ws.var("x")], ws.pdf("missing")),
        "'pdf'": lambda: create_nll(ws.pdf("missing"), problem.data()),
        "'data'": lambda: create_nll(ws.pdf(problem.target_pdf), ws.data("missing")),
        "parameters[0]": lambda: fit_nll(create_nll(ws.pdf(problem.target_pdf), problem.data()), [missing], {}),
        "'mu'": lambda: roosbi.mixture_pdf(ratio, missing, 10.0, 100.0),
        "'ratio'": lambda: roosbi.evaluate_log_ratio(ws.function("missing"), np.zeros((1, 2))),
        "observables[0] ": lambda: roosbi.observed_data_from_arrays(np.zeros(3), [missing]),
        "workspace": lambda: roosbi.Problem("p", ws.obj("missing"), "a", "b", [], [], "d"),
        "'prior'": lambda: simulate(problem, n_target=10, prior=ws.pdf("missing")),
    }
    for argument, call in cases.items():
        with pytest.raises(InputError, match=re.escape(argument.strip()) + ".*null pointer"):
            call()
