"""roosbi validate: toy studies, the same numbers on one worker and on Dask, statistics, bad input refused first."""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ROOT

import roosbi
from roosbi import InputError
from roosbi.cli import main
from roosbi.stats import VALIDATION_FILES, nll_results, run_validation, summarize
from roosbi.stats.toys import toy_seeds
from roosbi.stats.validation_report import coverage_axis


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


@pytest.fixture(scope="module")
def two_points(workspace, one_worker, tmp_path_factory):
    """The study of one_worker at its point and at mu = 0.5, in this process."""
    out = tmp_path_factory.mktemp("two_points")
    points = [one_worker[1]["point"], {"mu": 0.5}]
    return out, run_validation(workspace, 8, out, seed=3, points=points, workers=1, progress=False)


def test_one_worker_and_two_dask_workers_give_the_same_numbers(workspace, one_worker, two_points, tmp_path):
    _, one = one_worker
    _, in_process = two_points
    # Both points' tasks in one submission; the first point's toys are those of the one-point study.
    points = [one["point"], {"mu": 0.5}]
    two = run_validation(workspace, 8, tmp_path, seed=3, points=points, workers=2, progress=False)
    assert two["workers"] == 2 and one["workers"] == 1
    assert nll_results(two) == nll_results(one)
    assert two["point"] == one["point"]
    assert two["points"] == in_process["points"]


def test_several_points_each_get_their_own_toys(one_worker, two_points):
    _, one = one_worker
    out, res = two_points
    assert {p.name for p in out.iterdir()} == set(VALIDATION_FILES)
    # The first point keeps the numbers of a one-point study (spawn keys (i,)); the second has its own toys.
    assert nll_results(res) == nll_results(one) and res["point"] == one["point"]
    first, second = res["points"]
    assert first["point"] == one["point"] and second["point"] == {"mu": 0.5}
    assert {name: first[name] for name in res["nlls"]} == nll_results(one)
    assert second["analytic"]["mu"]["bias"] != first["analytic"]["mu"]["bias"]
    assert first["toys_finished"] == second["toys_finished"] == 8
    assert res["toys_finished"] == 16 and res["interrupted"] is False and one["interrupted"] is False
    assert toy_seeds(3, 0, 1)[1] != toy_seeds(3, 0)[1] == toy_seeds(3, 0, 0)[1]
    on_disk = json.loads((out / "validation.json").read_text())
    assert on_disk["points"] == res["points"]
    md = (out / "validation.md").read_text()
    assert "## Coverage at each point" in md and "| mu = 0.5 | wide | mu |" in md


