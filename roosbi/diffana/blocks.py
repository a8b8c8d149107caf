"""Differentiable selections and histograms, and the hard (non-differentiable) versions they relax.

A cut keeps an event or not; its soft version weighs the event with a sigmoid of its distance
to the cut, :func:`soft_cut`, which tends to the step function as the temperature goes to 0.
A histogram counts events per bin; its soft version, :func:`bkde_histogram`, is a binned kernel
density estimate: every event spreads a Gaussian of width ``bandwidth x bin width`` over the
bins, and each bin gets the Gaussian's mass inside it (differences of the normal CDF at the bin
edges). It tends to :func:`hard_histogram` as the bandwidth goes to 0, and its counts are
smooth functions of the event positions and weights, so gradients pass through.

Every function takes torch tensors (or arrays) and computes in the dtype of its inputs; the
histograms that feed a likelihood are float64.
"""

from __future__ import annotations

import math

import numpy as np

from ..estimators.resources import import_torch
from ..exceptions import InputError

torch = import_torch()

KEEP = ("above", "below")


def check_temperature(temperature: float, argument: str = "temperature") -> float:
    """Return ``temperature`` as a float, or raise InputError unless it is finite and > 0."""
    value = _scalar(temperature, argument)
    if not value > 0:
        raise InputError(f"{argument} must be > 0 (the sigmoid's width in units of the cut variable), not {value}")
    return value


def check_bandwidth(bandwidth: float) -> float:
    """Return ``bandwidth`` as a float, or raise InputError unless it is finite and > 0."""
    value = _scalar(bandwidth, "bandwidth")
    if not value > 0:
        raise InputError(
            f"bandwidth must be > 0 (the kernel's width as a fraction of the bin width; 0.5 is a common choice), "
            f"not {value}; use hard_histogram for the bandwidth -> 0 limit"
        )
    return value


def check_edges(edges) -> torch.Tensor:
    """Bin edges as a float64 tensor: 1-D, at least two, finite, strictly increasing; else InputError."""
    edges = torch.as_tensor(np.asarray(edges, dtype=np.float64) if not torch.is_tensor(edges) else edges)
    if edges.dim() != 1 or edges.numel() < 2:
        raise InputError(f"edges must be a 1-D sequence of at least 2 bin edges, got shape {tuple(edges.shape)}")
    if not bool(torch.isfinite(edges).all()):
        raise InputError("edges must be finite (the outermost bins take the events beyond them: flow=True)")
    if not bool((edges[1:] > edges[:-1]).all()):
        raise InputError(f"edges must be strictly increasing, got {edges.tolist()}")
    return edges.to(torch.float64)


def check_keep(keep: str) -> str:
    """``keep`` if it is "above" or "below", else InputError."""
    if keep not in KEEP:
        raise InputError(f"keep must be 'above' or 'below', not {keep!r}")
    return keep


def soft_cut(x, cut, temperature: float = 0.1, keep: str = "above") -> torch.Tensor:
    """Weights in (0, 1) of a sigmoid relaxation of the cut ``x > cut`` (``x < cut`` with ``keep="below"``).

    Parameters
    ----------
    x : torch.Tensor
        Values of the cut variable, any shape.
    cut : torch.Tensor or float
        Where to cut; a tensor that requires grad gets gradients.
    temperature : float
        Width of the sigmoid in units of ``x``: an event at ``cut + temperature`` weighs
        sigmoid(1) = 0.73. As it goes to 0 the weights tend to the step function (0.5 on the cut).
    keep : {"above", "below"}
        Which side of the cut is kept.

    Returns
    -------
    torch.Tensor
        sigmoid((x - cut) / temperature), or of its negative for ``keep="below"``.
    """
    temperature = check_temperature(temperature)
    check_keep(keep)
    x = torch.as_tensor(x)
    z = (x - cut) / temperature
    return torch.sigmoid(z if keep == "above" else -z)


def hard_cut(x, cut, keep: str = "above") -> torch.Tensor:
    """The step function that :func:`soft_cut` relaxes: 1.0 where ``x > cut`` (``x < cut``), else 0.0."""
    check_keep(keep)
    x = torch.as_tensor(x)
    cut = torch.as_tensor(cut, dtype=x.dtype, device=x.device)
    kept = x > cut if keep == "above" else x < cut
    return kept.to(x.dtype if x.is_floating_point() else torch.float64)


