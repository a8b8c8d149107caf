"""Parameterized classifier: scikit-learn's MLPClassifier behind roosbi's estimator interface."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from ..exceptions import InputError
from . import losses
from .base import EpochTracker, RatioEstimator, validation_split, weighted_bce

log = logging.getLogger(__name__)

_SKLEARN_NAMES = {"tanh": "tanh", "relu": "relu", "sigmoid": "logistic"}


class SklearnRatioEstimator(RatioEstimator):
    """Likelihood-ratio estimator: ``StandardScaler`` + ``MLPClassifier``, trained epoch by epoch.

    Training runs ``partial_fit`` one epoch at a time so that the validation loss (binary
    cross-entropy, the same quantity the torch estimator reports) drives early stopping and the
    best model is kept.

    Parameters
    ----------
    method : {"carl"}
        Only CARL (binary cross-entropy): scikit-learn's MLP has no custom losses and no input
        gradients, so the gold methods need ``TorchRatioEstimator`` (``estimator="torch"``).
    hidden : tuple of int
        Widths of the hidden layers.
    activation : {"tanh", "relu", "sigmoid"}
        What scikit-learn's MLP offers.
    learning_rate : float
        Initial Adam learning rate, decayed to zero along a cosine over ``max_epochs`` (with a
        constant rate Adam drifts away from the minimum on rf615's problem).
    batch_size : int
        Minibatch size.
    max_epochs : int
        Upper bound on the number of epochs.
    validation_fraction : float
        Share of the sample held out for early stopping.
    patience : int
        Stop after this many epochs without a better validation loss (the default, equal to
        ``max_epochs``, runs the whole cosine schedule: early in it Adam's large steps can raise
        the validation loss for a while). The best epoch is kept either way.
    alpha : float
        L2 penalty.
    seed : int
        Seeds initialisation, the split and the batch order.
    progress : bool
        Show a tqdm progress bar.
    """

    name = "sklearn"
    supported_activations = tuple(_SKLEARN_NAMES)

    def __init__(
        self,
        method: str = "carl",
        hidden: tuple[int, ...] = (32, 32),
        activation: str = "tanh",
        learning_rate: float = 3e-3,
        batch_size: int = 512,
        max_epochs: int = 40,
        validation_fraction: float = 0.2,
        patience: int = 40,
        alpha: float = 1e-6,
        seed: int = 0,
        progress: bool = True,
    ):
        _check_carl(method)
        self.method = method
        self.hidden = tuple(hidden)
        self.activation = activation
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.alpha = alpha
        self.seed = seed
        self.progress = progress

    def _check_method(self, sample) -> None:
        _check_carl(self.method)
        super()._check_method(sample)

    def _fit(self, inputs: np.ndarray, y: np.ndarray, weights: np.ndarray, gold: dict) -> None:
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from tqdm.auto import tqdm

        self.device_ = "cpu"
        rng = np.random.default_rng(self.seed)
        train, val = validation_split(len(y), self.validation_fraction, rng)
        scaler = StandardScaler().fit(inputs[train])
        z_tr, z_va = scaler.transform(inputs[train]), scaler.transform(inputs[val])
        clf = MLPClassifier(
            hidden_layer_sizes=self.hidden,
            activation=_SKLEARN_NAMES[self.activation],
            solver="adam",
            alpha=self.alpha,
            batch_size=self.batch_size,
            learning_rate_init=self.learning_rate,
            random_state=self.seed,
        )
        tracker = EpochTracker(self.patience)
        start = time.perf_counter()
        bar = tqdm(range(self.max_epochs), desc="training (sklearn)", unit="epoch", disable=not self.progress)
        for epoch in bar:
            _set_learning_rate(clf, 0.5 * self.learning_rate * (1 + np.cos(np.pi * epoch / self.max_epochs)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning on every single-epoch call
                clf.partial_fit(z_tr, y[train], sample_weight=weights[train], classes=[0.0, 1.0])
            train_loss = weighted_bce(_logit(clf, z_tr), y[train], weights[train])
            val_loss = weighted_bce(_logit(clf, z_va), y[val], weights[val])
            bar.set_postfix(val_loss=f"{val_loss:.5f}")
            if tracker.record(train_loss, val_loss, clf):
                break
        bar.close()
        self.pipeline_ = make_pipeline(scaler, tracker.best_model)
        self.history_ = tracker.history
        self.n_epochs_ = len(self.history_["val_loss"])
        self.fit_time_s_ = time.perf_counter() - start

    def _log_ratio(self, inputs: np.ndarray) -> np.ndarray:
        scaler, clf = self.pipeline_[0], self.pipeline_[-1]
        return _logit(clf, scaler.transform(inputs))

    def _onnx_model(self):
        """skl2onnx's graph, cut before the final Sigmoid so that the output is the logit (log r)."""
        import onnx
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType

        clf = self.pipeline_[-1]
        full = convert_sklearn(
            self.pipeline_,
            initial_types=[("inputs", DoubleTensorType([None, len(self.input_names_)]))],
            options={id(clf): {"zipmap": False}},
            target_opset=17,
        )
        sigmoid = [n for n in full.graph.node if n.op_type == "Sigmoid"][-1]
        extracted = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(full)).extract_model(
            ["inputs"], [sigmoid.input[0]]
        )
        graph = extracted.graph
        graph.node.append(onnx.helper.make_node("Identity", [sigmoid.input[0]], ["log_ratio"]))
        del graph.output[:]
        graph.output.append(onnx.helper.make_tensor_value_info("log_ratio", onnx.TensorProto.DOUBLE, [None, 1]))
        return extracted


def _check_carl(method: str) -> None:
    """Refuse any method but CARL, saying where the others are."""
    if method == "carl":
        return
    losses.get_method(method)  # an unknown name gets the list of methods
    raise InputError(
        f"the sklearn estimator trains method='carl' only; method={method!r} needs the network's gradient and a "
        "custom loss: use estimator='torch' (TorchRatioEstimator(method=...))"
    )


def _set_learning_rate(clf, rate: float) -> None:
    """Cosine-decay Adam's step size between epochs (scikit-learn offers no schedule for Adam).

    The optimiser is created by the first ``partial_fit`` and derives each step's size from its
    own ``learning_rate_init``; that attribute is scikit-learn's (private) and is left alone if a
    future version renames it (training then keeps a constant rate).
    """
    clf.learning_rate_init = rate
    optimiser = getattr(clf, "_optimizer", None)
    if optimiser is not None and hasattr(optimiser, "learning_rate_init"):
        optimiser.learning_rate_init = rate


def _logit(clf, z: np.ndarray) -> np.ndarray:
    """The MLP's pre-sigmoid output, computed from its weights in float64 (log r)."""
    h = z
    act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0), "logistic": lambda v: 1.0 / (1.0 + np.exp(-v))}
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        h = h @ w + b
        if i < len(clf.coefs_) - 1:
            h = act[clf.activation](h)
    return h[:, 0]
