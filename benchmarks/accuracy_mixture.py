"""Accuracy of the learned mixture fit (ROOT's rf618 problem) over several seeds.

For each seed the whole pipeline runs (`run_demo(problem="mixture")`: 50 000 signal + 50 000
background training events, S = 100, B = 2000, mu = 1) and the learned mixture fit and the score
template fit are compared with the analytic fit on the same observed data: bias in units of the
analytic error, and the ratio of errors.

The "oracle" row is the floor that the training sample itself sets: a logistic regression on the
exact sufficient features of log p_s/p_b for a Gaussian over an exponential (m, m^2), trained on
the same sample, put in the same mixture likelihood and fitted to the same data (in numpy). The
"oracle, normalised" row divides its r by the exact integral of r p_b (which needs the
background density, unknown where the mixture method is used): what is left of the oracle's bias
once the normalisation error of r is removed.

    .venv/bin/python benchmarks/accuracy_mixture.py --seeds 1 2 3 4 5 [--estimator torch] [--calibration none]
    .venv/bin/python benchmarks/accuracy_mixture.py --oracle-only --n-train 500000
"""

import argparse
import logging

import numpy as np
from accuracy_common import compare, print_table, run_seed, seed_line
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from roosbi.data.builtin import mixture
from roosbi.demo import stage_seeds
from roosbi.mixture import component_log_ratio, simulate_components

S, B = 100.0, 2000.0  # the problem's default yields


def mixture_fit(r: np.ndarray) -> tuple[float, float]:
    """mu and its error from NLL(mu) = mu S + B - sum log(mu S r_i + B), given r at the observed events."""

    def nll(mu):
        return mu * S - np.log(mu * S * r + B).sum()

    mu = minimize_scalar(nll, bounds=(0.0, 5.0), method="bounded", options={"xatol": 1e-7}).x
    curvature = np.sum((S * r) ** 2 / (mu * S * r + B) ** 2)
    return mu, 1.0 / np.sqrt(curvature)


def background_density(problem, m: np.ndarray) -> np.ndarray:
    """The problem's exponential background density over [100, 160] (its slope read from the workspace)."""
    c, (lo, hi) = problem.var("slope").getVal(), (problem.var("m").getMin(), problem.var("m").getMax())
    return c * np.exp(c * m) / (np.exp(c * hi) - np.exp(c * lo))


def oracle_fit(seed: int, n_train: int) -> tuple[float, float, float, float]:
    """(mu_oracle, mu_oracle_normalised, mu_analytic, sigma_analytic) on the demo's data and sample."""
    seed_data, seed_sample, _, _ = stage_seeds(seed)
    problem = mixture(seed=seed_data)
    sample = simulate_components(problem, n_signal_events=n_train, seed=seed_sample)

    def features(m):
        return np.column_stack([m, m * m])

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1e6, max_iter=5000))
    model.fit(features(sample.x[:, 0]), sample.y)
    data = problem.data().to_numpy()["m"]
    r = np.exp(model.decision_function(features(data)))
    grid = np.linspace(100.0, 160.0, 60_001)
    norm = np.trapezoid(np.exp(model.decision_function(features(grid))) * background_density(problem, grid), grid)
    mu_analytic, sigma = mixture_fit(np.exp(component_log_ratio(problem, data[:, None])))
    return mixture_fit(r)[0], mixture_fit(r / norm)[0], mu_analytic, sigma


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--estimator", default="torch")
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--settings", default="{}", help="estimator settings as JSON")
    parser.add_argument("--calibration", default="normalization", help="the demo's --calibration of r (20 %% held out)")
    parser.add_argument("--oracle-only", action="store_true", help="only the oracle rows (no training, seconds)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []
    for seed in args.seeds:
        mu_oracle, mu_normalised, mu_analytic, sigma = oracle_fit(seed, args.n_train)
        row = {"seed": seed}
        for name, mu in (("oracle", mu_oracle), ("oracle_normalised", mu_normalised)):
            row[f"{name}_bias"], row[f"{name}_ratio"], row[f"{name}_status"] = (mu - mu_analytic) / sigma, 1.0, 0
        rows.append(row)
        if args.oracle_only:
            print(
                f"seed {seed}: oracle bias {row['oracle_bias']:+.3f}, normalised {row['oracle_normalised_bias']:+.3f}"
            )
            continue
        res = run_seed("mixture", seed, args, calibration=args.calibration)
        row.update(compare(res, ("learned", "template"), "mu", seed), train_s=res["training"]["time_s"])
        print(seed_line(row, ["learned", "template", "oracle"]) + f" | train {row['train_s']:.1f} s", flush=True)

    oracles = ["oracle", "oracle_normalised"]
    print_table(rows, oracles if args.oracle_only else ["learned", "template", *oracles])
    print(
        f"\nestimator {args.estimator}, settings {args.settings}, seeds {args.seeds}, n_train {args.n_train}, "
        f"calibration {args.calibration}"
    )


if __name__ == "__main__":
    main()
