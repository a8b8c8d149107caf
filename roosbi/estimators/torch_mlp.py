"""Parameterized classifier: an ensemble of torch multilayer perceptrons (CPU or GPU).

The members are trained together as one batched network (one optimiser step updates all of
them, so an ensemble of four small nets costs little more than one), each with its own random
initialisation and its own held-out validation events. Their mean logit is the estimate of
log r. Averaging removes most of the member-to-member scatter that a single network's fitted
parameters show; on rf615's problem it divides the bias of the fitted mean by about five
(docs/benchmarks.md). For export the ensemble is written as one plain MLP: hidden layers side by
side (block-diagonal weights) and an output layer that averages, which is exactly the mean of the
members and is a chain of dense layers that RooLearnedRatio evaluates.
"""

from __future__ import annotations

import io
import logging
import time
import warnings

import numpy as np

from ..exceptions import InputError
from .base import EpochTracker, RatioEstimator

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


def _activation(name: str):
    nn = _torch().nn
    return {
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
        "selu": nn.SELU,
        "softplus": nn.Softplus,
        "silu": nn.SiLU,
        "gelu": nn.GELU,
    }[name]()


def _ensemble_module(n_inputs: int, hidden, n_members: int, activation: str, mean, scale, seed: int):
    """K independent MLPs as one module: weights of shape (K, n_in, n_out); output (n, K) logits."""
    torch = _torch()
    nn = torch.nn

    class Ensemble(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            widths = [n_inputs, *hidden, 1]
            gen = torch.Generator().manual_seed(seed)
            self.weights = nn.ParameterList()
            self.biases = nn.ParameterList()
            for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
                bound = 1.0 / np.sqrt(n_in)  # nn.Linear's default initialisation
                self.weights.append(nn.Parameter((torch.rand(n_members, n_in, n_out, generator=gen) * 2 - 1) * bound))
                self.biases.append(nn.Parameter((torch.rand(n_members, n_out, generator=gen) * 2 - 1) * bound))
            self.act = _activation(activation)

        def forward(self, inputs):
            # Members along the first axis: (K, n, width), one batched matmul per layer.
            h = ((inputs - self.mean) / self.scale).unsqueeze(0).expand(n_members, -1, -1)
            last = len(self.weights) - 1
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = torch.baddbmm(b.unsqueeze(1), h, w)
                if i < last:
                    h = self.act(h)
            return h[..., 0].T

        def as_sequential(self):
            """The member average as one plain MLP (block-diagonal hidden layers)."""
            layers = [Standardize(self.mean, self.scale)]
            last = len(self.weights) - 1
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                w, b = w.detach().cpu(), b.detach().cpu()
                k, n_in, n_out = w.shape
                if i == 0:  # every member reads the same inputs
                    weight, bias = w.permute(0, 2, 1).reshape(k * n_out, n_in), b.reshape(-1)
                elif i < last:
                    weight, bias = torch.block_diag(*[w[m].T for m in range(k)]), b.reshape(-1)
                else:  # the output layer averages the members' logits
                    weight, bias = w[:, :, 0].reshape(1, -1) / k, b.mean().reshape(1)
                linear = nn.Linear(weight.shape[1], weight.shape[0])
                with torch.no_grad():
                    linear.weight.copy_(weight)
                    linear.bias.copy_(bias)
                layers.append(linear)
                if i < last:
                    layers.append(_activation(activation))
            return nn.Sequential(*layers).eval()

    class Standardize(nn.Module):
        """(inputs - mean) / scale, so the exported graph takes raw inputs."""

        def __init__(self, mean, scale):
            super().__init__()
            self.register_buffer("mean", mean.detach().cpu().clone())
            self.register_buffer("scale", scale.detach().cpu().clone())

        def forward(self, inputs):
            return (inputs - self.mean) / self.scale

    return Ensemble()


class TorchRatioEstimator(RatioEstimator):
    """Likelihood-ratio estimator: an ensemble of torch MLPs trained with binary cross-entropy.

    Parameters
    ----------
    hidden : tuple of int
        Widths of each member's hidden layers.
    n_members : int
        Ensemble size; the estimate is the members' mean logit. 1 gives a single network.
    activation : str
        One of tanh, relu, sigmoid, leaky_relu, elu, selu, softplus, silu, gelu.
    learning_rate : float
        Initial Adam learning rate.
    batch_size : int
        Minibatch size.
    max_epochs : int
        Passes over the training data (the cosine schedule spans them all).
    validation_fraction : float
        Share of the events each member holds out (a different random share per member, so the
        ensemble as a whole learns from every event); its loss picks the best epoch.
    patience : int
        Stop after this many epochs without a better validation loss; the best model is kept.
    weight_decay : float
        Adam weight decay.
    schedule : {"cosine", "plateau"}
        Learning-rate schedule: decay to zero along a cosine over ``max_epochs``, or halve when the
        validation loss stops improving.
    device : {"auto", "cpu", "cuda"}
        Where to train; "auto" takes a GPU when there is one.
    seed : int
        Seeds initialisation, the held-out events and the batch order.
    progress : bool
        Show a tqdm progress bar.

    Examples
    --------
    >>> est = TorchRatioEstimator(max_epochs=5).fit(sample)  # doctest: +SKIP
    >>> est.log_ratio(x, theta)  # doctest: +SKIP
    """

    name = "torch"

    def __init__(
        self,
        hidden: tuple[int, ...] = (32, 32),
        n_members: int = 4,
        activation: str = "tanh",
        learning_rate: float = 5e-3,
        batch_size: int = 2048,
        max_epochs: int = 25,
        validation_fraction: float = 0.1,
        patience: int = 25,
        weight_decay: float = 0.0,
        schedule: str = "cosine",
        device: str = "auto",
        seed: int = 0,
        progress: bool = True,
    ):
        self.hidden = tuple(hidden)
        self.n_members = n_members
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
        if self.n_members < 1:
            raise InputError(f"n_members must be at least 1, not {self.n_members}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise InputError(f"validation_fraction must be in (0, 1), not {self.validation_fraction}")
        self.device_ = resolve_device(self.device)
        dev = self.device_
        rng = np.random.default_rng(self.seed)
        # held_out[n, k]: event n validates member k and is not used to train it.
        held_out = rng.random((len(y), self.n_members)) < self.validation_fraction
        net = _ensemble_module(
            inputs.shape[1],
            self.hidden,
            self.n_members,
            self.activation,
            self.input_mean_,
            self.input_scale_,
            self.seed,
        ).to(dev)

        x_all = torch.as_tensor(inputs, dtype=torch.float32, device=dev)
        y_all = torch.as_tensor(y, dtype=torch.float32, device=dev)[:, None]
        w_all = torch.as_tensor(weights, dtype=torch.float32, device=dev)[:, None]
        train_w = w_all * torch.as_tensor(~held_out, dtype=torch.float32, device=dev)
        # Validation evaluates only events that some member holds out (a third of them for 4 members).
        val_rows = torch.as_tensor(np.flatnonzero(held_out.any(axis=1)), device=dev)
        x_val, y_val = x_all[val_rows], y_all[val_rows]
        val_w = (w_all * torch.as_tensor(held_out, dtype=torch.float32, device=dev))[val_rows]

        optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        steps_per_epoch = -(-len(y) // self.batch_size)
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

        def weighted_loss(logits, target, w):
            return (bce(logits, target.expand_as(logits), reduction="none") * w).sum()

        # Each minibatch's loss is divided by its expected weight (the mean weight per event times
        # the batch size), not by its own weight sum: with negative event weights that sum can be
        # close to zero or negative, and the step would blow up or point the wrong way.
        mean_weight = float(train_w.sum()) / len(y)

        tracker = EpochTracker(self.patience)
        start = time.perf_counter()
        bar = tqdm(range(self.max_epochs), desc="training (torch)", unit="epoch", disable=not self.progress)
        for _ in bar:
            net.train()
            order = torch.randperm(len(y), generator=generator).to(dev)
            total = torch.zeros((), device=dev)
            for i in range(0, len(order), self.batch_size):
                batch = order[i : i + self.batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss = weighted_loss(net(x_all[batch]), y_all[batch], train_w[batch])
                (loss / (mean_weight * len(batch))).backward()
                optimiser.step()
                if self.schedule == "cosine":
                    scheduler.step()
                total += loss.detach()
            net.eval()
            with torch.no_grad():
                val_loss = float(weighted_loss(net(x_val), y_val, val_w) / val_w.sum())
            if self.schedule == "plateau":
                scheduler.step(val_loss)
            bar.set_postfix(val_loss=f"{val_loss:.5f}")
            if tracker.record(float(total / train_w.sum()), val_loss, net.state_dict()):
                break
        bar.close()
        net.load_state_dict(tracker.best_model)
        self.network_ = net.eval()
        self.history_ = tracker.history
        self.n_epochs_ = len(self.history_["val_loss"])
        self.fit_time_s_ = time.perf_counter() - start

    def _log_ratio(self, inputs: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.no_grad():
            t = torch.as_tensor(inputs, dtype=torch.float32, device=self.device_)
            return self.network_(t).mean(dim=1).double().cpu().numpy()

    def _onnx_model(self):
        import onnx

        torch = _torch()
        net = self.network_.as_sequential()
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated but needs no onnxscript, and writes the
            # Gemm/activation chains that roosbi's translator reads.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net,
                torch.zeros(1, len(self.input_names_)),
                buffer,
                dynamo=False,
                input_names=["inputs"],
                output_names=["log_ratio"],
                dynamic_axes={"inputs": {0: "n"}, "log_ratio": {0: "n"}},
                opset_version=20,
            )
        return onnx.load_from_string(buffer.getvalue())
