"""Every training method side by side on the latent-variable problems, over several seeds.

For each seed one pipeline run (``run_demo`` with every method asked for) trains each method on
the same sample and fits it to the same observed data, next to the morphing baseline and the
analytic fit. Per method: median |mu_hat - mu_hat_analytic| / sigma_analytic, median
sigma / sigma_analytic, the largest |bias|, fits with MIGRAD status 0, and the training time.

On ``smeared`` two more rows: the CARL oracle floor (a logistic regression on the exact
sufficient features of log r, trained on the same CARL sample: what the sample itself allows a
classifier) and CARL against each reference kind (the simulator at the reference point, a uniform
pdf of x, the marginal), since the reference alone changes a classifier's accuracy.

    .venv/bin/python benchmarks/accuracy_methods.py --problem smeared --seeds 1 2 3 4 5
    .venv/bin/python benchmarks/accuracy_methods.py --problem smeared --n-train 5000    # 0.1x budget
    .venv/bin/python benchmarks/accuracy_methods.py --problem eft --methods carl,alices
"""

import argparse
import json
import logging
import tempfile
import time

import numpy as np
from accuracy_common import compare, print_table
from sklearn.linear_model import LogisticRegression

from roosbi.data.problems import make_problem
from roosbi.data.simulate import simulate
from roosbi.demo import DEMO_DEFAULTS, DEMO_METHODS, run_demo, stage_seeds
from roosbi.estimators import TorchRatioEstimator
from roosbi.inference import create_nll, fit_nll
from roosbi.roofit import learned_pdf, learned_ratio


def run_methods(problem: str, seed: int, methods: list[str], n_train: int | None, settings: dict) -> dict:
    """results.json of one run_demo with every method (no figures, CPU)."""
    with tempfile.TemporaryDirectory() as out:
        return run_demo(
            problem=problem,
            out=out,
            seed=seed,
            estimator="torch",
            device="cpu",
            n_train=n_train,
            estimator_settings=settings,
            progress=False,
            plots=False,
            methods=methods,
        )


def smeared_oracle(seed: int, n_train: int) -> float:
    """mu_hat of the CARL oracle on the demo's own data and (CARL) sample: exact features of log r."""
    seed_data, seed_sample, _, _ = stage_seeds(seed)
    problem = make_problem("smeared", seed=seed_data)
    sample = simulate(problem, n_target=n_train, seed=seed_sample, gold=False)

    def features(x, mu):  # log N(x|mu, s) - log N(x|mu0, s) is linear in these
        return np.column_stack([x * mu, mu * mu, x, mu])

    model = LogisticRegression(C=1e6, max_iter=5000).fit(features(sample.x[:, 0], sample.theta[:, 0]), sample.y)
    data = problem.data().to_numpy()[problem.observables[0]]
    mus = np.linspace(*problem.parameter_ranges()["mu"], 2001)
    # Self-normalised, as the reference is a point: NLL = -sum log r + const.
    nll = [-model.decision_function(features(data, np.full_like(data, m))).sum() for m in mus]
    i = int(np.clip(np.argmin(nll), 5, len(mus) - 6))
    c = np.polyfit(mus[i - 5 : i + 6], nll[i - 5 : i + 6], 2)
    return -c[1] / (2 * c[0])


def carl_by_reference(problem_name: str, seed: int, n_train: int, settings: dict) -> dict[str, float]:
    """mu_hat of CARL trained against each reference kind, on the demo's own observed data."""
    import ROOT

    seed_data, seed_sample, seed_net, _ = stage_seeds(seed)
    problem = make_problem(problem_name, seed=seed_data)
    ws = problem.workspace
    x = problem.var(problem.observables[0])
    ws.Import(ROOT.RooUniform("uniform_x", "uniform reference", ROOT.RooArgSet(x)), Silence=True)
    references = {"point": None, "uniform pdf": "uniform_x", "marginal": "marginal"}
    mu = problem.var(problem.parameters[0])
    out = {}
    for label, reference in references.items():
        sample = simulate(problem, n_target=n_train, seed=seed_sample, reference=reference, gold=False)
        est = TorchRatioEstimator(seed=seed_net, device="cpu", progress=False, **settings).fit(sample)
        with tempfile.TemporaryDirectory() as tmp:
            path = est.to_onnx(f"{tmp}/model.onnx")
            ratio = learned_ratio(path, workspace=ws, name=f"ratio_{label.replace(' ', '_')}")
        # A point or the marginal as reference: self-normalised (-sum log r), see learned_pdf.
        normalize = label == "uniform pdf"
        pdf = learned_pdf(ratio, [x], None, name=f"pdf_{label.replace(' ', '_')}", normalize=normalize)
        fit = fit_nll(create_nll(pdf, problem.data()), [mu], {mu.GetName(): 0.5 * (mu.getMin() + mu.getMax())})
        out[label] = fit.params[mu.GetName()].value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="smeared")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--methods", default=",".join(DEMO_METHODS))
    parser.add_argument("--n-train", type=int, default=None, help="default: the problem's demo budget")
    parser.add_argument("--settings", default="{}", help="estimator settings as JSON")
    parser.add_argument("--no-references", action="store_true", help="skip CARL against each reference kind")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    methods = args.methods.split(",")
    settings = json.loads(args.settings)
    n_train = args.n_train or DEMO_DEFAULTS.get(args.problem, DEMO_DEFAULTS["gauss1d"])["n_train"]
    single = len(methods) == 1
    names = ["learned" if single else f"learned_{m}" for m in methods]
    rows, times = [], {m: [] for m in methods}
    extra = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        res = run_methods(args.problem, seed, methods, n_train, settings)
        fit_names = [n for n in names if n in res["fits"]] + ["morphed"] * ("morphed" in res["fits"])
        for par in res["truth"]:
            row = compare(res, tuple(fit_names), par, seed)
            if args.problem == "smeared":
                a = res["fits"]["analytic"]["params"][par]
                row["oracle_bias"] = (smeared_oracle(seed, n_train) - a["value"]) / a["error"]
                row["oracle_ratio"], row["oracle_status"] = 1.0, 0
                if not args.no_references:
                    for label, value in carl_by_reference(args.problem, seed, n_train, settings).items():
                        key = f"carl_ref_{label.replace(' ', '_')}"
                        row[f"{key}_bias"], row[f"{key}_ratio"], row[f"{key}_status"] = (
                            (value - a["value"]) / a["error"],
                            np.nan,
                            0,
                        )
            rows.append(row)
        for m in methods:
            times[m].append(res["training"]["methods"][m]["time_s"])
        parts = [f"{n} {rows[-1][f'{n}_bias']:+.3f}" for n in fit_names]
        print(f"seed {seed} ({time.perf_counter() - t0:.0f} s): " + ", ".join(parts), flush=True)
    extra = ["oracle"] if args.problem == "smeared" else []
    if args.problem == "smeared" and not args.no_references:
        extra += ["carl_ref_point", "carl_ref_uniform_pdf", "carl_ref_marginal"]
    print(f"\n{args.problem}, n_train {n_train} per class, seeds {args.seeds}, settings {settings}")
    print_table(rows, [n for n in names if f"{n}_bias" in rows[0]] + ["morphed"] * ("morphed_bias" in rows[0]) + extra)
    print("\n| method | median train time [s] |\n|---|---|")
    for m in methods:
        print(f"| {m} | {np.median(times[m]):.1f} |")


if __name__ == "__main__":
    main()
