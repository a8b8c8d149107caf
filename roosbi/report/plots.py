"""Figures of the comparison: Delta NLL curves and contours, learned vs exact ratio, score templates, training."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..inference import FitResult, Grid2D, Scan  # noqa: E402

COLOURS = {"analytic": "#222222", "learned": "#1f77b4", "morphed": "#d62728", "template": "#2ca02c"}
STYLES = {"analytic": "-", "learned": "--", "morphed": ":", "template": "-."}
#: Colours of the fits without one of their own (``learned_<method>`` and the like), in order.
EXTRA_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def _colours(names) -> dict[str, str]:
    """A colour for each fit name: its own from :data:`COLOURS`, else the next of :data:`EXTRA_COLOURS`."""
    extra = iter(EXTRA_COLOURS * (1 + len(names) // len(EXTRA_COLOURS)))
    return {name: COLOURS.get(name) or next(extra) for name in names}


def _save(fig, path: str | os.PathLike) -> Path:
    """Save through a temporary file and a rename, so a reader never sees half a PNG."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=130, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_delta_nll(scans: list[Scan], fits: dict[str, FitResult], truth: dict[str, float], path) -> Path:
    """Delta NLL curves of every fit, one panel per parameter, with the 1 and 2 sigma levels.

    With several parameters each curve is a slice through that NLL's own minimum.
    """
    fig, axes = plt.subplots(1, len(scans), figsize=(6.4 * len(scans), 4.6), squeeze=False)
    colours = _colours(list(fits))
    for ax, scan in zip(axes[0], scans, strict=True):
        for name, dnll in scan.delta_nll.items():
            p = fits[name].params[scan.parameter]
            label = f"{name}: {p.value:.3f} $\\pm$ {p.error:.3f}"
            ax.plot(scan.values, dnll, STYLES.get(name, "-"), color=colours[name], lw=2, label=label)
        for level, text in ((0.5, r"1$\sigma$"), (2.0, r"2$\sigma$")):
            ax.axhline(level, color="grey", lw=0.8, ls="--")
            ax.text(scan.values[-1], level, f" {text}", va="center", fontsize=9, color="grey")
        if scan.parameter in truth:
            value = truth[scan.parameter]
            ax.axvline(value, color="grey", lw=0.8, ls=":", label=f"true {scan.parameter} = {value:g}")
        ax.set_xlabel(scan.parameter)
        ax.set_ylabel(r"$\Delta$NLL" + (" (slice through each minimum)" if len(scans) > 1 else ""))
        ax.set_ylim(0, 4.5)
        ax.set_xlim(scan.values[0], scan.values[-1])
        ax.legend(frameon=False, fontsize=9)
        ax.grid(alpha=0.3)
    names = sorted(fits, key=lambda n: n == "analytic")  # "learned vs morphed vs analytic"
    fig.suptitle(r"$\Delta$NLL: " + (" vs ".join(names) if len(names) <= 3 else f"{len(names)} NLLs side by side"))
    return _save(fig, path)


#: Delta NLL of a two-parameter Gaussian likelihood at 68.27 % and 95 % coverage (chi2 quantiles / 2).
CONTOUR_LEVELS_2D = {"68 %": 1.1478745, "95 %": 2.9957323}


