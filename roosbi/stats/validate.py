"""``roosbi validate``: a toy study of a marked workspace, its statistics and its files.

See ``docs/validation.md`` for what is computed and the layout of validation.json.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..interrupts import deferred_interrupts, interruptible
from ..output_dir import check_output_dir, publish, staging
from ..report import write_json
from .toys import absolute_path, check_point, connect, default_point, read_setup, run_in_process, run_on_dask

log = logging.getLogger(__name__)

#: The files ``roosbi validate`` writes.
VALIDATION_FILES = ("validation.json", "validation.md", "pulls.png")
#: Half-width of the 95 % HESSE interval in units of the 68 % one.
Z95 = 1.959963984540054
#: Profile delta NLL at the edge of the 95 % MINOS interval (chi2 quantile of one degree of freedom, / 2).
DNLL95 = 0.5 * Z95**2


def _workspace_file(path: str | os.PathLike) -> Path:
    """A workspace file, or a ``roosbi demo`` output directory holding workspace.root."""
    path = Path(path)
    if path.is_dir():
        path = path / "workspace.root"
    if not path.is_file():
        raise InputError(f"no workspace file at '{path}': give a workspace.root or a roosbi demo output directory")
    return path


def run_validation(
    workspace: str | os.PathLike,
    n_toys: int,
    out: str | os.PathLike,
    seed: int = 1,
    at: dict[str, float] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> dict:
    """Run a toy study of a marked workspace and write validation.json, validation.md and pulls.png in ``out``.

    Parameters
    ----------
    workspace : str or path
        A workspace file marked by :func:`roosbi.mark_fits`, or a ``roosbi demo`` output directory.
    n_toys : int
        Number of toys (at least 1).
    out : str or path
        Output directory (made if needed; files appear only when the study is complete).
    seed : int
        Toy ``i`` is seeded from ``SeedSequence(seed)``'s ``i``-th child: the same numbers on any workers.
    at : dict, optional
        Parameter values to draw the toys at; parameters not named here (all by default) are set
        to the generating pdf's best fit on the observed data.
    workers : int, optional
        Local Dask worker processes; default one per core. 1 runs in this process, without Dask.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of local workers.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The contents of validation.json.

    Raises
    ------
    InputError
        Before any toy: no toys, a workspace that records no NLLs, a point outside the ranges or
        naming an unknown parameter, an unwritable ``out``, a scheduler that does not answer.
    """
    if isinstance(n_toys, bool) or not isinstance(n_toys, int) or n_toys < 1:
        raise InputError(f"n_toys must be a positive integer, not {n_toys!r}: ask for at least one toy (--toys N)")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a positive integer, not {workers!r}")
    if workers is not None and scheduler is not None:
        raise InputError("give either workers (local Dask workers) or scheduler (an existing cluster), not both")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    out = Path(out)
    path = absolute_path(_workspace_file(workspace))
    from ..workspace import open_workspace

    with deferred_interrupts() as guard:
        ws = open_workspace(path)
        setup = read_setup(path, ws)
        point = check_point(ws, setup, at or {})
        check_output_dir(out)
        if len(point) < len(setup.parameters):
            point = {**default_point(ws, setup), **point}
        point = {p: point[p] for p in setup.parameters}
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        client = cluster = None
        if scheduler is not None or n_workers > 1:
            client, cluster = connect(scheduler, n_workers)
        try:
            if client is not None:
                n_workers = len(client.scheduler_info().get("workers", {})) or n_workers
            log.info(
                "%d toys of '%s' at %s, fitting %s on %d worker(s)",
                n_toys,
                setup.generator,
                point,
                ", ".join(setup.nlls),
                n_workers,
            )
            t0 = time.perf_counter()
            with _progress_bar(n_toys, progress) as bar:
                if client is None:
                    toys = run_in_process(path, n_toys, seed, point, bar.update)
                else:
                    with interruptible():
                        toys = run_on_dask(client, path, n_toys, seed, point, bar.update)
            wall_s = time.perf_counter() - t0
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        toys.sort(key=lambda t: t["toy"])
        results = {
            "workspace": path,
            "generator": setup.generator,
            "toys": n_toys,
            "seed": seed,
            "point": point,
            "workers": n_workers,
            "wall_s": wall_s,
            "skipped": setup.skipped,
            # The interface (docs/architecture.md): one entry per NLL name at the top level,
            # "nlls" lists them in fit order.
            "nlls": list(setup.nlls),
            **{name: summarize(toys, name, point) for name in setup.nlls},
        }
        with staging(out) as stage:
            write_json(results, stage / "validation.json")
            (stage / "validation.md").write_text(markdown(results))
            plot_pulls(toys, point, stage / "pulls.png")
            publish(stage, out, owned=VALIDATION_FILES)
        guard.done()
    return results


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress_bar(n_toys: int, show: bool):
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=n_toys, unit="toy", desc="toys")


def _finite(x: float) -> float | None:
    """JSON has no NaN: None where a statistic is undefined (no successful fit, one toy for a width)."""
    return float(x) if math.isfinite(x) else None


def _stats(delta: np.ndarray, pulls: np.ndarray, in68: np.ndarray, in95: np.ndarray, n_toys: int) -> dict:
    n = len(delta)
    out = {"n_toys": n_toys, "n_failed": n_toys - n}
    if n == 0:
        return {**out, **dict.fromkeys(("bias", "pull_mean", "pull_width", *_COVERAGE_KEYS))}
    p68, p95 = float(np.mean(in68)), float(np.mean(in95))
    return {
        **out,
        "bias": _finite(np.mean(delta)),
        "pull_mean": _finite(np.mean(pulls)),
        "pull_width": _finite(np.std(pulls, ddof=1)) if n > 1 else None,
        "coverage_68": p68,
        "coverage_68_err": math.sqrt(p68 * (1 - p68) / n),
        "coverage_95": p95,
        "coverage_95_err": math.sqrt(p95 * (1 - p95) / n),
    }


_COVERAGE_KEYS = ("coverage_68", "coverage_68_err", "coverage_95", "coverage_95_err")


def _columns(toys: list[dict], name: str, par: str) -> np.ndarray:
    """Rows (value, error, lo, hi, profile delta NLL at the point) of the successful fits (status 0), in toy order."""
    rows = [t["fits"][name]["params"][par] for t in toys if t["fits"][name]["status"] == 0]
    return np.array(rows, dtype=float).reshape(-1, 5)


def summarize(toys: list[dict], name: str, point: dict[str, float]) -> dict:
    """Bias, pulls and coverage of one NLL's fits, per parameter: MINOS at the top level, HESSE under "hesse"."""
    out = {}
    for par, truth in point.items():
        value, error, lo, hi, dnll = _columns(toys, name, par).T
        delta = value - truth
        # MINOS: the truth below the value is measured in the lower error, above it in the upper one.
        side = np.where(delta > 0, -lo, hi)
        minos = _stats(
            delta,
            delta / side,
            (lo <= -delta) & (-delta <= hi),
            dnll <= DNLL95,  # inside MINOS' 95 % interval: where the profile NLL is below its level
            len(toys),
        )
        hesse = _stats(delta, delta / error, np.abs(delta) <= error, np.abs(delta) <= Z95 * error, len(toys))
        out[par] = {**minos, "hesse": hesse}
    return out


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def markdown(results: dict) -> str:
    """validation.md: one row per NLL and parameter, MINOS and HESSE coverage side by side."""
    point = ", ".join(f"{k} = {v:.4g}" for k, v in results["point"].items())
    lines = [
        f"# roosbi validate: {results['toys']} toys (seed {results['seed']})",
        "",
        f"Toys drawn from the '{results['generator']}' pdf at {point}; {results['workers']} worker(s), "
        f"{results['wall_s']:.1f} s. MINOS 95 % coverage: the profile ΔNLL at the point is below 1.92; "
        "HESSE 95 %: within 1.96 errors.",
        "",
        "| NLL | parameter | failed | bias | pull mean | pull width | MINOS 68 % | MINOS 95 % | HESSE 68 % "
        "| HESSE 95 % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, pars in nll_results(results).items():
        for par, s in pars.items():
            h = s["hesse"]
            cov = [
                "–" if d["coverage_68"] is None else f"{d[k]:.3f} ± {d[k + '_err']:.3f}"
                for d in (s, h)
                for k in ("coverage_68", "coverage_95")
            ]
            lines.append(
                f"| {name} | {par} | {s['n_failed']}/{s['n_toys']} | {_fmt(s['bias'], '.4f')} | {_fmt(s['pull_mean'])} "
                f"| {_fmt(s['pull_width'])} | " + " | ".join(cov) + " |"
            )
    for name, why in results["skipped"].items():
        lines.append(f"\nNot fitted to toys: {name} ({why}).")
    lines += ["", "![MINOS pulls](pulls.png)", ""]
    return "\n".join(lines)


def plot_pulls(toys: list[dict], point: dict[str, float], path: Path) -> None:
    """pulls.png: MINOS pull histograms, one panel per NLL and parameter, with a unit Gaussian."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(toys[0]["fits"]) if toys else []
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
            value, _, lo, hi, _ = _columns(toys, name, par).T
            delta = value - point[par]
            pulls = delta / np.where(delta > 0, -lo, hi)
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


def nll_results(results: dict) -> dict[str, dict]:
    """The per-NLL part of a validation result: ``{nll name: {parameter: statistics}}``."""
    return {name: results[name] for name in results["nlls"]}
