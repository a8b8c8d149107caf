"""Accuracy of the learned fit on rf617's set-up (two observables, two means), over several seeds.

For each seed the whole pipeline runs (rf617's budget: 40 000 target + 40 000 reference events
for training, a 4 x 4 morphing grid of 10 000 events per template, 10 000 observed events) and
the learned and morphed fits are compared with the analytic fit on the same observed data, for
each parameter: bias in units of the analytic error, and the ratio of errors. The medians pool
both parameters of every seed.

    .venv/bin/python benchmarks/accuracy_gauss2d.py --seeds 1 2 3 4 5 [--self-normalized]
"""

import argparse
import json
import logging
import tempfile

import numpy as np

from roosbi.demo import run_demo


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
    status = {"learned": [], "morphed": []}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            res = run_demo(
                problem="gauss2d",
                out=out,
                seed=seed,
                estimator=args.estimator,
                device="cpu",
                n_train=args.n_train,
                estimator_settings=json.loads(args.settings),
                normalize=not args.self_normalized,
                progress=False,
                plots=False,
            )
        for name in status:
            status[name].append(res["fits"][name]["status"])
        line = [f"seed {seed}:"]
        for par, a in res["fits"]["analytic"]["params"].items():
            row = {"seed": seed, "parameter": par}
            for name in status:
                p = res["fits"][name]["params"][par]
                row[f"{name}_bias"] = (p["value"] - a["value"]) / a["error"]
                row[f"{name}_ratio"] = p["error"] / a["error"]
            rows.append(row)
            line.append(
                f"{par} analytic {a['value']:.4f} +- {a['error']:.4f}, learned bias {row['learned_bias']:+.3f} "
                f"ratio {row['learned_ratio']:.3f}, morphed bias {row['morphed_bias']:+.3f} "
                f"ratio {row['morphed_ratio']:.3f};"
            )
        line.append(f"train {res['training']['time_s']:.1f} s, fits {res['timings']['fit_s']:.1f} s")
        print(" ".join(line), flush=True)

    print()
    print("| method | median abs(bias) / sigma_analytic | median sigma / sigma_analytic | max abs(bias) | fits ok |")
    print("|---|---|---|---|---|")
    for name in status:
        bias = np.abs([r[f"{name}_bias"] for r in rows])
        ratio = [r[f"{name}_ratio"] for r in rows]
        ok = sum(s == 0 for s in status[name])
        print(
            f"| {name} | {np.median(bias):.3f} | {np.median(ratio):.3f} | {bias.max():.3f} | {ok}/{len(status[name])} |"
        )
    print(
        f"\nestimator {args.estimator}, settings {args.settings}, seeds {args.seeds}, n_train {args.n_train or 40_000}"
    )


if __name__ == "__main__":
    main()
