"""Does the bootstrap training error cover the learned fit's distance from the analytic one?

For each seed the whole gauss1d pipeline runs at rf615's budget (50 000 target + 50 000 reference
events) with ``bootstrap=True``: every ensemble member trains on its own bootstrap resample and is
fitted alone, and the standard deviation of the members' mu is the learned likelihood's
training-statistics uncertainty. The table gives, per seed, mu_learned - mu_analytic, that
uncertainty and whether the difference lies inside it; the last line the fraction of seeds that
do (issue 10's target: 55-80 %, about 68 % for a Gaussian error).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bootstrap_coverage.py [--n-seeds 16] [--first-seed 1]
"""

import argparse
import logging
import time

import numpy as np
from accuracy_common import run_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seeds", type=int, default=16)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--estimator", default="torch")
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--settings", default="{}", help="estimator settings as JSON (n_members, max_epochs …)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("| seed | mu analytic | sigma analytic | mu learned - analytic | training error | HESSE error | covered |")
    print("|---|---|---|---|---|---|---|")
    covered, ratios = [], []
    start = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.n_seeds):
        res = run_seed("gauss1d", seed, args, bootstrap=True)
        a = res["fits"]["analytic"]["params"]["mu"]
        learned = res["fits"]["learned"]["params"]["mu"]
        diff, err = learned["value"] - a["value"], learned["training_error"]
        covered.append(abs(diff) <= err)
        ratios.append(abs(diff) / err if err > 0 else np.inf)
        print(
            f"| {seed} | {a['value']:.4f} | {a['error']:.4f} | {diff:+.4f} | {err:.4f} | {learned['error']:.4f} "
            f"| {'yes' if covered[-1] else 'no'} |",
            flush=True,
        )
    n, k = len(covered), int(np.sum(covered))
    frac = k / n
    print()
    print(
        f"covered: {k}/{n} = {frac:.0%} +- {np.sqrt(frac * (1 - frac) / n):.0%} (target 55-80 %); "
        f"median |diff| / training error {np.median(ratios):.2f} (0.67 for a Gaussian); "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