def test_coverage_against_points_of_two_parameters(tmp_path):
    """Points that differ in two parameters: a real study, and the figure's x axis is the point index."""
    ws = ROOT.RooWorkspace("w")
    ws.factory("Gaussian::g(x[-10, 10], mu[0, -3, 3], sigma[1, 0.3, 5])")
    ROOT.RooRandom.randomGenerator().SetSeed(2)
    data = ws.pdf("g").generate({ws.var("x")}, 100)
    roosbi.mark_fits(ws, {"analytic": "g"}, data, ["mu", "sigma"])
    ws.writeToFile(str(tmp_path / "ws2.root"))
    points = [{"mu": 0.0, "sigma": 1.0}, {"mu": 1.0, "sigma": 2.0}]
    res = run_validation(tmp_path / "ws2.root", 2, tmp_path / "v", points=points, workers=1, progress=False)
    assert [p["point"] for p in res["points"]] == points
    assert set(res["points"][1]["analytic"]) == {"mu", "sigma"}
    assert (tmp_path / "v" / "coverage_vs_point.png").stat().st_size > 1000
    par, x, labels = coverage_axis(points)
    assert par is None and list(x) == [0, 1] and labels == ["mu=0,\nsigma=1", "mu=1,\nsigma=2"]
    par, x, labels = coverage_axis([{"mu": 0.5, "sigma": 1.0}, {"mu": 1.5, "sigma": 1.0}])
    assert par == "mu" and list(x) == [0.5, 1.5] and labels is None


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


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small gauss1d demo: analytic, learned and morphed marked."""
    from roosbi.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    settings = {"hidden": (8,), "n_members": 1, "max_epochs": 2}
    run_demo(out=out, n_train=1000, estimator_settings=settings, plots=False, progress=False)
    return out


def test_a_demo_directory_works_with_no_further_options(demo, capsys):
    before = {p.name for p in demo.iterdir()}
    # Into the demo's own directory: the study adds its files and removes none of the demo's.
    assert main(["validate", str(demo), "--toys", "2", "--workers", "1", "--quiet", "--out", str(demo)]) == 0
    assert {p.name for p in demo.iterdir()} == before | set(VALIDATION_FILES)
    res = json.loads((demo / "validation.json").read_text())
    assert set(res["nlls"]) == {"analytic", "learned", "morphed"} <= set(res)
    assert "MINOS 68% coverage" in capsys.readouterr().out


def test_cli_several_points_and_another_generator(demo, tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["validate", str(demo), "--toys", "2", "--workers", "1", "--quiet", "--out", str(out)]
    assert main([*argv, "--at", "mu=2", "--at", "mu=3", "--generator", "learned"]) == 0
    res = json.loads((out / "validation.json").read_text())
    assert [p["point"] for p in res["points"]] == [{"mu": 2.0}, {"mu": 3.0}]
    assert res["generator"] == "learned"
    assert "coverage_vs_point.png" in capsys.readouterr().out
    assert main([*argv, "--generator", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_closure_toys_from_the_learned_pdf(demo, tmp_path):
    """The learned NLL fitted to toys drawn from the learned pdf: its pulls are those of a true model."""
    res = run_validation(demo, 6, tmp_path, seed=5, generator="learned", workers=1, progress=False)
    assert res["generator"] == "learned"
    learned = res["learned"]["mu"]
    assert learned["n_failed"] == 0 and abs(learned["pull_mean"]) < 2
    assert "'learned' pdf" in (tmp_path / "validation.md").read_text()


@pytest.fixture(scope="module")
def bad_generators(tmp_path_factory):
    """A Gaussian in x (the data) marked with pdfs that cannot draw toys in x."""
    path = tmp_path_factory.mktemp("bad") / "bad.root"
    ws = ROOT.RooWorkspace("w")
    ws.factory("Gaussian::g(x[-5, 5], mu[0, -3, 3], 1)")
    ws.factory("Gaussian::gy(y[-5, 5], mu, 1)")
    ws.factory("EXPR::zero('0 * x * mu', x, mu)")
    ws.factory("EXPR::nan('sqrt(-1 - x * x) * mu', x, mu)")
    ROOT.RooRandom.randomGenerator().SetSeed(5)
    data = ws.pdf("g").generate({ws.var("x")}, 50)
    roosbi.mark_fits(ws, {"analytic": "g", "in_y": "gy", "zero": "zero", "nan": "nan"}, data, ["mu"])
    ws.writeToFile(str(path))
    return path


@pytest.mark.parametrize(
    "generator, message",
    [
        ("nope", "no pdf is marked 'nope'.*one of the marked: analytic, in_y, nan, zero"),
        ("in_y", "'in_y' \\(gy\\) depends on none of the observed data's variables \\(x\\)"),
        ("zero", "'zero' \\(zero\\) cannot generate toys: its event at mu=0.5 .* the pdf is 0"),
        ("nan", "'nan' \\(nan\\) cannot generate toys: .* the pdf is nan"),
    ],
)
def test_a_generator_that_cannot_generate_is_refused_first(bad_generators, tmp_path, generator, message):
    with pytest.raises(InputError, match=message) as err:
        run_validation(bad_generators, 2, tmp_path / "out", at={"mu": 0.5}, generator=generator, progress=False)
    if generator != "nope":
        assert "generator= one of analytic" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_keeps_the_finished_toys(workspace, tmp_path):
    """A real SIGINT after 3 toys: Ctrl-C stops the in-process study before the 4th; the 3 are written."""
    (tmp_path / "mine.txt").write_text("a user's file")

    def interrupt_after_3(done, total):
        assert total == 8
        if done == 3:
            os.kill(os.getpid(), signal.SIGINT)

    points = [{"mu": 0.0}, {"mu": 0.5}]
    with pytest.raises(KeyboardInterrupt) as stop:
        run_validation(workspace, 4, tmp_path, seed=3, points=points, workers=1, progress=interrupt_after_3)
    assert stop.value.toys_finished == 3  # what the CLI reports
    assert {p.name for p in tmp_path.iterdir()} == {"mine.txt", *VALIDATION_FILES}  # no staging directory left
    res = json.loads((tmp_path / "validation.json").read_text())
    assert res["interrupted"] is True and res["toys_finished"] == 3 and res["toys"] == 4
    # The points take turns: toy 0 of each point, then toy 1 of the first.
    assert [p["toys_finished"] for p in res["points"]] == [2, 1]
    assert res["analytic"]["mu"]["n_toys"] == 2 and res["points"][1]["wide"]["mu"]["n_toys"] == 1
    assert "**Interrupted** after 3 of 8 toys" in (tmp_path / "validation.md").read_text()
    # The same toys as in a complete study: toy 0 at the second point.
    full = run_validation(workspace, 1, tmp_path / "full", seed=3, points=points, workers=1, progress=False)
    assert full["points"][1] == res["points"][1] and full["interrupted"] is False


def test_a_failure_keeps_the_finished_toys_and_is_raised(workspace, tmp_path):
    def fail_after_2(done, total):
        if done == 2:
            raise RuntimeError("the study broke")

    with pytest.raises(RuntimeError, match="the study broke"):
        run_validation(workspace, 5, tmp_path, at={"mu": 0.0}, workers=1, progress=fail_after_2)
    res = json.loads((tmp_path / "validation.json").read_text())
    assert res["interrupted"] is True and res["toys_finished"] == 2 and res["analytic"]["mu"]["n_toys"] == 2


def test_ctrl_c_on_dask_keeps_the_finished_toys(workspace, tmp_path):
    def interrupt(done, total):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the first task's results arrive

    with pytest.raises(KeyboardInterrupt):
        run_validation(workspace, 8, tmp_path, seed=3, at={"mu": 0.0}, workers=2, progress=interrupt)
    res = json.loads((tmp_path / "validation.json").read_text())
    assert res["interrupted"] is True and res["workers"] == 2
    # At least the first task's toys (4); tasks that had finished too are kept.
    assert 4 <= res["toys_finished"] == res["analytic"]["mu"]["n_toys"] <= 8
    assert res["toys_finished"] % 4 == 0


def test_a_worker_without_roosbi_is_named_before_any_toy(workspace, tmp_path):
    """A real worker whose roosbi cannot be imported (a broken one first on its PYTHONPATH)."""
    from distributed import Client, LocalCluster

    stub = tmp_path / "stub" / "roosbi"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('raise ImportError("libRooSBI.so: cannot open shared object file")\n')
    with LocalCluster(n_workers=0, dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        # A scheduler without workers is refused within seconds, not waited on.
        with pytest.raises(InputError, match="has no workers"):
            run_validation(workspace, 2, tmp_path / "out", at={"mu": 0.0}, scheduler=address, progress=False)
        env = {**os.environ, "PYTHONPATH": str(stub.parent), "OMP_NUM_THREADS": "1"}
        dask = Path(sys.executable).parent / "dask"
        worker = subprocess.Popen(
            [str(dask), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with Client(address) as client:
                client.wait_for_workers(1, timeout=60)
                (worker_address,) = client.scheduler_info()["workers"]
            with pytest.raises(InputError) as err:
                run_validation(workspace, 2, tmp_path / "out", at={"mu": 0.0}, scheduler=address, progress=False)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    message = str(err.value)
    assert worker_address in message and "ImportError: libRooSBI.so" in message
    assert "install roosbi" in message and "roosbi library" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_toys": 0}, "at least one toy"),
        ({"n_toys": -3}, "at least one toy"),
        ({"at": {"nu": 1.0}}, "not a fitted parameter"),
        ({"at": {"mu": 7.0}}, "not inside the range"),
        ({"at": {"mu": 3.0}}, "not inside the range"),  # on its limit
        ({"points": [{"mu": 0.0}, {"mu": -3.0}]}, "mu=-3 is not inside the range"),
        ({"points": [{"mu": 0.0}, {"sigma2": 1.0}]}, "'sigma2', which is not a fitted parameter"),
        ({"points": []}, "non-empty list"),
        ({"at": {"mu": 0.0}, "points": [{"mu": 0.5}]}, "not both"),
        ({"generator": "nope"}, "choose generator= one of the marked: analytic, wide"),
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

    from roosbi.stats.cluster import absolute_path
    from roosbi.stats.toys import run_on_dask
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


def test_toys_draw_the_auxiliary_measurement_of_a_constrained_nuisance(tmp_path):
    """x ~ Gauss(mu + 0.5 alpha, 1) for 100 events, alpha constrained by Gauss(alpha_obs | alpha, 1).

    mu's error with alpha profiled is sqrt(0.01 + 0.25) = 0.51, nearly all from the auxiliary measurement. Toys
    that drew the events alone (alpha_obs held at 0) spread mu-hat by 0.1 only: pulls of width 0.2, coverage ~1.
    Drawing alpha_obs too gives pulls of width 1.
    """
    from roosbi.stats.toys import run_toys

    ws = ROOT.RooWorkspace("w")
    ws.factory("expr::mean('mu + 0.5 * alpha', mu[0, -5, 5], alpha[0, -5, 5])")
    ws.factory("PROD::model(Gaussian::g(x[-15, 15], mean, 1), Gaussian::aux(alpha_obs[0, -5, 5], alpha, 1))")
    ws.var("alpha_obs").setConstant(True)
    ROOT.RooRandom.randomGenerator().SetSeed(3)
    data = ws.pdf("g").generate({ws.var("x")}, 100)
    data.SetName("observed")
    roosbi.mark_fits(ws, {"analytic": "model"}, data, ["mu", "alpha"])
    path = tmp_path / "constrained.root"
    ws.writeToFile(str(path))
    toys = run_toys(str(path), range(80), seed=1, point={"mu": 0.0, "alpha": 0.0})
    values = [t["fits"]["analytic"]["params"]["mu"] for t in toys]
    pulls = [value / error for value, error, *_ in values]
    assert 0.75 < float(np.std(pulls)) < 1.3
    assert all(0.4 < error < 0.6 for _, error, *_ in values)
