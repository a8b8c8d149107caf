"""Parameterized classifier: a torch multilayer perceptron (CPU or GPU)."""

from __future__ import annotations

import copy
import io
import logging
import time
import warnings

import numpy as np

from ..exceptions import InputError
from .base import RatioEstimator, validation_split

log = logging.getLogger(__name__)


def _torch():
    try:
        import torch
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "the torch estimator needs PyTorch: pip install 'roosbi[torch]' "
            "(or use estimator='sklearn', which needs nothing extra)"
        ) from err
    return torch


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if a GPU is visible, else ``"cpu"``; checks explicit choices."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device='cuda' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
    return device


def _build_network(n_inputs: int, hidden, activation: str, mean, scale):
    torch = _torch()
    nn = torch.nn
    acts = {
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
        "selu": nn.SELU,
        "softplus": nn.Softplus,
        "silu": nn.SiLU,
        "gelu": nn.GELU,
    }

    class Standardize(nn.Module):
        """(inputs - mean) / scale, so the exported graph takes raw inputs."""

        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

        def forward(self, inputs):
            return (inputs - self.mean) / self.scale

    layers = [Standardize()]
    width = n_inputs
    for n in hidden:
        layers += [nn.Linear(width, n), acts[activation]()]
        width = n
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class TorchRatioEstimator(RatioEstimator):
    """Likelihood-ratio estimator: a torch MLP trained with binary cross-entropy.

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden layers.
    activation : str
        One of tanh, relu, sigmoid, leaky_relu, elu, selu, softplus, silu, gelu.
    learning_rate : float
        Initial Adam learning rate; halved when the validation loss stops improving.
    batch_size : int
        Minibatch size.
    max_epochs : int
        Upper bound on the number of passes over the training data.
    validation_fraction : float
        Share of the sample held out for early stopping.
    patience : int
        Stop after this many epochs without a better validation loss; the best model is kept.
    schedule : {"plateau", "cosine"}
        Learning-rate schedule: halve the rate when the validation loss stops improving, or decay
        it to zero over ``max_epochs`` along a cosine. On rf615's problem the first, with a small
        rate and a long patience, gave the smallest fitted-parameter bias (docs/benchmarks.md).
    weight_decay : float
        Adam weight decay.
    device : {"auto", "cpu", "cuda"}
        Where to train; "auto" takes a GPU when there is one.
    seed : int
        Seeds weight initialisation, the split and the batch order.
    progress : bool
        Show a tqdm progress bar.

    Examples
    --------
    >>> est = TorchRatioEstimator(hidden=(32, 32), max_epochs=5).fit(sample)  # doctest: +SKIP
    >>> est.log_ratio(x, theta)  # doctest: +SKIP
    """

    name = "torch"

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        learning_rate: float = 1e-3,
        batch_size: int = 512,
        max_epochs: int = 200,
        validation_fraction: float = 0.2,
        patience: int = 25,
        weight_decay: float = 0.0,
        schedule: str = "plateau",
        device: str = "auto",
        seed: int = 0,
        progress: bool = True,
    ):
        self.hidden = tuple(hidden)
        self.activation = activation
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.device = device
        self.seed = seed
        self.progress = progress

    def _fit(self, inputs: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        from tqdm.auto import tqdm

        torch = _torch()
        self.device_ = resolve_device(self.device)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        train, val = validation_split(len(y), self.validation_fraction, rng)
        net = _build_network(inputs.shape[1], self.hidden, self.activation, self.input_mean_, self.input_scale_)
        net = net.to(self.device_)

        def tensors(idx):
            return [torch.as_tensor(a[idx], dtype=torch.float32, device=self.device_) for a in (inputs, y, weights)]

        x_tr, y_tr, w_tr = tensors(train)
        x_va, y_va, w_va = tensors(val)
        optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        steps_per_epoch = -(-len(train) // self.batch_size)
        if self.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=self.max_epochs * steps_per_epoch)
        elif self.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimiser, factor=0.5, patience=max(1, self.patience // 3)
            )
        else:
            raise InputError(f"schedule must be 'cosine' or 'plateau', not {self.schedule!r}")
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        bce = torch.nn.functional.binary_cross_entropy_with_logits

        self.history_ = {"train_loss": [], "val_loss": []}
        best, best_state, stale = np.inf, None, 0
        start = time.perf_counter()
        bar = tqdm(range(self.max_epochs), desc="training (torch)", unit="epoch", disable=not self.progress)
        for _ in bar:
            net.train()
            order = torch.randperm(len(y_tr), generator=generator).to(self.device_)
            total = torch.zeros((), device=self.device_)
            for i in range(0, len(order), self.batch_size):
                batch = order[i : i + self.batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss = (bce(net(x_tr[batch])[:, 0], y_tr[batch], reduction="none") * w_tr[batch]).sum()
                (loss / w_tr[batch].sum()).backward()
                optimiser.step()
                if self.schedule == "cosine":
                    scheduler.step()
                total += loss.detach()
            net.eval()
            with torch.no_grad():
                val_loss = float((bce(net(x_va)[:, 0], y_va, reduction="none") * w_va).sum() / w_va.sum())
            self.history_["train_loss"].append(float(total / w_tr.sum()))
            self.history_["val_loss"].append(val_loss)
            if self.schedule == "plateau":
                scheduler.step(val_loss)
            bar.set_postfix(val_loss=f"{val_loss:.5f}")
            if val_loss < best - 1e-6:
                best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        bar.close()
        net.load_state_dict(best_state)
        self.network_ = net.eval()
        self.n_epochs_ = len(self.history_["val_loss"])
        self.fit_time_s_ = time.perf_counter() - start

    def _log_ratio(self, inputs: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.no_grad():
            t = torch.as_tensor(inputs, dtype=torch.float32, device=self.device_)
            return self.network_(t)[:, 0].double().cpu().numpy()

    def _onnx_model(self):
        import onnx

        torch = _torch()
        net = copy.deepcopy(self.network_).to("cpu")
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated but needs no onnxscript, and writes the
            # Gemm/activation chains that roosbi's translator reads; torch.export is not needed here.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._export(torch, net, buffer)
        return onnx.load_from_string(buffer.getvalue())

    def _export(self, torch, net, buffer) -> None:
        torch.onnx.export(
            net,
            torch.zeros(1, len(self.input_names_)),
            buffer,
            dynamo=False,  # the TorchScript exporter needs no onnxscript
            input_names=["inputs"],
            output_names=["log_ratio"],
            dynamic_axes={"inputs": {0: "n"}, "log_ratio": {0: "n"}},
            opset_version=20,
        )
