"""The whole pipeline, its files, and the C++ macro fitting the written workspace without Python."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roosbi.cli import main
from roosbi.demo import run_demo

MACRO = Path(__file__).parents[1] / "macros" / "fit_workspace.C"
# `root` from the PyPI wheel sits beside the interpreter of the venv, which CI does not activate.
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_demo(
        out=out,
        seed=2,
        n_train=15_000,
        estimator="torch",
        device="cpu",
        progress=False,
        estimator_settings={"hidden": (32, 32), "max_epochs": 15},
    )
    return out


def test_demo_writes_every_file(demo_dir):
    for name in (
        "results.json",
        "report.md",
        "workspace.root",
        "model.onnx",
        "delta_nll.png",
        "ratio.png",
        "training.png",
        "libRooSBI.so",
    ):
        assert (demo_dir / name).stat().st_size > 0, name
    assert not list(demo_dir.glob(".*tmp*"))
    umask = os.umask(0)
    os.umask(umask)
    assert (demo_dir / "results.json").stat().st_mode & 0o777 == 0o666 & ~umask  # like any new file


def test_results_json_layout(demo_dir):
    res = json.loads((demo_dir / "results.json").read_text())
    assert set(res) == {"problem", "seed", "roosbi_version", "root_version", "truth", "fits", "training", "timings"}
    assert res["problem"] == "gauss1d" and res["seed"] == 2 and res["truth"] == {"mu": 2.5}
    assert set(res["fits"]) == {"analytic", "learned", "morphed"}
    for fit in res["fits"].values():
        assert set(fit) == {"status", "nll_min", "time_s", "params"}
        assert fit["status"] == 0
        mu = fit["params"]["mu"]
        assert set(mu) == {"value", "error", "minos"}
        assert mu["minos"][0] < 0 < mu["minos"][1]
        assert abs(mu["value"] - 2.5) < 0.4 and 0.02 < mu["error"] < 0.1
    assert set(res["training"]) == {"estimator", "n_train", "epochs", "time_s", "device"}
    assert res["training"]["n_train"] == 30_000 and res["training"]["device"] == "cpu"
    assert set(res["timings"]) == {"simulate_s", "train_s", "fit_s", "total_s"}


def test_report_has_the_comparison_table(demo_dir):
    report = (demo_dir / "report.md").read_text()
    for word in ("| analytic | mu |", "| learned | mu |", "| morphed | mu |", "MINOS", "delta_nll.png"):
        assert word in report


def test_macro_fits_the_workspace_like_python(demo_dir):
    assert ROOT_EXE, "the root executable of the ROOT wheel was not found"
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{demo_dir / "workspace.root"}")'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FIT ")]
    assert len(lines) == 3, proc.stdout + proc.stderr
    res = json.loads((demo_dir / "results.json").read_text())
    for line in lines:
        m = re.fullmatch(r"FIT (\w+) mu=(\S+) \+- (\S+) status=(\d+)", line)
        assert m, line
        fit = res["fits"][m[1]]
        assert float(m[2]) == pytest.approx(fit["params"]["mu"]["value"], abs=1e-4)
        assert float(m[3]) == pytest.approx(fit["params"]["mu"]["error"], rel=1e-3)
        assert int(m[4]) == fit["status"]


def test_macro_reports_a_missing_file(tmp_path):
    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{tmp_path / "none.root"}")'],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "ERROR no such file" in proc.stdout


def test_cli_rejects_unknown_problem(capsys):
    with pytest.raises(SystemExit) as err:
        main(["demo", "gauss9d"])
    assert err.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
