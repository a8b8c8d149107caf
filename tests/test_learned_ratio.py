"""RooLearnedRatio (C++) against onnxruntime, inside RooFit, and through a workspace file."""

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ACTS, exact_log_ratio, export_torch

from roosbi.exceptions import InputError, UnsupportedModelError
from roosbi.inference import create_nll
from roosbi.library import import_root
from roosbi.onnx import onnxruntime_log_ratio
from roosbi.roofit import evaluate_log_ratio, export_onnx, learned_pdf, learned_ratio

ROOT = import_root()


_cpp_log_ratio = evaluate_log_ratio


def test_cpp_agrees_with_onnxruntime(problem, torch_onnx):
    ratio = learned_ratio(torch_onnx, workspace=problem.workspace)
    rng = np.random.default_rng(2)
    inputs = np.column_stack([rng.uniform(-5, 15, 10_000), rng.uniform(0, 4, 10_000)])
    cpp = np.exp(_cpp_log_ratio(ratio, inputs))
    ort = np.exp(onnxruntime_log_ratio(torch_onnx, inputs))
    np.testing.assert_allclose(cpp, ort, rtol=1e-5)


def test_scalar_and_batch_paths_agree(problem, torch_onnx):
    ws = problem.workspace
    ratio = learned_ratio(torch_onnx, workspace=ws)
    x, mu = ws.var("x"), ws.var("mu")
    for xv, mv in [(0.3, 1.1), (2.5, 2.5), (9.0, 3.9)]:
        x.setVal(xv)
        mu.setVal(mv)
        assert ratio.getVal() == pytest.approx(np.exp(_cpp_log_ratio(ratio, np.array([[xv, mv]]))[0]), rel=1e-13)
    pdf = learned_pdf(ratio, [x], ws.pdf("uniform"))
    data = problem.data()
    mu.setVal(2.2)
    batch = pdf.createNLL(data, EvalBackend="cpu").getVal()
    scalar = pdf.createNLL(data, EvalBackend="legacy").getVal()
    assert batch == pytest.approx(scalar, rel=1e-12)


def test_learned_nll_is_minus_sum_log_r(problem, torch_onnx):
    ws = problem.workspace
    ratio = learned_ratio(torch_onnx, workspace=ws)
    pdf = learned_pdf(ratio, [ws.var("x")], normalize=False)
    xs = problem.data().to_numpy()["x"]
    for mu in (1.7, 2.5):
        ws.var("mu").setVal(mu)
        logr = _cpp_log_ratio(ratio, np.column_stack([xs, np.full_like(xs, mu)]))
        assert create_nll(pdf, problem.data()).getVal() == pytest.approx(-logr.sum(), rel=1e-10)


def test_integral_over_x_is_exact_and_smooth(problem, torch_onnx):
    ws = problem.workspace
    ratio = learned_ratio(torch_onnx, workspace=ws)
    x = ws.var("x")
    grid = np.linspace(-5, 15, 400_001)
    integral = ratio.createIntegral(ROOT.RooArgSet(x))
    values = []
    for mu in (2.5, 2.5 + 1e-7):
        ws.var("mu").setVal(mu)
        r = np.exp(_cpp_log_ratio(ratio, np.column_stack([grid, np.full_like(grid, mu)])))
        values.append(integral.getVal())
        assert values[-1] == pytest.approx(np.trapezoid(r, grid), rel=1e-8)
    # A fixed rule: a tiny step in mu gives a tiny, smooth change (Minuit differentiates this).
    assert abs(values[1] - values[0]) < 1e-5 * values[0]


def test_learned_ratio_is_close_to_the_exact_one(problem, torch_onnx):
    ratio = learned_ratio(torch_onnx, workspace=problem.workspace)
    x = np.linspace(-0.5, 5.5, 41)
    logr = _cpp_log_ratio(ratio, np.column_stack([x, np.full_like(x, 2.5)]))
    assert np.max(np.abs(logr - exact_log_ratio(x, 2.5))) < 0.15


