"""What the accuracy benchmarks share: one pipeline run per seed, the comparison with the
analytic fit, and the summary table."""

import json
import tempfile

import numpy as np

from roosbi.demo import run_demo


def run_seed(problem: str, seed: int, args, **options) -> dict:
    """results.json of ``run_demo`` for one seed (no figures, CPU), in a temporary directory."""
    with tempfile.TemporaryDirectory() as out:
        return run_demo(
            problem=problem,
            out=out,
            seed=seed,
            estimator=args.estimator,
            device="cpu",
            n_train=args.n_train,
            estimator_settings=json.loads(args.settings),
            progress=False,
            plots=False,
            **options,
        )


def compare(res: dict, names: tuple[str, ...], parameter: str, seed: int) -> dict:
    """Bias / sigma_analytic, sigma / sigma_analytic and MIGRAD status of each named fit."""
    a = res["fits"]["analytic"]["params"][parameter]
    row = {"seed": seed, "parameter": parameter, "analytic": a["value"], "sigma": a["error"]}
    for name in names:
        p = res["fits"][name]["params"][parameter]
        row[f"{name}_bias"] = (p["value"] - a["value"]) / a["error"]
        row[f"{name}_ratio"] = p["error"] / a["error"]
        row[f"{name}_status"] = res["fits"][name]["status"]
    return row


def print_table(rows: list[dict], names: list[str]) -> None:
    """Median |bias|, median error ratio, max |bias| and converged fits (per seed) of each method."""
    print()
    print("| method | median abs(bias) / sigma_analytic | median sigma / sigma_analytic | max abs(bias) | fits ok |")
    print("|---|---|---|---|---|")
    seeds = {r["seed"] for r in rows}
    for name in names:
        bias = np.abs([r[f"{name}_bias"] for r in rows])
        ratio = [r[f"{name}_ratio"] for r in rows]
        failed = {r["seed"] for r in rows if r[f"{name}_status"] != 0}
        ok = len(seeds - failed)
        print(f"| {name} | {np.median(bias):.3f} | {np.median(ratio):.3f} | {bias.max():.3f} | {ok}/{len(seeds)} |")


def seed_line(row: dict, names: list[str]) -> str:
    """One seed's comparison for one parameter, as a line of text."""
    parts = [f"seed {row['seed']}: {row['parameter']} analytic {row['analytic']:.4f} +- {row['sigma']:.4f}"]
    parts += [f"{name} bias {row[f'{name}_bias']:+.3f} ratio {row[f'{name}_ratio']:.3f}" for name in names]
    return " | ".join(parts)
