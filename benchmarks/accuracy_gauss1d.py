"""Accuracy of the learned fit on rf615's set-up, over several seeds.

For each seed the whole pipeline runs (rf615's budget: 50 000 target + 50 000 reference
events) and the learned and morphed fits are compared with the analytic fit on the same
observed data: bias in units of the analytic error, and the ratio of errors.

The "oracle" row is the floor that the training sample itself sets: a logistic regression on the
exact sufficient features of log r (x^2, x mu, mu^2, x, mu), trained on the same sample and
fitted to the same data. No estimator that has to learn the functional form can expect to do
better.

    .venv/bin/python benchmarks/accuracy_gauss1d.py --seeds 1 2 3 4 5 [--estimator torch]
"""

import argparse
import logging

import numpy as np
from accuracy_common import compare, print_table, run_seed, seed_line
from sklearn.linear_model import LogisticRegression

from roosbi.data.builtin import gauss1d
from roosbi.data.simulate import simulate
from roosbi.demo import stage_seeds


def oracle_fit(seed: int, n_train: int) -> tuple[float, float, float]:
    """(mu_oracle, mu_analytic, sigma_analytic) on the demo's own data and training sample."""
    seed_data, seed_sample, _, _ = stage_seeds(seed)
    problem = gauss1d(seed=seed_data)
    sample = simulate(problem, n_target=n_train, seed=seed_sample)

    def features(x, mu):
        return np.column_stack([x * x, x * mu, mu * mu, x, mu])

    model = LogisticRegression(C=1e6, max_iter=5000).fit(features(sample.x[:, 0], sample.theta[:, 0]), sample.y)
    data = problem.data().to_numpy()["x"]
    grid = np.linspace(-5.0, 15.0, 4001)
    mus = np.linspace(2.0, 3.0, 401)

    def best(log_r):
        nll = np.array(
            [-log_r(data, m).sum() + len(data) * np.log(np.trapezoid(np.exp(log_r(grid, m)), grid)) for m in mus]
        )
        i = int(np.clip(np.argmin(nll), 5, len(mus) - 6))
        c = np.polyfit(mus[i - 5 : i + 6], nll[i - 5 : i + 6], 2)
        return -c[1] / (2 * c[0]), 1 / np.sqrt(2 * c[0])

    mu_oracle, _ = best(lambda x, m: model.decision_function(features(x, np.full_like(x, m))))
    mu_analytic, sigma = best(lambda x, m: -0.5 * ((x - m) / 1.5) ** 2)
    return mu_oracle, mu_analytic, sigma


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
        res = run_seed("gauss1d", seed, args, normalize=not args.self_normalized)
        row = compare(res, ("learned", "morphed"), "mu", seed)
        row["train_s"] = res["training"]["time_s"]
        mu_oracle, mu_analytic, sigma = oracle_fit(seed, args.n_train)
        row["oracle_bias"], row["oracle_ratio"], row["oracle_status"] = (mu_oracle - mu_analytic) / sigma, 1.0, 0
        rows.append(row)
        print(seed_line(row, ["learned", "morphed", "oracle"]) + f" | train {row['train_s']:.1f} s", flush=True)
    print_table(rows, ["learned", "morphed", "oracle"])
    gap = np.abs([r["learned_bias"] - r["oracle_bias"] for r in rows])
    print(f"\nmedian |learned bias - oracle bias| = {np.median(gap):.3f} sigma_analytic (the estimator's own share)")
    print(f"estimator {args.estimator}, settings {args.settings}, seeds {args.seeds}, n_train {args.n_train}")


if __name__ == "__main__":
    main()
