"""The demo's training stage: the sample, then each method trained, exported and wrapped in RooFit."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.problems import Problem
from ..data.simulate import simulate, simulate_local
from ..estimators import make_estimator
from ..estimators.losses import METHODS
from ..interrupts import checkpoint, interruptible
from ..mixture import simulate_components
from ..roofit import learned_ratio
from . import terms as term_stages


@dataclass
class Learned:
    """One trained method in the demo: its estimator, the RooFit objects built on it, its timing."""

    method: str
    key: str  # the fit's name in results.json: "learned" or "learned_<method>"
    estimator: object
    train_s: float
    model_file: str
    ratio: object = None  # RooLearnedRatio (ratio methods)
    pdf: str = ""  # name of its pdf in the workspace


def simulate_training(prob: Problem, n_train: int, seed: int, methods: list[str], is_mixture: bool):
    """The training sample; with the gold (joint ratio and score) when a method needs it."""
    if is_mixture:
        return simulate_components(prob, n_signal_events=n_train, seed=seed)
    needs_gold = any(METHODS[m].needs for m in methods if m in METHODS)
    # gold=None lets simulate add it where it comes free (problems with latent variables).
    return simulate(prob, n_target=n_train, seed=seed, gold=True if needs_gold else None)


def learn(
    prob: Problem, sample, method: str, methods: list[str], settings: dict, seed: int, stage: Path, n_train, terms=None
):
    """Train one method, export it to ONNX in ``stage`` and wrap it in RooFit: a :class:`Learned`."""
    single = len(methods) == 1
    key = "learned" if single else f"learned_{method}"
    model_file = "model.onnx" if single else f"model_{method}.onnx"
    if method == "sally":
        return learn_sally(prob, key, model_file, settings, seed, stage, n_train, terms)
    extra = {} if method == "carl" else {"method": method}
    if settings.get("bootstrap"):
        extra["bootstrap"] = True
    with interruptible():  # torch or scikit-learn only: Ctrl-C may stop it at once
        est, train_s = train_estimator(
            sample,
            settings["estimator"],
            settings["device"],
            {**extra, **(settings["settings"] or {})},
            seed,
            settings["progress"],
        )
    onnx_path = est.to_onnx(stage / model_file)
    checkpoint()
    ratio_name = "learned_ratio" if single else f"learned_ratio_{method}"
    ratio = learned_ratio(onnx_path, workspace=prob.workspace, name=ratio_name)
    return Learned(method, key, est, train_s, model_file, ratio=ratio)


def learn_sally(
    prob: Problem, key: str, model_file: str, settings: dict, seed: int, stage: Path, n_train: int, terms=None
):
    """SALLY: the score at the reference point, learned from events simulated there (or term events weighted to it)."""
    point = prob.reference_point or {n: 0.5 * (lo + hi) for n, (lo, hi) in prob.parameter_ranges().items()}
    seed_sample, seed_net = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    if terms is not None:
        local = term_stages.score_sample(prob, terms, point)
    else:
        local = simulate_local(prob, point, n_train, seed=seed_sample)
    est_settings = {"seed": seed_net, "progress": settings["progress"], "device": settings["device"]}
    est_settings.update(settings["settings"] or {})
    from ..estimators.sally import SallyEstimator  # torch only

    est = SallyEstimator(**est_settings)
    t0 = time.perf_counter()
    with interruptible():
        est.fit(local)
    train_s = time.perf_counter() - t0
    est.to_onnx(stage / model_file)
    checkpoint()
    return Learned("sally", key, est, train_s, model_file)


def training_summary(estimator: str, sample, learned: list[Learned]) -> dict:
    """results.json's "training": the estimator, the sample, and each method's epochs and time."""
    per_method = {
        item.method: {"epochs": item.estimator.n_epochs_, "time_s": item.train_s, "model": item.model_file}
        for item in learned
    }
    first = learned[0].estimator
    return {
        "estimator": estimator,
        "method": learned[0].method if len(learned) == 1 else [item.method for item in learned],
        "methods": per_method,
        "gold": bool(getattr(sample, "has_gold", False)),
        "n_train": len(sample),
        "epochs": first.n_epochs_,
        "time_s": sum(item.train_s for item in learned),
        "device": first.device_,
    }


def train_estimator(sample, estimator: str, device: str, settings: dict | None, seed: int, progress: bool):
    """Fit the named estimator on the sample; return it and the training time."""
    settings = dict(settings or {})
    settings.setdefault("seed", seed)
    settings.setdefault("progress", progress)
    if estimator == "torch":
        settings.setdefault("device", device)
    est = make_estimator(estimator, **settings)
    t0 = time.perf_counter()
    est.fit(sample)
    return est, time.perf_counter() - t0
