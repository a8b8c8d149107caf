"""``roosbi validate``: a toy study of a marked workspace, its statistics and its files.

See ``docs/validation.md`` for what is computed and the layout of validation.json.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..interrupts import deferred_interrupts, interruptible
from ..output_dir import check_output_dir, publish, staging
from ..report import write_json
from .cluster import absolute_path, dask_workers, workspace_file
from .pools import NO_GENERATION, POOL, Pools, has_pools
from .toys import StudySetup, check_point, default_point, read_setup, run_in_process, run_on_dask
from .validation_report import fit_rows, markdown, plot_coverage, plot_pulls

log = logging.getLogger(__name__)

#: The files ``roosbi validate`` writes.
VALIDATION_FILES = ("validation.json", "validation.md", "pulls.png", "coverage_vs_point.png")
#: Half-width of the 95 % HESSE interval in units of the 68 % one.
Z95 = 1.959963984540054
#: Profile delta NLL at the edge of the 95 % MINOS interval (chi2 quantile of one degree of freedom, / 2).
DNLL95 = 0.5 * Z95**2


def run_validation(
    workspace: str | os.PathLike,
    n_toys: int,
    out: str | os.PathLike,
    seed: int = 1,
    at: Mapping[str, float] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | Callable[[int, int], None] = True,
    points: Sequence[Mapping[str, float]] | None = None,
    generator: str | None = None,
) -> dict:
    """Run a toy study of a marked workspace and write its files (:data:`VALIDATION_FILES`) in ``out``.

    Parameters
    ----------
    workspace : str or path
        A workspace file marked by :func:`roosbi.mark_fits`, or a ``roosbi demo`` output directory.
    n_toys : int
        Number of toys per point (at least 1).
    out : str or path
        Output directory (made if needed; files appear only when the study ends).
    seed : int
        Toy ``i`` of point ``k`` is seeded from ``SeedSequence(seed, spawn_key=(i,))`` for the first
        point and ``(k, i)`` for the others: the same numbers on any workers.
    at : dict, optional
        Parameter values to draw the toys at (one point); parameters not named here (all by
        default) are set to the generating pdf's best fit on the observed data.
    workers : int, optional
        Local Dask worker processes; default one per core. 1 runs in this process, without Dask.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of local workers.
    progress : bool or callable
        Show a progress bar; or a function called with (toys finished, toys in all) as toys finish,
        instead of the bar.
    points : list of dict, optional
        Several points (instead of ``at``), each with its own ``n_toys`` toys, all run together;
        each is completed like ``at``. validation.json's top-level statistics are those of the
        first point, ``"points"`` holds every point's.
    generator : str, optional
        The marked fit name whose pdf draws the toys (default: "analytic" if marked, else the
        first). ``"learned"`` is the closure test of a learned likelihood.

    Returns
    -------
    dict
        The contents of validation.json.

    Raises
    ------
    InputError
        Before any toy: no toys, a workspace that records no NLLs, a point outside the ranges or
        naming an unknown parameter, an unknown generator or one that cannot generate, an
        unwritable ``out``, a scheduler that does not answer or has no workers, a worker that
        cannot import roosbi or load its library.
    KeyboardInterrupt, Exception
        If the study stops (Ctrl-C, a task that failed for good) after some toys finished, it
        first writes the files from those toys, with ``"interrupted": true``, and sets the
        exception's ``toys_finished`` attribute to their number (absent: nothing was written).
    """
    _check_numbers(n_toys, workers, scheduler, seed)
    requested = _requested_points(at, points)
    out = Path(out)
    path = absolute_path(workspace_file(workspace))
    from ..workspace import open_workspace

    with deferred_interrupts() as guard:
        ws = open_workspace(path)
        setup = read_setup(path, ws)
        setup.generator = choose_generator(setup, generator)
        _check_names(setup)
        checked = [check_point(ws, setup, p) for p in requested]
        check_output_dir(out)
        best = default_point(ws, setup) if any(len(p) < len(setup.parameters) for p in checked) else {}
        full = [{n: {**best, **p}[n] for n in setup.parameters} for p in checked]
        check_generation(ws, setup, full)
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        toys: list[dict] = []
        failure = None
        with dask_workers(scheduler, n_workers, path) as (client, n_workers):
            log.info(
                "%d toys per point of '%s' at %s, fitting %s on %d worker(s)",
                n_toys,
                setup.generator,
                "; ".join(map(str, full)),
                ", ".join(setup.nlls),
                n_workers,
            )
            t0 = time.perf_counter()
            try:
                with _Progress(n_toys * len(full), progress) as bar:
                    if client is None:
                        run_in_process(path, n_toys, seed, full, bar.update, setup.generator, into=toys)
                    else:
                        with interruptible():
                            run_on_dask(client, path, n_toys, seed, full, bar.update, setup.generator, into=toys)
            except BaseException as err:  # noqa: BLE001 - re-raised below, once the finished toys are written
                failure = err
            wall_s = time.perf_counter() - t0
        toys.sort(key=lambda t: (t["point"], t["toy"]))
        results = study_results(path, setup, n_toys, seed, full, n_workers, wall_s, toys, failure is not None)
        if failure is None:
            _write(out, results, toys)
            guard.done()
            return results
        if toys:
            try:
                _write(out, results, toys)
                with contextlib.suppress(AttributeError, TypeError):
                    failure.toys_finished = len(toys)  # for the CLI's message: what it wrote
                log.warning(
                    "the study stopped (%s) after %d of %d toys; wrote the statistics of those to %s",
                    type(failure).__name__,
                    len(toys),
                    n_toys * len(full),
                    out,
                )
            except Exception as err:  # noqa: BLE001 - the stop is what to report
                log.error("the study stopped, and writing its %d finished toys failed too: %s", len(toys), err)
        raise failure


def _check_numbers(n_toys, workers, scheduler, seed) -> None:
    if isinstance(n_toys, bool) or not isinstance(n_toys, int) or n_toys < 1:
        raise InputError(f"n_toys must be a positive integer, not {n_toys!r}: ask for at least one toy (--toys N)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a positive integer, not {workers!r}")
    if workers is not None and scheduler is not None:
        raise InputError("give either workers (local Dask workers) or scheduler (an existing cluster), not both")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")


def _requested_points(at, points) -> list[dict]:
    """``[at]`` or ``points``, checked to be mappings; names and values are checked against the workspace later."""
    if points is None:
        if at is not None and not isinstance(at, Mapping):
            raise InputError(f"at must be a dict {{parameter: value}}, not {at!r}")
        return [dict(at or {})]
    if at is not None:
        raise InputError("give either at (one point) or points (several), not both")
    if isinstance(points, Mapping | str) or not isinstance(points, Sequence) or not points:
        raise InputError(f"points must be a non-empty list of dicts {{parameter: value}}, not {points!r}")
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise InputError(f"points[{i}] must be a dict {{parameter: value}}, not {point!r}")
    return [dict(p) for p in points]


#: Top-level keys of validation.json besides the NLL names (which must not take one of them).
RESULT_KEYS = (
    "workspace",
    "generator",
    "toys",
    "seed",
    "point",
    "workers",
    "wall_s",
    "skipped",
    "interrupted",
    "toys_finished",
    "nlls",
    "points",
)


def _check_names(setup: StudySetup) -> None:
    clash = sorted(set(setup.nlls) & set(RESULT_KEYS))
    if clash:
        raise InputError(
            f"the marked fit name(s) {', '.join(clash)} in '{setup.path}' would overwrite keys of validation.json; "
            "mark the pdfs under other names with roosbi.mark_fits"
        )


def choose_generator(setup: StudySetup, generator: str | None) -> str:
    """The fit name whose pdf draws the toys: ``generator`` (checked) or the setup's default."""
    if generator is None and not setup.generator:
        raise InputError(
            f"no marked pdf of '{setup.path}' can draw toys ({', '.join(setup.nlls)}: not densities of the "
            "observables) and it keeps no held-out events to draw them from; a mixture from sample files keeps them "
            "when its pseudo-data come from held-out events (roosbi run without --data)"
        )
    if generator is None:
        return setup.generator
    if generator == POOL:
        return POOL  # check_generation says whether the workspace keeps held-out events
    if generator in setup.skipped:
        raise InputError(
            f"'{generator}' cannot generate the toys: it is {setup.skipped[generator]}; choose generator= one of: "
            + ", ".join(setup.nlls)
        )
    if generator not in setup.nlls:
        raise InputError(
            f"no pdf is marked '{generator}' in '{setup.path}'; choose generator= one of the marked: "
            + ", ".join(setup.nlls)
        )
    return generator


