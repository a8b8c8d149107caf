import numpy as np
import pytest
import torch

from roosbi.data.builtin import gauss1d
from roosbi.data.simulate import simulate
from roosbi.estimators import TorchRatioEstimator
from roosbi.library import import_root

# The networks in the tests are small: one thread trains them as fast as two, and does not spin
# (for a minute) when the 2-core CI machine is busy with something else.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    ROOT = import_root()
    ROOT.RooRandom.randomGenerator().SetSeed(0)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)


@pytest.fixture
def problem():
    return gauss1d(n_observed=500, seed=3)


@pytest.fixture(scope="session")
def small_sample():
    return simulate(gauss1d(seed=3), n_target=20_000, seed=5)


@pytest.fixture(scope="session")
def trained_torch(small_sample):
    """A real torch model trained for a few seconds on the rf615 problem."""
    return TorchRatioEstimator(
        hidden=(32, 32), learning_rate=3e-3, max_epochs=25, patience=8, batch_size=256, seed=1, progress=False
    ).fit(small_sample)


@pytest.fixture(scope="session")
def torch_onnx(trained_torch, tmp_path_factory):
    return trained_torch.to_onnx(tmp_path_factory.mktemp("model") / "model.onnx")


def exact_log_ratio(x, mu, sigma=1.5, width=20.0):
    """log N(x; mu, sigma) - log U(x; -5, 15)."""
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi)) + np.log(width)


ACTS = {
    "tanh": torch.nn.Tanh(),
    "relu": torch.nn.ReLU(),
    "sigmoid": torch.nn.Sigmoid(),
    "leaky_relu": torch.nn.LeakyReLU(0.2),
    "elu": torch.nn.ELU(0.7),
    "selu": torch.nn.SELU(),
    "softplus": torch.nn.Softplus(),
    "silu": torch.nn.SiLU(),
    "gelu": torch.nn.GELU(),
}


def export_torch(net, n_in, path):
    torch.onnx.export(
        net,
        torch.zeros(1, n_in),
        str(path),
        dynamo=False,
        input_names=["inputs"],
        output_names=["log_ratio"],
        dynamic_axes={"inputs": {0: "n"}, "log_ratio": {0: "n"}},
        opset_version=17,
    )
    return path
