"""The files of ``roosbi validate`` besides validation.json: validation.md, pulls.png, coverage_vs_point.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def _coverage(s: dict, key: str) -> str:
    return "–" if s[key] is None else f"{s[key]:.3f} ± {s[key + '_err']:.3f}"


def point_label(point: dict[str, float]) -> str:
    """``mu = 2.5, sigma = 1`` (4 significant digits)."""
    return ", ".join(f"{k} = {v:.4g}" for k, v in point.items())


def markdown(results: dict) -> str:
    """validation.md: one row per NLL and parameter at the first point, then a table of every point."""
    n_points = len(results.get("points", [])) or 1
    at = f"at {point_label(results['point'])}" if n_points == 1 else f"at {n_points} points"
    lines = [
        f"# roosbi validate: {results['toys']} toys{' per point' if n_points > 1 else ''} (seed {results['seed']})",
        "",
        f"Toys drawn from the '{results['generator']}' pdf {at}; {results['workers']} worker(s), "
        f"{results['wall_s']:.1f} s. MINOS 95 % coverage: the profile ΔNLL at the point is below 1.92; "
        "HESSE 95 %: within 1.96 errors.",
        "",
    ]
    if results.get("interrupted"):
        lines += [
            f"**Interrupted** after {results['toys_finished']} of {results['toys'] * n_points} toys: the statistics "
            "are those of the toys that finished.",
            "",
        ]
    if n_points > 1:
        lines += [f"## First point: {point_label(results['point'])}", ""]
    lines += [
        "| NLL | parameter | failed | bias | pull mean | pull width | MINOS 68 % | MINOS 95 % | HESSE 68 % "
        "| HESSE 95 % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results["nlls"]:
        for par, s in results[name].items():
            cov = [_coverage(d, k) for d in (s, s["hesse"]) for k in ("coverage_68", "coverage_95")]
            lines.append(
                f"| {name} | {par} | {s['n_failed']}/{s['n_toys']} | {_fmt(s['bias'], '.4f')} | {_fmt(s['pull_mean'])} "
                f"| {_fmt(s['pull_width'])} | " + " | ".join(cov) + " |"
            )
    for name, why in results["skipped"].items():
        lines.append(f"\nNot fitted to toys: {name} ({why}).")
    lines += ["", "![MINOS pulls at the first point](pulls.png)", ""]
    if n_points > 1:
        lines += [
            "## Coverage at each point",
            "",
            "| point | NLL | parameter | failed | pull mean | pull width | MINOS 68 % | MINOS 95 % |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for entry in results["points"]:
            for name in results["nlls"]:
                for par, s in entry[name].items():
                    lines.append(
                        f"| {point_label(entry['point'])} | {name} | {par} | {s['n_failed']}/{s['n_toys']} "
                        f"| {_fmt(s['pull_mean'])} | {_fmt(s['pull_width'])} | {_coverage(s, 'coverage_68')} "
                        f"| {_coverage(s, 'coverage_95')} |"
                    )
        lines.append("")
    lines += ["![MINOS coverage against the point](coverage_vs_point.png)", ""]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fit_rows(toys: list[dict], name: str, par: str) -> np.ndarray:
    """Rows (value, error, lo, hi, profile delta NLL at the point) of the successful fits (status 0), in toy order."""
    rows = [t["fits"][name]["params"][par] for t in toys if t["fits"][name]["status"] == 0]
    return np.array(rows, dtype=float).reshape(-1, 5)


def minos_pulls(rows: np.ndarray, truth: float) -> np.ndarray:
    """MINOS pulls of rows (value, error, lo, hi, ...): below the truth in units of hi, above it of -lo."""
    value, _, lo, hi = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    delta = value - truth
    return delta / np.where(delta > 0, -lo, hi)


def plot_pulls(toys: list[dict], point: dict[str, float], path: Path, names: list[str] | None = None) -> None:
    """pulls.png: MINOS pull histograms, one panel per NLL and parameter, with a unit Gaussian.

    ``toys`` are those of one point; ``names`` the NLLs (default: those of the first toy).
    """
    plt = _pyplot()
    names = names if names is not None else (list(toys[0]["fits"]) if toys else [])
    pars = list(point)
    fig, axes = plt.subplots(
        max(1, len(pars)),
        max(1, len(names)),
        figsize=(3.2 * max(1, len(names)), 2.6 * max(1, len(pars))),
        squeeze=False,
    )
    grid = np.linspace(-4, 4, 200)
    for j, name in enumerate(names):
        for i, par in enumerate(pars):
            ax = axes[i][j]
            pulls = minos_pulls(fit_rows(toys, name, par), point[par])
            pulls = pulls[np.isfinite(pulls)]
            if len(pulls):
                ax.hist(np.clip(pulls, -4, 4), bins=20, range=(-4, 4), density=True, alpha=0.6)
                width = f", width {np.std(pulls, ddof=1):.2f}" if len(pulls) > 1 else ""
                ax.text(
                    0.03,
                    0.95,
                    f"n {len(pulls)}\nmean {np.mean(pulls):.2f}{width}",
                    transform=ax.transAxes,
                    va="top",
                    fontsize=7,
                )
            ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "k-", lw=1)
            ax.set_title(f"{name}: {par}", fontsize=9)
            ax.set_xlabel("MINOS pull")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def coverage_axis(points: list[dict[str, float]]) -> tuple[str | None, np.ndarray, list[str] | None]:
    """The x axis of coverage_vs_point.png, from the points.

    ``(parameter, its values, None)`` when the points differ in one parameter at most, else
    ``(None, point indices, tick labels)``.
    """
    pars = list(points[0])
    varying = [p for p in pars if len({pt[p] for pt in points}) > 1]
    if len(varying) <= 1:
        par = varying[0] if varying else pars[0]
        return par, np.array([pt[par] for pt in points], dtype=float), None
    labels = [",\n".join(f"{p}={pt[p]:.3g}" for p in pars) for pt in points]
    return None, np.arange(len(points), dtype=float), labels


def plot_coverage(results: dict, path: Path) -> None:
    """coverage_vs_point.png: MINOS 68 % and 95 % coverage of each NLL against the point, one panel per parameter."""
    plt = _pyplot()
    entries = results["points"]
    points = [e["point"] for e in entries]
    names = results["nlls"]
    pars = list(points[0])
    axis_par, x, labels = coverage_axis(points)
    span = np.ptp(x) if len(x) > 1 and np.ptp(x) > 0 else 1.0
    offsets = (np.arange(len(names)) - 0.5 * (len(names) - 1)) * 0.025 * span
    width = max(3.5, 0.6 * len(x) + 2) + 1.6  # + the legend
    fig, axes = plt.subplots(1, len(pars), figsize=(width * len(pars), 3.6), squeeze=False)
    for ax, par in zip(axes[0], pars, strict=True):
        for level, style in ((0.68, "--"), (0.95, ":")):
            ax.axhline(level, color="gray", ls=style, lw=1)
            ax.text(1.0, level, f"{level:.2f} ", transform=ax.get_yaxis_transform(), ha="right", va="bottom", size=6)
        for j, name in enumerate(names):
            for key, marker, fill in (("coverage_68", "o", None), ("coverage_95", "s", "none")):
                stats = [e[name][par] for e in entries]
                y = np.array([np.nan if s[key] is None else s[key] for s in stats])
                err = np.array([np.nan if s[key] is None else s[key + "_err"] for s in stats])
                ax.errorbar(
                    x + offsets[j],
                    y,
                    yerr=err,
                    fmt=marker,
                    color=f"C{j}",
                    mfc=fill,
                    ms=5,
                    capsize=2,
                    label=f"{name} {key[-2:]} %",
                )
        ax.set_ylim(-0.03, 1.05)
        ax.set_ylabel(f"MINOS coverage of {par}")
        if labels is None:
            ax.set_xlabel(axis_par)
        else:
            ax.set_xticks(x, labels, fontsize=7)
            ax.set_xlabel("point")
        ax.set_title(f"{par}: {results['toys']} toys per point", fontsize=9)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="MINOS", title_fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
