"""Random networks and random ONNX graphs.

- the C++ kernel against float64 numpy on random dense networks of every activation and shape;
- each activation against its float64 definition to 1e-14 relative;
- the translator against onnxruntime on random valid graphs written the ways exporters write them;
- random corruptions of those graphs: each is either refused with a roosbi error or, when it is
  still a valid network, translated to what onnxruntime computes. Nothing else may happen.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from roosbi.exceptions import InputError, RoosbiError, UnsupportedModelError
from roosbi.inference import create_nll
from roosbi.library import import_root
from roosbi.onnx import ACTIVATION_CODES, DenseNetwork, onnxruntime_log_ratio, translate
from roosbi.roofit import evaluate_log_ratio, learned_pdf, ratio_from_network

ROOT = import_root()

PARAMS = {"leaky_relu": (0.01, 0.3), "elu": (0.5, 1.5)}


def _variables(n: int, tag: str) -> list:
    return [ROOT.RooRealVar(f"{tag}_{i}", f"{tag}_{i}", 0.0, -100.0, 100.0) for i in range(n)]


def random_network(rng, n_inputs=None) -> DenseNetwork:
    n_inputs = n_inputs or int(rng.integers(1, 6))
    sizes = [n_inputs, *rng.integers(1, 70, size=int(rng.integers(1, 5))).tolist(), 1]
    net = DenseNetwork([], [], [], [])
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        kind = str(rng.choice(list(ACTIVATION_CODES))) if layer + 2 < len(sizes) else "identity"
        net.weights.append(rng.normal(size=(n_out, n_in)) * 1.5 / np.sqrt(n_in))
        net.biases.append(rng.normal(scale=0.5, size=n_out))
        net.activations.append(kind)
        net.activation_params.append(float(rng.uniform(*PARAMS[kind])) if kind in PARAMS else 0.0)
    return net


@pytest.mark.parametrize("seed", range(16))
def test_random_networks_match_float64_numpy(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    ratio = ratio_from_network(net, _variables(net.layer_sizes[0], f"n{seed}"), name=f"rn{seed}", output="log_ratio")
    inputs = rng.normal(scale=3.0, size=(1000 + 37 * seed, net.layer_sizes[0]))  # partial last blocks
    np.testing.assert_allclose(evaluate_log_ratio(ratio, inputs), net.log_ratio(inputs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_random_networks_inside_roofit_with_constant_parameters(seed):
    """RooFit's batch path, where parameters are single values folded into the first layer."""
    rng = np.random.default_rng(100 + seed)
    n_obs, n_par = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    net = random_network(rng, n_inputs=n_obs + n_par)
    obs, pars = _variables(n_obs, f"o{seed}"), _variables(n_par, f"p{seed}")
    ratio = ratio_from_network(net, obs + pars, name=f"rp{seed}")
    pdf = learned_pdf(ratio, obs, normalize=False)
    xs = rng.normal(size=(777, n_obs))
    data = ROOT.RooDataSet.from_numpy({v.GetName(): xs[:, i] for i, v in enumerate(obs)}, ROOT.RooArgSet(*obs))
    theta = rng.normal(size=n_par)
    for par, value in zip(pars, theta, strict=True):
        par.setVal(value)
    expected = -net.log_ratio(np.column_stack([xs, np.tile(theta, (len(xs), 1))])).sum()
    assert create_nll(pdf, data).getVal() == pytest.approx(expected, rel=1e-11, abs=1e-9)


@pytest.mark.parametrize("kind", sorted(ACTIVATION_CODES))
def test_each_activation_matches_its_float64_definition(kind):
    param = {"leaky_relu": 0.1, "elu": 0.8}.get(kind, 0.0)
    net = DenseNetwork([np.ones((1, 1)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)], [kind, "identity"], [param, 0])
    ratio = ratio_from_network(net, _variables(1, f"a_{kind}"), name=f"act_{kind}", output="log_ratio")
    tiny = np.array([1e-300, 1e-30, 1e-12, 1e-8, 1e-5, 1e-3, 2e-3, 0.01, 0.1])
    z = np.concatenate([np.linspace(-40.0, 40.0, 8001), tiny, -tiny, [0.0, 700.0, -700.0]])
    if kind == "gelu":  # x Phi(x) is ill-conditioned in its far tail (condition ~ x^2) in any implementation
        z = z[z > -6.0]
    np.testing.assert_allclose(evaluate_log_ratio(ratio, z[:, None]), net.log_ratio(z[:, None]), rtol=1e-14, atol=0)
    assert np.isnan(evaluate_log_ratio(ratio, np.array([[np.nan], [1.0]]))[0])  # NaN propagates, as in torch


