"""roosbi validate: toy studies, the same numbers on one worker and on Dask, statistics, bad input refused first."""

import json
import math
import signal
import socket
import time

import pytest
import ROOT

import roosbi
from roosbi import InputError
from roosbi.cli import main
from roosbi.stats import VALIDATION_FILES, nll_results, run_validation, summarize
from roosbi.stats.toys import toy_seeds


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A Gaussian (the analytic pdf) and a too-wide Gaussian, both marked, with 200 observed events."""
    path = tmp_path_factory.mktemp("ws") / "ws.root"
    ws = ROOT.RooWorkspace("w")
    ws.factory("Gaussian::g(x[-10, 10], mu[0, -3, 3], sigma[1, 0.1, 10])")
    ws.factory("Gaussian::wide(x, mu, sigma2[1.5, 0.1, 10])")
    ws.var("sigma").setConstant()
    ws.var("sigma2").setConstant()
    ROOT.RooRandom.randomGenerator().SetSeed(5)
    data = ws.pdf("g").generate({ws.var("x")}, 200)
    data.SetName("observed")
    roosbi.mark_fits(ws, {"analytic": "g", "wide": "wide"}, data, ["mu"])
    ws.writeToFile(str(path))
    return path


@pytest.fixture(scope="module")
def one_worker(workspace, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    return out, run_validation(workspace, 8, out, seed=3, workers=1, progress=False)


def test_one_worker_and_two_dask_workers_give_the_same_numbers(workspace, one_worker, tmp_path):
    _, one = one_worker
    two = run_validation(workspace, 8, tmp_path, seed=3, workers=2, progress=False)
    assert two["workers"] == 2 and one["workers"] == 1
    assert nll_results(two) == nll_results(one)
    assert two["point"] == one["point"]


def test_statistics_are_sane_and_files_are_written(one_worker):
    out, res = one_worker
    assert {p.name for p in out.iterdir()} == set(VALIDATION_FILES)
    on_disk = json.loads((out / "validation.json").read_text())
    assert nll_results(on_disk) == nll_results(res)
    assert {"workers", "wall_s", "toys", "seed", "point"} <= set(on_disk)
    assert res["generator"] == "analytic" and res["toys"] == 8
    for name in ("analytic", "wide"):
        for stats in (res[name]["mu"], res[name]["mu"]["hesse"]):
            assert stats["n_toys"] == 8 and stats["n_failed"] == 0
            for key in ("coverage_68", "coverage_95"):
                assert 0 <= stats[key] <= 1
                assert stats[key + "_err"] == pytest.approx(math.sqrt(stats[key] * (1 - stats[key]) / 8))
            assert math.isfinite(stats["pull_mean"]) and math.isfinite(stats["pull_width"])
    # The wide pdf overestimates the error: its pulls are narrower than the analytic ones.
    assert res["wide"]["mu"]["pull_width"] < res["analytic"]["mu"]["pull_width"]
    assert "| analytic | mu |" in (out / "validation.md").read_text()


def test_the_point_is_the_best_fit_unless_given(workspace, one_worker, tmp_path):
    _, res = one_worker
    assert -1 < res["point"]["mu"] < 1
    at = run_validation(workspace, 1, tmp_path, at={"mu": 0.5}, workers=1, progress=False)
    assert at["point"] == {"mu": 0.5}


def test_toy_seeds_depend_on_the_seed_and_index_only():
    assert toy_seeds(1, 3)[1] == toy_seeds(1, 3)[1] != toy_seeds(1, 4)[1]
    assert toy_seeds(1, 3)[0].integers(1 << 30) == toy_seeds(1, 3)[0].integers(1 << 30)


def test_summary_counts_failed_fits_and_coverage():
    def toy(status, value, error):  # a parabolic NLL: delta NLL at the truth 0 is (value / error)^2 / 2
        dnll = 0.5 * (value / error) ** 2
        return {"fits": {"a": {"status": status, "params": {"mu": [value, error, -error, error, dnll]}}}}

    toys = [toy(0, 0.5, 1.0), toy(0, 1.5, 1.0), toy(0, -3.0, 1.0), toy(0, -0.2, 1.0), toy(4, 0.0, 1.0)]
    stats = summarize(toys, "a", {"mu": 0.0})["mu"]
    assert stats["n_toys"] == 5 and stats["n_failed"] == 1
    assert stats["coverage_68"] == 0.5 and stats["coverage_95"] == 0.75
    assert stats["coverage_68_err"] == pytest.approx(0.25)
    assert stats["bias"] == pytest.approx((0.5 + 1.5 - 3.0 - 0.2) / 4)
    assert stats["hesse"]["coverage_68"] == 0.5 and stats["hesse"]["coverage_95"] == 0.75


def test_a_demo_directory_works_with_no_further_options(tmp_path, capsys):
    from roosbi.demo import run_demo

    settings = {"hidden": (8,), "n_members": 1, "max_epochs": 2}
    run_demo(out=tmp_path / "demo", n_train=1000, estimator_settings=settings, plots=False, progress=False)
    demo = tmp_path / "demo"
    before = {p.name for p in demo.iterdir()}
    # Into the demo's own directory: the study adds its files and removes none of the demo's.
    assert main(["validate", str(demo), "--toys", "2", "--workers", "1", "--quiet", "--out", str(demo)]) == 0
    assert {p.name for p in demo.iterdir()} == before | set(VALIDATION_FILES)
    res = json.loads((demo / "validation.json").read_text())
    assert set(res["nlls"]) == {"analytic", "learned", "morphed"} <= set(res)
    assert "MINOS 68% coverage" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_toys": 0}, "at least one toy"),
        ({"at": {"nu": 1.0}}, "not a fitted parameter"),
        ({"at": {"mu": 7.0}}, "not inside the range"),
    ],
)
def test_bad_input_is_refused_before_any_work(workspace, tmp_path, kwargs, message):
    args = {"n_toys": 4, "workers": 1, "progress": False, **kwargs}
    with pytest.raises(InputError, match=message):
        run_validation(workspace, out=tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_a_workspace_without_marks_is_refused(tmp_path):
    ws = ROOT.RooWorkspace("w")
    ws.factory("Gaussian::g(x[-5, 5], mu[0, -1, 1], 1)")
    ws.writeToFile(str(tmp_path / "plain.root"))
    with pytest.raises(InputError, match="records no NLLs"):
        run_validation(tmp_path / "plain.root", 2, tmp_path / "out", workers=1, progress=False)


def test_a_silent_scheduler_is_an_error_within_seconds(workspace, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=f"tcp://127.0.0.1:{port}"):
        run_validation(workspace, 2, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    assert time.perf_counter() - t0 < 20
    assert not (tmp_path / "out").exists()


def test_cli_bad_input_exits_2(workspace, tmp_path, capsys):
    assert main(["validate", str(workspace), "--toys", "2", "--at", "mu=9", "--out", str(tmp_path / "o")]) == 2
    assert "not inside the range" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(workspace), "--toys", "0", "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main(["validate", str(workspace), "--toys", "2", "--at", "mu", "--out", str(tmp_path / "o")])


def test_a_worker_that_dies_mid_study_loses_no_toy(workspace, one_worker):
    import os

    from distributed import Client, LocalCluster

    from roosbi.stats.toys import absolute_path, run_on_dask
    from roosbi.stats.validate import summarize as summary

    _, one = one_worker
    path = absolute_path(workspace)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", env={"OMP_NUM_THREADS": "1"}) as c,
        Client(c) as client,
    ):
        pids = client.run(os.getpid)  # worker address -> process id
        killed = []

        def kill_one(n):
            if not killed:  # after the first task: end a worker that is busy with another
                busy = [w for w, keys in client.processing().items() if keys] or list(pids)
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])

        toys = run_on_dask(client, path, 8, 3, one["point"], kill_one)
    assert killed
    assert sorted(t["toy"] for t in toys) == list(range(8))
    toys.sort(key=lambda t: t["toy"])
    assert {name: summary(toys, name, one["point"]) for name in one["nlls"]} == nll_results(one)