def plot_contours(grid: Grid2D, fits: dict[str, FitResult], truth: dict[str, float], path) -> Path:
    """68 % and 95 % Delta NLL contours of every fit in the plane of two parameters."""
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    levels = sorted(CONTOUR_LEVELS_2D.values())
    colours = _colours(list(fits))
    for name, dnll in grid.delta_nll.items():
        colour = colours[name]
        ax.contour(grid.x, grid.y, dnll, levels=levels, colors=[colour], linestyles=[STYLES.get(name, "-")] * 2)
        best = fits[name].params
        ax.plot(
            best[grid.parameter_x].value,
            best[grid.parameter_y].value,
            marker="o",
            ls=STYLES.get(name, "-"),  # an empty line: the legend shows the contours' style
            color=colour,
            ms=5,
            label=f"{name}: best fit and contours",
        )
    if grid.parameter_x in truth and grid.parameter_y in truth:
        ax.plot(truth[grid.parameter_x], truth[grid.parameter_y], "*", color="grey", ms=12, label="truth")
    ax.set_xlabel(grid.parameter_x)
    ax.set_ylabel(grid.parameter_y)
    ax.set_title(r"$\Delta$NLL contours, 68 % (inner) and 95 % (outer)")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_ratio(
    x: np.ndarray,
    curves: dict[float, tuple[np.ndarray, np.ndarray]],
    observable: str,
    parameter: str | None,
    path,
    ylabel: str = r"$r(x|\theta) = p(x|\theta)\,/\,p_\mathrm{ref}(x)$",
) -> Path:
    """Learned and exact r(x|theta) for a few theta, with the difference of log r underneath.

    ``curves`` maps a parameter value to ``(learned, exact)`` arrays over ``x`` (``learned`` may be
    a dict of arrays by method, drawn with one line style each). With
    ``parameter=None`` the ratio has no parameter (a mixture's r(x) = p_s(x) / p_b(x)): one
    curve, whose key is ignored.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    cmap = plt.get_cmap("viridis")
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 2)), (0, (3, 1, 1, 1, 1, 1))]
    for i, (value, (learned, exact)) in enumerate(sorted(curves.items())):
        colour = cmap(i / max(1, len(curves) - 1) * 0.85)
        where = "" if parameter is None else f", {parameter} = {value:g}"
        top.plot(x, exact, color=colour, lw=2.5, alpha=0.45, label=f"exact{where}")
        ok = exact > 1e-3 * exact.max()  # where there is data; the tails are not learned
        # One method: an array; several: a dict by fit name, one line style each.
        for j, (name, values) in enumerate(learned.items() if isinstance(learned, dict) else [("learned", learned)]):
            style = styles[j % len(styles)]
            top.plot(x, values, ls=style, color=colour, lw=1.5, label=f"{name}{where}")
            bottom.plot(x[ok], np.log(values[ok]) - np.log(exact[ok]), ls=style, color=colour, lw=1.5)
    top.set_ylabel(ylabel)
    top.set_title("Learned vs exact likelihood ratio")
    top.legend(frameon=False, fontsize=8)
    top.grid(alpha=0.3)
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_ylabel(r"$\log r_\mathrm{learned} - \log r$")
    bottom.set_xlabel(observable)
    bottom.grid(alpha=0.3)
    return _save(fig, path)


def plot_templates(
    edges: np.ndarray, expected: dict[str, np.ndarray], observed: np.ndarray, variable: str, path
) -> Path:
    """Expected counts per bin, stacked in the order given, and the observed counts.

    ``expected`` maps a label (e.g. "background", "signal, mu = 1.02") to counts per bin: the
    templates scaled by the fitted yields. A log scale shows both the background-rich bins and
    the few signal-rich ones.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    bottom = np.zeros(len(edges) - 1)
    colours = plt.get_cmap("tab10")
    for i, (label, counts) in enumerate(expected.items()):
        ax.stairs(bottom + counts, edges, baseline=bottom, fill=True, alpha=0.5, color=colours(i), label=label)
        bottom = bottom + counts
    centres = 0.5 * (edges[1:] + edges[:-1])
    shown = observed > 0
    ax.errorbar(
        centres[shown], observed[shown], yerr=np.sqrt(observed[shown]), fmt="o", ms=3, color="black", label="observed"
    )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.set_xlabel(variable)
    ax.set_ylabel("events per bin")
    ax.set_title("Score templates scaled to the template fit")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_training(histories: dict[str, dict[str, list[float]]], path) -> Path:
    """Training and validation loss per epoch of each method (one panel each), the kept epoch marked.

    ``histories`` maps a method name to its estimator's ``history_``. Each method has its own
    loss (cross-entropy, squared error, plus a score term), so each gets its own axis.
    """
    n = len(histories)
    fig, axes = plt.subplots(1, n, figsize=(6.4 if n == 1 else 4.2 * n, 4.2), squeeze=False)
    for ax, (method, history) in zip(axes[0], histories.items(), strict=True):
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        ax.plot(epochs, history["train_loss"], "-o", ms=3, label="training")
        ax.plot(epochs, history["val_loss"], "-s", ms=3, label="validation")
        best = int(np.argmin(history["val_loss"])) + 1
        if len(epochs) > 4:  # the first epochs drop steeply: show the converged part
            tail = np.r_[history["train_loss"][2:], history["val_loss"][2:]]
            pad = 0.1 * (tail.max() - tail.min()) + 1e-4
            ax.set_ylim(tail.min() - pad, tail.max() + pad)
        ax.axvline(best, color="grey", ls=":", label=f"kept (epoch {best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if n > 1 else "training loss")
        ax.set_title(f"Training: {method}")
        ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_errors_vs_events(sizes: np.ndarray, errors: dict[str, dict[str, list[float]]], path) -> Path:
    """MINOS error of each NLL against the number of events (log-log), one panel per parameter.

    ``errors`` maps a fit name to ``{parameter: error per size}``. The dashed line is the
    analytic error at the largest size scaled by sqrt(N / n), the 1/sqrt(n) law.
    """
    parameters = list(next(iter(errors.values())))
    fig, axes = plt.subplots(1, len(parameters), figsize=(6.4 * len(parameters), 4.6), squeeze=False)
    colours = _colours(list(errors))
    for ax, par in zip(axes[0], parameters, strict=True):
        for name, values in errors.items():
            ax.plot(sizes, values[par], STYLES.get(name, "-"), marker="o", ms=4, color=colours[name], label=name)
        if "analytic" in errors:
            ref = errors["analytic"][par][-1]
            ax.plot(sizes, ref * np.sqrt(sizes[-1] / sizes), color="grey", ls="--", lw=1, label=r"$\propto 1/\sqrt{n}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("observed events n (the first n of the data)")
        ax.set_ylabel(rf"MINOS error of {par} ($\Delta$NLL = 0.5)")
        ax.legend(frameon=False, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("Uncertainty against the number of events")
    return _save(fig, path)


def plot_calibration(calibration, path) -> Path:
    """Reliability curves of the classifier before and after the calibration, and what it did to log r.

    ``calibration`` is a :class:`roosbi.stats.calibration.RatioCalibration`; its curves are on the
    held-out events it was fitted to.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot([0, 1], [0, 1], color="0.6", lw=1, label="perfectly calibrated")
    for key, label, style in (("reliability_before", "network", "o"), ("reliability_after", "calibrated", "s")):
        curve = getattr(calibration, key)
        left.errorbar(
            curve.predicted, curve.observed, yerr=curve.observed_error, fmt=style, ms=4, capsize=2, label=label
        )
    left.set_xlabel("classifier score s = r / (1 + r)")
    left.set_ylabel("signal fraction (classes weighted equally)")
    left.set_title(f"reliability on {calibration.n_target} + {calibration.n_reference} held-out events")
    left.legend(loc="upper left")
    lo = min(-6.0, float(calibration.knots_in[0]) - 1.0) if len(calibration.knots_in) else -6.0
    hi = max(6.0, float(calibration.knots_in[-1]) + 1.0) if len(calibration.knots_in) else 6.0
    grid = np.linspace(lo, hi, 400)
    right.plot(grid, grid, color="0.6", lw=1, label="identity")
    right.plot(grid, calibration.transform(grid), color=COLOURS["learned"], label=f"calibrated ({calibration.method})")
    if len(calibration.knots_in):
        right.plot(calibration.knots_in, calibration.knots_out - calibration.log_normalization, ".", color="k", ms=4)
    right.set_xlabel("network log r")
    right.set_ylabel("calibrated log r")
    b = calibration.before
    right.set_title(f"E_b[r] = {b.mean:.4f} ± {b.error:.4f}; r divided by {calibration.correction:.4f}")
    right.legend(loc="upper left")
    fig.tight_layout()
    return _save(fig, path)
