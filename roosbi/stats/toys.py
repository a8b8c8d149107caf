"""Toy studies: generate pseudo-datasets from a workspace's pdf and fit every recorded NLL to each.

The workspace says what to fit (:func:`roosbi.mark_fits`); a study draws toys from one marked pdf
(the "analytic" one when there is one, else the first marked, or the one the study names) at one
or several parameter points, with the observed dataset's number of events (Poisson-distributed if
the pdf is extended), and fits every marked NLL to each toy with :func:`roosbi.inference.fit_nll`,
the same code and settings as the demo's fits. Toy ``i`` of point ``k`` is seeded from
``np.random.SeedSequence(seed, spawn_key=(i,))`` for the first point (the ``i``-th child of
``SeedSequence(seed).spawn``) and ``spawn_key=(k, i)`` for the others, so a toy's numbers do not
depend on how many workers run, or in which order. The toys run in this process (one worker) or
as Dask tasks, after a probe of every worker (:func:`check_workers`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError
from ..inference import create_nll, fit_nll, minuit
from ..interrupts import checkpoint
from ..library import import_root
from ..workspace import DATA_MARK, NLL_ATTRIBUTE, PARAMETERS_MARK, open_workspace
from .cluster import CONNECT_TIMEOUT_S, RETRIES
from .pools import NO_GENERATION, POOL, Pools, has_pools
from .profile import draw_global_observables

log = logging.getLogger(__name__)

#: roosbi's fit names, fitted (and reported) in this order; other marked names follow by name.
ORDER = ("analytic", "learned", "morphed", "template")
#: Toys per Dask task: small enough to spread over the workers, large enough to pay for a task.
CHUNK = 4


@dataclass
class StudySetup:
    """What a study fits, read from a marked workspace and checked (see :func:`read_setup`)."""

    path: str
    #: Marked fit name -> pdf name, in fitting order (pdfs with their own dataset left out).
    nlls: dict[str, str]
    #: The pdf the toys are drawn from (a fit name of ``nlls``), or :data:`~roosbi.stats.pools.POOL`:
    #: the held-out events of a study on sample files.
    generator: str
    parameters: list[str]
    observed: str
    n_observed: int
    #: Marked fits that cannot be fitted to toys, with the reason.
    skipped: dict[str, str] = field(default_factory=dict)


def marked_pdfs(ws) -> dict[str, object]:
    """``{fit name: pdf}`` of every pdf marked by :func:`roosbi.mark_fits`, in roosbi's order."""
    found = {}
    for pdf in ws.allPdfs():
        name = pdf.getStringAttribute(NLL_ATTRIBUTE)
        if name:
            found[str(name)] = pdf
    names = [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)
    return {n: found[n] for n in names}


def read_setup(path: str | os.PathLike, ws=None) -> StudySetup:
    """Read and check what a study of the workspace file ``path`` fits.

    Raises
    ------
    InputError
        If the workspace records no NLLs, parameters or observed data.
    """
    ws = ws if ws is not None else open_workspace(path)
    pdfs = marked_pdfs(ws)
    data_mark = ws.genobj(DATA_MARK)
    params = ws.set(PARAMETERS_MARK)
    fix = "mark it with roosbi.mark_fits(ws, {'analytic': pdf, ...}, data, ['mu']) and write it again"
    if not pdfs:
        raise InputError(f"'{path}' records no NLLs to fit (no pdf has the attribute {NLL_ATTRIBUTE}); {fix}")
    if not data_mark or not params or not ws.data(data_mark.GetTitle()):
        raise InputError(
            f"'{path}' does not say which data and parameters to fit ({DATA_MARK}, {PARAMETERS_MARK}); {fix}"
        )
    observed = str(data_mark.GetTitle())
    nlls, skipped = {}, {}
    for name, pdf in pdfs.items():
        if pdf.getStringAttribute("roosbi_data"):
            # The mixture's score templates live in another observable than the toys.
            skipped[name] = f"fitted to its own dataset '{pdf.getStringAttribute('roosbi_data')}', not to toys"
        else:
            nlls[name] = pdf.GetName()
    if not nlls:
        raise InputError(f"every NLL marked in '{path}' is fitted to its own dataset; no NLL can be fitted to toys")
    return StudySetup(
        path=str(path),
        nlls=nlls,
        generator=_default_generator(ws, nlls),
        parameters=[p.GetName() for p in params],
        observed=observed,
        n_observed=int(ws.data(observed).numEntries()),
        skipped=skipped,
    )


