"""neos with few simulated background events: what the Monte Carlo statistical uncertainty (staterror) changes.

A summary trained on a small simulated sample can put the signal into bins where only a few background events
fell, and then claims a sensitivity the analysis does not have. With ``Process(staterror=True)`` the binned model
gets HistFactory's per-bin gammas (width sqrt(sum w^2) / sum w), and the training sees the price of such bins.

The problem is tests/test_diffana.py's: two features, signal N((1, 0.5), 1) of 15 expected events, background
N((-1, -0.5), 1.2) of 150 with a 5 % normsys and a histosys that shifts its events by +-0.2. The training sample
has ``--n-signal`` signal and ``--n-background`` background events (weights scaled to the yields); the truth is a
fresh sample of ``--n-truth`` events per process. The staterror is the background's (a shared HistFactory gamma
scales the whole bin, so a signal sample's small MC uncertainty would hide an empty background bin). Per seed, a
summary is trained without and with staterror (same seed, same settings), and each is evaluated three ways with
hard histograms:

* claimed: the model an analysis builds from its training sample, with its own staterror setting;
* with staterror: the training sample's templates with their MC uncertainties (what a careful analysis reports);
* true: the fresh large sample's templates, no staterror (the sensitivity the summary really has).

Numbers: median expected discovery significance Z0 (Asimov, nuisances profiled).

    .venv/bin/python benchmarks/neos_staterror.py                 # 5 seeds, ~1 min on 2 cores
    .venv/bin/python benchmarks/neos_staterror.py --seeds 3 --n-background 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch_only import without_root

without_root()
from roosbi.diffana.objectives import get_objective  # noqa: E402
from roosbi.diffana.train import Process, train_summary  # noqa: E402

SIGNAL, BACKGROUND = 15.0, 150.0


def processes(rng, n_signal: int, n_background: int, staterror: bool) -> list[Process]:
    sig = rng.normal([1.0, 0.5], 1.0, (n_signal, 2))
    bkg = rng.normal([-1.0, -0.5], 1.2, (n_background, 2))
    return [
        Process("signal", sig, SIGNAL / n_signal, signal=True),
        Process(
            "background",
            bkg,
            BACKGROUND / n_background,
            normsys={"bkg_norm": (0.95, 1.05)},
            histosys={"bkg_shift": (bkg - 0.2, bkg + 0.2)},
            staterror=staterror,
        ),
    ]


def with_staterror(events: list[Process], on: bool) -> list[Process]:
    """The same events with the background's staterror switched on or off."""
    return [Process(p.name, p.events, p.weights, p.signal, p.normsys, p.histosys, on and not p.signal) for p in events]


def z0(result, events) -> float:
    with torch.no_grad():
        return float(get_objective("asimov_significance").value(result.binned_model(events)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-signal", type=int, default=5000)
    parser.add_argument("--n-background", type=int, default=1000)
    parser.add_argument("--n-truth", type=int, default=500_000)
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(
        f"{args.n_signal} signal and {args.n_background} background training events, {args.bins} bins, "
        f"{args.steps} Adam steps; truth from {args.n_truth} events per process. Z0 with hard histograms.\n"
    )
    print("| seed | trained | claimed | with staterror | true | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    table = {False: [], True: []}
    for seed in range(1, args.seeds + 1):
        rng = np.random.default_rng(seed)
        train = processes(rng, args.n_signal, args.n_background, staterror=False)
        truth = processes(rng, args.n_truth, args.n_truth, staterror=False)
        for staterror in (False, True):
            t0 = time.perf_counter()
            result = train_summary(
                with_staterror(train, staterror),
                bins=args.bins,
                steps=args.steps,
                learning_rate=args.learning_rate,
                seed=seed,
                device="cpu",
                progress=False,
            )
            elapsed = time.perf_counter() - t0
            row = (
                z0(result, with_staterror(train, staterror)),
                z0(result, with_staterror(train, True)),
                z0(result, truth),
            )
            table[staterror].append(row)
            name = "with staterror" if staterror else "without"
            print(f"| {seed} | {name} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.3f} | {elapsed:.0f} |")
    print()
    print("| trained | median claimed | median with staterror | median true | median claimed - true |")
    print("| --- | --- | --- | --- | --- |")
    for staterror, rows in table.items():
        rows = np.asarray(rows)
        claimed, honest, true = np.median(rows, axis=0)
        over = np.median(rows[:, 0] - rows[:, 2])
        name = "with staterror" if staterror else "without"
        print(f"| {name} | {claimed:.3f} | {honest:.3f} | {true:.3f} | {over:+.3f} |")


if __name__ == "__main__":
    main()