def test_non_finite_weights_are_refused_before_cpp():
    net = DenseNetwork([np.array([[np.nan]])], [np.zeros(1)], ["identity"], [0.0])
    with pytest.raises(InputError, match="NaN or Inf"):
        ratio_from_network(net, _variables(1, "nan"))


# ----------------------------------------------------------------------------- ONNX graphs

_ONNX_ACTIVATIONS = ["Tanh", "Relu", "Sigmoid", "LeakyRelu", "Elu", "Selu", "Softplus", "Gelu", "silu", "erf_gelu"]


class _GraphWriter:
    """Writes a random MLP as an ONNX graph, choosing among the forms exporters produce."""

    def __init__(self, rng):
        self.rng, self.nodes, self.inits, self.count = rng, [], {}, 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value) -> str:
        name = self.name("c")
        self.inits[name] = np.asarray(value, dtype=np.float32)
        return name

    def node(self, op: str, inputs: list, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def dense(self, x: str, n_in: int, n_out: int) -> str:
        w = self.rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
        b = self.rng.normal(scale=0.3, size=n_out)
        form = self.rng.integers(4)
        if form == 0:
            return self.node("Gemm", [x, self.const(w), self.const(b)], transB=1)
        if form == 1:
            return self.node("Gemm", [x, self.const(w.T), self.const(b)], alpha=0.5, beta=2.0)
        h = self.node("MatMul", [x, self.const(w.T)])
        return self.node("Add", [h, self.const(b)] if form == 2 else [self.const(b), h])

    def activation(self, x: str, op: str) -> str:
        if op == "silu":
            return self.node("Mul", [x, self.node("Sigmoid", [x])])
        if op == "erf_gelu":
            erf = self.node("Erf", [self.node("Div", [x, self.const(np.sqrt(2.0))])])
            product = self.node("Mul", [x, self.node("Add", [erf, self.const(1.0)])])
            return self.node("Mul", [product, self.const(0.5)])
        attrs = {"LeakyRelu": {"alpha": 0.2}, "Elu": {"alpha": 0.7}}.get(op, {})
        return self.node(op, [x], **attrs)

    def model(self, output: str, n_in: int, n_out: int = 1) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [output], ["out"], name="final"))
        graph = helper.make_graph(
            self.nodes,
            "fuzz",
            [helper.make_tensor_value_info("inputs", TensorProto.FLOAT, [None, n_in])],
            [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, n_out])],
            [numpy_helper.from_array(v, k) for k, v in self.inits.items()],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def random_graph(rng) -> tuple[onnx.ModelProto, int]:
    writer = _GraphWriter(rng)
    n_in = int(rng.integers(1, 5))
    x = "inputs"
    if rng.random() < 0.5:  # standardisation in front, as skl2onnx and roosbi's exports write it
        x = writer.node("Div", [writer.node("Sub", [x, writer.const(rng.normal(size=n_in))]), writer.const([1.5])])
    width = n_in
    for _ in range(int(rng.integers(1, 4))):
        out = int(rng.integers(1, 20))
        x = writer.dense(x, width, out)
        if rng.random() < 0.3:  # operators that do nothing at inference
            op = str(rng.choice(["Identity", "Dropout", "Cast"]))
            x = writer.node(op, [x], **({"to": TensorProto.FLOAT} if op == "Cast" else {}))
        x = writer.activation(x, str(rng.choice(_ONNX_ACTIVATIONS)))
        width = out
    x = writer.dense(x, width, 1)
    if rng.random() < 0.3:
        x = writer.node("Mul", [x, writer.const([0.8])])
    return writer.model(x, n_in), n_in


@pytest.mark.parametrize("seed", range(20))
def test_random_valid_graphs_translate_to_what_onnxruntime_computes(seed):
    rng = np.random.default_rng(seed)
    model, n_in = random_graph(rng)
    onnx.checker.check_model(model)
    inputs = rng.normal(scale=2.0, size=(300, n_in))
    np.testing.assert_allclose(
        translate(model).log_ratio(inputs), onnxruntime_log_ratio(model, inputs), rtol=1e-4, atol=1e-4
    )


