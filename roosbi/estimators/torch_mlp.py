"""Parameterized classifier: an ensemble of torch multilayer perceptrons (CPU or GPU).

The members are trained together as one batched network (one optimiser step updates all of
them, so an ensemble of four small nets costs little more than one), each with its own random
initialisation and its own held-out validation events. Their mean logit is the estimate of
log r. Averaging removes most of the member-to-member scatter that a single network's fitted
parameters show; on rf615's problem it divides the bias of the fitted mean by about five
(docs/benchmarks.md). For export the ensemble is written as one plain MLP: hidden layers side by
side (block-diagonal weights) and an output layer that averages, which is exactly the mean of the
members and is a chain of dense layers that RooLearnedRatio evaluates.

The loss is CARL's cross-entropy or one of the gold losses of :mod:`roosbi.estimators.losses`
(``method=``). The score methods regress the network's own gradient with respect to its raw
parameter inputs on the joint score; each member gets its own copy of the inputs, so one autograd
call gives every member's gradient. The ensemble module and the training loop also serve the
local score estimator (:mod:`roosbi.estimators.sally`), which has several outputs.
"""

from __future__ import annotations

import io
import logging
import math
import numbers
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from . import losses
from .base import ACTIVATIONS, EpochTracker, RatioEstimator
from .resources import _torch, auto_batch_size, auto_learning_rate, network_work, resolve_device, training_threads

log = logging.getLogger(__name__)

#: Rows per chunk when the validation loss is computed (it needs a graph for the score methods).
_VALIDATION_CHUNK = 65_536
#: Rows per block of the held-out draw.
_HELD_OUT_BLOCK = 1 << 18


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


def _ensemble_module(n_inputs: int, hidden, n_members: int, activation: str, mean, scale, seed: int, n_outputs=1):
    """K independent MLPs as one module: weights of shape (K, n_in, n_out).

    ``forward`` takes inputs ``(n, d)`` (shared by the members) or ``(K, n, d)`` (one copy per
    member, for input gradients) and returns ``(n, K)`` for one output, ``(n, K, n_outputs)`` for
    several.
    """
    torch = _torch()
    nn = torch.nn

    class Ensemble(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_members = n_members
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            widths = [n_inputs, *hidden, n_outputs]
            gen = torch.Generator().manual_seed(seed)
            self.weights = nn.ParameterList()
            self.biases = nn.ParameterList()
            for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
                bound = 1.0 / np.sqrt(n_in)  # nn.Linear's default initialisation
                self.weights.append(nn.Parameter((torch.rand(n_members, n_in, n_out, generator=gen) * 2 - 1) * bound))
                self.biases.append(nn.Parameter((torch.rand(n_members, n_out, generator=gen) * 2 - 1) * bound))
            self.act = _activation(activation)

        def members(self, inputs):
            """Each member's outputs, ``(K, n, n_outputs)``."""
            # Members along the first axis: (K, n, width), one batched matmul per layer.
            h = (inputs - self.mean) / self.scale
            if h.dim() == 2:
                h = h.unsqueeze(0).expand(n_members, -1, -1)
            last = len(self.weights) - 1
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = torch.baddbmm(b.unsqueeze(1), h, w)
                if i < last:
                    h = self.act(h)
            return h

        def forward(self, inputs):
            out = self.members(inputs)
            return out[..., 0].T if n_outputs == 1 else out.permute(1, 0, 2)

        def as_sequential(self, members=None):
            """The average of ``members`` (default: all) as one plain MLP (block-diagonal hidden layers).

            ``members=[k]`` gives member k alone, as a plain MLP of its own widths.
            """
            layers = [Standardize(self.mean, self.scale)]
            last = len(self.weights) - 1
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                w, b = w.detach().cpu(), b.detach().cpu()
                if members is not None:
                    w, b = w[list(members)], b[list(members)]
                k, n_in, n_out = w.shape
                if i == 0:  # every member reads the same inputs
                    weight, bias = w.permute(0, 2, 1).reshape(k * n_out, n_in), b.reshape(-1)
                elif i < last:
                    weight, bias = torch.block_diag(*[w[m].T for m in range(k)]), b.reshape(-1)
                else:  # the output layer averages the members' outputs
                    weight, bias = torch.cat([w[m].T for m in range(k)], dim=1) / k, b.mean(dim=0)
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


def export_sequential(net, n_inputs: int, output_name: str):
    """A plain torch MLP as an onnx.ModelProto: one input ``inputs`` (n, d), one output (n, k)."""
    import onnx

    torch = _torch()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript, and writes the
        # Gemm/activation chains that roosbi's translator reads.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            torch.zeros(1, n_inputs),
            buffer,
            dynamo=False,
            input_names=["inputs"],
            output_names=[output_name],
            dynamic_axes={"inputs": {0: "n"}, output_name: {0: "n"}},
            opset_version=20,
        )
    return onnx.load_from_string(buffer.getvalue())


