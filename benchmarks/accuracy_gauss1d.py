"""Accuracy of the learned fit on rf615's set-up, over several seeds.

For each seed the whole pipeline runs (rf615's budget: 50 000 target + 50 000 reference
events) and the learned and morphed fits are compared with the analytic fit on the same
observed data: bias in units of the analytic error, and the ratio of errors.

    .venv/bin/python benchmarks/accuracy_gauss1d.py --seeds 1 2 3 4 5 [--estimator torch]
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
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--settings", default="{}", help="estimator settings as JSON")
    parser.add_argument("--self-normalized", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            res = run_demo(
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
        a = res["fits"]["analytic"]["params"]["mu"]
        row = {"seed": seed, "analytic": a["value"], "sigma": a["error"], "train_s": res["training"]["time_s"]}
        for name in ("learned", "morphed"):
            p = res["fits"][name]["params"]["mu"]
            row[f"{name}_bias"] = (p["value"] - a["value"]) / a["error"]
            row[f"{name}_ratio"] = p["error"] / a["error"]
            row[f"{name}_status"] = res["fits"][name]["status"]
        rows.append(row)
        print(
            f"seed {seed}: analytic {a['value']:.4f} +- {a['error']:.4f} | learned bias {row['learned_bias']:+.3f} "
            f"sigma ratio {row['learned_ratio']:.3f} | morphed bias {row['morphed_bias']:+.3f} "
            f"ratio {row['morphed_ratio']:.3f} | train {row['train_s']:.1f} s",
            flush=True,
        )

    print()
    print("| method | median abs(bias) / sigma_analytic | median sigma / sigma_analytic | max abs(bias) | fits ok |")
    print("|---|---|---|---|---|")
    for name in ("learned", "morphed"):
        bias = np.abs([r[f"{name}_bias"] for r in rows])
        ratio = [r[f"{name}_ratio"] for r in rows]
        ok = sum(r[f"{name}_status"] == 0 for r in rows)
        print(f"| {name} | {np.median(bias):.3f} | {np.median(ratio):.3f} | {bias.max():.3f} | {ok}/{len(rows)} |")
    print(f"\nestimator {args.estimator}, settings {args.settings}, seeds {args.seeds}, n_train {args.n_train}")


if __name__ == "__main__":
    main()