def _check_pool_generation(ws, setup: StudySetup, points: list[dict[str, float]]) -> None:
    """Toys from held-out events: the workspace keeps them, and every point draws from positive weights."""
    pools = Pools(ws)  # refuses a workspace without them, or a pool without a positive weight
    if pools.poi not in setup.parameters:
        raise InputError(f"the held-out events' signal strength '{pools.poi}' is not a fitted parameter")
    for point in points:
        if point[pools.poi] < 0:
            raise InputError(f"toys from held-out events need {pools.poi} >= 0, not {point[pools.poi]:g}")


def check_generation(ws, setup: StudySetup, points: list[dict[str, float]]) -> None:
    """Generate one event from the generating pdf at each point, here, before the study.

    Raises
    ------
    InputError
        Naming the pdf, if it shares no observable with the data, if generating throws or gives
        no event, or if the event or the pdf's value there is not a finite (positive) number.
    """
    from ..library import import_root

    ROOT = import_root()
    name = setup.generator
    if name == POOL:
        _check_pool_generation(ws, setup, points)
        return
    pdf = ws.pdf(setup.nlls[name])
    if pdf.getStringAttribute(NO_GENERATION):
        raise InputError(
            f"the pdf '{name}' ({pdf.GetName()}) cannot generate toys: it is {pdf.getStringAttribute(NO_GENERATION)}"
            + ("; draw them from the held-out events: generator='pool'" if has_pools(ws) else "")
        )
    data_vars = ws.data(setup.observed).get()
    others = [n for n in setup.nlls if n != name]
    what = f"the pdf '{name}' ({pdf.GetName()})"
    hint = f"; draw the toys from another marked pdf: generator= one of {', '.join(others)}" if others else ""
    observables = pdf.getObservables(data_vars)
    ROOT.SetOwnership(observables, True)
    if observables.getSize() == 0:
        raise InputError(
            f"{what} depends on none of the observed data's variables ({', '.join(v.GetName() for v in data_vars)}),"
            f" so it cannot generate toys{hint}"
        )
    missing = [v.GetName() for v in data_vars if not observables.find(v.GetName())]
    if missing:
        log.warning("%s does not depend on %s: the toys draw it uniformly", what, ", ".join(missing))
    messages = ROOT.RooMsgService.instance()
    kill_below = messages.globalKillBelow()
    messages.setGlobalKillBelow(ROOT.RooFit.FATAL)  # the InputError says what went wrong
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
    snapshot = ws.allVars().snapshot()
    ROOT.SetOwnership(snapshot, True)
    try:
        for point in points:
            at = f"at {', '.join(f'{k}={v:g}' for k, v in point.items())}"
            for par, value in point.items():
                ws.var(par).setVal(value)
            ROOT.RooRandom.randomGenerator().SetSeed(1)
            try:
                toy = pdf.generate(data_vars, 1)
            except Exception as err:  # noqa: BLE001 - cppyy turns C++ exceptions into many types
                raise InputError(f"{what} cannot generate toys: one event {at} failed ({err}){hint}") from err
            if not toy or toy.numEntries() != 1:
                raise InputError(f"{what} cannot generate toys: it gave no event {at}{hint}")
            ROOT.SetOwnership(toy, True)
            observables.assign(toy.get(0))
            event = {v.GetName(): v.getVal() for v in observables if v.InheritsFrom("RooAbsReal")}
            density = pdf.getVal(observables)
            if not all(map(math.isfinite, event.values())) or not (math.isfinite(density) and density > 0):
                shown = ", ".join(f"{k}={v:g}" for k, v in event.items())
                raise InputError(
                    f"{what} cannot generate toys: its event {at} is {shown}, where the pdf is {density:g} "
                    f"(a finite, positive density is needed){hint}"
                )
    finally:
        ws.allVars().assign(snapshot)
        messages.setGlobalKillBelow(kill_below)
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
        ROOT.RooAbsReal.clearEvalErrorLog()


