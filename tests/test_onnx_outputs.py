"""What an ONNX model's output holds (log r, probabilities, logits), and refusals that say what to do."""

import logging
import warnings

import numpy as np
import onnx
import pytest
import torch
from conftest import export_torch

from roosbi import annotate_model, learned_ratio
from roosbi.exceptions import InputError, UnsupportedModelError
from roosbi.library import import_root
from roosbi.onnx import load_model, onnxruntime_log_ratio, read_metadata, translate
from roosbi.roofit import evaluate_log_ratio

ROOT = import_root()


def _toy(n=3000, seed=0):
    """(x, mu) rows and labels: x ~ N(mu, 1.5) for y = 1, U(-5, 15) for y = 0."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.0, 4.0, n)
    y = rng.integers(0, 2, n)
    x = np.where(y == 1, rng.normal(mu, 1.5), rng.uniform(-5.0, 15.0, n))
    return np.column_stack([x, mu]).astype(np.float32).astype(np.float64), y  # float32-exact, as onnx sees them


def _skl2onnx(clf, path, zipmap=False):
    from skl2onnx import to_onnx

    sample = np.zeros((1, 2), dtype=np.float32)
    model = to_onnx(clf, sample, options={id(clf): {"zipmap": zipmap}}, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def boosted(tmp_path_factory):
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = _toy()
    clf = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    return clf, _skl2onnx(clf, tmp_path_factory.mktemp("gb") / "gb.onnx")


def _vars(tag, n=2):
    return [ROOT.RooRealVar(f"{tag}_{i}", "v", 0.0, -10.0, 20.0) for i in range(n)]


def _ort_values(ratio, args, rows):
    """getVal of a RooFit object at each row (the scalar path of the callback)."""
    out = []
    for row in rows:
        for arg, value in zip(args, row, strict=True):
            arg.setVal(value)
        out.append(ratio.getVal())
    return np.array(out)


def test_tree_ensemble_probabilities_give_log_p1_over_p0(boosted, caplog):
    clf, path = boosted
    x, _ = _toy(n=2000, seed=1)
    proba = clf.predict_proba(x)
    expected = np.log(proba[:, 1] / proba[:, 0])
    np.testing.assert_allclose(onnxruntime_log_ratio(path, x), expected, rtol=1e-5, atol=1e-5)
    args = _vars("gb")
    with caplog.at_level(logging.WARNING, logger="roosbi.roofit"):
        ratio = learned_ratio(path, inputs=args, name="gb_ort", backend="onnxruntime", output="log_ratio")
    np.testing.assert_allclose(_ort_values(ratio, args, x[:25]), expected[:25], rtol=1e-5, atol=1e-5)
    ratio_r = learned_ratio(path, inputs=args, name="gb_ort_r", backend="onnxruntime")
    assert ratio_r.getVal() == pytest.approx(proba[24, 1] / proba[24, 0], rel=1e-5)


def test_tree_ensemble_is_refused_by_the_native_backend(boosted):
    _, path = boosted
    with pytest.raises(UnsupportedModelError, match="tree ensemble") as err:
        learned_ratio(path, inputs=_vars("gbn"), name="gb_native")
    assert "'TreeEnsembleClassifier'" in str(err.value)
    assert str(err.value).endswith(
        'use learned_ratio(..., backend="onnxruntime"): a Python callback through '
        "onnxruntime, which cannot be saved in a workspace file or used from C++."
    )


def test_zipmap_output_is_refused_with_the_hint(boosted, tmp_path):
    clf, _ = boosted
    path = _skl2onnx(clf, tmp_path / "zipmap.onnx", zipmap=True)
    for call in (
        lambda: onnxruntime_log_ratio(path, np.zeros((3, 2))),
        lambda: learned_ratio(path, inputs=_vars("zm"), name="zm", backend="onnxruntime"),
        lambda: annotate_model(path, output="probabilities"),
    ):
        with pytest.raises(InputError, match=r"ZipMap.*\{\"zipmap\": False\}"):
            call()


def test_probabilities_of_zero_are_clipped_not_infinite(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    x, y = _toy()
    clf = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)  # deep trees: pure leaves
    path = _skl2onnx(clf, tmp_path / "forest.onnx")
    proba = clf.predict_proba(x)
    pure = (proba[:, 0] == 0) | (proba[:, 1] == 0)
    assert pure.any() and not pure.all()
    log_r = onnxruntime_log_ratio(path, x)
    assert np.all(np.isfinite(log_r))
    np.testing.assert_allclose(np.abs(log_r[pure]), -np.log(1e-300), rtol=1e-12)
    np.testing.assert_allclose(log_r[~pure], np.log(proba[~pure, 1] / proba[~pure, 0]), rtol=1e-5, atol=1e-5)


def _sigmoid_net(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1), torch.nn.Sigmoid())
    return net, export_torch(net, 2, tmp_path / "sigmoid.onnx")


def _logit(net, inputs):
    with torch.no_grad():
        return net[:-1](torch.as_tensor(inputs, dtype=torch.float32)).double().numpy()


def test_sigmoid_output_without_metadata_is_ambiguous(tmp_path):
    _, path = _sigmoid_net(tmp_path)
    for call in (
        lambda: learned_ratio(path, inputs=_vars("amb"), name="amb"),
        lambda: learned_ratio(path, inputs=_vars("amb_o"), name="amb_o", backend="onnxruntime"),
        lambda: translate(path),
        lambda: onnxruntime_log_ratio(path, np.zeros((2, 2))),
    ):
        with pytest.raises(InputError, match="ambiguous.*Sigmoid.*model_output='probability'.*annotate_model"):
            call()


def test_sigmoid_output_as_probability_gives_the_logit_on_both_backends(tmp_path):
    net, path = _sigmoid_net(tmp_path)
    inputs = np.random.default_rng(2).normal(scale=2.0, size=(200, 2))
    logit = _logit(net, inputs)[:, 0]
    native = learned_ratio(path, inputs=_vars("sg"), name="sg", output="log_ratio", model_output="probability")
    np.testing.assert_allclose(evaluate_log_ratio(native, inputs), logit, rtol=1e-5, atol=1e-5)
    stored = np.asarray(native.onnxBytes(), dtype=np.uint8).tobytes()
    assert read_metadata(stored)["output"] == "probability"  # the stored model says what its output holds
    args = _vars("sg_o")
    ort = learned_ratio(
        path, inputs=args, name="sg_o", output="log_ratio", backend="onnxruntime", model_output="probability"
    )
    # float32 probabilities: the logit is exact up to float32 rounding of p and 1 - p.
    np.testing.assert_allclose(_ort_values(ort, args, inputs[:20]), logit[:20], rtol=1e-4, atol=1e-4)
    with pytest.raises(InputError, match="model_output must be one of"):
        learned_ratio(path, inputs=_vars("sg_b"), name="sg_b", model_output="proba")


def test_values_outside_the_unit_interval_are_not_probabilities(tmp_path):
    torch.manual_seed(1)
    path = export_torch(torch.nn.Linear(2, 1), 2, tmp_path / "linear.onnx")  # a logit, not a probability
    inputs = np.random.default_rng(0).normal(scale=5.0, size=(50, 2))
    with pytest.raises(InputError, match="not probabilities"):
        onnxruntime_log_ratio(path, inputs, model_output="probability")
    with pytest.raises(UnsupportedModelError, match="ends in a Sigmoid"):
        translate(path, output="probability")


def test_two_class_softmax(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2), torch.nn.Softmax(dim=1))
    path = export_torch(net, 2, tmp_path / "softmax.onnx")
    inputs = np.random.default_rng(3).normal(scale=2.0, size=(200, 2))
    logits = _logit(net, inputs)
    expected = logits[:, 1] - logits[:, 0]  # log(p1 / p0)
    with pytest.raises(InputError, match="ambiguous.*Softmax.*'probabilities'"):
        learned_ratio(path, inputs=_vars("smx"), name="smx")
    with pytest.raises(InputError, match="ambiguous"):
        learned_ratio(path, inputs=_vars("smx_o"), name="smx_o", backend="onnxruntime")
    native = learned_ratio(path, inputs=_vars("sm"), name="sm", output="log_ratio", model_output="probabilities")
    assert native.layerSizes()[-1] == 1
    np.testing.assert_allclose(evaluate_log_ratio(native, inputs), expected, rtol=1e-5, atol=1e-5)
    args = _vars("sm_o")
    ort = learned_ratio(
        path, inputs=args, name="sm_o", output="log_ratio", backend="onnxruntime", model_output="probabilities"
    )
    np.testing.assert_allclose(_ort_values(ort, args, inputs[:20]), expected[:20], rtol=1e-4, atol=1e-4)
    # The same network without its Softmax: two logits.
    bare = export_torch(net[:-1], 2, tmp_path / "logits.onnx")
    np.testing.assert_allclose(translate(bare, output="logits").log_ratio(inputs), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(onnxruntime_log_ratio(bare, inputs, model_output="logits"), expected, atol=1e-5)
    with pytest.raises(InputError, match="needs 1 column"):
        onnxruntime_log_ratio(bare, inputs, model_output="log_ratio")


def test_annotate_model_round_trip(tmp_path, boosted):
    net, path = _sigmoid_net(tmp_path)
    original = load_model(path)
    proto = annotate_model(
        original, output="probability", inputs=["x", "mu"], parameters=["mu"], parameter_ranges={"mu": (0, 4)}
    )
    assert not read_metadata(original)  # the given ModelProto is left alone
    meta = read_metadata(proto)
    assert meta["output"] == "probability" and meta["inputs"] == ["x", "mu"]
    assert meta["parameters"] == ["mu"] and meta["observables"] == ["x"] and meta["parameter_ranges"] == {"mu": [0, 4]}
    annotate_model(path, output="probability", inputs=["x", "mu"])  # in place, atomically
    assert read_metadata(path)["output"] == "probability"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sigmoid.onnx"]  # no temporary file left
    ws = ROOT.RooWorkspace("annot")
    ws.factory("x[0, -5, 15]")
    ws.factory("mu[1, 0, 4]")
    ratio = learned_ratio(path, workspace=ws, name="annotated", output="log_ratio")  # no inputs, no model_output
    assert ratio.getVal() == pytest.approx(_logit(net, [[0.0, 1.0]])[0, 0], rel=1e-5, abs=1e-6)
    # A classifier with a label output: the probabilities are found and recorded.
    _, gb = boosted
    copy = annotate_model(gb, output="probabilities", inputs=["x", "mu"], path=tmp_path / "gb.onnx")
    assert (
        read_metadata(tmp_path / "gb.onnx")["output_tensor"] == "probabilities" == read_metadata(copy)["output_tensor"]
    )


def test_annotate_model_refuses_what_does_not_fit(tmp_path):
    _, path = _sigmoid_net(tmp_path)
    with pytest.raises(InputError, match="output must be one of"):
        annotate_model(path, output="logit")
    with pytest.raises(InputError, match="takes 2 inputs"):
        annotate_model(path, output="probability", inputs=["x"])
    with pytest.raises(InputError, match="needs 2 column"):
        annotate_model(path, output="probabilities")
    with pytest.raises(InputError, match="not a graph output"):
        annotate_model(path, output="probability", output_tensor="nope")
    with pytest.raises(InputError, match="not among the inputs"):
        annotate_model(path, output="probability", inputs=["x", "mu"], parameters=["nu"])
    assert not read_metadata(path)  # nothing written


def test_empty_file_and_bytes_are_called_empty(tmp_path, problem):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"is empty \(0 bytes\)"):
        learned_ratio(empty, workspace=problem.workspace)
    with pytest.raises(InputError, match=r"bytes are empty"):
        translate(b"")
    no_graph = tmp_path / "nograph.onnx"
    no_graph.write_bytes(onnx.ModelProto(ir_version=8, producer_name="x").SerializeToString())
    with pytest.raises(InputError, match="holds no graph"):
        learned_ratio(no_graph, workspace=problem.workspace)
    with pytest.raises(InputError, match="holds no graph"):
        read_metadata(onnx.ModelProto(ir_version=8).SerializeToString())


class _Conv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.out = torch.nn.Conv1d(1, 4, 2), torch.nn.Linear(4, 1)

    def forward(self, inputs):
        return self.out(torch.tanh(self.conv(inputs.unsqueeze(1))).mean(-1))


class _LSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.out = torch.nn.LSTM(1, 4, batch_first=True), torch.nn.Linear(4, 1)

    def forward(self, inputs):
        seq, _ = self.lstm(inputs.unsqueeze(-1))
        return self.out(seq[:, -1])


@pytest.mark.parametrize(("module", "op", "kind"), [(_Conv, "Conv", "convolutional"), (_LSTM, "LSTM", "recurrent")])
def test_conv_and_lstm_are_refused_by_name(module, op, kind, tmp_path):
    torch.manual_seed(0)
    net = module()
    with warnings.catch_warnings():  # the tracer's warnings about the LSTM's batch size and shapes
        warnings.simplefilter("ignore")
        path = export_torch(net, 2, tmp_path / f"{op}.onnx")
    with pytest.raises(UnsupportedModelError) as err:
        translate(path)
    message = str(err.value)
    assert f"operator '{op}'" in message and f"a {kind} network" in message
    assert "first operator that is not a dense-layer building block is ONNX operator 'Unsqueeze'" in message
    assert 'backend="onnxruntime"' in message
    # ... and the onnxruntime backend evaluates it (its output comes from a Gemm: a logit).
    args = _vars(f"{op}_o")
    ratio = learned_ratio(path, inputs=args, name=f"{op}_o", output="log_ratio", backend="onnxruntime")
    rows = np.array([[0.5, 1.5], [-2.0, 3.0]])
    with torch.no_grad():
        expected = net(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()[:, 0]
    np.testing.assert_allclose(_ort_values(ratio, args, rows), expected, rtol=1e-5, atol=1e-6)


def test_every_translator_refusal_suggests_onnxruntime(tmp_path):
    torch.manual_seed(0)
    refused = [
        torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Hardtanh(), torch.nn.Linear(4, 1)),  # Clip
        torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(4, 1)),
        torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Softmax(dim=1), torch.nn.Linear(4, 1)),  # inside
    ]
    for i, net in enumerate(refused):
        with pytest.raises(UnsupportedModelError) as err:
            translate(export_torch(net, 2, tmp_path / f"r{i}.onnx"))
        assert str(err.value).count('backend="onnxruntime"') == 1, str(err.value)
    with pytest.raises(UnsupportedModelError, match='Sigmoid.*backend="onnxruntime"'):
        translate(export_torch(torch.nn.Linear(2, 1), 2, tmp_path / "l.onnx"), output="probability")