def test_workspace_round_trip_in_a_fresh_process(problem, torch_onnx, tmp_path):
    ws = problem.workspace
    ratio = learned_ratio(torch_onnx, workspace=ws)
    pdf = learned_pdf(ratio, [ws.var("x")], ws.pdf("uniform"))
    ws.Import(pdf, Silence=True)
    ws.var("mu").setVal(2.3)
    expected = create_nll(ws.pdf("learned_pdf"), problem.data()).getVal()
    path = tmp_path / "ws.root"
    ws.writeToFile(str(path))
    code = textwrap.dedent(f"""
        import warnings; warnings.simplefilter("ignore")
        import ROOT
        from roosbi.library import load_library
        load_library()
        f = ROOT.TFile.Open("{path}")
        w = f.Get("w")
        w.var("mu").setVal(2.3)
        nll = w.pdf("learned_pdf").createNLL(w.data("obs_data"), ROOT.RooFit.Offset("none"))
        print(repr(nll.getVal()))
        w.function("learned_ratio").writeOnnx("{tmp_path / "back.onnx"}")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-12)
    assert (tmp_path / "back.onnx").read_bytes() == torch_onnx.read_bytes()


def test_onnx_bytes_export_back_out(problem, torch_onnx, tmp_path):
    ratio = learned_ratio(torch_onnx, workspace=problem.workspace)
    export_onnx(ratio, tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == torch_onnx.read_bytes()


def test_output_modes(problem, torch_onnx):
    ws = problem.workspace
    ws.var("x").setVal(2.0)
    ws.var("mu").setVal(2.0)
    r = learned_ratio(torch_onnx, workspace=ws, name="r").getVal()
    logr = learned_ratio(torch_onnx, workspace=ws, name="logr", output="log_ratio").getVal()
    score = learned_ratio(torch_onnx, workspace=ws, name="s", output="score").getVal()
    assert logr == pytest.approx(np.log(r), rel=1e-12)
    assert score == pytest.approx(r / (1 + r), rel=1e-12)


def test_input_count_mismatch_is_refused(problem, torch_onnx):
    with pytest.raises(InputError, match="takes 2 inputs but 1 RooFit inputs"):
        learned_ratio(torch_onnx, inputs=["x"], workspace=problem.workspace)


def test_unknown_input_name_is_refused(problem, torch_onnx):
    with pytest.raises(InputError, match="no variable or function named 'y'"):
        learned_ratio(torch_onnx, inputs=["y", "mu"], workspace=problem.workspace)


def test_unsupported_graph_is_refused_before_cpp(problem, tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Hardtanh(), torch.nn.Linear(4, 1))
    path = tmp_path / "hard.onnx"
    torch.onnx.export(net, torch.zeros(1, 2), str(path), dynamo=False, input_names=["inputs"], opset_version=17)
    with pytest.raises(UnsupportedModelError, match="operator 'Clip'"):
        learned_ratio(path, inputs=["x", "mu"], workspace=problem.workspace)


def test_cpp_constructor_checks_shapes(problem):
    ws = problem.workspace
    from roosbi.library import load_library

    load_library()
    args = ROOT.RooArgList(ws.var("x"), ws.var("mu"))
    vec = ROOT.std.vector
    with pytest.raises(Exception, match="do not match the layer sizes"):
        ROOT.RooLearnedRatio(
            "bad",
            "bad",
            args,
            vec["int"]([2, 3, 1]),
            vec["double"]([0.0] * 5),
            vec["double"]([0.0] * 4),
            vec["int"]([1, 0]),
            vec["double"]([0.0, 0.0]),
            vec["std::uint8_t"](),
            0,
        )


def test_training_range_warning(problem, torch_onnx, caplog):
    problem.workspace.var("mu").setMax(6.0)
    with caplog.at_level(logging.WARNING, logger="roosbi.roofit"):
        learned_ratio(torch_onnx, workspace=problem.workspace)
    assert "trained on [0, 4]" in caplog.text


def test_python_side_checks_shapes_before_cpp(problem, torch_onnx):
    ratio = learned_ratio(torch_onnx, workspace=problem.workspace)
    with pytest.raises(InputError, match=r"shape \(n, 2\)"):
        evaluate_log_ratio(ratio, np.zeros((5, 3)))
    assert evaluate_log_ratio(ratio, np.zeros((0, 2))).shape == (0,)


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "leaky_relu", "elu", "selu", "softplus", "silu", "gelu"])
def test_cpp_agrees_with_onnxruntime_for_every_activation(act, tmp_path):
    import torch

    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 24), ACTS[act], torch.nn.Linear(24, 16), ACTS[act], torch.nn.Linear(16, 1)
    )
    path = export_torch(net, 3, tmp_path / f"{act}.onnx")
    args = [ROOT.RooRealVar(f"v{i}_{act}", "v", 0.0, -10.0, 10.0) for i in range(3)]
    ratio = learned_ratio(path, inputs=args, name=f"r_{act}", output="log_ratio")
    inputs = np.random.default_rng(4).normal(scale=3.0, size=(2000, 3))
    np.testing.assert_allclose(
        evaluate_log_ratio(ratio, inputs), onnxruntime_log_ratio(path, inputs), rtol=1e-5, atol=1e-5
    )
    for i, arg in enumerate(args):  # the scalar path, through RooFit's proxies
        arg.setVal(inputs[7, i])
    assert ratio.getVal() == pytest.approx(evaluate_log_ratio(ratio, inputs[7:8])[0], rel=1e-13, abs=1e-13)


def test_threads_give_the_same_numbers(problem, torch_onnx):
    ratio = learned_ratio(torch_onnx, workspace=problem.workspace)
    inputs = np.random.default_rng(5).uniform([-5, 0], [15, 4], size=(50_001, 2))
    single = evaluate_log_ratio(ratio, inputs)
    ROOT.RooLearnedRatio.setNumThreads(3)
    try:
        assert ROOT.RooLearnedRatio.numThreads() == 3
        np.testing.assert_array_equal(evaluate_log_ratio(ratio, inputs), single)
    finally:
        ROOT.RooLearnedRatio.setNumThreads(1)


def test_temporaries_stay_alive(problem, torch_onnx):
    """RooFit proxies hold raw pointers; objects made inline must not dangle (no crash)."""
    import gc

    ws = problem.workspace
    x = ws.var("x")
    inputs = [ROOT.RooRealVar("x_tmp", "x", 2.0, -5, 15), ROOT.RooRealVar("mu_tmp", "mu", 2.0, 0, 4)]
    ratio = learned_ratio(torch_onnx, inputs=inputs, name="r_tmp")
    del inputs
    gauss_ref = ROOT.RooGaussian("g_tmp", "g", x, ROOT.RooFit.RooConst(5.0), ROOT.RooFit.RooConst(8.0))
    pdf = learned_pdf(learned_ratio(torch_onnx, workspace=ws, name="r_inline"), [x], gauss_ref)
    del gauss_ref
    gc.collect()
    assert np.isfinite(ratio.getVal())
    assert np.isfinite(create_nll(pdf, problem.data()).getVal())


def test_onnxruntime_backend_for_graphs_the_translator_refuses(problem, tmp_path, caplog):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Hardtanh(), torch.nn.Linear(8, 1))
    path = export_torch(net, 2, tmp_path / "clip.onnx")
    ws = problem.workspace
    with caplog.at_level(logging.WARNING, logger="roosbi.roofit"):
        ratio = learned_ratio(path, inputs=["x", "mu"], workspace=ws, backend="onnxruntime", output="log_ratio")
    assert "cannot be saved" in caplog.text
    ws.var("x").setVal(1.3)
    ws.var("mu").setVal(2.2)
    expected = onnxruntime_log_ratio(path, np.array([[1.3, 2.2]]))[0]
    assert ratio.getVal() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(InputError, match="backend"):
        learned_ratio(path, inputs=["x", "mu"], workspace=ws, backend="tvm")
    # Through a fit: RooFit's batch path calls the callback with whole columns.
    bound = learned_ratio(path, inputs=["x", "mu"], workspace=ws, backend="onnxruntime", name="r_ort")
    native_like = np.exp(
        onnxruntime_log_ratio(path, np.column_stack([problem.data().to_numpy()["x"], np.full(500, 2.2)]))
    )
    pdf = learned_pdf(bound, [ws.var("x")], normalize=False)
    ws.var("mu").setVal(2.2)
    assert create_nll(pdf, problem.data()).getVal() == pytest.approx(-np.log(native_like).sum(), rel=1e-6)


def test_inputs_can_be_functions_of_roofit_variables(problem, torch_onnx):
    """Any RooAbsReal can feed the network: here mu = 2 * nu, with nu the fitted parameter."""
    ws = problem.workspace
    nu = ROOT.RooRealVar("nu", "nu", 1.1, 0.0, 2.0)
    mu_of_nu = ROOT.RooFormulaVar("mu_of_nu", "2 * nu", ROOT.RooArgList(nu))
    ratio = learned_ratio(torch_onnx, inputs=[ws.var("x"), mu_of_nu], name="r_func")
    pdf = learned_pdf(ratio, [ws.var("x")], ws.pdf("uniform"))
    data = problem.data()
    xs = data.to_numpy()["x"]
    logr = evaluate_log_ratio(ratio, np.column_stack([xs, np.full_like(xs, 2.2)]))
    integral = ratio.createIntegral(ROOT.RooArgSet(ws.var("x")))
    expected = -logr.sum() + len(xs) * np.log(integral.getVal())
    assert create_nll(pdf, data).getVal() == pytest.approx(expected, rel=1e-10)