def _mutate(model: onnx.ModelProto, rng) -> onnx.ModelProto:
    """One random corruption of a graph."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    graph_nodes = graph.node
    choice = rng.integers(8)
    i = int(rng.integers(len(graph_nodes)))
    if choice == 0:  # an operator the translator does not know
        graph_nodes[i].op_type = str(rng.choice(["Sin", "Abs", "Exp", "HardSigmoid", "Softmax", "Clip", "Conv"]))
    elif choice == 1:  # a node goes missing
        del graph_nodes[i]
    elif choice == 2:  # a node reads a tensor from elsewhere in the graph (branch or cycle)
        j = int(rng.integers(len(graph_nodes)))
        graph_nodes[i].input[0] = graph_nodes[j].output[0]
    elif choice == 3:  # a weight of the wrong shape
        k = int(rng.integers(len(graph.initializer)))
        value = numpy_helper.to_array(graph.initializer[k])
        value = np.concatenate([np.atleast_1d(value), np.atleast_1d(value)[:1]])
        graph.initializer[k].CopyFrom(numpy_helper.from_array(value, graph.initializer[k].name))
    elif choice == 4:  # a second input
        graph.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [None, 1]))
    elif choice == 5:  # an input of the wrong rank
        graph.input[0].CopyFrom(helper.make_tensor_value_info("inputs", TensorProto.FLOAT, [None, 2, 2]))
    elif choice == 6:  # a non-finite weight
        k = int(rng.integers(len(graph.initializer)))
        value = numpy_helper.to_array(graph.initializer[k]).copy()
        value.flat[0] = np.inf
        graph.initializer[k].CopyFrom(numpy_helper.from_array(value, graph.initializer[k].name))
    else:  # inputs of a node swapped
        node = graph_nodes[i]
        node.input[:] = list(reversed(node.input))
    return model


@pytest.mark.parametrize("seed", range(60))
def test_corrupted_graphs_are_refused_or_translated_exactly(seed):
    rng = np.random.default_rng(1000 + seed)
    model, n_in = random_graph(rng)
    broken = _mutate(model, rng)
    try:
        net = translate(broken)
        ratio = ratio_from_network(net, _variables(net.layer_sizes[0], f"m{seed}"), name=f"mut{seed}")
    except RoosbiError as err:
        assert str(err)
        return
    # Still a network: it must compute what onnxruntime computes, where onnxruntime can run it.
    inputs = rng.normal(size=(50, net.layer_sizes[0]))
    try:
        expected = onnxruntime_log_ratio(broken, inputs)
    except Exception:
        pytest.skip("onnxruntime rejects this graph too, while the translator accepts it")
    np.testing.assert_allclose(np.exp(evaluate_log_ratio(ratio, inputs)), np.exp(expected), rtol=1e-4, atol=1e-6)


def test_garbage_bytes_are_not_a_model():
    with pytest.raises(InputError, match="not an ONNX model"):
        translate(b"\x08\x07 this is not protobuf \xff\xff")


def test_cycle_is_refused():
    writer = _GraphWriter(np.random.default_rng(0))
    h = writer.dense("inputs", 2, 2)
    writer.nodes.append(helper.make_node("Tanh", [h], ["loop"], name="loop"))
    writer.nodes[0].input[0] = "loop"  # the first layer now reads its own output
    with pytest.raises(UnsupportedModelError):
        translate(writer.model("loop", 2))


@pytest.mark.parametrize("n_obs", [2, 3])
def test_integral_over_several_observables(n_obs):
    """The tensor-product rule over 2 and 3 observables against a much finer rule in numpy."""
    rng = np.random.default_rng(7 + n_obs)
    sizes = [n_obs + 1, 8, 8, 1]  # small weights: a smooth density over the 20-wide range
    net = DenseNetwork(
        [0.3 * rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
        [rng.normal(scale=0.3, size=b) for b in sizes[1:]],
        ["tanh", "tanh", "identity"],
        [0.0, 0.0, 0.0],
    )
    obs = [ROOT.RooRealVar(f"int{n_obs}_x{i}", "x", 0.0, -5.0, 15.0) for i in range(n_obs)]
    theta = ROOT.RooRealVar(f"int{n_obs}_t", "t", 0.7, 0.0, 4.0)
    ratio = ratio_from_network(net, [*obs, theta], name=f"int{n_obs}")
    integral = ratio.createIntegral(ROOT.RooArgSet(*obs))
    nodes, weights = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(-5.0, 15.0, {2: 21, 3: 7}[n_obs])
    axis = np.concatenate([(a + b) / 2 + (b - a) / 2 * nodes for a, b in zip(edges[:-1], edges[1:], strict=True)])
    axis_w = np.concatenate([(b - a) / 2 * weights for a, b in zip(edges[:-1], edges[1:], strict=True)])
    mesh = np.stack(np.meshgrid(*[axis] * n_obs, indexing="ij"), axis=-1).reshape(-1, n_obs)
    mesh_w = np.prod(np.stack(np.meshgrid(*[axis_w] * n_obs, indexing="ij"), axis=-1).reshape(-1, n_obs), axis=1)
    expected = np.sum(mesh_w * np.exp(net.log_ratio(np.column_stack([mesh, np.full(len(mesh), 0.7)]))))
    assert integral.getVal() == pytest.approx(expected, rel=1e-6)
    assert ratio.nodesPerDimension(n_obs) == {2: 64, 3: 32}[n_obs]
