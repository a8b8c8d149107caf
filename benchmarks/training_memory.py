"""Training throughput and peak memory: rows, rows/s, CPU use and peak RSS per configuration.

Each configuration trains in a fresh Python process (so that its peak RSS is its own): a
TrainingSample of ``rows`` events (half target x ~ N(mu, 1.5) with mu uniform in [0, 4], half
reference x uniform in [-5, 15], built with numpy: the sample's float64 columns are counted
apart), a short warm-up fit (torch's one-time start-up is not counted), then ``--epochs``
epochs of a TorchRatioEstimator on the CPU.

Columns: rows; threads (torch's intra-op threads during the fit); batch (rows per minibatch);
rows/s (training rows per second, validation included); cpu/wall (the process's CPU seconds per
wall second during the fit: above the thread count's real work means threads spin); sample MiB
(the TrainingSample's own numpy columns); RSS before (after the sample is built); RSS warm (after
the warm-up fit: torch's kernels loaded); peak RSS (the process's high-water mark, ``getrusage``).

Examples (docs/scale.md):

    python benchmarks/training_memory.py --rows 1e6 1e7
    python benchmarks/training_memory.py --rows 2e5 --threads 1 2 --hidden 32,32 128,128 --batch-size 2048 16384
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _rss_mib() -> float:
    """Resident set size now, MiB (/proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one(rows: int, hidden: tuple[int, ...], members: int, batch_size: int | None, threads: int | None, epochs: int):
    """Train one configuration in this process; return its measurements."""
    import numpy as np

    from roosbi.data.sample import TrainingSample
    from roosbi.estimators import TorchRatioEstimator

    rng = np.random.default_rng(1)
    half = rows // 2
    mu = rng.uniform(0.0, 4.0, size=rows)
    x = np.concatenate([rng.normal(mu[:half], 1.5), rng.uniform(-5.0, 15.0, size=rows - half)])
    y = np.concatenate([np.ones(half), np.zeros(rows - half)])
    sample = TrainingSample(x[:, None], mu[:, None], y, ["x"], ["mu"], {"mu": (0.0, 4.0)})
    del x, mu, y
    sample_mib = sum(a.nbytes for a in (sample.x, sample.theta, sample.y, sample.weights)) / 2**20
    rss_before = _rss_mib()
    settings = dict(hidden=hidden, n_members=members, device="cpu", n_threads=threads, progress=False, seed=2)
    # torch's first training in a process pays a one-time start-up (about 2 s): not counted.
    warm_up = sample.subset(np.r_[0:4096, half : half + 4096])
    TorchRatioEstimator(batch_size=batch_size, max_epochs=1, **settings).fit(warm_up)
    del warm_up
    rss_warm = _rss_mib()
    est = TorchRatioEstimator(batch_size=batch_size, max_epochs=epochs, **settings)
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    est.fit(sample)
    wall = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {
        "rows": rows,
        "hidden": list(hidden),
        "members": members,
        "threads": est.n_threads_,
        "batch": est.batch_size_,
        "rows_per_s": rows * est.n_epochs_ / wall,
        "cpu_per_wall": cpu / wall,
        "sample_mib": sample_mib,
        "rss_before_mib": rss_before,
        "rss_warm_mib": rss_warm,
        "peak_rss_mib": usage1.ru_maxrss / 1024,  # KiB on Linux
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7], help="training rows (both classes)")
    parser.add_argument("--hidden", nargs="+", default=["32,32"], help="hidden widths, e.g. 32,32 128,128")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[0], help="0: automatic (default)")
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="0: automatic (default)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--wait",
        choices=["passive", "default", "active"],
        default="passive",
        help="idle OpenMP threads: roosbi's PASSIVE (default), libgomp's default (spin a while), or ACTIVE",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child's configuration, JSON
    args = parser.parse_args()
    if args.one:
        c = json.loads(args.one)
        if args.wait == "default":  # torch (its OpenMP runtime) loads before roosbi could set OMP_WAIT_POLICY
            import torch  # noqa: F401
        print(json.dumps(one(c["rows"], tuple(c["hidden"]), c["members"], c["batch"], c["threads"], c["epochs"])))
        return
    header = (
        f"{'rows':>10} {'hidden':>9} {'threads':>7} {'batch':>6} {'rows/s':>10} {'cpu/wall':>8} "
        f"{'sample MiB':>10} {'RSS before':>10} {'RSS warm':>8} {'peak RSS MiB':>12}"
    )
    print(f"idle OpenMP threads: {args.wait}")
    print(header, flush=True)
    for rows in args.rows:
        for hidden in args.hidden:
            for batch in args.batch_size:
                for threads in args.threads:
                    config = {
                        "rows": int(rows),
                        "hidden": [int(h) for h in hidden.split(",")],
                        "members": args.members,
                        "batch": batch or None,
                        "threads": threads or None,
                        "epochs": args.epochs,
                    }
                    env = dict(os.environ)
                    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                        env.pop(name, None)  # the estimator's own choice, or --threads
                    env.pop("OMP_WAIT_POLICY", None)
                    if args.wait == "active":
                        env["OMP_WAIT_POLICY"] = "ACTIVE"
                    proc = subprocess.run(
                        [sys.executable, __file__, "--one", json.dumps(config), "--wait", args.wait],
                        capture_output=True,
                        text=True,
                        env=env,
                        check=False,
                    )
                    if proc.returncode:
                        print(proc.stderr[-3000:], file=sys.stderr)
                        raise SystemExit(f"configuration {config} failed")
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    print(
                        f"{r['rows']:>10} {hidden:>9} {r['threads']:>7} {r['batch']:>6} {r['rows_per_s']:>10.3g} "
                        f"{r['cpu_per_wall']:>8.2f} {r['sample_mib']:>10.0f} {r['rss_before_mib']:>10.0f} "
                        f"{r['rss_warm_mib']:>8.0f} "
                        f"{r['peak_rss_mib']:>12.0f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
