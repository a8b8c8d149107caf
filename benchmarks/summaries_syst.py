"""neos against a BCE classifier, the learned and the analytic likelihood on ``syst`` (issue 12, item 4).

For each seed, ``roosbi demo syst`` runs whole (its comparison of summary statistics:
roosbi/demo/syst_summaries.py) and its results.json gives, with the systematics on and off, the
median expected 95 % CLs upper limit on mu and the median expected discovery significance of
(a) the neos summary, (b) the BCE classifier's score in the same bins with the same nuisances,
(c) the learned unbinned likelihood, (d) the analytic one. The table holds the medians over the
seeds. Targets: with the systematics, neos's expected limit at least 10 % below BCE's; without,
within 5 % of it.

    .venv/bin/python benchmarks/summaries_syst.py --seeds 1 2 3 4 5     # ~2.5 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from roosbi.demo import run_demo
from roosbi.demo.syst_summaries import APPROACHES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = {"summaries": [], "summaries_stat_only": []}
    ratios = {"summaries": [], "summaries_stat_only": []}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            t1 = time.perf_counter()
            res = run_demo(problem="syst", out=Path(tmp) / f"seed{seed}", seed=seed, device="cpu", progress=False)
            for key in rows:
                rows[key].append(res[key])
                ratios[key].append(res[key]["neos"]["cls_limit"] / res[key]["bce"]["cls_limit"])
            print(
                f"seed {seed}: neos / bce limit {ratios['summaries'][-1]:.3f} (syst.), "
                f"{ratios['summaries_stat_only'][-1]:.3f} (stat. only); {time.perf_counter() - t1:.0f} s",
                flush=True,
            )
    print(f"\nmedians over seeds {args.seeds} ({time.perf_counter() - t0:.0f} s)\n")
    print("| approach | CLs limit (syst.) | CLs limit (stat. only) | Z (syst.) | Z (stat. only) |")
    print("|---|---|---|---|---|")
    medians = {}
    for name in APPROACHES:
        cells = []
        for quantity in ("cls_limit", "significance"):
            for key in rows:
                value = float(np.median([r[name][quantity] for r in rows[key]]))
                medians[(name, quantity, key)] = value
                cells.append(value)
        print(f"| {name} | {cells[0]:.4f} | {cells[1]:.4f} | {cells[2]:.3f} | {cells[3]:.3f} |")
    on = float(np.median(ratios["summaries"]))
    off = float(np.median(ratios["summaries_stat_only"]))
    print(f"\nneos / bce expected limit, median of per-seed ratios: {on:.3f} (syst.), {off:.3f} (stat. only)")
    of_medians = [medians[("neos", "cls_limit", k)] / medians[("bce", "cls_limit", k)] for k in rows]
    print(f"  ratio of the median limits: {of_medians[0]:.3f} (syst.), {of_medians[1]:.3f} (stat. only)")
    print(f"  per seed (syst.): {json.dumps([round(r, 3) for r in ratios['summaries']])}")
    print(f"  per seed (stat. only): {json.dumps([round(r, 3) for r in ratios['summaries_stat_only']])}")
    print(f"target 1, syst. on: neos limit >= 10 % below bce's: {'MET' if on <= 0.9 else 'NOT MET'} ({1 - on:+.1%})")
    print(
        f"target 2, syst. off: neos within 5 % of bce: {'MET' if abs(off - 1) <= 0.05 else 'NOT MET'} ({off - 1:+.1%})",
        flush=True,
    )


if __name__ == "__main__":
    main()
