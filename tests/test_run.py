"""``roosbi run`` on a user's own workspace file: the API, the CLI and a study file give the demo's outputs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roosbi.cli import main
from roosbi.exceptions import InputError
from roosbi.library import import_root
from roosbi.run import STUDY_KEYS, parse_reference, problem_from_workspace, run_study

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")

# Tiny but real: a few seconds per run.
TINY = ["--n-train", "2000", "--epochs", "3", "--no-plots", "--quiet"]
NAMES = ["--pdf", "res", "--observables", "x", "--parameters", "sigma", "--data", "obs"]


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory):
    """A detector resolution model, not a built-in problem: a Gaussian in x whose width sigma is the parameter.

    Its mean m floats in the file but is no parameter (roosbi run holds it constant); res_generic is
    the same density written as a formula (an independent analytic model); shifted has a parameter
    without a finite range.
    """
    ROOT = import_root()
    ws = ROOT.RooWorkspace("resolution")
    ws.factory("Gaussian::res(x[-6, 6], m[0, -1, 1], sigma[1.2, 0.6, 2.0])")
    ws.factory("EXPR::res_generic('exp(-0.5*((x-m)/sigma)^2)', x, m, sigma)")
    ws.factory("Gaussian::wide(x, 0, 3)")
    shift = ROOT.RooRealVar("shift", "unbounded shift", 0.0, -ROOT.RooNumber.infinity(), ROOT.RooNumber.infinity())
    ws.Import(ROOT.RooGaussian("shifted", "shifted", ws.var("x"), shift, ROOT.RooFit.RooConst(1.0)), Silence=True)
    ROOT.RooRandom.randomGenerator().SetSeed(7)
    data = ws.pdf("res").generate(ROOT.RooArgSet(ws.var("x")), 800)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    ws.var("sigma").setVal(1.0)  # the fits start mid-range anyway
    path = tmp_path_factory.mktemp("model") / "resolution.root"
    ws.writeToFile(str(path))
    assert path.stat().st_size > 0
    return path


@pytest.fixture(scope="module")
def cli_run(workspace_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "out"
    assert main(["run", str(workspace_file), *NAMES, *TINY, "--out", str(out)]) == 0
    return out


def _fits(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["fits"]


def test_cli_run_writes_the_demo_outputs(cli_run, workspace_file, capsys):
    for name in ("results.json", "report.md", "workspace.root", "model.onnx", "libRooSBI.so"):
        assert (cli_run / name).stat().st_size > 0, name
    res = json.loads((cli_run / "results.json").read_text())
    assert res["problem"] == "resolution" and res["truth"] == {}
    assert res["source"]["workspace"] == str(workspace_file.resolve())
    assert res["source"]["held_constant"] == {"m": 0.0}  # floating in the file, not a parameter
    assert res["source"]["reference_pdf"] == "roosbi_uniform_reference"
    assert res["training"]["n_train"] == 4000 and res["training"]["epochs"] <= 3
    assert set(res["fits"]) == {"analytic", "learned", "morphed"}
    analytic = res["fits"]["analytic"]["params"]["sigma"]
    assert analytic["value"] == pytest.approx(1.2, abs=0.1) and 0.02 < analytic["error"] < 0.05
    for name, fit in res["fits"].items():
        assert fit["status"] == 0 and 0.6 < fit["params"]["sigma"]["value"] < 2.0, name
    # A few seconds of training: a generous margin, in the learned fit's own error.
    learned = res["fits"]["learned"]["params"]["sigma"]
    assert abs(learned["value"] - analytic["value"]) < 3 * learned["error"]
    assert all(abs(c["mean"] - 1) < 0.3 for c in res["normalization_check"]["learned"])
    report = (cli_run / "report.md").read_text()
    assert "| learned | sigma |" in report and "Observed data: 'obs'" in report and "Held constant" in report


def test_study_file_gives_the_cli_results(cli_run, workspace_file, tmp_path):
    study = tmp_path / "studies" / "study.toml"
    study.parent.mkdir()
    shutil.copy(workspace_file, tmp_path / "resolution.root")
    # Relative paths are relative to the study file; lists or comma-separated strings.
    study.write_text(
        'workspace = "../resolution.root"\npdf = "res"\nobservables = ["x"]\nparameters = "sigma"\ndata = "obs"\n'
        'n_train = 2000\nepochs = 3\nno_plots = true\nquiet = true\nout = "../toml_out"\n'
    )
    assert main(["run", str(study)]) == 0
    assert _same_fits(_fits(tmp_path / "toml_out"), _fits(cli_run))
    # --out replaces the file's out.
    assert main(["run", str(study), "--out", str(tmp_path / "elsewhere")]) == 0
    assert _same_fits(_fits(tmp_path / "elsewhere"), _fits(cli_run))


def _same_fits(a: dict, b: dict) -> bool:
    """The same fitted values, errors and statuses (the times differ)."""
    assert set(a) == set(b)
    for name in a:
        assert a[name]["params"] == b[name]["params"], name
        assert a[name]["status"] == b[name]["status"], name
    return True


def test_api_point_reference_and_analytic_override(workspace_file, tmp_path):
    res = run_study(
        {
            "workspace": str(workspace_file),
            "pdf": "res",
            "observables": "x",
            "parameters": ["sigma"],
            "data": "obs",
            "reference": {"sigma": 1.0},  # a TOML table works as "sigma=1.0" does
            "analytic": "res_generic",
            "n_train": 2000,
            "epochs": 3,
            "morph_grid": 3,
            "no_plots": True,
            "quiet": True,
            "name": "point",
        },
        out=tmp_path / "out",
    )
    assert res["problem"] == "point" and res["source"]["reference"] == "point sigma=1"
    assert res["source"]["analytic"] == "res_generic"
    assert "morph_grid" in STUDY_KEYS and "morphed" in res["fits"]
    from roosbi import open_workspace

    ws = open_workspace(tmp_path / "out" / "workspace.root")
    assert ws.pdf("res_generic").getStringAttribute("roosbi_nll") == "analytic"
    assert not ws.pdf("roosbi_point_reference").dependsOn(ws.var("sigma"))  # the pdf at sigma = 1
    sigma = res["fits"]["analytic"]["params"]["sigma"]
    assert sigma["value"] == pytest.approx(1.2, abs=0.1)
    assert all(fit["status"] == 0 for fit in res["fits"].values())
    report = (tmp_path / "out" / "report.md").read_text()
    assert "the analytic fit is of 'res_generic'" in report and "simulator at sigma = 1" in report


@pytest.mark.skipif(ROOT_EXE is None, reason="no root executable")
def test_macro_fits_the_written_workspace(cli_run):
    """macros/fit_workspace.C in a fresh ROOT process gives the numbers of results.json."""
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{cli_run / "workspace.root"}")'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = re.findall(r"^FIT (\w+) sigma=(\S+) \+- (\S+) status=(-?\d+)$", proc.stdout, re.M)
    fits = _fits(cli_run)
    assert sorted(line[0] for line in lines) == sorted(fits), proc.stdout + proc.stderr
    for name, value, error, status in lines:
        expected = fits[name]["params"]["sigma"]
        assert int(status) == fits[name]["status"] == 0
        assert float(value) == pytest.approx(expected["value"], abs=1e-4)
        assert float(error) == pytest.approx(expected["error"], rel=1e-3)


def _error(argv: list[str], capsys) -> str:
    """Run the CLI, expect the one-line input error (exit status 2); its message."""
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("roosbi: error: ")]
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_input_is_named(workspace_file, tmp_path, capsys):
    out = tmp_path / "out"
    ws = str(workspace_file)

    def names(**changes):
        args = dict(zip(NAMES[::2], NAMES[1::2], strict=True))
        args.update({f"--{k}": v for k, v in changes.items()})
        return [item for pair in args.items() for item in pair]

    not_root = tmp_path / "notes.root"
    not_root.write_text("not a ROOT file\n")
    assert "not a readable ROOT file" in _error(["run", str(not_root), *names(), "--out", str(out)], capsys)
    err = _error(["run", ws, *names(pdf="ress"), "--out", str(out)], capsys)
    assert "no pdf named 'ress'" in err and "did you mean 'res'" in err and "res, res_generic, shifted, wide" in err
    err = _error(["run", ws, *names(observables="y"), "--out", str(out)], capsys)
    assert "no variable named 'y' (the observable)" in err and "m, shift, sigma, x" in err
    err = _error(["run", ws, *names(parameters="sigma,mean"), "--out", str(out)], capsys)
    assert "no variable named 'mean' (the parameter)" in err
    err = _error(["run", ws, *names(data="observed"), "--out", str(out)], capsys)
    assert "no dataset named 'observed'" in err and "its datasets: obs" in err
    err = _error(["run", ws, *names(pdf="shifted", parameters="shift"), "--out", str(out)], capsys)
    assert "parameter 'shift' needs a finite range" in err
    err = _error(["run", ws, *names(parameters="sigma,x"), "--out", str(out)], capsys)
    assert "x named both as observable and as parameter" in err
    err = _error(["run", ws, *names(analytic="wide"), "--out", str(out)], capsys)
    assert "analytic pdf 'wide' does not depend on 'sigma'" in err
    for reference, message in [
        ("sigma=abc", "bad reference 'sigma=abc'"),
        ("sigma=1,,", "bad reference"),
        ("mu=1.0", "unknown: mu, missing: sigma"),
        ("sigma=5", "reference point sigma=5 is outside its range [0.6, 2]"),
        ("nothing", "no pdf named 'nothing' (the reference pdf)"),
        ("res", "the reference pdf 'res' depends on the parameter 'sigma'"),
    ]:
        assert message in _error(["run", ws, *names(reference=reference), "--out", str(out)], capsys), reference
    err = _error(["run", ws, *names(reference="marginal"), "--method", "alices", "--out", str(out)], capsys)
    assert "alices needs the joint ratio" in err
    assert not out.exists()  # nothing is written before the input is good


def test_study_file_keys_are_checked(workspace_file, tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text(f'workspace = "{workspace_file}"\npdf = "res"\nn_trains = 100\n')
    err = _error(["run", str(study)], capsys)
    assert "unknown key 'n_trains'" in err and "did you mean 'n_train'" in err and "morph_grid" in err
    study.write_text(f'workspace = "{workspace_file}"\npdf = "res"\n')
    assert "the study needs observables, parameters, data, out" in _error(["run", str(study)], capsys)
    study.write_text("pdf = [unclosed\n")
    assert "is not valid TOML" in _error(["run", str(study)], capsys)
    with pytest.raises(InputError, match="n_train must be an integer"):
        run_study({"workspace": "a.root", "pdf": "p", "observables": "x", "parameters": "m", "data": "d",
                   "out": "o", "n_train": "many"})  # fmt: skip


def test_reference_strings():
    assert parse_reference(None) is None and parse_reference("marginal") == "marginal"
    assert parse_reference("bkg") == "bkg"
    assert parse_reference("mu=1.0, s=2") == {"mu": 1.0, "s": 2.0}
    for bad in ("mu=", "=1", "mu=1,mu=2", "a b", "mu=nan"):
        with pytest.raises(InputError):
            parse_reference(bad)


def test_problem_from_workspace_leaves_the_file_alone(workspace_file):
    before = workspace_file.read_bytes()
    problem = problem_from_workspace(workspace_file, "res", "x", "sigma", "obs", reference="sigma=1.5")
    assert problem.reference_point == {"sigma": 1.5} and problem.reference_kind == "point"
    assert problem.workspace.var("m").isConstant() and problem.held_constant == {"m": 0.0}
    assert workspace_file.read_bytes() == before


def test_marginal_reference_gives_a_self_normalised_learned_pdf(workspace_file, tmp_path):
    res = run_study(
        {
            "workspace": str(workspace_file),
            "pdf": "res",
            "observables": ["x"],
            "parameters": ["sigma"],
            "data": "obs",
            "reference": "marginal",
            "n_train": 2000,
            "epochs": 3,
            "no_plots": True,
            "quiet": True,
        },
        out=tmp_path / "out",
    )
    assert res["source"]["reference"] == "marginal"
    assert res["fits"]["learned"]["status"] == 0
    # E_p(x)[r] over fresh events of the marginal: near 1 although r is far from p(x|theta) / uniform.
    assert all(abs(c["mean"] - 1) < 0.3 for c in res["normalization_check"]["learned"])
    from roosbi import open_workspace

    ws = open_workspace(tmp_path / "out" / "workspace.root")
    assert ws.pdf("learned_pdf").selfNormalized()
    assert "Reference: the marginal" in (tmp_path / "out" / "report.md").read_text()
