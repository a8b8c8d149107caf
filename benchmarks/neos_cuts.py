"""Soft-cut optimum against a hard-cut scan (roosbi.diffana, issue 12): does the sigmoid-cut optimiser find the cut
that a scan of hard cuts finds?

The seed's first example: signal N(1, 1) (30 events expected), background N(-1, 1) (300 events, a 10 % normsys),
one cut x > c, objective the Asimov discovery significance with the normsys profiled (cut-and-count). For each seed
the events are drawn, the hard cuts are scanned on a grid of step ``--step`` over [-0.5, 2.5], and
``optimize_cuts`` (sigmoid cuts of temperature ``--temperature``, Adam from c = 0) runs on the same events. Target:
the soft optimum within one scan step of the hard scan's optimum.

Two samplings per seed: ``stratified`` (one event in each of n equal-probability strata, with a seeded jitter: the
hard scan has almost no Monte Carlo noise, so the comparison measures the optimiser) and ``iid`` (plain random
events: the hard scan's argmax also moves with the Monte Carlo noise, because the significance is flat near its
maximum: 0.0025 below it one step away). The first line is the optimum with exact (infinite-statistics) yields.

    .venv/bin/python benchmarks/neos_cuts.py                  # 5 seeds, n = 200000 per process, ~1 min on 2 cores
    .venv/bin/python benchmarks/neos_cuts.py --n 20000 --seeds 3 --step 0.1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import stats
from torch_only import without_root

without_root()  # the lent GPU machine has no ROOT: ``--device cuda`` runs there
from roosbi.diffana.binned import BinnedModel, Sample  # noqa: E402
from roosbi.diffana.cuts import optimize_cuts, scan_cuts  # noqa: E402
from roosbi.diffana.objectives import asimov_significance  # noqa: E402
from roosbi.diffana.train import Process  # noqa: E402

SIGNAL, BACKGROUND, KAPPA = 30.0, 300.0, (0.9, 1.1)


def events(rng, n: int, mean: float, sampling: str) -> np.ndarray:
    if sampling == "stratified":
        return stats.norm.ppf((np.arange(n) + rng.uniform(size=n)) / n) + mean
    return rng.normal(mean, 1.0, n)


def exact_optimum(step: float = 0.001) -> tuple[float, float]:
    cuts = np.arange(1.0, 1.8, step)
    with torch.no_grad():
        z = [
            float(
                asimov_significance(
                    BinnedModel(
                        [
                            Sample("signal", [SIGNAL * stats.norm.sf(c - 1) + 1e-3], signal=True),
                            Sample("background", [BACKGROUND * stats.norm.sf(c + 1) + 1e-3], normsys={"n": KAPPA}),
                        ]
                    )
                )
            )
            for c in cuts
        ]
    return float(cuts[int(np.argmax(z))]), float(np.max(z))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="events per process")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--step", type=float, default=0.05, help="hard-scan step")
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=200, help="Adam steps of the soft optimiser")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)

    best, z_best = exact_optimum()
    print(f"exact yields: optimum c = {best:.3f}, Z0 = {z_best:.4f}")
    print(f"n = {args.n} per process, scan step {args.step}, temperature {args.temperature}, {args.steps} Adam steps")
    print("Δ: soft optimum minus hard-scan optimum, absolute, in scan steps")
    print()
    print("| seed | sampling | hard c | soft c | Δ / step | Z0 hard max | Z0 hard at soft c | soft s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    grid = np.arange(-0.5, 2.5 + args.step / 2, args.step)
    within = {"stratified": 0, "iid": 0}
    for seed in range(args.seeds):
        for sampling in ("stratified", "iid"):
            rng = np.random.default_rng(seed)
            processes = [
                Process("signal", events(rng, args.n, 1.0, sampling), SIGNAL / args.n, signal=True),
                Process("background", events(rng, args.n, -1.0, sampling), BACKGROUND / args.n, normsys={"n": KAPPA}),
            ]
            hard = scan_cuts(processes, grid)
            hard_best = float(grid[int(np.argmax(hard))])
            t0 = time.perf_counter()
            result = optimize_cuts(
                processes,
                [0.0],
                temperature=args.temperature,
                steps=args.steps,
                learning_rate=0.05,
                device=args.device,
                progress=False,
                seed=seed,
            )
            elapsed = time.perf_counter() - t0
            at_soft = float(scan_cuts(processes, result.cuts)[0])
            distance = abs(result.cuts[0] - hard_best) / args.step
            within[sampling] += distance <= 1.0
            print(
                f"| {seed} | {sampling} | {hard_best:.3f} | {result.cuts[0]:.3f} | {distance:.2f} | "
                f"{hard.max():.4f} | {at_soft:.4f} | {elapsed:.1f} |"
            )
    print()
    for sampling, count in within.items():
        print(f"{sampling}: soft optimum within one scan step of the hard scan's in {count}/{args.seeds} seeds")


if __name__ == "__main__":
    main()
