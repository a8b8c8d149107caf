"""``roosbi fit``: a trained model fitted again on other data, in another workspace, or from its ONNX file alone."""

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
from roosbi.run import refit

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny `roosbi run` of a detector-resolution model (not a built-in problem): sigma in [0.6, 2]."""
    ROOT = import_root()
    ws = ROOT.RooWorkspace("resolution")
    ws.factory("Gaussian::res(x[-6, 6], 0, sigma[1.2, 0.6, 2.0])")
    ROOT.RooRandom.randomGenerator().SetSeed(11)
    data = ws.pdf("res").generate(ROOT.RooArgSet(ws.var("x")), 800)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    base = tmp_path_factory.mktemp("refit")
    ws.writeToFile(str(base / "resolution.root"))
    out = base / "run"
    names = ["--pdf", "res", "--observables", "x", "--parameters", "sigma", "--data", "obs"]
    tiny = ["--n-train", "10000", "--no-plots", "--quiet"]
    assert main(["run", str(base / "resolution.root"), *names, *tiny, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def other_workspace(tmp_path_factory):
    """Another analysis's workspace: the same observable and parameter names, its own model and data."""
    ROOT = import_root()
    ws = ROOT.RooWorkspace("other")
    ws.factory("Gaussian::smear(x[-6, 6], 0, sigma[1.0, 0.6, 2.0])")
    ws.factory("mean[0.3]")  # a variable the source's pdfs do not use: left alone
    ROOT.RooRandom.randomGenerator().SetSeed(12)
    ws.var("sigma").setVal(1.5)
    data = ws.pdf("smear").generate(ROOT.RooArgSet(ws.var("x")), 1000)
    data.SetName("events")
    ws.Import(data, Silence=True)
    path = tmp_path_factory.mktemp("other") / "other.root"
    ws.writeToFile(str(path))
    return path


def _values(results: dict) -> dict[str, float]:
    return {name: fit["params"]["sigma"]["value"] for name, fit in results["fits"].items()}


def test_refit_on_the_run_data_repeats_the_run(trained, tmp_path):
    results = refit(trained, tmp_path / "again")
    run = json.loads((trained / "results.json").read_text())["fits"]
    assert set(results["fits"]) == set(run) == {"analytic", "learned", "morphed"}
    for name, fit in results["fits"].items():
        assert fit["params"]["sigma"]["value"] == pytest.approx(run[name]["params"]["sigma"]["value"], abs=1e-6)
        assert fit["params"]["sigma"]["error"] == pytest.approx(run[name]["params"]["sigma"]["error"], rel=1e-4)
    assert results["data"] == {"name": "obs", "from": "workspace", "n_events": 800, "sum_weights": 800.0}
    assert json.loads((tmp_path / "again" / "fit.json").read_text()) == json.loads(json.dumps(results))
    assert "| learned | sigma |" in (tmp_path / "again" / "fit.md").read_text()


def test_refit_on_weighted_events_from_a_tree(trained, tmp_path):
    """Events from a file, with weights and a selection: the analytic refit equals RooFit's own weighted fit."""
    ROOT = import_root()
    path = tmp_path / "new.root"
    df = ROOT.RDataFrame(3000).Define("x", "gRandom->Gaus(0, 1.6)").Define("w", "0.5 + 0.25 * (rdfentry_ % 3)")
    ROOT.gRandom.SetSeed(5)
    df.Snapshot("events", str(path))
    results = refit(trained, tmp_path / "out", data=f"{path}:events", weight="w", selection="abs(x) < 5")
    d = results["data"]
    passing = ROOT.RDataFrame("events", str(path)).Filter("abs(x) < 5")
    assert d["n_events"] == passing.Count().GetValue()
    assert d["sum_weights"] == pytest.approx(passing.Sum("w").GetValue(), rel=1e-12)
    # The same fit by hand: the run's analytic pdf on a weighted RooDataSet of the same events.
    ws = ROOT.RooWorkspace("check")
    ws.factory("Gaussian::res(x[-6, 6], 0, sigma[1.3, 0.6, 2.0])")
    x, weight = ws.var("x"), ROOT.RooRealVar("w", "w", -10, 10)
    by_hand = ROOT.RooDataSet("d", "d", ROOT.RooArgSet(x, weight), WeightVar="w")
    for xv, wv in zip(passing.Take["double"]("x"), passing.Take["double"]("w"), strict=True):
        x.setVal(xv)
        by_hand.add(ROOT.RooArgSet(x), wv)
    ws.pdf("res").fitTo(by_hand, PrintLevel=-1, SumW2Error=False)
    assert results["fits"]["analytic"]["params"]["sigma"]["value"] == pytest.approx(ws.var("sigma").getVal(), abs=2e-4)
    assert all(fit["status"] == 0 for fit in results["fits"].values())
    # The learned fit follows the new data (the run's data have sigma = 1.2), within a small network's bias.
    assert results["fits"]["learned"]["params"]["sigma"]["value"] == pytest.approx(1.6, abs=0.15)