class TorchEnsembleSettings:
    """The settings and the training loop shared by the torch ensembles (ratio and score).

    Parameters
    ----------
    hidden : tuple of int
        Widths of each member's hidden layers.
    n_members : int
        Ensemble size; the estimate is the members' mean output. 1 gives a single network.
    activation : str
        One of tanh, relu, sigmoid, leaky_relu, elu, selu, softplus, silu, gelu.
    learning_rate : float or None
        Initial Adam learning rate. None (default): :func:`auto_learning_rate` of the batch size
        (5e-3 up to 2048 rows per batch, times sqrt(batch / 2048) above, at most 2e-2). The value
        used is ``learning_rate_`` after the fit.
    batch_size : int or None
        Minibatch size. None (default): :func:`auto_batch_size` of the device and the number of
        training rows (2048 up to 10^6 rows). The value used is ``batch_size_`` after the fit.
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
    n_threads : int or None
        torch's intra-op CPU threads during the fit (put back afterwards). None (default): a count
        the user chose (``torch.set_num_threads``, ``OMP_NUM_THREADS``), else one thread and one more
        per 1e8 multiply-adds of a minibatch, at most the CPUs the process may use
        (:mod:`roosbi.estimators.resources`). Ignored on a GPU unless given.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (32, 32),
        n_members: int = 4,
        activation: str = "tanh",
        learning_rate: float | None = None,
        batch_size: int | None = None,
        max_epochs: int = 25,
        validation_fraction: float = 0.1,
        patience: int = 25,
        weight_decay: float = 0.0,
        schedule: str = "cosine",
        device: str = "auto",
        seed: int = 0,
        progress: bool = True,
        n_threads: int | None = None,
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
        self.n_threads = n_threads

    def _check_settings(self) -> None:
        if self.activation not in ACTIVATIONS:
            choices = ", ".join(ACTIVATIONS)
            raise InputError(f"activation {self.activation!r} is not available; choose one of: {choices}")
        if self.n_members < 1:
            raise InputError(f"n_members must be at least 1, not {self.n_members}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise InputError(f"validation_fraction must be in (0, 1), not {self.validation_fraction}")
        if self.schedule not in ("cosine", "plateau"):
            raise InputError(f"schedule must be 'cosine' or 'plateau', not {self.schedule!r}")
        for name in ("batch_size", "n_threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
                raise InputError(f"{name} must be None (automatic) or a positive integer, not {value!r}")
        rate = self.learning_rate
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 < float(rate) < math.inf
        ):
            raise InputError(f"learning_rate must be None (automatic) or a positive number, not {rate!r}")

    def _batch_settings(self, n_events: int) -> tuple[int, float]:
        """The batch size and learning rate of this fit: the given ones, or the automatic ones."""
        batch = int(self.batch_size) if self.batch_size is not None else auto_batch_size(n_events, self.device_)
        rate = float(self.learning_rate) if self.learning_rate is not None else auto_learning_rate(batch)
        return batch, rate

    def _held_out(self, n: int) -> np.ndarray:
        """held_out[n, k]: event n validates member k and is not used to train it.

        Drawn in blocks of rows (the same numbers as one draw of shape (n, K)), so that no float64
        array of the sample's length is made: a 10^7-row sample would need 320 MB for it.
        """
        rng = np.random.default_rng(self.seed)
        held_out = np.empty((n, self.n_members), dtype=bool)
        for start in range(0, n, _HELD_OUT_BLOCK):
            rows = min(_HELD_OUT_BLOCK, n - start)
            held_out[start : start + rows] = rng.random((rows, self.n_members)) < self.validation_fraction
        return held_out

    def _network(self, n_inputs: int, mean, scale, n_outputs: int = 1):
        net = _ensemble_module(
            n_inputs, self.hidden, self.n_members, self.activation, mean, scale, self.seed, n_outputs
        )
        return net.to(self.device_)

    def _train(self, net, n_events: int, batch_loss, validation_loss, desc: str) -> None:
        """Adam over shuffled minibatches, the schedule, and the best epoch by validation loss.

        ``batch_loss(rows)`` gives the minibatch's loss, normalised to a mean per event;
        ``validation_loss()`` the held-out loss as a float. Sets ``network_`` (the best epoch's
        weights), ``history_``, ``n_epochs_``, ``fit_time_s_``, and the settings it trained with:
        ``batch_size_``, ``learning_rate_`` (given or automatic) and ``n_threads_`` (torch's
        intra-op threads during the fit, :mod:`roosbi.estimators.resources`).
        """
        self.batch_size_, self.learning_rate_ = self._batch_settings(n_events)
        log.info(
            "batch size %d%s, learning rate %.3g%s (%d rows on %s)",
            self.batch_size_,
            "" if self.batch_size is not None else " (auto)",
            self.learning_rate_,
            "" if self.learning_rate is not None else " (auto)",
            n_events,
            self.device_,
        )
        work = network_work(self.batch_size_, net)
        with training_threads(self.n_threads, self.device_, work) as threads:
            self.n_threads_ = threads
            self._train_loop(net, n_events, batch_loss, validation_loss, desc)

    def _train_loop(self, net, n_events: int, batch_loss, validation_loss, desc: str) -> None:
        """The loop of :meth:`_train`, with ``batch_size_`` and ``learning_rate_`` set.

        The sample lives on the device already (float32 tensors, moved once by the caller): each
        epoch draws one permutation of the row indices on the device, and a minibatch is a slice
        of it, so nothing crosses between numpy and torch, or host and device, inside the loop
        except the epoch's loss, read once per epoch.
        """
        from tqdm.auto import tqdm

        torch = _torch()
        batch_size = self.batch_size_
        # On a GPU, the fused Adam updates every parameter in one kernel instead of several per
        # tensor: with a small network the optimiser's launches are most of a step.
        fused = {"fused": True} if str(self.device_).startswith("cuda") else {}
        optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate_, weight_decay=self.weight_decay, **fused)
        steps_per_epoch = -(-n_events // batch_size)
        if self.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=self.max_epochs * steps_per_epoch)
        else:
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimiser, factor=0.5, patience=max(1, self.patience // 3)
            )
        # On the device: no index array is copied to a GPU per epoch (on the CPU this is the
        # generator and the permutation of every earlier roosbi version).
        generator = torch.Generator(device=self.device_).manual_seed(self.seed)
        tracker = EpochTracker(self.patience)
        start = time.perf_counter()
        bar = tqdm(range(self.max_epochs), desc=desc, unit="epoch", disable=not self.progress)
        for _ in bar:
            net.train()
            order = torch.randperm(n_events, generator=generator, device=self.device_)
            total = torch.zeros((), device=self.device_)
            for i in range(0, n_events, batch_size):
                batch = order[i : i + batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss = batch_loss(batch)
                loss.backward()
                optimiser.step()
                if self.schedule == "cosine":
                    scheduler.step()
                total += loss.detach() * len(batch)
            net.eval()
            val_loss = validation_loss()
            if self.schedule == "plateau":
                scheduler.step(val_loss)
            bar.set_postfix(val_loss=f"{val_loss:.5f}")
            if tracker.record(float(total) / n_events, val_loss, net.state_dict()):
                break
        bar.close()
        net.load_state_dict(tracker.best_model)
        self.network_ = net.eval()
        self.history_ = tracker.history
        self.n_epochs_ = len(self.history_["val_loss"])
        self.fit_time_s_ = time.perf_counter() - start


@dataclass
class _Columns:
    """A training sample on the device, with each member's training and validation weights (n, K)."""

    inputs: object
    y: object
    is_target: object
    train_w: object
    val_w: object
    val_rows: object
    joint_log_ratio: object = None
    joint_score: object = None