def study_results(
    path: str,
    setup: StudySetup,
    n_toys: int,
    seed: int,
    points: list[dict[str, float]],
    n_workers: int,
    wall_s: float,
    toys: list[dict],
    interrupted: bool,
) -> dict:
    """validation.json: the first point's statistics at the top level, every point's under "points"."""
    per_point = []
    for k, point in enumerate(points):
        these = [t for t in toys if t["point"] == k]
        stats = {name: summarize(these, name, point) for name in setup.nlls}
        per_point.append({"point": point, "toys_finished": len(these), **stats})
    return {
        "workspace": path,
        "generator": setup.generator,
        "toys": n_toys,
        "seed": seed,
        "point": points[0],
        "workers": n_workers,
        "wall_s": wall_s,
        "skipped": setup.skipped,
        "interrupted": interrupted,
        "toys_finished": len(toys),
        # The interface (docs/architecture.md): one entry per NLL name at the top level (the first
        # point's), "nlls" lists them in fit order.
        "nlls": list(setup.nlls),
        **{name: per_point[0][name] for name in setup.nlls},
        "points": per_point,
    }


def _write(out: Path, results: dict, toys: list[dict]) -> None:
    """Every file of the study, through a staging directory (all appear together, or none)."""
    with staging(out) as stage:
        write_json(results, stage / "validation.json")
        (stage / "validation.md").write_text(markdown(results))
        first = [t for t in toys if t["point"] == 0]
        plot_pulls(first, results["point"], stage / "pulls.png", results["nlls"])
        plot_coverage(results, stage / "coverage_vs_point.png")
        publish(stage, out, owned=VALIDATION_FILES)


class _Progress:
    """A tqdm bar (or none), and the caller's callback with (toys finished, toys in all)."""

    def __init__(self, total: int, show: bool | Callable[[int, int], None]) -> None:
        self.total, self.done = total, 0
        self.callback = show if callable(show) else None
        self.bar = None
        if show is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="toy", desc="toys")

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


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


def summarize(toys: list[dict], name: str, point: dict[str, float]) -> dict:
    """Bias, pulls and coverage of one NLL's fits, per parameter: MINOS at the top level, HESSE under "hesse"."""
    out = {}
    for par, truth in point.items():
        value, error, lo, hi, dnll = fit_rows(toys, name, par).T
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


def nll_results(results: dict) -> dict[str, dict]:
    """The per-NLL part of a validation result: ``{nll name: {parameter: statistics}}``."""
    return {name: results[name] for name in results["nlls"]}
