"""RooLearnedRatio knows where its network was trained and says so, once, when used outside.

The ranges are stored in the C++ object (so they hold for workspaces read from files, for plain
``fitTo`` and for C++ macros); observed events far outside them are reported in Python too.
"""

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest

from roosbi.exceptions import InputError
from roosbi.inference import create_nll
from roosbi.library import import_root, load_library
from roosbi.onnx import DenseNetwork, read_metadata
from roosbi.roofit import (
    OBSERVABLE_MARGIN,
    check_data_coverage,
    evaluate_log_ratio,
    learned_pdf,
    learned_ratio,
    ratio_from_network,
)

ROOT = import_root()
DATA = Path(__file__).parent / "data"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
WARNING = "outside its training range"


@contextmanager
def roofit_messages(capfd):
    """RooFit's messages (C++, printed to stdout) while the block runs, as ``messages.text``."""
    capfd.readouterr()
    messages = SimpleNamespace(text="")
    try:
        yield messages
    finally:
        captured = capfd.readouterr()
        messages.text = captured.out + captured.err
        sys.stdout.write(messages.text)  # shown again if the test fails


def _generate(problem, mu: float, n: int = 400):
    ws = problem.workspace
    ws.var("mu").setVal(mu)
    data = ws.pdf("gauss").generate(ROOT.RooArgSet(ws.var("x")), n)
    ROOT.SetOwnership(data, True)
    data.SetName("far_data")
    return data


def _small_network() -> DenseNetwork:
    """The 2-3-1 tanh network stored in tests/data/learned_ratio_v1.root."""
    return DenseNetwork(
        weights=[np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.25]]), np.array([[0.7, -0.6, 0.9]])],
        biases=[np.array([0.1, -0.3, 0.2]), np.array([0.05])],
        activations=["tanh", "identity"],
        activation_params=[0.0, 0.0],
    )


def test_ranges_come_from_the_model(problem, torch_onnx):
    meta = read_metadata(torch_onnx)
    ratio = learned_ratio(torch_onnx, workspace=problem.workspace)
    assert list(ratio.trainingMin()) == [meta["input_ranges"]["x"][0], 0.0]
    assert list(ratio.trainingMax()) == [meta["input_ranges"]["x"][1], 4.0]
    assert list(ratio.trainingMargins()) == [OBSERVABLE_MARGIN, 0.0]
    assert not ratio.outsideTrainingRange()
    # Inputs are matched to the model's by position: renamed inputs and functions get the right range.
    nu = ROOT.RooRealVar("nu_tr", "nu", 1.0, 0.0, 2.0)
    mu_of_nu = ROOT.RooFormulaVar("mu_of_nu_tr", "2 * nu_tr", ROOT.RooArgList(nu))
    x2 = ROOT.RooRealVar("x_tr", "x", 1.0, -5.0, 15.0)
    renamed = learned_ratio(torch_onnx, inputs=[x2, mu_of_nu], name="r_renamed")
    assert list(renamed.trainingMax()) == list(ratio.trainingMax())


def test_model_from_older_roosbi_checks_its_parameters(problem, torch_onnx, tmp_path):
    model = onnx.load(str(torch_onnx))
    keep = [p for p in model.metadata_props if p.key != "roosbi.input_ranges"]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    path = tmp_path / "old.onnx"
    onnx.save(model, str(path))
    ratio = learned_ratio(path, workspace=problem.workspace, name="r_old_meta")
    assert list(ratio.trainingMin()) == [-np.inf, 0.0]
    assert list(ratio.trainingMax()) == [np.inf, 4.0]


def test_fit_beyond_a_widened_parameter_range_warns_once(problem, torch_onnx, caplog, capfd):
    ws = problem.workspace
    ws.var("mu").setMax(6.0)
    with caplog.at_level(logging.WARNING, logger="roosbi.roofit"):
        ratio = learned_ratio(torch_onnx, workspace=ws)
    assert "input 'mu' ranges over [0, 6] but the network was trained on [0, 4]" in caplog.text
    pdf = learned_pdf(ratio, [ws.var("x")], ws.pdf("uniform"))
    data = _generate(problem, 5.5)
    ws.var("mu").setVal(2.0)
    with roofit_messages(capfd) as messages:
        result = pdf.fitTo(data, PrintLevel=-1, Save=True)
        pdf.fitTo(data, PrintLevel=-1)  # a second fit: no second message
    ROOT.SetOwnership(result, True)
    assert ws.var("mu").getVal() > 4.0
    text = messages.text
    assert text.count(WARNING) == 1, text
    assert "RooLearnedRatio 'learned_ratio': input 'mu' is evaluated at" in text
    assert "[0, 4]" in text and "extrapolation" in text
    assert list(ratio.inputsOutsideTrainingRange()) == [1]
    assert ratio.outsideTrainingRange()