def test_refit_in_another_workspace_equals_the_bare_model(trained, other_workspace, tmp_path):
    """The run's learned pdf imported into another workspace fits as the network from model.onnx does."""
    moved = refit(trained, tmp_path / "moved", workspace=other_workspace, data="events", analytic="smear")
    assert set(moved["fits"]) == {"analytic", "learned", "morphed"}
    assert moved["pdfs"]["analytic"] == "smear" and moved["pdfs"]["learned"].endswith("_fitted")
    bare = refit(trained / "model.onnx", tmp_path / "bare", workspace=other_workspace, data="events")
    assert set(bare["fits"]) == {"learned"}
    assert _values(bare)["learned"] == pytest.approx(_values(moved)["learned"], abs=1e-6)
    assert _values(moved)["analytic"] == pytest.approx(1.5, abs=0.1)
    assert _values(moved)["learned"] == pytest.approx(_values(moved)["analytic"], abs=0.15)


@pytest.mark.skipif(ROOT_EXE is None, reason="no root executable")
def test_macro_repeats_the_refit(trained, other_workspace, tmp_path):
    out = tmp_path / "moved"
    results = refit(trained, out, workspace=other_workspace, data="events", fits=["learned"], analytic="smear")
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{out / "workspace.root"}")'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = re.findall(r"^FIT (\w+) sigma=(\S+) \+- (\S+) status=(-?\d+)$", proc.stdout, re.M)
    assert sorted(line[0] for line in lines) == ["analytic", "learned"], proc.stdout + proc.stderr
    for name, value, _error, status in lines:
        assert int(status) == 0
        assert float(value) == pytest.approx(results["fits"][name]["params"]["sigma"]["value"], abs=1e-4)


def test_cli_fit(trained, tmp_path, capsys):
    assert main(["fit", str(trained), "--fits", "learned,analytic", "--no-minos", "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^learned\s+sigma = \S+ \+- \S+  \(status 0\)$", printed, re.M), printed
    assert "800 events of obs" in printed
    fits = json.loads((tmp_path / "o" / "fit.json").read_text())["fits"]
    assert list(fits) == ["learned", "analytic"]
    learned = fits["learned"]["params"]["sigma"]
    assert learned["minos"] == [-learned["error"], learned["error"]]  # no MINOS: the HESSE interval


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("roosbi: error: ")]
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_input_is_named_and_writes_nothing(trained, other_workspace, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert "holds no workspace.root" in _error(["fit", str(tmp_path), "--out", out], capsys)
    assert "no fit named 'learnt'" in _error(["fit", str(trained), "--fits", "learnt", "--out", out], capsys)
    msg = _error(["fit", str(trained), "--data", "nothing", "--out", out], capsys)
    assert "neither a dataset" in msg and "obs" in msg
    assert "--workspace" in _error(["fit", str(trained / "model.onnx"), "--out", out], capsys)
    msg = _error(["fit", str(trained), "--workspace", str(other_workspace), "--analytic", "nope", "--out", out], capsys)
    assert "no pdf named 'nope'" in msg and "smear" in msg
    assert not (tmp_path / "out").exists()
    # A workspace without the model's parameter: named, with what the workspace has.
    ROOT = import_root()
    ws = ROOT.RooWorkspace("lacking")
    ws.factory("Gaussian::g(x[-6, 6], 0, width[1, 0.5, 2])")
    ws.writeToFile(str(tmp_path / "lacking.root"))
    with pytest.raises(InputError, match=r"needs 'sigma'.*its variables: width, x"):
        refit(trained, out, workspace=tmp_path / "lacking.root")
