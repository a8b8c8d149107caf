"""Parameterized classifiers that learn log r(x|theta): torch and scikit-learn, one interface."""

from __future__ import annotations

from ..exceptions import InputError
from .base import RatioEstimator
from .sklearn_mlp import SklearnRatioEstimator
from .torch_mlp import TorchRatioEstimator

ESTIMATORS = {"torch": TorchRatioEstimator, "sklearn": SklearnRatioEstimator}

__all__ = ["ESTIMATORS", "RatioEstimator", "SklearnRatioEstimator", "TorchRatioEstimator", "make_estimator"]


def make_estimator(name: str, **settings) -> RatioEstimator:
    """An estimator by name (``"torch"`` or ``"sklearn"``) with the given settings."""
    if name not in ESTIMATORS:
        raise InputError(f"unknown estimator '{name}'; choose one of: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](**settings)
