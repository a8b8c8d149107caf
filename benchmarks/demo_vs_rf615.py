"""Wall time of `roosbi demo` against ROOT's rf615 tutorial as shipped, side by side.

Runs each, alternating, several times in fresh processes (the roosbi library build is cached
first) and prints the median wall time of each and their ratio.

    .venv/bin/python benchmarks/demo_vs_rf615.py [--repeat 3]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from roosbi.library import build_library, import_root


def wall(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ROOT = import_root()
    build_library()
    tutorial = Path(ROOT.__file__).parent / "tutorials/roofit/roofit/rf615_simulation_based_inference.py"
    roosbi = str(Path(sys.executable).parent / "roosbi")
    times = {"rf615": [], "roosbi demo": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            times["rf615"].append(wall([sys.executable, str(tutorial)], tmp))
            times["roosbi demo"].append(wall([roosbi, "demo", "--out", f"{tmp}/demo{i}", "--quiet"], tmp))
            print(f"run {i + 1}: rf615 {times['rf615'][-1]:.1f} s, roosbi demo {times['roosbi demo'][-1]:.1f} s")
    rf, demo = np.median(times["rf615"]), np.median(times["roosbi demo"])
    print(f"\n| program | median wall time [s] (of {args.repeat}) |\n|---|---|")
    print(f"| ROOT rf615 as shipped | {rf:.1f} |\n| roosbi demo (gauss1d, torch, CPU) | {demo:.1f} |")
    print(f"| ratio demo / rf615 | {demo / rf:.2f} |")


if __name__ == "__main__":
    main()
