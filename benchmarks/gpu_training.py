"""Training on a GPU: throughput of the default network, and time to accuracy on rf615's problem.

Runs where torch is but ROOT is not (the lent GPU machine has no ROOT): the estimators are
imported without ``roosbi/__init__`` (which loads libRooSBI), the sample is rf615's problem drawn
with numpy, and the fit is a one-parameter minimisation of the network's NLL with scipy. The
problem: x ~ Gaussian(mu, 1.5) truncated to [-5, 15], mu uniform in [0, 4] for both classes, the
reference x uniform in [-5, 15]; the gold (joint log ratio and score) is exact, for ALICES.

``throughput``: rows/s of ``TorchRatioEstimator.fit`` with the default network (4 members of
2-32-32-1 tanh) and the automatic batch size and learning rate, after a warm-up fit; rows/s =
training rows x epochs / the loop's wall time (validation included); peak GPU memory.

``accuracy``: per budget (events per class), seed and method, wall time = simulation + training
+ fit, and bias = (mu_hat - mu_hat_analytic) / sigma_analytic on 1000 observed events at
mu = 2.5: the learned fit minimises the NLL of r(x|mu) normalised over x (the demo's learned pdf),
the analytic fit the truncated Gaussian's, with the same minimiser. ``--save DIR`` writes each
trained network as ONNX (``n<budget>_seed<seed>_<method>.onnx``), for a fit through RooFit elsewhere.

    python benchmarks/gpu_training.py throughput --rows 1e6 1e7 --batch-sizes auto 2048
    python benchmarks/gpu_training.py accuracy --budgets 1e4 1e5 1e6 1e7 --seeds 1 2 3 --save models

``refit`` (where ROOT is): each network saved by ``--save`` as a ``RooLearnedRatio`` in a
normalised learned pdf, fitted by MIGRAD to the same observed events: mu_hat through RooFit beside
the script's own fit, so that the GPU rows are the numbers the RooFit pipeline would give.

    python benchmarks/gpu_training.py refit --save models
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import integrate, optimize, special
from torch_only import without_root

LO, HI, SIGMA, MU_RANGE, MU_TRUE, N_OBSERVED = -5.0, 15.0, 1.5, (0.0, 4.0), 2.5, 1000


def _import_estimators():
    """TorchRatioEstimator and TrainingSample, without ROOT when it is absent."""
    without_root()
    from roosbi.data.sample import TrainingSample
    from roosbi.estimators.torch_mlp import TorchRatioEstimator

    return TorchRatioEstimator, TrainingSample


TorchRatioEstimator, TrainingSample = _import_estimators()


def _log_norm(mu):
    """log of the truncated Gaussian's normalisation over [LO, HI]."""
    return np.log(special.ndtr((HI - mu) / SIGMA) - special.ndtr((LO - mu) / SIGMA))


def log_p(x, mu):
    """log p(x|mu) of the truncated Gaussian."""
    return -0.5 * ((x - mu) / SIGMA) ** 2 - np.log(SIGMA * np.sqrt(2 * np.pi)) - _log_norm(mu)


def score(x, mu):
    """d/dmu log p(x|mu)."""
    a, b = (LO - mu) / SIGMA, (HI - mu) / SIGMA
    z = special.ndtr(b) - special.ndtr(a)
    dlogz = (np.exp(-0.5 * a * a) - np.exp(-0.5 * b * b)) / (np.sqrt(2 * np.pi) * SIGMA * z)
    return (x - mu) / SIGMA**2 - dlogz


def truncated_gauss(rng, mu):
    """One x per mu, by rejection (the truncation removes at most 4e-4 of the mass)."""
    x = rng.normal(mu, SIGMA)
    bad = (x < LO) | (x > HI)
    while bad.any():
        x[bad] = rng.normal(mu[bad], SIGMA)
        bad = (x < LO) | (x > HI)
    return x


def simulate(n_per_class: int, seed: int):
    """A TrainingSample of n target and n reference events with exact gold."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(*MU_RANGE, size=2 * n_per_class)
    x = np.concatenate([truncated_gauss(rng, mu[:n_per_class]), rng.uniform(LO, HI, n_per_class)])
    y = np.concatenate([np.ones(n_per_class), np.zeros(n_per_class)])
    return TrainingSample(
        x=x[:, None],
        theta=mu[:, None],
        y=y,
        observables=["x"],
        parameters=["mu"],
        parameter_ranges={"mu": MU_RANGE},
        reference="pdf uniform",
        reference_uniform=True,
        joint_log_ratio=log_p(x, mu) + np.log(HI - LO),
        joint_score=score(x, mu)[:, None],
    )


def minimise(nll) -> float:
    """The minimum of a function of mu on MU_RANGE: a grid, then Brent's method around its best point."""
    grid = np.linspace(*MU_RANGE, 201)
    best = grid[int(np.argmin(nll(grid)))]
    step = grid[1] - grid[0]
    bounds = (max(MU_RANGE[0], best - step), min(MU_RANGE[1], best + step))
    return optimize.minimize_scalar(lambda m: nll(np.array([m]))[0], bounds=bounds, method="bounded").x


#: Where the learned pdf's normalisation integral is evaluated (Simpson's rule).
X_GRID = np.linspace(LO, HI, 2001)


def _log_r(estimator, x, mus):
    """log r(x_j|mu_i) as an array (len(mus), len(x))."""
    theta = np.repeat(mus, len(x))
    return estimator.log_ratio(np.tile(x, len(mus))[:, None], theta[:, None]).reshape(len(mus), len(x))


