"""Signal-strength pulls of a learned mixture trained on two sample files, with and without calibration.

Any two sample files work (ROOT trees; ``--signal FILE:TREE --background FILE:TREE``); the default
is the simulated collider events that ship with ROOT's tutorials (``Higgs_data.root``, the HIGGS
data set's high-level features: 10 000 signal and 10 000 background events) with five
observables. For each seed:

1. ``--n-train`` signal and background events are drawn for training; ``--share`` of them is held
   out from the network for the calibration (:func:`roosbi.stats.calibration.fit_calibration`),
   or (``--calibrate-on pool``) the network trains on all of them and the calibration uses the
   pool of step 2: the finite pool is the "truth" of the pseudo-datasets, so this shows what a
   calibration sample that matches the data achieves;
2. the rest of the events are the pool that ``--datasets`` pseudo-datasets are drawn from:
   Poisson(mu S) signal and Poisson(B) background events each (mu = 1), without replacement;
3. the learned mixture pdf (:func:`roosbi.mixture.mixture_pdf` around the ``RooLearnedRatio``, its
   calibration set on the object) is fitted to each pseudo-dataset with roosbi's fit code, and
   the pull (mu_hat - 1) / sigma_HESSE recorded, for each calibration method.

The table gives the pull mean and width over all pseudo-datasets of all seeds, the normalisation
check E_b[r] of the network on the held-out background, and the correction applied.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/calibration_samples.py --seeds 1 2 3 4 5
"""

import argparse
import logging
import os

import numpy as np

import roosbi
from roosbi.data.sample import TrainingSample
from roosbi.estimators import TorchRatioEstimator
from roosbi.inference import create_nll, fit_nll
from roosbi.library import import_root
from roosbi.mixture import mixture_pdf
from roosbi.roofit import evaluate_log_ratio, learned_ratio
from roosbi.stats.calibration import fit_calibration, normalization_check

HIGGS = os.path.join(
    os.path.dirname(roosbi.library.import_root().__file__), "tutorials", "machine_learning", "data", "Higgs_data.root"
)
METHODS = ("none", "normalization", "histogram", "isotonic")


def read(source: str, observables: list[str]) -> np.ndarray:
    """Rows of the observables from ``FILE:TREE``."""
    ROOT = import_root()
    path, tree = source.rsplit(":", 1)
    columns = ROOT.RDataFrame(tree, path).AsNumpy(observables)
    return np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in observables])


def split(events: np.ndarray, n_train: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(events))
    return events[order[:n_train]], events[order[n_train:]]


def labelled(x_signal: np.ndarray, x_background: np.ndarray, observables: list[str]) -> TrainingSample:
    n_s, n_b = len(x_signal), len(x_background)
    return TrainingSample(
        x=np.vstack([x_signal, x_background]),
        theta=np.empty((n_s + n_b, 0)),
        y=np.concatenate([np.ones(n_s), np.zeros(n_b)]),
        observables=observables,
        parameters=[],
        parameter_ranges={},
        reference="sample",
    )


