"""Parameterized classifiers that learn log r(x|theta): torch and scikit-learn, one interface.

The torch estimator trains with CARL or a gold loss (``method=``, :data:`METHODS`); SALLY, the
local score estimator, is :class:`SallyEstimator`.
"""

from __future__ import annotations

from ..exceptions import InputError
from .base import RatioEstimator
from .losses import METHODS
from .sally import SallyEstimator, onnxruntime_score
from .sklearn_mlp import SklearnRatioEstimator
from .torch_mlp import TorchRatioEstimator

ESTIMATORS = {"torch": TorchRatioEstimator, "sklearn": SklearnRatioEstimator}

__all__ = [
    "ESTIMATORS",
    "METHODS",
    "RatioEstimator",
    "SallyEstimator",
    "SklearnRatioEstimator",
    "TorchRatioEstimator",
    "make_estimator",
    "onnxruntime_score",
]


def make_estimator(name: str, **settings) -> RatioEstimator:
    """An estimator by name (``"torch"`` or ``"sklearn"``) with the given settings (``method=`` among them)."""
    if name not in ESTIMATORS:
        raise InputError(f"unknown estimator '{name}'; choose one of: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](**settings)