def fit(estimator, observed) -> float:
    """mu_hat of the learned pdf r(x|mu) / integral of r(x'|mu) dx' (the reference is uniform).

    This is the pdf the demo fits: RooFit normalises the learned ratio times the uniform reference
    over x at each mu, so a network whose ratio is off by a factor depending on mu alone is not biased.
    """

    def nll(mus):
        mus = np.asarray(mus, dtype=float)
        norm = integrate.simpson(np.exp(_log_r(estimator, X_GRID, mus)), x=X_GRID, axis=1)
        return -_log_r(estimator, observed, mus).sum(axis=1) + len(observed) * np.log(norm)

    return minimise(nll)


def analytic_fit(observed) -> tuple[float, float]:
    """mu_hat and its error (from the curvature) of the exact NLL."""

    def nll(mus):
        return -np.array([log_p(observed, m).sum() for m in mus])

    mu_hat = minimise(nll)
    h = 1e-3
    curvature = (nll([mu_hat + h])[0] - 2 * nll([mu_hat])[0] + nll([mu_hat - h])[0]) / h**2
    return mu_hat, 1.0 / np.sqrt(curvature)


def throughput(args) -> None:
    import torch

    device = args.device
    TorchRatioEstimator(max_epochs=1, device=device, progress=False).fit(simulate(20_000, 0))  # warm-up
    print(f"device: {torch.cuda.get_device_name() if device.startswith('cuda') else 'cpu'}, torch {torch.__version__}")
    print()
    print("| rows | batch | learning rate | epochs | rows/s | fit wall [s] | peak GPU memory [GiB] |")
    print("|---|---|---|---|---|---|---|")
    for rows in args.rows:
        sample = simulate(int(rows) // 2, 1)
        for batch in (None if b == "auto" else int(b) for b in args.batch_sizes):
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            est = TorchRatioEstimator(max_epochs=args.epochs, batch_size=batch, device=device, progress=False)
            est.fit(sample)
            wall = time.perf_counter() - start
            rate = len(sample.y) * est.n_epochs_ / est.fit_time_s_
            peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
            print(
                f"| {len(sample.y):.0e} | {est.batch_size_}{'' if batch else ' (auto)'} | {est.learning_rate_:.3g} "
                f"| {est.n_epochs_} | {rate / 1e6:.1f} M | {wall:.1f} | {peak:.2f} |",
                flush=True,
            )


def accuracy(args) -> None:
    results = defaultdict(list)
    for n in (int(b) for b in args.budgets):
        for seed in args.seeds:
            obs_rng = np.random.default_rng(10_000 + seed)
            observed = truncated_gauss(obs_rng, np.full(N_OBSERVED, MU_TRUE))
            mu_a, sigma_a = analytic_fit(observed)
            start = time.perf_counter()
            sample = simulate(n, seed)
            simulate_s = time.perf_counter() - start
            line = []
            for method in args.methods:
                start = time.perf_counter()
                est = TorchRatioEstimator(method=method, device=args.device, seed=seed, progress=False).fit(sample)
                train_s = time.perf_counter() - start
                start = time.perf_counter()
                mu_l = fit(est, observed)
                fit_s = time.perf_counter() - start
                bias, wall = (mu_l - mu_a) / sigma_a, simulate_s + train_s + fit_s
                results[n, method].append((bias, wall, train_s))
                if args.save:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    est.to_onnx(Path(args.save) / f"n{n}_seed{seed}_{method}.onnx")
                line.append(f"{method} {bias:+.3f} ({wall:.1f} s, {est.n_epochs_} epochs, batch {est.batch_size_})")
            print(f"n {n} seed {seed}: " + ", ".join(line), flush=True)
    print()
    print(f"rf615 problem with numpy, seeds {args.seeds}, device {args.device}")
    print()
    print("| events per class | method | median abs(bias) / sigma_analytic | max abs(bias) | median wall [s] |")
    print("|---|---|---|---|---|")
    for (n, method), values in results.items():
        bias = np.abs([b for b, _, _ in values])
        wall = np.median([w for _, w, _ in values])
        print(f"| {n:.0e} | {method} | {np.median(bias):.3f} | {bias.max():.3f} | {wall:.1f} |")


def refit(args) -> None:
    import re

    import ROOT

    import roosbi

    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    x, mu = ROOT.RooRealVar("x", "x", LO, HI), ROOT.RooRealVar("mu", "mu", MU_TRUE, *MU_RANGE)
    print("| network | mu_hat RooFit | bias RooFit / sigma_analytic |")
    print("|---|---|---|")
    for path in sorted(Path(args.save).glob("*.onnx")):
        n, seed, method = re.fullmatch(r"n(\d+)_seed(\d+)_(\w+)", path.stem).groups()
        observed = truncated_gauss(np.random.default_rng(10_000 + int(seed)), np.full(N_OBSERVED, MU_TRUE))
        mu_a, sigma_a = analytic_fit(observed)
        data = roosbi.observed_data_from_arrays(observed, [x])
        ratio = roosbi.learned_ratio(str(path), inputs=[x, mu], name=f"r_{path.stem}")
        pdf = roosbi.learned_pdf(ratio, [x], name=f"p_{path.stem}")
        nll = roosbi.create_nll(pdf, data)
        result = roosbi.fit_nll(nll, [mu], roosbi.grid_start(nll, [mu]), minos=False)
        value = result.params["mu"].value
        print(f"| {path.stem} | {value:.5f} | {(value - mu_a) / sigma_a:+.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["throughput", "accuracy", "refit"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--batch-sizes", nargs="+", default=["auto"], help="rows per batch, or 'auto'")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--budgets", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=["carl", "alices"])
    parser.add_argument("--save", default=None, help="folder for the trained networks (ONNX)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    {"throughput": throughput, "accuracy": accuracy, "refit": refit}[args.what](args)


if __name__ == "__main__":
    main()