def run_seed(args, seed: int, x_sig: np.ndarray, x_bkg: np.ndarray) -> dict:
    ROOT = import_root()
    rng = np.random.default_rng(seed)
    train_s, pool_s = split(x_sig, args.n_train, rng)
    train_b, pool_b = split(x_bkg, args.n_train, rng)
    if args.calibrate_on == "pool":  # the events the pseudo-datasets are drawn from
        fit_s, fit_b, cal_s, cal_b = train_s, train_b, pool_s, pool_b
    else:
        n_cal = int(round(args.share * args.n_train))
        cal_s, fit_s = train_s[:n_cal], train_s[n_cal:]
        cal_b, fit_b = train_b[:n_cal], train_b[n_cal:]
    estimator = TorchRatioEstimator(seed=seed, progress=False, device="cpu").fit(labelled(fit_s, fit_b, args.obs))
    onnx_path = f"/tmp/calibration_samples_{os.getpid()}.onnx"
    estimator.to_onnx(onnx_path)
    observables = []
    for i, name in enumerate(args.obs):
        lo = min(x_sig[:, i].min(), x_bkg[:, i].min())
        hi = max(x_sig[:, i].max(), x_bkg[:, i].max())
        observables.append(ROOT.RooRealVar(name, name, lo, hi))
    ratio = learned_ratio(onnx_path, observables, name="ratio", output="ratio")
    held_out = labelled(cal_s, cal_b, args.obs)
    raw = evaluate_log_ratio(ratio, held_out.x, calibrated=False)
    check = normalization_check(evaluate_log_ratio(ratio, pool_b, calibrated=False))
    mu = ROOT.RooRealVar("mu", "mu", 1.0, 0.0, 5.0)
    pdf = mixture_pdf(ratio, mu, args.S, args.B, name="mixture")
    data_rng = np.random.default_rng([seed, 1])
    datasets = []
    for _ in range(args.datasets):
        n_s, n_b = data_rng.poisson(args.S), data_rng.poisson(args.B)
        rows = np.vstack(
            [
                pool_s[data_rng.choice(len(pool_s), n_s, replace=False)],
                pool_b[data_rng.choice(len(pool_b), n_b, replace=False)],
            ]
        )
        datasets.append(
            ROOT.RooDataSet.from_numpy(dict(zip(args.obs, rows.T, strict=True)), ROOT.RooArgSet(*observables))
        )
    out = {"check_pool": check}
    for method in args.methods:
        calibration = fit_calibration(raw, held_out.y, method=method, n_bins=args.bins)
        calibration.apply(ratio)
        pulls = []
        for data in datasets:
            fit = fit_nll(create_nll(pdf, data), [mu], {"mu": 1.0}, minos=False, check_points=0)
            par = fit.params["mu"]
            pulls.append((par.value - 1.0) / par.error)
        out[method] = {"pulls": np.array(pulls), "correction": calibration.correction, "before": calibration.before}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", default=f"{HIGGS}:sig_tree")
    parser.add_argument("--background", default=f"{HIGGS}:bkg_tree")
    parser.add_argument("--observables", default="m_jj,m_jjj,m_lv,m_jlv,m_bb")
    parser.add_argument("--n-train", type=int, default=5000, help="training events per class (incl. held-out share)")
    parser.add_argument("--share", type=float, default=0.2, help="held-out share of the training events")
    parser.add_argument(
        "--calibrate-on",
        choices=("share", "pool"),
        default="share",
        help="calibrate on the held-out share of the training events, or on the pool the pseudo-datasets come from",
    )
    parser.add_argument("--bins", type=int, default=20, help="bins of the histogram/isotonic calibration")
    parser.add_argument("--datasets", type=int, default=20, help="pseudo-datasets per seed")
    parser.add_argument("-S", type=float, default=200.0)
    parser.add_argument("-B", type=float, default=2000.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    args.obs = args.observables.split(",")
    logging.basicConfig(level=logging.WARNING)
    import_root().RooMsgService.instance().setGlobalKillBelow(import_root().RooFit.WARNING)
    x_sig, x_bkg = read(args.signal, args.obs), read(args.background, args.obs)
    print(f"signal {len(x_sig)} events, background {len(x_bkg)} events, observables {args.obs}")
    held = f"{args.share:.0%} of them held out" if args.calibrate_on == "share" else "the pseudo-data pool used"
    print(f"training {args.n_train} per class, {held} for calibration; S = {args.S:g}, B = {args.B:g}")
    runs = []
    for seed in args.seeds:
        run = run_seed(args, seed, x_sig, x_bkg)
        runs.append(run)
        line = " ".join(f"{m}: {run[m]['pulls'].mean():+.2f}/{run[m]['pulls'].std(ddof=1):.2f}" for m in args.methods)
        c = run["check_pool"]
        print(f"seed {seed}: E_b[r] (test pool) = {c.mean:.4f} +- {c.error:.4f}; pull mean/width {line}", flush=True)
    print()
    # The pseudo-datasets of one seed share a network and a pool: the error of the pull mean comes
    # from the spread of the seeds' means, not from the number of pseudo-datasets.
    print("| calibration | pull mean ± error (seeds) | pull width | correction (range) | pseudo-datasets |")
    print("|---|---|---|---|---|")
    for m in args.methods:
        pulls = np.concatenate([r[m]["pulls"] for r in runs])
        means = np.array([r[m]["pulls"].mean() for r in runs])
        err = means.std(ddof=1) / np.sqrt(len(means)) if len(means) > 1 else float("nan")
        corr = [r[m]["correction"] for r in runs]
        print(
            f"| {m} | {pulls.mean():+.2f} ± {err:.2f} | {pulls.std(ddof=1):.2f} | "
            f"{min(corr):.4f}–{max(corr):.4f} | {len(pulls)} |"
        )


if __name__ == "__main__":
    main()