def test_no_warning_inside_the_training_range(problem, torch_onnx, capfd):
    ws = problem.workspace
    ratio = learned_ratio(torch_onnx, workspace=ws)
    pdf = learned_pdf(ratio, [ws.var("x")], ws.pdf("uniform"))
    with roofit_messages(capfd) as messages:
        nll = create_nll(pdf, problem.data())
        for mu in (0.0, 2.5, 4.0):
            ws.var("mu").setVal(mu)
            assert np.isfinite(nll.getVal())
    assert WARNING not in messages.text
    assert not ratio.outsideTrainingRange()


def test_workspace_fitted_in_a_fresh_process_warns_once(problem, torch_onnx, tmp_path):
    ws = problem.workspace
    ws.var("mu").setMax(6.0)
    ratio = learned_ratio(torch_onnx, workspace=ws)
    ws.Import(learned_pdf(ratio, [ws.var("x")], ws.pdf("uniform")), Silence=True)
    ws.Import(_generate(problem, 5.5), Silence=True)
    ws.var("mu").setVal(2.0)
    path = tmp_path / "ws.root"
    ws.writeToFile(str(path))
    code = textwrap.dedent(f"""
        import warnings; warnings.simplefilter("ignore")
        import ROOT
        from roosbi.library import load_library
        load_library()
        w = ROOT.TFile.Open("{path}").Get("w")
        w.pdf("learned_pdf").fitTo(w.data("far_data"), PrintLevel=-1)
        print("MU", w.var("mu").getVal())
        print("OUTSIDE", list(w.function("learned_ratio").inputsOutsideTrainingRange()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert text.count(WARNING) == 1, text
    assert "input 'mu'" in text
    assert float(text.split("MU ")[1].split()[0]) > 4.0
    assert "OUTSIDE [1]" in text


@pytest.mark.skipif(ROOT_EXE is None, reason="no root executable")
def test_a_cpp_macro_warns_too(problem, tmp_path):
    ws = problem.workspace
    x, mu = ws.var("x"), ws.var("mu")
    ratio = ratio_from_network(_small_network(), [x, mu], name="macro_ratio", training_ranges={"mu": (0.0, 4.0)})
    ws.Import(ratio, Silence=True)
    path = tmp_path / "ws.root"
    ws.writeToFile(str(path))
    macro = tmp_path / "check.C"
    macro.write_text(
        textwrap.dedent(f"""
        #include <RooRealVar.h>
        #include <RooWorkspace.h>
        #include <TFile.h>
        #include <TSystem.h>
        #include <cstdio>

        void check()
        {{
           gSystem->Load("{load_library()}");
           auto *w = TFile::Open("{path}")->Get<RooWorkspace>("w");
           RooRealVar *mu = w->var("mu");
           mu->setMax(9.);
           for (double v : {{1., 7., 8., 9.}}) {{
              mu->setVal(v);
              w->function("macro_ratio")->getVal();
           }}
           std::printf("DONE\\n");
        }}
        """)
    )
    out = subprocess.run([ROOT_EXE, "-b", "-q", "-l", str(macro)], capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert "DONE" in text, text
    assert text.count(WARNING) == 1, text
    assert "input 'mu' is evaluated at 7" in text


def test_observed_event_far_outside_the_training_sample_warns(problem, torch_onnx, caplog, capfd):
    ws = problem.workspace
    x = ws.var("x")
    x.setMax(1e301)
    ratio = learned_ratio(torch_onnx, workspace=ws)
    values = np.append(problem.data().to_numpy()["x"], 1e300)
    data = ROOT.RooDataSet.from_numpy({"x": values}, ROOT.RooArgSet(x), name="far_event")
    ROOT.SetOwnership(data, True)
    pdf = learned_pdf(ratio, [x], normalize=False)
    ws.var("mu").setVal(2.5)
    with caplog.at_level(logging.WARNING, logger="roosbi.roofit"):
        nll = create_nll(pdf, data)
    assert "1 of 501 events of 'far_event' have x outside the range 'learned_ratio' was trained on" in caplog.text
    assert "the most extreme at 1e+300" in caplog.text
    assert check_data_coverage(pdf, data) == {("learned_ratio", "x"): 1}  # mu is no column of the data
    with roofit_messages(capfd) as messages:
        nll.getVal()
    assert "input 'x' is evaluated at 1e+300" in messages.text
    assert list(ratio.inputsOutsideTrainingRange()) == [0]


def test_events_a_little_beyond_the_training_sample_are_fine(problem, torch_onnx, caplog):
    ws = problem.workspace
    x = ws.var("x")
    x.setMax(16.0)
    ratio = learned_ratio(torch_onnx, workspace=ws)
    hi = ratio.trainingMax()[0]
    assert hi < 15.0
    inside = hi + 0.5 * OBSERVABLE_MARGIN * (hi - ratio.trainingMin()[0])
    data = ROOT.RooDataSet.from_numpy({"x": np.array([0.0, 2.0, inside])}, ROOT.RooArgSet(x), name="near")
    ROOT.SetOwnership(data, True)
    with caplog.at_level(logging.WARNING, logger="roosbi.roofit"):
        assert check_data_coverage(learned_pdf(ratio, [x], normalize=False), data)[("learned_ratio", "x")] == 0
    assert "events of 'near'" not in caplog.text


def test_objects_without_ranges_evaluate_as_before_without_warning(problem, capfd):
    ws = problem.workspace
    x, mu = ws.var("x"), ws.var("mu")
    plain = ratio_from_network(_small_network(), [x, mu], name="plain", output="log_ratio")
    checked = ratio_from_network(
        _small_network(), [x, mu], name="checked", output="log_ratio", training_ranges={"x": (0, 1), "mu": (0, 1)}
    )
    assert not plain.hasTrainingRanges() and list(plain.trainingMin()) == []
    far = np.array([[1e3, 3.0], [-40.0, 2.0], [14.0, 0.5]])
    with roofit_messages(capfd) as messages:
        np.testing.assert_array_equal(evaluate_log_ratio(plain, far), evaluate_log_ratio(checked, far))
        np.testing.assert_array_equal(evaluate_log_ratio(plain, far), _small_network().log_ratio(far))
    assert messages.text.count(WARNING) == 2  # x and mu of 'checked', nothing from 'plain'
    assert "'checked'" in messages.text and "'plain'" not in messages.text
    assert not plain.outsideTrainingRange()
    assert list(checked.inputsOutsideTrainingRange()) == [0, 1]


def test_version_1_objects_read_with_no_ranges(capfd):
    """tests/data/learned_ratio_v1.root: written by RooLearnedRatio class version 1 (roosbi before ranges)."""
    load_library()
    f = ROOT.TFile.Open(str(DATA / "learned_ratio_v1.root"))
    w = f.Get("w")
    ratio = w.function("old_ratio")
    assert not ratio.hasTrainingRanges()
    mu = w.var("mu")
    mu.setMax(50.0)
    with roofit_messages(capfd) as messages:
        for value in (2.0, 40.0):
            mu.setVal(value)
            assert ratio.getVal() == pytest.approx(_small_network().log_ratio(np.array([[1.0, value]]))[0], rel=1e-14)
    assert WARNING not in messages.text
    assert not ratio.outsideTrainingRange()
    f.Close()


def test_ranges_survive_a_workspace_round_trip(problem, torch_onnx, tmp_path):
    ws = problem.workspace
    ratio = learned_ratio(torch_onnx, workspace=ws)
    ws.Import(ratio, Silence=True)
    path = tmp_path / "ws.root"
    ws.writeToFile(str(path))
    f = ROOT.TFile.Open(str(path))
    back = f.Get("w").function("learned_ratio")
    for getter in ("trainingMin", "trainingMax", "trainingMargins", "coveredMin", "coveredMax"):
        assert list(getattr(back, getter)()) == list(getattr(ratio, getter)()), getter
    f.Close()


def test_bad_training_ranges_are_refused(problem):
    ws = problem.workspace
    args = [ws.var("x"), ws.var("mu")]
    net = _small_network()
    for ranges, margins, match in [
        ({"mu": (1.0, 0.0)}, None, r"training_ranges\['mu'\] = \(1, 0\) is not a range"),
        ({"mu": (np.nan, 1.0)}, None, "is not a range"),
        ({"mu": (0.0, 1.0, 2.0)}, None, "must be a pair"),
        ({"mu": "ab"}, None, "must be a pair"),
        ({"nu": (0.0, 1.0)}, None, "'nu', which is not among the inputs"),
        ({"mu": (0.0, 1.0)}, {"mu": -0.1}, r"range_margins\['mu'\] = -0.1 must be a finite number >= 0"),
        ({"mu": (0.0, 1.0)}, {"mu": np.inf}, "must be a finite number"),
        (None, {"mu": 0.1}, "range_margins needs training_ranges"),
    ]:
        with pytest.raises(InputError, match=match):
            ratio_from_network(net, args, name="bad", training_ranges=ranges, range_margins=margins)
    # The C++ method checks on its own (for macros).
    ratio = ratio_from_network(net, args, name="direct")
    vec = ROOT.std.vector["double"]
    with pytest.raises(Exception, match="need one entry per input: 2 lower bounds"):
        ratio.setTrainingRanges(vec([0.0]), vec([1.0]))
    with pytest.raises(Exception, match=r"input 'mu': \[2, 1\] is not a range"):
        ratio.setTrainingRanges(vec([0.0, 2.0]), vec([1.0, 1.0]))
    with pytest.raises(Exception, match=r"input 'x': \[nan, 1\] is not a range"):
        ratio.setTrainingRanges(vec([np.nan, 0.0]), vec([1.0, 1.0]))
    with pytest.raises(Exception, match="margin -1 must be finite and >= 0"):
        ratio.setTrainingRanges(vec([0.0, 0.0]), vec([1.0, 1.0]), vec([0.0, -1.0]))
    assert not ratio.hasTrainingRanges()
    ratio.setTrainingRanges(vec([0.0, -np.inf]), vec([1.0, np.inf]))
    assert list(ratio.coveredMin()) == [-1e-9, -np.inf]
    ratio.setTrainingRanges(vec(), vec())
    assert not ratio.hasTrainingRanges()
