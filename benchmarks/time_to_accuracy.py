"""Time to accuracy: median |bias| of each likelihood against the wall time it took, over budgets and seeds.

For each budget n (training events per class) and seed, one ``run_demo`` trains every ``--methods``
method on the same simulated sample and builds the morphing baseline from n events (its
templates), then fits all of them and the analytic NLL to the same observed data. Per method:

- wall time = simulation of the training sample + that method's training + its fit
  (the learned likelihoods), or building the templates + the fit (morphing);
- bias = (mu_hat - mu_hat_analytic) / sigma_analytic.

The table gives, per budget and method, the median |bias| over the seeds and the median wall time,
so that the learned and morphed likelihoods can be compared at matched wall time (morphing is
cheap per event: its larger budgets are the rows to read against a learned one's smaller).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/time_to_accuracy.py --budgets 10000 30000 100000 300000 \\
        --seeds 1 2 3 --methods carl alices
"""

import argparse
import logging
import tempfile
from collections import defaultdict

import numpy as np

from roosbi.demo import run_demo


def run(problem: str, n: int, seed: int, methods: list[str], device: str) -> dict[str, tuple[float, float]]:
    """{likelihood: (bias / sigma_analytic, wall time)} of one run."""
    with tempfile.TemporaryDirectory() as out:
        options = {"n_train": n, "methods": methods, "device": device, "progress": False, "plots": False}
        res = run_demo(problem, out=out, seed=seed, **options)
    fits, timings, par = res["fits"], res["timings"], next(iter(res["truth"]))
    analytic = fits["analytic"]["params"][par]
    rows = {}
    for method in methods:
        key = "learned" if len(methods) == 1 else f"learned_{method}"
        wall = timings["simulate_s"] + res["training"]["methods"][method]["time_s"] + fits[key]["time_s"]
        rows[method] = ((fits[key]["params"][par]["value"] - analytic["value"]) / analytic["error"], wall)
    morph_wall = timings["pdfs_s"] + fits["morphed"]["time_s"]
    rows["morphing"] = ((fits["morphed"]["params"][par]["value"] - analytic["value"]) / analytic["error"], morph_wall)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="gauss1d")
    parser.add_argument("--budgets", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=["carl", "alices"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = defaultdict(list)  # (budget, likelihood) -> [(bias, wall)]
    for n in args.budgets:
        for seed in args.seeds:
            rows = run(args.problem, n, seed, args.methods, args.device)
            line = ", ".join(f"{k} {b:+.3f} ({w:.2f} s)" for k, (b, w) in rows.items())
            print(f"n {n} seed {seed}: {line}", flush=True)
            for key, value in rows.items():
                results[n, key].append(value)
    print()
    print(f"{args.problem}, seeds {args.seeds}, device {args.device}")
    print()
    print("| events per class | likelihood | median \\|bias\\| / σ_analytic | max \\|bias\\| | median wall time [s] |")
    print("|---|---|---|---|---|")
    for (n, key), values in results.items():
        bias = np.abs([b for b, _ in values])
        wall = np.median([w for _, w in values])
        print(f"| {n} | {key} | {np.median(bias):.3f} | {bias.max():.3f} | {wall:.2f} |")


if __name__ == "__main__":
    main()