def _default_generator(ws, nlls: dict[str, str]) -> str:
    """The analytic pdf if marked, else the held-out events if kept, else the first marked pdf that can generate.

    "" when none can (:func:`~roosbi.stats.validate.choose_generator` then refuses the study).
    """
    if "analytic" in nlls:
        return "analytic"
    if has_pools(ws):
        return POOL
    able = [n for n, pdf in nlls.items() if not ws.pdf(pdf).getStringAttribute(NO_GENERATION)]
    return able[0] if able else ""


def check_point(ws, setup: StudySetup, point: Mapping[str, float]) -> dict[str, float]:
    """The full parameter point: ``point`` checked (known names, inside the ranges), the rest filled in later.

    Raises
    ------
    InputError
        For a name that is not a fitted parameter, or a value outside (or on a limit of) its range.
    """
    out = {}
    for name, value in point.items():
        if name not in setup.parameters:
            raise InputError(
                f"--at names '{name}', which is not a fitted parameter; choose from: {', '.join(setup.parameters)}"
            )
        var = ws.var(name)
        value = float(value)
        if not math.isfinite(value) or not var.getMin() < value < var.getMax():
            raise InputError(
                f"--at {name}={value:g} is not inside the range of '{name}', ({var.getMin():g}, {var.getMax():g}); "
                "choose a point inside it"
            )
        out[name] = value
    return out


def default_point(ws, setup: StudySetup) -> dict[str, float]:
    """The generating pdf's best fit on the observed data (MIGRAD + HESSE, from the middle of the ranges).

    With toys from held-out events: the best fit of the first marked NLL.
    """
    name = next(iter(setup.nlls)) if setup.generator == POOL else setup.generator
    pdf = ws.pdf(setup.nlls[name])
    params = [ws.var(n) for n in setup.parameters]
    nll = create_nll(pdf, ws.data(setup.observed), backend=pdf.getStringAttribute("roosbi_backend") or "cpu")
    fit = fit_nll(nll, params, _start(params), minos=False, check_points=0)
    if fit.status != 0:
        raise InputError(
            f"the fit of '{name}' to the observed data failed (status {fit.status}), so there is no "
            "default point to draw toys at; give one with --at name=value"
        )
    return {n: float(r.value) for n, r in fit.params.items()}


def _start(params) -> dict[str, float]:
    """The demo's (and the macro's) start: the middle of every parameter's range."""
    return {p.GetName(): 0.5 * (p.getMin() + p.getMax()) for p in params}


def toy_seeds(seed: int, index: int, point_index: int = 0) -> tuple[np.random.Generator, int]:
    """Toy ``index``'s numpy generator (its event count) and ROOT seed (its events), from ``seed`` alone.

    The toys of the first point (``point_index`` 0) have the spawn key ``(index,)``, those of point
    ``k > 0`` the key ``(k, index)``: a one-point study keeps the numbers it always had.
    """
    key = (index,) if point_index == 0 else (point_index, index)
    child = np.random.SeedSequence(seed, spawn_key=key)
    root_seed = int(child.generate_state(1, np.uint32)[0]) or 1  # TRandom3 reseeds from the clock on 0
    return np.random.default_rng(child), root_seed


# Per process (a Dask worker keeps it between tasks): the opened workspace of each file.
_OPENED: dict[str, tuple[object, StudySetup]] = {}
#: Held-out events per workspace file, read once per process (:mod:`roosbi.stats.pools`).
_POOLS: dict[str, Pools] = {}
_SNAPSHOT = "roosbi_toys_start"


def _workspace(path: str):
    if path not in _OPENED:
        ws = open_workspace(path)
        # Every toy starts from the file's values, also of variables that float but are not marked
        # (a fit moves them): a toy's numbers then do not depend on which toys ran before it.
        ws.saveSnapshot(_SNAPSHOT, ws.allVars(), True)
        _OPENED[path] = (ws, read_setup(path, ws))
    return _OPENED[path]


