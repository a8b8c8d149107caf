"""Parallel simulation: a training sample in chunks, on several processes, the same for any number of them.

:func:`simulate_parallel` (and ``simulate(..., workers=n)``) splits the events into chunks of
``chunk_size`` target events (and as many reference events per chunk, in proportion). Chunk
``i`` is simulated exactly as :func:`~roosbi.data.simulate.simulate` simulates a sample (theta
from the prior, x from p(x|theta) at each theta by RooFit's ``ProtoData`` generation, reference
events paired with the chunk's theta), from its own seed ``numpy.random.SeedSequence(seed,
spawn_key=(i,))`` (the i-th child of ``SeedSequence(seed).spawn``). The chunks are then put
together in order (every chunk's target events, then every chunk's reference events). Since
neither the chunks nor their seeds depend on the number of workers, the sample does not either;
it does depend on ``chunk_size``, and it is not the sample of ``simulate(..., workers=None)``,
which draws each class from one stream.

ROOT is not safe in a forked child, so the workers are fresh processes (``spawn``). The problem's
workspace is written once to a temporary ROOT file that every worker opens (once per process);
``workers=1`` simulates in this process, from the same file, so that it gives the very numbers
of any other count. A prior or reference pdf given as an object must be in the problem's
workspace (it is passed on by name).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..library import import_root
from .problems import Problem
from .sample import TrainingSample

log = logging.getLogger(__name__)

#: Target events per chunk by default (each chunk also holds its share of the reference events).
CHUNK_SIZE = 100_000

#: Per process: the problems opened from workspace files, by file path.
_OPENED: dict[str, tuple[object, Problem]] = {}


@dataclass
class ParallelSimulation:
    """A sample simulated in chunks, and how fast.

    Attributes
    ----------
    sample : TrainingSample
    events : int
        Target plus reference events.
    wall_s : float
        Seconds from the first chunk's start to the assembled sample (the workspace file and the
        workers' start-up included).
    events_per_s : float
        ``events / wall_s``.
    workers : int
        Processes that simulated (1: this one).
    n_chunks : int
    """

    sample: TrainingSample
    events: int
    wall_s: float
    events_per_s: float
    workers: int
    n_chunks: int


def chunk_sizes(n: int, n_chunks: int) -> list[int]:
    """``n`` split into ``n_chunks`` near-equal parts, the larger ones first."""
    base, extra = divmod(int(n), int(n_chunks))
    return [base + (1 if i < extra else 0) for i in range(n_chunks)]


def chunk_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of chunk ``index``: ``SeedSequence(seed).spawn(n)[index]`` for any ``n > index``."""
    return np.random.SeedSequence(seed, spawn_key=(int(index),))


def _resolve_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or (workers < 1 and workers != -1):
        raise InputError(f"workers must be None, -1 (one per usable CPU) or a positive integer, not {workers!r}")
    if workers == -1:
        from ..estimators.resources import usable_cpus

        return usable_cpus()
    return int(workers)


def _by_name(problem: Problem, pdf, role: str):
    """A prior or reference that can travel to another process: None, a name, a dict, or 'marginal'."""
    if pdf is None or isinstance(pdf, (str, dict)):
        return pdf
    ROOT = import_root()
    if isinstance(pdf, ROOT.RooAbsPdf):
        found = problem.workspace.pdf(pdf.GetName())
        if found and ROOT.addressof(found) == ROOT.addressof(pdf):
            return pdf.GetName()
        raise InputError(
            f"with workers, the {role} pdf '{pdf.GetName()}' must be in the problem's workspace (the workers read "
            "the workspace from a file): import it there, or give its name"
        )
    if hasattr(pdf, "items"):
        return dict(pdf)
    return pdf  # refused with simulate's own message


def _problem_fields(problem: Problem) -> dict:
    """The Problem's fields other than the workspace, plain values that pickle."""
    plain = {dict: dict, list: list}
    out = {}
    for f in fields(Problem):
        if f.name != "workspace":
            value = getattr(problem, f.name)
            out[f.name] = plain.get(type(value), lambda v: v)(value)
    return out


def _open(spec: dict) -> Problem:
    """The problem of ``spec``, its workspace read from ``spec['path']`` (once per process)."""
    path = spec["path"]
    if path not in _OPENED:
        ROOT = import_root()
        # The C++ library first: a workspace holding a RooLearnedRatio is read only by a process that knows it.
        import roosbi  # noqa: F401

        ROOT.RooMsgService.instance().setGlobalKillBelow(spec["kill_below"])
        file = ROOT.TFile.Open(path)
        if not file or file.IsZombie():
            raise OSError(f"cannot open the workspace file {path}")
        ws = file.Get(spec["workspace"])
        if not ws:
            raise OSError(f"no workspace '{spec['workspace']}' in {path}")
        ROOT.SetOwnership(ws, False)
        _OPENED[path] = (file, Problem(workspace=ws, **spec["problem"]))
    return _OPENED[path][1]


def _forget(path: str) -> None:
    """Close the file of ``path`` in this process and free the workspace read from it."""
    opened = _OPENED.pop(path, None)
    if opened is not None:
        file, problem = opened
        file.Close()
        ROOT = import_root()
        ROOT.SetOwnership(problem.workspace, True)  # read from the file, owned by no one else: deleted with it


