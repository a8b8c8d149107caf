"""Training losses for the ratio estimator: CARL and the gold ("mining gold") losses.

roosbi's labels: y = 1 for target events, drawn at their theta (the numerator of r), y = 0 for
reference events (the denominator, which does not depend on theta; each reference event is paired
with a theta). The network's logit f(x, theta) estimates log r(x|theta) = log p(x|theta) / p_ref(x).

Simulators with latent variables z know, event by event, the joint log ratio
log r(x, z|theta) and the joint score t(x, z|theta) = grad_theta log p(x, z|theta) (the "gold",
Brehmer, Cranmer, Louppe, Pavez 2018). Given x they are unbiased in the way the losses below use:
E[r(x, z) | x] = r(x) for reference events, E[1/r(x, z) | x] = 1/r(x) and
E[t(x, z|theta) | x] = t(x|theta) = grad_theta log r(x|theta) for target events, so every loss
here is minimised by f = log r(x|theta), with less variance than CARL's labels alone.

- ``carl``: binary cross-entropy of f against the label y.
- ``rolr``: squared error of the ratio, y=0: (e^f - r(x,z))^2, y=1: (e^-f - 1/r(x,z))^2.
- ``alice``: cross-entropy of f against the soft label s(x,z) = sigmoid(log r(x,z)), every event.
- ``rascal``, ``alices``, ``cascal``: rolr, alice, carl plus ``score_weight`` times the score
  term, the mean over target events of |grad_theta f(x, theta) - t(x, z|theta)|^2.

Each function returns the loss of each element (no reduction): the estimator weights the events,
holds some out per ensemble member and averages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import InputError

#: |log r| beyond which ROLR's exponentials continue as straight lines, and the joint log ratio
#: is clipped (MadMiner clips both at 10 too). e^10 ~ 2.2e4: squared, far inside float32's range.
LOG_R_CLIP = 10.0


@dataclass(frozen=True)
class Method:
    """A training method: its ratio loss, whether a score term is added, and what gold it needs.

    Attributes
    ----------
    name : str
    ratio_loss : {"carl", "rolr", "alice"}
        The loss on log r.
    uses_score : bool
        True when ``score_weight`` times the score term is added.
    needs : tuple of str
        The gold columns of a :class:`~roosbi.data.sample.TrainingSample` it trains on.
    """

    name: str
    ratio_loss: str
    uses_score: bool
    needs: tuple[str, ...]


METHODS = {
    "carl": Method("carl", "carl", False, ()),
    "rolr": Method("rolr", "rolr", False, ("joint_log_ratio",)),
    "rascal": Method("rascal", "rolr", True, ("joint_log_ratio", "joint_score")),
    "alice": Method("alice", "alice", False, ("joint_log_ratio",)),
    "alices": Method("alices", "alice", True, ("joint_log_ratio", "joint_score")),
    "cascal": Method("cascal", "carl", True, ("joint_score",)),
}


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name``; an InputError listing the methods otherwise."""
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def check_score_weight(value: float) -> float:
    """``score_weight`` as a float, refused unless finite and >= 0."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if not (np.isfinite(weight) and weight >= 0.0):
        raise InputError(f"score_weight must be a finite number >= 0, not {value!r}")
    return weight


def check_gold(method: Method, sample) -> None:
    """Refuse, before any training, a sample that lacks the gold ``method`` trains on."""
    missing = [name for name in method.needs if getattr(sample, name, None) is None]
    if not missing:
        return
    raise InputError(
        f"method {method.name!r} trains on {' and '.join(missing)} (the 'gold' of a simulator with latent "
        "variables), which this sample does not carry. Simulate it with simulate(problem, ..., gold=True) on a "
        "problem with latent variables, or pass the joint columns (joint_log_ratio=, joint_score=) to "
        "sample_from_arrays; or train with method='carl', which needs no gold"
    )


def _torch():
    import torch

    return torch


def carl_loss(logit, y):
    """Binary cross-entropy of the logit against the label (1 target, 0 reference), per element."""
    torch = _torch()
    return torch.nn.functional.binary_cross_entropy_with_logits(logit, y.expand_as(logit), reduction="none")


def alice_loss(logit, joint_log_ratio):
    """Cross-entropy against the soft label sigmoid(log r(x, z)), per element.

    Minimised where sigmoid(f) = E[sigmoid(log r(x,z)) | x] over both classes, which is
    r(x) / (1 + r(x)) with equal class weights: f = log r(x).
    """
    torch = _torch()
    soft = torch.sigmoid(joint_log_ratio).expand_as(logit)
    return torch.nn.functional.binary_cross_entropy_with_logits(logit, soft, reduction="none")


def clipped_exp(value, clip: float = LOG_R_CLIP):
    """e^value up to ``clip``, continued beyond it by its tangent line (no overflow, no flat gradient).

    A hard clamp would stop the gradient of a logit that has run beyond the clip, which could then
    never come back; the tangent keeps pulling it with the slope e^clip.
    """
    torch = _torch()
    edge = float(np.exp(clip))
    return torch.where(value <= clip, torch.exp(torch.clamp(value, max=clip)), edge * (1.0 + value - clip))


def rolr_loss(logit, y, joint_log_ratio, clip: float = LOG_R_CLIP):
    """Squared error of the ratio, per element: reference (e^f - r(x,z))^2, target (e^-f - 1/r(x,z))^2.

    The joint log ratio is clipped to [-clip, clip] and the exponentials of f continue linearly
    beyond ``clip`` (:func:`clipped_exp`): e^f of a reference event, or e^-f of a target event, can
    otherwise overflow float32 for logits beyond about 88.
    """
    torch = _torch()
    y = y.expand_as(logit)
    log_r = torch.clamp(joint_log_ratio, -clip, clip).expand_as(logit)
    # The sign flips log r for target events, so that one expression serves both classes.
    sign = 1.0 - 2.0 * y
    return (clipped_exp(sign * logit, clip) - torch.exp(sign * log_r)) ** 2


def score_loss(score_hat, joint_score):
    """Squared distance |t_hat - t(x, z)|^2 summed over the parameters (last axis), per event."""
    return ((score_hat - joint_score) ** 2).sum(dim=-1)


def ratio_loss(method: Method, logit, y, joint_log_ratio=None):
    """The per-element ratio loss of ``method`` (its score term apart)."""
    if method.ratio_loss == "carl":
        return carl_loss(logit, y)
    if method.ratio_loss == "rolr":
        return rolr_loss(logit, y, joint_log_ratio)
    return alice_loss(logit, joint_log_ratio)