def bin_width(edges) -> float:
    """The mean bin width of ``edges``: the unit of :func:`bkde_histogram`'s bandwidth."""
    edges = check_edges(edges)
    return float((edges[-1] - edges[0]) / (edges.numel() - 1))


def bkde_histogram(x, edges, bandwidth: float = 0.5, weights=None, flow: bool = True) -> torch.Tensor:
    """Binned kernel density estimate: a histogram whose counts are smooth in the events.

    Each event at ``x_i`` with weight ``w_i`` contributes ``w_i [Phi((e_{j+1} - x_i) / h) -
    Phi((e_j - x_i) / h)]`` to bin ``j``, with ``Phi`` the standard normal CDF and ``h`` the
    absolute bandwidth ``bandwidth * bin_width(edges)``.

    Parameters
    ----------
    x : torch.Tensor
        Event values, shape (n,).
    edges : array-like
        Bin edges, strictly increasing, shape (n_bins + 1,).
    bandwidth : float
        The kernel's standard deviation as a fraction of the mean bin width (> 0). Smaller is
        closer to the hard histogram but has noisier gradients.
    weights : torch.Tensor, optional
        Event weights, shape (n,); 1 for every event if None.
    flow : bool
        Kernel mass beyond the outer edges goes into the first and last bins (so that every
        event contributes its whole weight); False drops it.

    Returns
    -------
    torch.Tensor
        Counts, shape (n_bins,), in the dtype of ``x`` (float64 recommended).
    """
    bandwidth = check_bandwidth(bandwidth)
    x = torch.as_tensor(x)
    if x.dim() != 1:
        raise InputError(f"x must be 1-D (one value per event), got shape {tuple(x.shape)}")
    edges = check_edges(edges).to(device=x.device, dtype=x.dtype)
    h = bandwidth * bin_width(edges)
    inner = edges
    if flow:
        inf = torch.tensor([math.inf], dtype=x.dtype, device=x.device)
        inner = torch.cat([-inf, edges[1:-1], inf])
    cdf = torch.special.ndtr((inner[:, None] - x[None, :]) / h)  # (n_bins + 1, n)
    per_event = cdf[1:] - cdf[:-1]  # (n_bins, n)
    if weights is None:
        return per_event.sum(dim=1)
    weights = _weights(weights, x)
    return per_event @ weights


def hard_histogram(x, edges, weights=None, flow: bool = True) -> torch.Tensor:
    """The ordinary histogram, the bandwidth -> 0 limit of :func:`bkde_histogram` (bins closed on the left).

    With ``flow=True`` events below the first edge count in the first bin and events at or
    beyond the last edge in the last bin; with ``flow=False`` they are dropped (and an event on
    the last edge is in the last bin, as numpy counts it). Not differentiable in ``x``.
    """
    x = torch.as_tensor(x)
    if x.dim() != 1:
        raise InputError(f"x must be 1-D (one value per event), got shape {tuple(x.shape)}")
    dtype = x.dtype if x.is_floating_point() else torch.float64
    edges = check_edges(edges).to(device=x.device, dtype=dtype)
    n_bins = edges.numel() - 1
    w = torch.ones_like(x, dtype=dtype) if weights is None else _weights(weights, x).to(dtype)
    index = torch.bucketize(x.to(dtype), edges, right=True) - 1  # bin j holds edges[j] <= x < edges[j+1]
    if flow:
        index = index.clamp(0, n_bins - 1)
    else:
        index = torch.where(x.to(dtype) == edges[-1], torch.full_like(index, n_bins - 1), index)
        inside = (index >= 0) & (index < n_bins)
        index, w = index[inside], w[inside]
    return torch.zeros(n_bins, dtype=dtype, device=x.device).index_add_(0, index, w)


def _weights(weights, x: torch.Tensor) -> torch.Tensor:
    weights = torch.as_tensor(weights, device=x.device)
    if weights.shape != x.shape:
        raise InputError(f"weights must have one entry per event: shape {tuple(x.shape)}, got {tuple(weights.shape)}")
    return weights.to(x.dtype) if x.is_floating_point() else weights


def _scalar(value, argument: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{argument} must be a number, not {value!r}") from err
    if not math.isfinite(value):
        raise InputError(f"{argument} must be finite, not {value}")
    return value
