"""Accuracy of the learned fit on rf617's set-up (two observables, two means), over several seeds.

For each seed the whole pipeline runs (rf617's budget: 40 000 target + 40 000 reference events
for training, a 4 x 4 morphing grid of 10 000 events per template, 10 000 observed events) and
the learned and morphed fits are compared with the analytic fit on the same observed data, for
each parameter: bias in units of the analytic error, and the ratio of errors. The medians pool
both parameters of every seed.

    .venv/bin/python benchmarks/accuracy_gauss2d.py --seeds 1 2 3 4 5 [--self-normalized]
"""

import argparse
import logging

from accuracy_common import compare, print_table, run_seed, seed_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--estimator", default="torch")
    parser.add_argument("--n-train", type=int, default=None, help="default: rf617's 40 000")
    parser.add_argument("--settings", default="{}", help="estimator settings as JSON")
    parser.add_argument("--self-normalized", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []  # one per (seed, parameter)
    for seed in args.seeds:
        res = run_seed("gauss2d", seed, args, normalize=not args.self_normalized)
        for par in res["fits"]["analytic"]["params"]:
            rows.append(compare(res, ("learned", "morphed"), par, seed))
            print(seed_line(rows[-1], ["learned", "morphed"]), flush=True)
        print(f"seed {seed}: train {res['training']['time_s']:.1f} s, fits {res['timings']['fit_s']:.1f} s", flush=True)
    print_table(rows, ["learned", "morphed"])
    print(
        f"\nestimator {args.estimator}, settings {args.settings}, seeds {args.seeds}, n_train {args.n_train or 40_000}"
    )


if __name__ == "__main__":
    main()
