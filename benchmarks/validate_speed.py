"""A toy study of the demo's gauss1d workspace on 1 and on K workers: coverage, wall time, identical numbers.

The demo runs once (default settings) into a temporary directory; ``run_validation`` then fits
its three NLLs (analytic, learned, morphed) to the same toys in process (1 worker) and on a Dask
LocalCluster of K workers. Wall time counts from the first task to the last result, as in
validation.json (the cluster's start-up is not counted).

    .venv/bin/python benchmarks/validate_speed.py --toys 1000 --workers 2
"""

import argparse
import logging
import tempfile
from pathlib import Path

from roosbi.demo import run_demo
from roosbi.stats import nll_results, run_validation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toys", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        run_demo(out=demo, progress=False, plots=False)
        runs = {
            k: run_validation(demo, args.toys, Path(tmp) / f"v{k}", seed=args.seed, workers=k, progress=False)
            for k in (1, args.workers)
        }
    one, many = runs[1], runs[args.workers]
    print(f"\n{args.toys} toys of gauss1d, seed {args.seed}")
    print("\n| NLL | failed | pull mean | pull width | MINOS 68 % | MINOS 95 % |\n|---|---|---|---|---|---|")
    for name, pars in nll_results(one).items():
        s = pars["mu"]
        c68 = f"{s['coverage_68']:.3f} ± {s['coverage_68_err']:.3f}"
        c95 = f"{s['coverage_95']:.3f} ± {s['coverage_95_err']:.3f}"
        print(f"| {name} | {s['n_failed']} | {s['pull_mean']:+.3f} | {s['pull_width']:.3f} | {c68} | {c95} |")
    print(f"\n| workers | wall [s] |\n|---|---|\n| 1 | {one['wall_s']:.1f} |")
    print(f"| {args.workers} | {many['wall_s']:.1f} |")
    same = nll_results(one) == nll_results(many)
    print(f"\nspeed-up {one['wall_s'] / many['wall_s']:.2f}x; identical numbers: {same}")


if __name__ == "__main__":
    main()