class TorchRatioEstimator(TorchEnsembleSettings, RatioEstimator):
    """Likelihood-ratio estimator: an ensemble of torch MLPs trained with CARL or a gold loss.

    Parameters
    ----------
    method : {"carl", "rolr", "rascal", "alice", "alices", "cascal"}
        The loss (:mod:`roosbi.estimators.losses`): CARL's cross-entropy needs labels only; the
        others train on the sample's joint log ratio and / or joint score (the "gold" of a
        simulator with latent variables) and need fewer events for the same accuracy.
    score_weight : float
        Weight of the score term of rascal, alices and cascal (ignored by the others).
    bootstrap : bool
        Bagging: each member trains on its own bootstrap resample of the training sample, drawn
        as Poisson(1) counts per event and member (seeded from ``seed``, a stream of its own so
        the held-out events and the initialisation are those of ``bootstrap=False``) that multiply
        the event weights of the member's training events. The held-out events stay as they are:
        a member's validation events are not resampled and never train it. The spread of the
        members then reflects the finite training sample (see :meth:`member_onnx`), not only the
        network seeds. False (default): every member trains on all its non-held-out events.
    hidden, n_members, activation, learning_rate, batch_size, max_epochs, validation_fraction, \
patience, weight_decay, schedule, device, seed, progress, n_threads
        As in :class:`TorchEnsembleSettings`.

    Notes
    -----
    ``history_`` holds the method's loss per epoch (the cross-entropy for CARL); for the score
    methods the ratio loss plus ``score_weight`` times the mean score term over target events.

    Examples
    --------
    >>> est = TorchRatioEstimator(method="alices", max_epochs=5).fit(sample)  # doctest: +SKIP
    >>> est.log_ratio(x, theta)  # doctest: +SKIP
    """

    name = "torch"

    def __init__(self, method: str = "carl", score_weight: float = 1.0, bootstrap: bool = False, **settings):
        super().__init__(**settings)
        if not isinstance(bootstrap, (bool, np.bool_)):
            raise InputError(f"bootstrap must be True or False, not {bootstrap!r}")
        self.bootstrap = bool(bootstrap)
        # Bad names and weights fail here, before anything is simulated (fit checks them again).
        losses.get_method(method)
        self.method = method
        self.score_weight = losses.check_score_weight(score_weight)

    def _fit(self, inputs: np.ndarray, y: np.ndarray, weights: np.ndarray, gold: dict) -> None:
        self._check_settings()
        self.device_ = resolve_device(self.device)
        data = self._columns(inputs, y, weights, gold)
        net = self._network(inputs.shape[1], self.input_mean_, self.input_scale_)
        # Each minibatch's loss is divided by its expected weight (the mean weight per event times
        # the batch size), not by its own weight sum: with negative event weights that sum can be
        # close to zero or negative, and the step would blow up or point the wrong way.
        mean_w = float(data.train_w.sum()) / len(y)
        mean_wt = float(data.train_w[data.is_target].sum()) / max(1, int(data.is_target.sum()))

        def batch_loss(rows):
            ratio, score, n_target = self._loss_sums(net, data, rows, data.train_w, create_graph=True)
            loss = ratio / (mean_w * len(rows))
            if n_target:
                loss = loss + self.score_weight * score / (mean_wt * n_target)
            return loss

        self._train(net, len(y), batch_loss, lambda: self._validation_loss(net, data), f"training ({self.method})")

    def _columns(self, inputs, y, weights, gold: dict) -> _Columns:
        torch = _torch()
        dev = self.device_
        held_out = torch.as_tensor(self._held_out(len(y)), dtype=torch.float32, device=dev)
        w = torch.as_tensor(weights, dtype=torch.float32, device=dev)[:, None]
        train_w = w * (1.0 - held_out)
        if self.bootstrap:
            train_w = train_w * torch.as_tensor(self._resample_counts(len(y)), dtype=torch.float32, device=dev)
        y_t = torch.as_tensor(y, dtype=torch.float32, device=dev)[:, None]
        # Validation evaluates only events that some member holds out (a third of them for 4 members).
        val_rows = torch.nonzero(held_out.any(dim=1)).flatten()
        jlr, js = gold.get("joint_log_ratio"), gold.get("joint_score")
        return _Columns(
            inputs=torch.as_tensor(inputs, dtype=torch.float32, device=dev),
            y=y_t,
            is_target=y_t[:, 0] == 1.0,
            train_w=train_w,
            val_w=w * held_out,
            val_rows=val_rows,
            joint_log_ratio=None if jlr is None else torch.as_tensor(jlr, dtype=torch.float32, device=dev)[:, None],
            joint_score=None if js is None else torch.as_tensor(js, dtype=torch.float32, device=dev),
        )

    def _resample_counts(self, n: int) -> np.ndarray:
        """counts[n, k]: how often event n appears in member k's bootstrap resample (Poisson(1)).

        Drawn from a stream of its own (``SeedSequence([seed, 1])``), independent of the held-out
        events' stream.
        """
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1]))
        return rng.poisson(1.0, size=(n, self.n_members))

    def _loss_sums(self, net, data: _Columns, rows, w, create_graph: bool):
        """Weighted sums over ``rows`` of the ratio loss and of the score term; and the number of target rows.

        The score term needs the input gradient of target rows only: they go first and alone
        through the gradient pass, so the double backward costs half a batch rather than a whole.
        """
        torch = _torch()
        method = self.method_
        n_target = 0
        if method.uses_score:
            target = data.is_target[rows]
            rows = torch.cat([rows[target], rows[~target]])
            n_target = int(target.sum())
        logits, score_hat = self._forward(net, data.inputs[rows], n_target, create_graph)
        jlr = None if data.joint_log_ratio is None else data.joint_log_ratio[rows]
        ratio = (losses.ratio_loss(method, logits, data.y[rows], jlr) * w[rows]).sum()
        if not n_target:
            return ratio, 0.0, 0
        head = rows[:n_target]
        score = (losses.score_loss(score_hat, data.joint_score[head][:, None, :]) * w[head]).sum()
        return ratio, score, n_target

    def _forward(self, net, inputs, n_grad: int, create_graph: bool):
        """Logits (n, K), and for the first ``n_grad`` rows each member's d logit / d theta (n_grad, K, n_par)."""
        torch = _torch()
        if not n_grad:
            return net(inputs), None
        # One copy of the rows per member: member k's logit depends on copy k only, so one
        # gradient of the summed logits gives every member's own input gradient.
        copies = inputs[:n_grad].unsqueeze(0).repeat(net.n_members, 1, 1).requires_grad_(True)
        head = net(copies)
        (grad,) = torch.autograd.grad(head.sum(), copies, create_graph=create_graph)
        score = grad[..., len(self.observables_) :].permute(1, 0, 2)
        return torch.cat([head, net(inputs[n_grad:])]), score

    def _validation_loss(self, net, data: _Columns) -> float:
        """The method's loss on the held-out events, weighted means of its ratio and score terms."""
        torch = _torch()
        ratio = score = 0.0
        with torch.set_grad_enabled(self.method_.uses_score):  # the score term needs input gradients
            for i in range(0, len(data.val_rows), _VALIDATION_CHUNK):
                rows = data.val_rows[i : i + _VALIDATION_CHUNK]
                r, s, _ = self._loss_sums(net, data, rows, data.val_w, create_graph=False)
                ratio, score = ratio + _value(r), score + _value(s)
        loss = ratio / float(data.val_w[data.val_rows].sum())
        if self.method_.uses_score:
            target_w = float(data.val_w[data.is_target].sum())
            loss += self.score_weight * score / target_w if target_w > 0 else 0.0
        return loss

    def _log_ratio(self, inputs: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.no_grad():
            t = torch.as_tensor(inputs, dtype=torch.float32, device=self.device_)
            return self.network_(t).mean(dim=1).double().cpu().numpy()

    def _member_outputs(self, inputs: np.ndarray) -> np.ndarray:
        """Each member's log r, ``(n, K)``."""
        torch = _torch()
        with torch.no_grad():
            t = torch.as_tensor(inputs, dtype=torch.float32, device=self.device_)
            return self.network_(t).double().cpu().numpy()

    def _with_metadata(self, model, extra: dict | None = None):
        """The base metadata, plus the batch size and learning rate the network trained with."""
        settings = {"batch_size": self.batch_size_, "learning_rate": self.learning_rate_}
        return super()._with_metadata(model, {**settings, **(extra or {})})

    def _onnx_model(self, members=None):
        return export_sequential(self.network_.as_sequential(members), len(self.input_names_), "log_ratio")

    def _check_member(self, k) -> int:
        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.n_members:
            raise InputError(f"member must be an integer in [0, {self.n_members - 1}], not {k!r}")
        return int(k)

    def member_log_ratio(self, k: int, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Member ``k``'s own log r(x|theta) (the estimator's :meth:`log_ratio` is the mean over members).

        Parameters
        ----------
        k : int
            Member index, 0 to ``n_members - 1``.
        x, theta : array
            As in :meth:`log_ratio`.
        """
        k = self._check_member(k)
        return self._member_outputs(self._inputs(x, theta))[:, k]

    def member_onnx_model(self, k: int):
        """Member ``k`` as an onnx.ModelProto: a plain MLP with the estimator's metadata.

        The metadata is the estimator's, with ``n_members`` 1, ``member`` k and ``bootstrap``.

        :func:`roosbi.roofit.learned_ratio` takes it as it is, without a file.
        """
        k = self._check_member(k)
        return self._with_metadata(self._onnx_model([k]), {"n_members": 1, "member": k, "bootstrap": self.bootstrap})

    def member_onnx(self, k: int, path: str | os.PathLike) -> Path:
        """Export member ``k`` alone to ONNX (see :meth:`member_onnx_model`); written atomically and checked.

        Raises
        ------
        InputError
            If the estimator is not fitted or ``k`` is not a member's index.
        """
        k = self._check_member(k)
        model = self.member_onnx_model(k)
        return self._save_onnx(model, path, lambda inputs: self._member_outputs(inputs)[:, k])


def _value(total) -> float:
    """A loss sum as a float (a tensor that may carry a graph, or the 0.0 of an absent term)."""
    return float(total.detach()) if hasattr(total, "detach") else float(total)
