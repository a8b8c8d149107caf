"""The roosbi command: bad arguments refused before any work, Ctrl-C at safe points, reruns that replace a run whole."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import roosbi.demo.methods as demo_methods
import roosbi.demo.run as demo_run
from roosbi import InputError, interrupts
from roosbi.cli import main
from roosbi.demo import run_demo
from roosbi.library import LIBRARY_FILES
from roosbi.output_dir import OUTPUT_FILES, STAGING_PREFIX, publish

# A run of a few seconds: small sample, small network, no figures.
FAST = {
    "n_train": 1000,
    "estimator": "torch",
    "device": "cpu",
    "progress": False,
    "plots": False,
    "estimator_settings": {"hidden": (8,), "n_members": 1, "max_epochs": 2},
}
FAST_CLI = ["--n-train", "1000", "--epochs", "2", "--device", "cpu", "--quiet", "--seed", "1"]


@pytest.fixture(autouse=True)
def _sigint_raises():
    """Ctrl-C raises KeyboardInterrupt here, whatever the test runner inherited (a background job ignores it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the demo gets as far as simulating or training."""

    def fail(*args, **kwargs):
        raise AssertionError("the demo started working before it checked its arguments")

    for name in ("simulate", "simulate_components", "train_estimator"):
        monkeypatch.setattr(demo_methods, name, fail)


@pytest.fixture
def earlier_run(tmp_path):
    """An output directory holding an earlier (gauss2d) run's files and a file of the user's own."""
    out = tmp_path / "out"
    out.mkdir()
    files = {name: f"earlier {name}".encode() for name in OUTPUT_FILES if name not in ("results.json", "templates.png")}
    files["results.json"] = json.dumps({"problem": "gauss2d", "roosbi_version": "0.1.0"}).encode()
    files["notes.txt"] = b"the user's own notes"
    for name, data in files.items():
        (out / name).write_bytes(data)
    return out, files


def _contents(out: Path) -> dict:
    """Every entry of ``out``: the bytes of a file, "dir" for a directory."""
    return {p.name: p.read_bytes() if p.is_file() else "dir" for p in out.iterdir()}


def _cli(args, capsys) -> tuple[int, str]:
    """Run the command in this process; its exit status and stderr."""
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roosbi: error: "), err
    return lines[0]


# ----------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--seed", "-1"], "--seed"),
        (["--n-train", "0"], "--n-train"),
        (["--n-train", "100", "--templates", "20"], "n_templates"),
        (["--epochs", "0"], "--epochs"),
        (["--templates", "1"], "--templates"),
        (["--device", "gpu"], "--device"),
        (["--morph-setting", "Bogus"], "--morph-setting"),
        (["gauss2d", "--templates", "70"], "4096"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(args, names, tmp_path, capsys, no_work):
    out = tmp_path / "out"
    code, err = _cli(["demo", *args, "--out", str(out)], capsys)
    assert code == 2
    assert names in _one_error_line(err)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused(tmp_path, capsys, no_work):
    code, err = _cli(["demo", "--device", "cuda", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "CUDA" in _one_error_line(err)


def test_torch_estimator_without_torch_is_refused(tmp_path, capsys, monkeypatch, no_work):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails as if it were not installed
    code, err = _cli(["demo", "--estimator", "torch", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "PyTorch" in _one_error_line(err)


def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, no_work):
    path = tmp_path / "results"
    path.write_bytes(b"a file")
    code, err = _cli(["demo", "--out", str(path)], capsys)
    assert code == 2 and "not a directory" in _one_error_line(err)
    assert path.read_bytes() == b"a file"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("path", ["/proc/roosbi-test", "/proc/roosbi-test/out"])
def test_read_only_output_is_refused_before_any_work(path, capsys, no_work):
    # /proc refuses new entries even to root, for whom os.access says yes to everything.
    code, err = _cli(["demo", "--out", path], capsys)
    assert code == 2 and path in _one_error_line(err)
    assert not Path(path).exists()


# ----------------------------------------------------------------------------- Ctrl-C at safe points


def test_deferred_interrupt_waits_for_a_checkpoint():
    before = signal.getsignal(signal.SIGINT)
    reached = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            reached = True  # not interrupted here, e.g. inside a cppyy attribute lookup
            interrupts.checkpoint()
            pytest.fail("the checkpoint did not raise")
    assert reached
    assert signal.getsignal(signal.SIGINT) is before


def test_deferred_interrupt_is_raised_at_the_end_of_the_block():
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred_interrupts():
            with interrupts.deferred_interrupts():  # nested: only the outermost end raises
                signal.raise_signal(signal.SIGINT)
            reached = True
    assert reached
    interrupts.checkpoint()  # nothing left over


def test_interrupt_handled_as_the_block_starts_is_kept(monkeypatch):
    """The race CI met: SIGINT arrives before the block and Python handles it right after the
    recording handler is installed; the block must not then forget it."""
    install = signal.signal

    def install_then_interrupt(signum, handler):
        previous = install(signum, handler)
        if handler is interrupts._record:
            signal.raise_signal(signal.SIGINT)  # handled now, by the handler just installed
        return previous

    monkeypatch.setattr(interrupts.signal, "signal", install_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred_interrupts():
            interrupts.checkpoint()
            pytest.fail("the interrupt was forgotten")


def test_interrupt_after_done_is_not_raised(caplog):
    with caplog.at_level(logging.WARNING, logger="roosbi.interrupts"):
        with interrupts.deferred_interrupts() as guard:
            guard.done()
            signal.raise_signal(signal.SIGINT)
    assert "after the work was complete" in caplog.text


def test_interruptible_code_stops_at_once():
    with interrupts.deferred_interrupts():
        with pytest.raises(KeyboardInterrupt):
            with interrupts.interruptible():
                signal.raise_signal(signal.SIGINT)
                pytest.fail("not interrupted")
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # deferred again


def test_deferral_outside_the_main_thread_changes_nothing():
    errors = []

    def work():
        try:
            with interrupts.deferred_interrupts():
                interrupts.checkpoint()
        except Exception as err:  # signal.signal would raise ValueError here
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ----------------------------------------------------------------------------- reruns


@pytest.mark.parametrize(("stage", "error"), [("_copy_library", KeyboardInterrupt), ("_fit_all", RuntimeError)])
def test_interrupted_rerun_leaves_the_earlier_run_as_it_was(earlier_run, monkeypatch, stage, error):
    out, files = earlier_run

    def interrupt(*args, **kwargs):
        staged = next(out.glob(f"{STAGING_PREFIX}*"))
        assert (staged / "model.onnx").is_file()  # the run has written files by now
        raise error

    monkeypatch.setattr(demo_run, stage, interrupt)
    with pytest.raises(error):
        run_demo(out=out, **FAST)
    assert _contents(out) == files  # byte for byte, no staging directory left


def test_interrupt_before_any_file_leaves_no_directory(tmp_path, capsys, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_methods, "simulate", interrupt)
    out = tmp_path / "new" / "out"
    code, err = _cli(["demo", *FAST_CLI, "--no-plots", "--out", str(out)], capsys)
    assert code == 130
    assert err.strip().splitlines()[-1] == f"roosbi: interrupted; nothing was written to {out}"
    assert list(tmp_path.iterdir()) == []


def test_completed_rerun_replaces_the_earlier_run(earlier_run, caplog):
    out, files = earlier_run
    with caplog.at_level(logging.INFO, logger="roosbi"):
        run_demo(problem="gauss1d", out=out, **FAST)
    # No figures this time: the earlier run's PNGs (contours.png of gauss2d among them) are gone.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {"results.json", "report.md", "workspace.root", "model.onnx", "notes.txt", *LIBRARY_FILES}
    )
    assert (out / "notes.txt").read_bytes() == files["notes.txt"]
    assert json.loads((out / "results.json").read_text())["problem"] == "gauss1d"
    assert (out / "model.onnx").read_bytes() != files["model.onnx"]
    assert (
        f"Fit any NLL again without Python: root -b -q 'macros/fit_workspace.C(\"{out / 'workspace.root'}\")'"
        in (out / "report.md").read_text()
    )
    assert "contours.png" in caplog.text and "replaced" in caplog.text


def test_files_named_like_outputs_stay_without_an_earlier_run(tmp_path):
    """Without an earlier run's results.json, a contours.png in the directory is the user's."""
    out, stage = tmp_path / "out", tmp_path / "out" / f"{STAGING_PREFIX}x"
    stage.mkdir(parents=True)
    (stage / "results.json").write_text("{}")
    (out / "contours.png").write_bytes(b"mine")
    publish(stage, out)
    assert (out / "contours.png").read_bytes() == b"mine" and (out / "results.json").is_file()


def test_publish_changes_nothing_when_a_directory_is_in_the_way(earlier_run):
    out, files = earlier_run
    (out / "model.onnx").unlink()
    (out / "model.onnx").mkdir()
    stage = out / f"{STAGING_PREFIX}x"
    stage.mkdir()
    for name in ("results.json", "model.onnx"):
        (stage / name).write_text("new")
    with pytest.raises(InputError, match="model.onnx"):
        publish(stage, out)
    assert (out / "results.json").read_bytes() == files["results.json"]


# ----------------------------------------------------------------------------- SIGINT to the command


@pytest.mark.parametrize("moment", ["staging directory", "model.onnx", "delta_nll.png"])
def test_sigint_stops_the_demo_cleanly(earlier_run, moment):
    """Ctrl-C early (ROOT starting), just after model.onnx (where cppyy crashed) and late (figures)."""
    out, files = earlier_run
    proc = subprocess.Popen(
        [sys.executable, "-m", "roosbi.cli", "demo", *FAST_CLI, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        # Ctrl-C must reach Python's handler even where the test runner ignores it (a background job).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            staged = list(out.glob(f"{STAGING_PREFIX}*"))
            if staged and (moment == "staging directory" or (staged[0] / moment).exists()):
                break
            time.sleep(0.002)
        assert proc.poll() is None, f"the demo ended before its {moment} appeared:\n{proc.stderr.read()}"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "egmentation" not in stdout + stderr and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == f"roosbi: interrupted; nothing was written to {out}"
    assert _contents(out) == files
