"""CLs upper limits of the mixture problem (ROOT's rf618) over several seeds: learned vs analytic, toys vs asymptotics.

For each seed the demo pipeline trains the learned mixture (``run_demo(problem="mixture")``: 50 000
signal + 50 000 background events by default, S = 100, B = 2000) and ``run_hypotests`` computes the
95 % CLs upper limit on mu of the analytic, learned and template NLLs, asymptotically and with toys
on Dask (one local cluster for all seeds). The demo's observed data have mu = 1, a 4.8 sigma
excess whose limit (about 1.2) lies far above the expected band; ``--mu-observed 0`` redraws the
observed data from the analytic model at mu = 0 and their
classifier scores for the template fit, with the demo's data seed, so that observed and expected limits are comparable.

Targets: the learned limit within 10 % of the analytic one, and toys within 10 % of the
asymptotics (medians over the seeds).

    .venv/bin/python benchmarks/hypotest_mixture.py --seeds 1 2 3 4 5 --toys 200 --workers 2 --mu-observed 0
"""

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from roosbi.demo import run_demo, stage_seeds
from roosbi.library import import_root
from roosbi.mixture import classifier_score
from roosbi.stats.hypotest import run_hypotests
from roosbi.workspace import open_workspace

NLLS = ("analytic", "learned", "template")


def observe_again(path: Path, mu: float, seed: int) -> Path:
    """A copy of the demo's workspace whose observed data (and their scores) are redrawn at mu."""
    ROOT = import_root()
    ws = open_workspace(path)
    ws.var("mu").setVal(mu)
    ROOT.RooRandom.randomGenerator().SetSeed(seed)
    data = ws.pdf("model").generate(ROOT.RooArgSet(ws.var("m")), ROOT.RooFit.Extended(True))
    ratio = next(f for f in ws.allFunctions() if f.ClassName() == "RooLearnedRatio")
    scores = np.clip(classifier_score(ratio, data.to_numpy()["m"].reshape(-1, 1)), 0.0, 1.0)
    score_data = ROOT.RooDataSet.from_numpy({"score": scores}, ROOT.RooArgSet(ws.var("score")))
    for name, new in (("obs_data", data), ("obs_data_score", score_data)):
        ws.data(name).reset()
        ws.data(name).append(new)
    out = path.with_name(f"workspace_mu{mu:g}.root")
    ws.writeToFile(str(out), True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--toys", type=int, default=200, help="toys per hypothesis and scan point")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mu-observed", type=float, default=1.0, help="1: the demo's data; else redrawn at this mu")
    parser.add_argument("--n-train", type=int, default=None, help="default: the demo's 50 000")
    parser.add_argument("--out", default=None, help="directory for the runs (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    client = Client(cluster)
    base = Path(args.out or tempfile.mkdtemp(prefix="hypotest_mixture_"))
    rows = []
    t_start = time.perf_counter()
    try:
        for seed in args.seeds:
            demo = base / f"seed{seed}"
            run_demo(problem="mixture", out=demo, seed=seed, n_train=args.n_train, progress=False, plots=False)
            path = demo / "workspace.root"
            if args.mu_observed != 1.0:
                path = observe_again(path, args.mu_observed, stage_seeds(seed)[0])
            res = run_hypotests(path, demo / "hypotest", toys=args.toys, scheduler=cluster.scheduler_address,
                                seed=seed, progress=False)  # fmt: skip
            rows.append({(n, k): res[n][f"cls_limit_{k}"] for n in NLLS for k in ("asymptotic", "toys")})
            rows[-1]["expected"] = res["analytic"]["cls_expected_asymptotic"]["0"]
            rows[-1].update(seed=seed, wall_s=res["wall_s"])
            print(f"seed {seed}: done ({res['wall_s']:.0f} s of hypothesis tests)", flush=True)
    finally:
        client.close()
        cluster.close()

    print(f"\nmu observed {args.mu_observed:g}, {args.toys} toys per hypothesis and point, {args.workers} workers, "
          f"{time.perf_counter() - t_start:.0f} s in all; 95 % CLs upper limits on mu\n")  # fmt: skip
    head = "| seed | analytic asym | learned asym | template asym | analytic toys | learned toys | template toys "
    print(head + "| learned/analytic asym | learned/analytic toys | toys/asym analytic | toys/asym learned |")
    print("|---" * 11 + "|")
    ratios = []
    for r in rows:
        ratio = [
            r[("learned", "asymptotic")] / r[("analytic", "asymptotic")],
            r[("learned", "toys")] / r[("analytic", "toys")],
            r[("analytic", "toys")] / r[("analytic", "asymptotic")],
            r[("learned", "toys")] / r[("learned", "asymptotic")],
        ]
        ratios.append(ratio)
        limits = " | ".join(f"{r[(n, k)]:.3f}" for k in ("asymptotic", "toys") for n in NLLS)
        print(f"| {r['seed']} | {limits} | " + " | ".join(f"{x:.3f}" for x in ratio) + " |")
    med = np.median([[r[(n, k)] for k in ("asymptotic", "toys") for n in NLLS] for r in rows], axis=0)
    print("| median | " + " | ".join(f"{x:.3f}" for x in med) + " | "
          + " | ".join(f"{x:.3f}" for x in np.median(ratios, axis=0)) + " |")  # fmt: skip
    print(f"\nanalytic expected (asymptotic, median over seeds): {np.median([r['expected'] for r in rows]):.3f}")
    off = np.abs(np.median(ratios, axis=0) - 1)
    print(f"learned within 10 % of analytic (median): asymptotic {off[0]:.1%}, toys {off[1]:.1%}; "
          f"toys within 10 % of asymptotics: analytic {off[2]:.1%}, learned {off[3]:.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
