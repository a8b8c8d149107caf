"""roosbi.diffana on a GPU: the same neos training and cut optimisation on the CPU and on CUDA, and their speed.

Runs where torch is but ROOT is not (the lent GPU machine): ``torch_only.without_root`` imports the diffana
submodules without the RooFit export. The problem is a two-feature signal N((1, 0.5), 1) of 15 events over a
background N((-1, -0.5), 1.2) of 150 events with a 5 % normsys and a histosys that shifts its events by +-0.2
(tests/test_diffana.py's problem, with more events).

``check``:

* every objective (and Z0 with the background's MC statistical uncertainty) trains a few steps on each device:
  finite, and the first step's objective (the same float32 network on the same events) agrees between the devices;
* ``train_summary`` for ``--steps`` steps on each device from one seed: the objective's history side by side, and
  each final network's objective with hard histograms, evaluated on the CPU (the number an analysis gets);
* the CUDA training run twice from one seed: same history or not (reproducibility on the GPU);
* ``optimize_cuts`` on neos_cuts.py's cut-and-count problem on each device, against the hard-cut scan.

``speed``: milliseconds per full-batch neos step, CPU (torch's threads as training_threads sets them) and CUDA,
for ``--events`` events per process.

    python benchmarks/diffana_gpu.py check --device cuda
    python benchmarks/diffana_gpu.py speed --events 1e4 1e5 1e6 --device cuda
    .venv/bin/python benchmarks/diffana_gpu.py check --device cpu --steps 20    # here: both columns the CPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from neos_staterror import processes as two_gaussians  # stubs roosbi where ROOT is absent (torch_only)
from neos_staterror import with_staterror
from scipy import stats

from roosbi.diffana.cuts import optimize_cuts, scan_cuts
from roosbi.diffana.objectives import OBJECTIVES, get_objective
from roosbi.diffana.train import Process, train_summary


def processes(n: int, seed: int = 0) -> list[Process]:
    """neos_staterror.py's problem with ``n`` signal and ``2 n`` background events (the same draws)."""
    return two_gaussians(np.random.default_rng(seed), n, 2 * n, staterror=False)


def cut_processes(n: int) -> list[Process]:
    """neos_cuts.py's problem, stratified: signal N(1, 1) of 30 events, background N(-1, 1) of 300 (10 % normsys)."""
    rng = np.random.default_rng(0)
    grid = (np.arange(n) + rng.uniform(size=n)) / n
    return [
        Process("signal", stats.norm.ppf(grid) + 1.0, 30.0 / n, signal=True),
        Process("background", stats.norm.ppf(grid) - 1.0, 300.0 / n, normsys={"n": (0.9, 1.1)}),
    ]


def hard_objective(result, events, objective: str) -> float:
    """The objective of a trained summary with hard histograms, on the CPU."""
    with torch.no_grad():
        return float(get_objective(objective).value(result.binned_model(events)))


def check(args) -> None:
    devices = ("cpu", args.device)
    events = processes(args.n)
    print(f"devices: {devices[0]} and {devices[1]}; {args.n} signal and {2 * args.n} background events\n")

    print("| objective | first step, cpu | first step, " + devices[1] + " | relative difference | finite |")
    print("| --- | --- | --- | --- | --- |")
    samples = [(name, events) for name in OBJECTIVES]
    samples.append(("asimov_significance, staterror", with_staterror(events, True)))
    for name, sample in samples:
        objective = name.split(",")[0]
        runs = [train_summary(sample, objective, steps=3, device=d, progress=False).history for d in devices]
        finite = all(np.isfinite(h).all() for h in runs)
        rel = abs(runs[1][0] - runs[0][0]) / abs(runs[0][0])
        print(f"| {name} | {runs[0][0]:.6g} | {runs[1][0]:.6g} | {rel:.1e} | {finite} |")

    print(f"\nasimov_significance, {args.steps} Adam steps, seed 0:\n")
    print("| device | Z0 first step | Z0 last step | Z0 hard histograms (CPU) | s per step |")
    print("| --- | --- | --- | --- | --- |")
    results = {}
    for device in devices:
        t0 = time.perf_counter()
        results[device] = train_summary(events, steps=args.steps, device=device, progress=False)
        per_step = (time.perf_counter() - t0) / args.steps
        h = results[device].history
        hard = hard_objective(results[device], events, "asimov_significance")
        print(f"| {device} | {h[0]:.4f} | {h[-1]:.4f} | {hard:.4f} | {per_step:.3f} |")
    a, b = (np.asarray(results[d].history) for d in devices)
    print(f"\nlargest |Z0 difference| between the devices' histories: {np.abs(a - b).max():.2e}")
    again = np.asarray(train_summary(events, steps=args.steps, device=devices[1], progress=False).history)
    print(f"{devices[1]} again from the same seed: largest |Z0 difference| {np.abs(again - b).max():.2e}")

    cuts_events = cut_processes(args.cut_events)
    step = 0.05
    grid = np.arange(-0.5, 2.5 + step / 2, step)
    hard_best = float(grid[int(np.argmax(scan_cuts(cuts_events, grid)))])
    print(f"\ncut-and-count, {args.cut_events} stratified events per process: hard-scan optimum {hard_best:.3f}\n")
    print("| device | soft optimum | Δ / scan step | s |")
    print("| --- | --- | --- | --- |")
    for device in devices:
        t0 = time.perf_counter()
        result = optimize_cuts(cuts_events, [0.0], steps=200, learning_rate=0.05, device=device, progress=False)
        elapsed = time.perf_counter() - t0
        print(f"| {device} | {result.cuts[0]:.4f} | {abs(result.cuts[0] - hard_best) / step:.2f} | {elapsed:.1f} |")


def speed(args) -> None:
    print("milliseconds per full-batch neos step (asimov_significance, 2-32-32-1 summary, 4 bins)\n")
    print("| events per process | " + " | ".join(args.devices) + " |")
    print("| --- |" + " --- |" * len(args.devices))
    for n in args.events:
        events = processes(int(n) // 2 + 1)
        times = []
        for device in args.devices:
            train_summary(events, steps=2, device=device, progress=False)  # warm-up: kernels, allocator
            t0 = time.perf_counter()
            train_summary(events, steps=args.steps, device=device, progress=False)
            times.append(1e3 * (time.perf_counter() - t0) / args.steps)
        print(f"| {int(n):.0e} | " + " | ".join(f"{t:.1f}" for t in times) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("check", "speed"))
    parser.add_argument("--device", default="cuda", help="the device compared with the CPU")
    parser.add_argument("--n", type=int, default=20_000, help="check: signal events (background twice as many)")
    parser.add_argument("--steps", type=int, default=100, help="Adam steps per training")
    parser.add_argument("--cut-events", type=int, default=200_000, help="check: events per process, cuts")
    parser.add_argument("--events", type=float, nargs="+", default=[1e4, 1e5, 1e6], help="speed: events per process")
    args = parser.parse_args()
    args.devices = ["cpu", args.device] if args.device != "cpu" else ["cpu"]
    {"check": check, "speed": speed}[args.mode](args)


if __name__ == "__main__":
    main()
