"""The ONNX translator: agreement with onnxruntime, supported patterns and clear refusals."""

import numpy as np
import onnx
import pytest
import torch
from conftest import ACTS, export_torch
from onnx import TensorProto, helper, numpy_helper

from roosbi.exceptions import InputError, UnsupportedModelError
from roosbi.onnx import onnxruntime_log_ratio, read_metadata, translate


@pytest.mark.parametrize("act", sorted(ACTS))
def test_every_activation_translates_exactly(act, tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 16), ACTS[act], torch.nn.Linear(16, 8), ACTS[act], torch.nn.Linear(8, 1)
    )
    path = export_torch(net, 3, tmp_path / "m.onnx")
    inputs = np.random.default_rng(1).normal(scale=2.0, size=(500, 3))
    network = translate(path)
    assert network.layer_sizes == [3, 16, 8, 1]
    expected = "silu" if act == "silu" else act
    assert network.activations == [expected, expected, "identity"]
    np.testing.assert_allclose(network.log_ratio(inputs), onnxruntime_log_ratio(path, inputs), rtol=1e-5, atol=1e-5)


def test_estimator_export_records_metadata(torch_onnx):
    meta = read_metadata(torch_onnx)
    assert meta["inputs"] == ["x", "mu"] and meta["parameters"] == ["mu"]
    assert meta["parameter_ranges"] == {"mu": [0.0, 4.0]}
    assert meta["estimator"] == "torch" and meta["output"] == "log_ratio" and "version" in meta


def _graph(nodes, inits, n_in=2):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("inputs", TensorProto.FLOAT, [None, n_in])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_operator_is_named():
    model = _graph(
        [
            helper.make_node("Gemm", ["inputs", "W", "b"], ["h"], transB=1),
            helper.make_node("Sin", ["h"], ["s"]),
            helper.make_node("Gemm", ["s", "W2", "b2"], ["out"], transB=1),
        ],
        {"W": np.ones((4, 2)), "b": np.zeros(4), "W2": np.ones((1, 4)), "b2": np.zeros(1)},
    )
    with pytest.raises(UnsupportedModelError, match="operator 'Sin'"):
        translate(model)


def test_skip_connection_is_refused():
    model = _graph(
        [
            helper.make_node("Gemm", ["inputs", "W", "b"], ["h"], transB=1),
            helper.make_node("Tanh", ["h"], ["t"]),
            helper.make_node("Add", ["h", "t"], ["s"]),
            helper.make_node("Gemm", ["s", "W2", "b2"], ["out"], transB=1),
        ],
        {"W": np.ones((4, 2)), "b": np.zeros(4), "W2": np.ones((1, 4)), "b2": np.zeros(1)},
    )
    with pytest.raises(UnsupportedModelError, match="feeds"):
        translate(model)


def test_affine_nodes_fold_into_layers(tmp_path):
    rng = np.random.default_rng(3)
    w, w2 = rng.normal(size=(2, 5)), rng.normal(size=(5, 1))
    model = _graph(
        [
            helper.make_node("Sub", ["inputs", "m"], ["a"]),
            helper.make_node("Div", ["a", "s"], ["z"]),
            helper.make_node("MatMul", ["z", "W"], ["h"]),
            helper.make_node("Add", ["h", "b"], ["h2"]),
            helper.make_node("Elu", ["h2"], ["e"], alpha=0.5),
            helper.make_node("MatMul", ["e", "W2"], ["o"]),
            helper.make_node("Mul", ["o", "k"], ["out"]),
        ],
        {"m": [1.0, -2.0], "s": [2.0, 0.5], "W": w, "b": rng.normal(size=5), "W2": w2, "k": [3.0]},
    )
    onnx.checker.check_model(model)
    inputs = rng.normal(size=(100, 2))
    net = translate(model)
    assert net.layer_sizes == [2, 5, 1] and net.activations == ["elu", "identity"]
    np.testing.assert_allclose(net.log_ratio(inputs), onnxruntime_log_ratio(model, inputs), rtol=1e-5, atol=1e-5)


def test_score_output_drops_the_final_sigmoid(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1), torch.nn.Sigmoid())
    path = export_torch(net, 2, tmp_path / "s.onnx")
    inputs = np.random.default_rng(0).normal(size=(50, 2))
    logit = onnxruntime_log_ratio(path, inputs, model_output="probability")  # log(score / (1 - score))
    np.testing.assert_allclose(translate(path, output="score").log_ratio(inputs), logit, rtol=1e-4, atol=1e-4)
    with pytest.raises(UnsupportedModelError, match="Sigmoid"):
        translate(export_torch(torch.nn.Linear(2, 1), 2, tmp_path / "l.onnx"), output="score")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        translate(tmp_path / "nope.onnx")
