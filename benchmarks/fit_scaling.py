"""A learned-NLL fit at 10^5, 10^6 and 10^7 events: time per NLL evaluation and per fit.

The network (2-16-16-1 tanh, trained for a few epochs on rf615's problem) is wrapped as a
RooLearnedRatio; observed datasets of growing size are generated from the Gaussian model and the
learned NLL is minimised with roosbi's fit (MIGRAD, HESSE, MINOS). Everything per event happens in
C++: the time per evaluation should grow linearly with N.

    .venv/bin/python benchmarks/fit_scaling.py [--threads 2] [--max-events 10000000]
"""

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from roosbi.data.builtin import gauss1d
from roosbi.data.simulate import simulate
from roosbi.estimators import TorchRatioEstimator
from roosbi.inference import create_nll, fit_nll
from roosbi.library import import_root
from roosbi.roofit import learned_pdf, learned_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-events", type=int, default=10_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)

    problem = gauss1d(seed=3)
    sample = simulate(problem, n_target=20_000, seed=4)
    est = TorchRatioEstimator(hidden=(16, 16), n_members=1, max_epochs=8, progress=False, seed=5).fit(sample)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = est.to_onnx(Path(tmp) / "small.onnx")
        ws = problem.workspace
        ratio = learned_ratio(onnx_file, workspace=ws)
    ROOT.RooLearnedRatio.setNumThreads(args.threads)
    pdf = learned_pdf(ratio, [ws.var("x")], normalize=False)
    mu, x = ws.var("mu"), ws.var("x")

    print(f"threads: {args.threads}\n")
    print("| events | NLL evaluation [ms] | ns per event | fit (MIGRAD+HESSE+MINOS) [s] | NLL calls | mu |")
    print("|---|---|---|---|---|---|")
    n = 100_000
    while n <= args.max_events:
        mu.setVal(2.5)
        ROOT.RooRandom.randomGenerator().SetSeed(n)
        data = ws.pdf("gauss").generate(ROOT.RooArgSet(x), n)
        nll = create_nll(pdf, data)
        times = []
        for value in (2.40, 2.45, 2.50):
            mu.setVal(value)
            t0 = time.perf_counter()
            nll.getVal()
            times.append(time.perf_counter() - t0)
        per_call = float(np.median(times))
        t0 = time.perf_counter()
        fit = fit_nll(nll, [mu], {"mu": 2.0})
        fit_s = time.perf_counter() - t0
        print(
            f"| {n:,} | {1e3 * per_call:.1f} | {1e9 * per_call / n:.1f} | {fit_s:.1f} | "
            f"~{int(round(fit_s / per_call))} | {fit.params['mu'].value:.4f} +- {fit.params['mu'].error:.5f} |",
            flush=True,
        )
        n *= 10
    ROOT.RooLearnedRatio.setNumThreads(1)


if __name__ == "__main__":
    main()