def _init_worker(spec: dict) -> None:
    _open(spec)


def _run_chunk(spec: dict, index: int, n_target: int, n_reference: int) -> dict:
    """Simulate chunk ``index`` (in any process): its columns, as :func:`~roosbi.data.simulate.simulate` makes them."""
    from .simulate import _simulate_columns

    problem = _open(spec)
    columns = _simulate_columns(
        problem,
        n_target,
        n_reference,
        chunk_seed(spec["seed"], index),
        spec["prior"],
        spec["reference"],
        spec["gold"],
        announce=False,
    )
    return {k: columns[k] for k in ("x", "theta", "joint_log_ratio", "joint_score", "reference", "reference_uniform")}


def _assemble(problem: Problem, chunks: list[dict], targets: list[int], references: list[int]) -> TrainingSample:
    """One sample from the chunks: every chunk's target events in order, then every chunk's reference events."""

    def column(name):
        if chunks[0][name] is None:
            return None
        parts = [c[name][:t] for c, t in zip(chunks, targets, strict=True)]
        parts += [c[name][t:] for c, t in zip(chunks, targets, strict=True)]
        return np.concatenate(parts)

    n_target, n_reference = sum(targets), sum(references)
    return TrainingSample(
        x=column("x"),
        theta=column("theta"),
        y=np.concatenate([np.ones(n_target), np.zeros(n_reference)]),
        observables=list(problem.observables),
        parameters=problem.all_parameters,
        parameter_ranges=problem.all_parameter_ranges(),
        reference=chunks[0]["reference"],
        reference_uniform=chunks[0]["reference_uniform"],
        joint_log_ratio=column("joint_log_ratio"),
        joint_score=column("joint_score"),
    )


def simulate_parallel(
    problem: Problem,
    n_target: int = 50_000,
    n_reference: int | None = None,
    seed: int = 1,
    prior=None,
    reference=None,
    gold: bool | None = None,
    workers: int = -1,
    chunk_size: int = CHUNK_SIZE,
) -> ParallelSimulation:
    """Simulate a training sample in chunks on ``workers`` processes; the sample and the events per second.

    Parameters
    ----------
    problem, n_target, n_reference, seed, prior, reference, gold
        As in :func:`~roosbi.data.simulate.simulate`; a prior or reference pdf must be in the
        problem's workspace.
    workers : int
        Processes: 1 simulates in this process, -1 (default) one per usable CPU. At most one per chunk.
    chunk_size : int
        Target events per chunk (``ceil(n_target / chunk_size)`` chunks, also bounded by the
        reference events: every chunk holds at least one of each class). The sample depends on
        it, not on ``workers``.

    Returns
    -------
    ParallelSimulation
        ``.sample`` the TrainingSample, ``.events_per_s`` the rate (also logged at INFO).
    """
    from .simulate import _reference_plan

    n_reference = n_target if n_reference is None else n_reference
    if n_target < 1 or n_reference < 1:
        raise InputError("n_target and n_reference must be positive")
    if gold not in (None, True, False):
        raise InputError(f"gold must be None (when possible), True or False, not {gold!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    workers = _resolve_workers(workers)
    prior, reference = _by_name(problem, prior, "prior"), _by_name(problem, reference, "reference")
    plan = _reference_plan(problem, reference)  # a bad reference fails here, before any process starts
    if gold is True and plan.gold is None:
        raise InputError(f"gold=True, but {plan.no_gold}")
    n_chunks = max(1, min(math.ceil(n_target / chunk_size), n_target, n_reference))
    targets, references = chunk_sizes(n_target, n_chunks), chunk_sizes(n_reference, n_chunks)
    workers = min(workers, n_chunks)
    ROOT = import_root()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="roosbi-simulate-") as tmp:
        path = str(Path(tmp) / "workspace.root")
        problem.workspace.writeToFile(path, True)
        spec = {
            "path": path,
            "workspace": problem.workspace.GetName(),
            "problem": _problem_fields(problem),
            "kill_below": int(ROOT.RooMsgService.instance().globalKillBelow()),
            "seed": int(seed),
            "prior": prior,
            "reference": reference,
            "gold": gold,
        }
        specs = [spec] * n_chunks
        if workers == 1:
            try:
                chunks = list(map(_run_chunk, specs, range(n_chunks), targets, references))
            finally:
                _forget(path)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(spec,)) as pool:
                chunks = list(pool.map(_run_chunk, specs, range(n_chunks), targets, references))
    sample = _assemble(problem, chunks, targets, references)
    wall = time.perf_counter() - start
    events = n_target + n_reference
    log.info(
        "simulated %d target and %d reference events (reference: %s) in %d chunks on %d process%s: %.1f s, "
        "%.3g events/s",
        n_target,
        n_reference,
        sample.reference,
        n_chunks,
        workers,
        "" if workers == 1 else "es",
        wall,
        events / wall,
    )
    return ParallelSimulation(sample, events, wall, events / wall, workers, n_chunks)
