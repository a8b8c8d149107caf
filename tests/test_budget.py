"""``roosbi demo --budget auto``: the training budget doubles until the training error is small enough."""

import json

import pytest

from roosbi.cli import main
from roosbi.demo.budget import auto_budget, training_ratio
from roosbi.exceptions import InputError

FAST = ["--epochs", "2", "--no-plots", "--quiet", "--n-train", "1000"]


def test_a_loose_target_stops_at_the_first_budget(tmp_path, capsys):
    """Any training error is below 1000 x the statistical error: the answer is the first budget."""
    out = tmp_path / "loose"
    assert main(["demo", "--out", str(out), *FAST, "--budget", "auto", "--budget-target", "1000"]) == 0
    res = json.loads((out / "results.json").read_text())
    budget = res["budget"]
    assert budget["reached"] is True and budget["n_train"] == 1000
    assert [s["n_train"] for s in budget["steps"]] == [1000]
    assert res["training"]["n_train"] == 2000  # 1000 target + 1000 reference events
    assert res["fits"]["learned"]["params"]["mu"]["training_error"] > 0
    assert budget["steps"][0]["ratio"] == pytest.approx(training_ratio(res)[0])
    assert "## Training budget" in (out / "report.md").read_text()
    assert "budget: n_train 1000" in capsys.readouterr().out


def test_an_unreachable_target_doubles_up_to_the_largest_budget(tmp_path, capsys):
    out = tmp_path / "tight"
    argv = ["demo", "--out", str(out), *FAST, "--budget", "auto", "--budget-target", "1e-9", "--budget-max", "2000"]
    assert main(argv) == 0
    budget = json.loads((out / "results.json").read_text())["budget"]
    assert budget["reached"] is False and budget["n_train"] is None
    assert [s["n_train"] for s in budget["steps"]] == [1000, 2000]
    assert all(s["ratio"] > 1e-9 for s in budget["steps"])
    assert "not reached up to 2000" in capsys.readouterr().out


def test_budget_options_need_budget_auto_and_sane_values(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "a"), *FAST, "--budget-target", "0.1"]) == 2
    assert "need --budget auto" in capsys.readouterr().err
    with pytest.raises(InputError, match="positive fraction"):
        auto_budget(lambda n: {}, 1000, target=-1.0)
    with pytest.raises(InputError, match="no fit has a training error"):
        training_ratio({"fits": {"learned": {"params": {"mu": {"value": 1.0, "error": 0.1}}}}})
    assert not (tmp_path / "a").exists()


def test_a_budget_beyond_the_machine_memory_is_refused_before_any_work(tmp_path, capsys):
    from roosbi.checks import available_memory

    have = available_memory()
    if have is None:
        pytest.skip("no /proc/meminfo")
    n_train = int(have // 48 // 4)  # rows x columns x bytes: more than there is
    assert main(["demo", "--out", str(tmp_path / "big"), "--n-train", str(n_train), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "GiB of memory to train" in err and "GiB are available" in err
    assert not (tmp_path / "big").exists()


def test_roosbi_run_searches_the_budget_too(tmp_path, capsys):
    from roosbi.data.builtin import gauss1d

    path = tmp_path / "ws.root"
    gauss1d(seed=3).workspace.writeToFile(str(path))
    out = tmp_path / "run"
    argv = ["run", str(path), "--pdf", "gauss", "--observables", "x", "--parameters", "mu", "--data", "obs_data"]
    argv += ["--out", str(out), "--epochs", "2", "--n-train", "1000", "--no-plots", "--quiet"]
    assert main([*argv, "--budget", "auto", "--budget-target", "1000"]) == 0
    budget = json.loads((out / "results.json").read_text())["budget"]
    assert budget["reached"] and [s["n_train"] for s in budget["steps"]] == [1000]
    assert main([*argv, "--budget-max", "2000"]) == 2
    assert "need --budget auto" in capsys.readouterr().err