def run_toys(
    path: str,
    indices: Iterable[int],
    seed: int,
    point: Mapping[str, float],
    point_index: int = 0,
    generator: str | None = None,
) -> list[dict]:
    """Generate and fit the toys ``indices`` of point ``point_index`` (the body of a Dask task; also run in-process).

    ``generator`` is the marked fit name whose pdf draws the toys (default: the setup's).

    Returns
    -------
    list of dict
        Per toy: ``{"toy", "point", "n_events", "fits": {name: {"status", "params": {par: [value,
        error, lo, hi, profile delta NLL]}}}}``; ``"point"`` is ``point_index``.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ROOT = import_root()
    messages = ROOT.RooMsgService.instance()
    kill_below = messages.globalKillBelow()
    messages.setGlobalKillBelow(ROOT.RooFit.WARNING)  # RooFit's INFO lines per NLL and fit
    ws, setup = _workspace(path)
    params = [ws.var(n) for n in setup.parameters]
    start = _start(params)
    generator = generator or setup.generator
    pools = _pools(path, ws) if generator == POOL else None
    gen_pdf = None if pools else ws.pdf(setup.nlls[generator])
    observables = ws.data(setup.observed).get()
    quiet = [logging.getLogger(n) for n in ("roosbi.inference", "roosbi.roofit")]
    levels = [q.level for q in quiet]
    for q in quiet:  # one line per fit and toy would drown the progress bar; statuses are counted instead
        q.setLevel(logging.ERROR)
    out = []
    try:
        for index in indices:
            checkpoint()
            rng, root_seed = toy_seeds(seed, index, point_index)
            ws.loadSnapshot(_SNAPSHOT)
            for par in params:
                par.setVal(point[par.GetName()])
            if pools is not None:
                toy = pools.toy(point, rng, observables)
                n = int(toy.numEntries())
            else:
                extended = gen_pdf.canBeExtended()
                n = int(rng.poisson(gen_pdf.expectedEvents(observables))) if extended else setup.n_observed
                ROOT.RooRandom.randomGenerator().SetSeed(root_seed)
                # the auxiliary measurements fluctuate with the events (the unconditional ensemble); the fits'
                # NLLs, made after this, read the drawn values; the next toy's snapshot restores them
                draw_global_observables(gen_pdf, observables, params)
                toy = gen_pdf.generate(observables, n)
                if not toy:
                    raise RuntimeError(f"the pdf '{gen_pdf.GetName()}' generated no dataset for toy {index} at {point}")
            ROOT.SetOwnership(toy, True)
            fits = _fit_toy(ws, setup, toy, params, start, point)
            out.append({"toy": int(index), "point": int(point_index), "n_events": n, "fits": fits})
    finally:
        messages.setGlobalKillBelow(kill_below)
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
    return out


def _pools(path: str, ws) -> Pools:
    """The held-out events of the workspace file ``path``, read once per process."""
    if path not in _POOLS:
        _POOLS[path] = Pools(ws)
    return _POOLS[path]


def _fit_toy(ws, setup: StudySetup, toy, params, start: dict[str, float], point: Mapping[str, float]) -> dict:
    """Fit every NLL to one toy as the demo's _fit_all does (no lower-point scan), and profile it at ``point``.

    Per parameter: ``[value, HESSE error, MINOS lower, MINOS upper, profile delta NLL at the point]``.
    """
    ROOT = import_root()
    fits = {}
    for name, pdf_name in setup.nlls.items():
        pdf = ws.pdf(pdf_name)
        expected_errors = name == "morphed" or pdf.getStringAttribute("roosbi_eval_errors") == "expected"
        ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
        ROOT.RooAbsReal.clearEvalErrorLog()
        try:
            nll = create_nll(pdf, toy, backend=pdf.getStringAttribute("roosbi_backend") or "cpu")
            fit = fit_nll(nll, params, start, error_wall=not expected_errors, check_points=0)
        finally:
            ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.PrintErrors)
        profile = {p.GetName(): _profile_delta_nll(nll, params, p, point, fit.nll_min) for p in params}
        fits[name] = {
            "status": int(fit.status),
            "params": {p: [r.value, r.error, r.minos[0], r.minos[1], profile[p]] for p, r in fit.params.items()},
        }
    return fits


def _profile_delta_nll(nll, params, par, point: Mapping[str, float], nll_min: float) -> float:
    """Profile NLL at ``par = point[par]`` minus the minimum.

    The point lies inside MINOS' interval of level q where ``2 * delta < chi2_1(q)``: MINOS'
    intervals are where the profile NLL crosses that level.

    With one parameter this is one evaluation; with more, the others are minimised (MIGRAD, the
    settings of :func:`roosbi.inference.fit_nll`) with ``par`` fixed. The parameters are left at
    the fit's minimum.
    """
    best = {p.GetName(): (p.getVal(), p.getError()) for p in params}
    try:
        par.setVal(point[par.GetName()])
        if len(params) == 1:
            return float(nll.getVal() - nll_min)
        par.setConstant(True)
        minuit(nll).migrad()
        return float(nll.getVal() - nll_min)
    finally:
        par.setConstant(False)
        for p in params:
            p.setVal(best[p.GetName()][0])
            p.setError(best[p.GetName()][1])


def _chunks(n_toys: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n_toys))) for i in range(0, n_toys, size)]


def _points(points: Mapping[str, float] | Sequence[Mapping[str, float]]) -> list[dict]:
    """One point (a mapping) or a list of them, as a list."""
    return [dict(points)] if isinstance(points, Mapping) else [dict(p) for p in points]


def run_in_process(
    path: str,
    n_toys: int,
    seed: int,
    points: Mapping[str, float] | Sequence[Mapping[str, float]],
    progress: Callable[[int], None],
    generator: str | None = None,
    into: list | None = None,
) -> list[dict]:
    """Every toy in this process, one at a time, the points in turn (Ctrl-C stops between toys).

    Each finished toy is appended to ``into`` (a new list by default, returned) before
    ``progress(1)`` is called: what finished stays there if the study stops.
    """
    _OPENED.pop(path, None)  # read the file afresh: it may have been rewritten since an earlier study
    points = _points(points)
    results = [] if into is None else into
    for index in range(n_toys):  # toy 0 of every point, then toy 1, ...: a stopped study has some at each
        for k, point in enumerate(points):
            results += run_toys(path, [index], seed, point, k, generator)
            progress(1)
    return results


def run_on_dask(
    client,
    path: str,
    n_toys: int,
    seed: int,
    points: Mapping[str, float] | Sequence[Mapping[str, float]],
    progress: Callable[[int], None],
    generator: str | None = None,
    into: list | None = None,
) -> list[dict]:
    """Every toy of every point as Dask tasks (chunks of :data:`CHUNK`), submitted at once, collected as they complete.

    Each finished chunk is appended to ``into`` (a new list by default, returned) before
    ``progress(len(chunk))`` is called. If collecting stops (Ctrl-C, a task that failed for good),
    the results of tasks that had finished are appended too, the other tasks are cancelled and
    the exception goes on.
    """
    from distributed import as_completed

    points = _points(points)
    # The points' chunks interleaved: Dask runs tasks in about the order they were submitted, so a
    # study that stops early has toys at every point.
    tasks = [(k, chunk) for chunk in _chunks(n_toys, CHUNK) for k in range(len(points))]
    futures = [
        client.submit(run_toys, path, chunk, seed, points[k], k, generator, retries=RETRIES, pure=False)
        for k, chunk in tasks
    ]
    results = [] if into is None else into
    collected = set()
    try:
        for future in as_completed(futures):
            chunk = future.result()
            collected.add(future.key)
            results += chunk
            progress(len(chunk))
    except BaseException:
        for future in futures:  # keep what finished but was not collected yet
            if future.key not in collected and future.status == "finished":
                try:
                    results += future.result(timeout=CONNECT_TIMEOUT_S)
                except Exception:  # noqa: BLE001 - the study stops anyway; this is what it can keep
                    pass
        client.cancel(futures)
        raise
    return results
