"""Simulation speed: events per second of ``simulate`` in one process and on 1, 2, ... workers.

The problem is rf615's (``gauss1d``, by default): theta uniform, x from a Gaussian at each event's
theta (RooFit's ProtoData generation), and as many reference events from the uniform reference.
``--problem resonance`` simulates through latents (a line on a continuum, then a detector) and
computes the gold of every event: far more work per event.
``events`` counts both classes (``n_target = events / 2``). ``single`` is ``simulate(...)`` as it
always was (``workers=None``: one stream per class, in this process); ``workers=N`` simulates in
chunks of ``--chunk-size`` target events on N processes (``workers=1``: in this process), and
gives the same sample for every N. The wall time includes writing the workspace file and the
workers' start-up (a fresh Python process that imports ROOT and roosbi, a few seconds).

Example (docs/scale.md):

    python benchmarks/simulate_speed.py --events 1e5 1e6 1e7 --workers 1 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, nargs="+", default=[1e5, 1e6, 1e7], help="target + reference")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=None, help="target events per chunk (default: roosbi's)")
    parser.add_argument("--problem", default="gauss1d", help="a built-in problem (default gauss1d)")
    parser.add_argument("--no-single", action="store_true", help="skip the single-process simulate(workers=None)")
    args = parser.parse_args()

    from roosbi.data.parallel import CHUNK_SIZE, simulate_parallel
    from roosbi.data.problems import make_problem
    from roosbi.data.simulate import simulate
    from roosbi.library import import_root

    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    chunk_size = args.chunk_size or CHUNK_SIZE
    problem = make_problem(args.problem, seed=3)
    print(f"{args.problem}: chunk size {chunk_size} target events")
    print(f"{'events':>10} {'how':>10} {'chunks':>6} {'wall s':>8} {'events/s':>10} {'same as 1':>9}", flush=True)
    for events in args.events:
        n_target = int(events) // 2
        if not args.no_single:
            start = time.perf_counter()
            simulate(problem, n_target, seed=7)
            wall = time.perf_counter() - start
            print(f"{2 * n_target:>10} {'single':>10} {'':>6} {wall:>8.2f} {2 * n_target / wall:>10.3g} {'':>9}")
        first = None
        for workers in args.workers:
            run = simulate_parallel(problem, n_target, seed=7, workers=workers, chunk_size=chunk_size)
            x = run.sample.x
            same = "" if first is None else ("yes" if np.array_equal(first, x) else "NO")
            first = x if first is None else first
            print(
                f"{run.events:>10} {f'workers={run.workers}':>10} {run.n_chunks:>6} {run.wall_s:>8.2f} "
                f"{run.events_per_s:>10.3g} {same:>9}",
                flush=True,
            )
            del run, x


if __name__ == "__main__":
    main()
