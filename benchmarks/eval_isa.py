"""RooLearnedRatio built for AVX2 (x86-64-v3) and for AVX-512 (x86-64-v4), side by side.

One process can load only one libRooSBI, so each instruction set runs in its own subprocess, with
ROOSBI_MARCH set to it (the library is built into the cache on first use). Each subprocess
measures, at 10^5 events on one thread, for MLPs 2-64-64-1 tanh, 2-128-128-1 tanh and 2-64-64-1
relu (random weights, as benchmarks/eval_shapes.py):

- RooLearnedRatio::logRatio on a batch, theta per event and theta constant (logRatio takes rows,
  so a constant theta costs the same there; it is folded into the first layer only in doEval);
- the NLL through RooFit: createNLL with EvalBackend cpu, a new theta per evaluation (as
  benchmarks/eval_speed.py);
- onnxruntime float32 on the same ONNX file in the same process (session reused; MLAS picks its
  kernels by the CPU, so it uses AVX-512 here whatever the library was built for);
- GFLOP/s of logRatio (theta per event), counting 2 in out per dense layer per event;
- the share of time in the activations: 1 - t(same network, identity activations) / t.

The theoretical double-precision FMA peak of one core is lanes x 2 FMA units x 2 flops x clock,
with the clock from /proc/cpuinfo "cpu MHz": approximate, that is the nominal clock, and cores
run faster under turbo. So the FMA peak is also measured: a loop of independent FMAs compiled
with the same -march. Workers run round-robin (rounds x targets, and x sources with --baseline),
each giving the median of --repeat runs with the cases alternating; the tables show the median
over rounds, which spreads the noise of a shared machine over all builds alike.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_isa.py [--events 100000] [--repeat 7] [--rounds 3]
        [--isa x86-64-v3 --isa x86-64-v4] [--baseline DIR] [--json FILE]

--baseline DIR compares the C++ sources in DIR (RooLearnedRatio.h, RooLearnedRatio.cxx and
LinkDef.h, e.g. from `git show HEAD:roosbi/cpp/...`) with the current ones, in the same rounds.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

NETWORKS = [(64, "tanh"), (128, "tanh"), (64, "relu")]
CASES = ["per_event", "constant", "nll", "ort"]
ISA_LANES = {"x86-64-v3": 4, "x86-64-v4": 8, "x86-64-v2": 2, "x86-64": 2}

PEAK_SOURCE = r"""
#include <chrono>
#include <cstdio>
typedef double V __attribute__((vector_size(LANES * 8)));
#define R(i) V a##i = (V){} + (i + 1);
#define F(i) a##i = a##i * b + c;
int main() {
   V b = (V){} + 1.0000001, c = (V){} + 1e-9;
   R(0) R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11)
   const long n = 400000000L / LANES;
   double best = 0;
   for (int rep = 0; rep < 3; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (long k = 0; k < n; ++k) {
         F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11)
         __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7),
                          "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
      }
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = best > 24.0 * LANES * n / t ? best : 24.0 * LANES * n / t;
   }
   V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
   std::printf("%.3f %g\n", best / 1e9, s[0]);
}
"""


def cpu_info() -> tuple[str, float]:
    """The CPU's model name and the "cpu MHz" of /proc/cpuinfo (nominal; turbo may run faster)."""
    model, mhz = "unknown CPU", float("nan")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz != mhz:
                mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    return model, mhz


def measured_fma_peak(isa: str) -> float:
    """GFLOP/s of 12 independent chains of FMAs on vectors of doubles, compiled for ``isa``; NaN if it fails."""
    compiler = os.environ.get("CXX", "c++")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "peak.cxx", Path(tmp) / "peak"
        src.write_text(PEAK_SOURCE)
        lanes = ISA_LANES.get(isa, 4)
        build = subprocess.run(
            [compiler, "-O2", f"-march={isa}", f"-DLANES={lanes}", str(src), "-o", str(exe)], capture_output=True
        )
        if build.returncode != 0:
            return float("nan")
        run = subprocess.run([str(exe)], capture_output=True, text=True)
        return float(run.stdout.split()[0]) if run.returncode == 0 else float("nan")


def flops(width: int) -> int:
    sizes = [2, width, width, 1]
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


# ----------------------------------------------------------------------------------------- worker


def worker(events: int, repeat: int) -> dict:
    """Measure every case with the library of this process's ROOSBI_MARCH; medians in ms."""
    import numpy as np
    import onnxruntime as ort
    import torch

    import roosbi.library as library  # importing roosbi builds and loads the library
    from roosbi.data.builtin import gauss1d
    from roosbi.inference import create_nll
    from roosbi.onnx import translate
    from roosbi.roofit import evaluate_log_ratio, learned_pdf, learned_ratio, ratio_from_network

    ROOT = library.import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    path = library.load_library()
    torch.set_num_threads(1)

    problem = gauss1d(n_observed=events, seed=1)
    ws, data = problem.workspace, problem.data()
    x, mu = ws.var("x"), ws.var("mu")
    xs = data.to_numpy()["x"]
    rng = np.random.default_rng(1)
    per_event = np.column_stack([xs, rng.uniform(0.0, 4.0, size=len(xs))])
    constant = np.column_stack([xs, np.full(len(xs), 2.0)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1

    cases, tmp = {}, tempfile.mkdtemp()
    for width, activation in NETWORKS:
        torch.manual_seed(width)
        act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[activation]
        net = torch.nn.Sequential(
            torch.nn.Linear(2, width), act(), torch.nn.Linear(width, width), act(), torch.nn.Linear(width, 1)
        )
        onnx_file = str(Path(tmp) / f"{activation}{width}.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                torch.zeros(1, 2),
                onnx_file,
                dynamo=False,
                input_names=["inputs"],
                dynamic_axes={"inputs": {0: "n"}},
            )
        key = f"2-{width}-{width}-1 {activation}"
        ratio = learned_ratio(onnx_file, inputs=[x, mu], name=f"r_{activation}{width}")
        nll = create_nll(learned_pdf(ratio, [x], normalize=False, name=f"pdf_{activation}{width}"), data)
        session = ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"])
        feed = {"inputs": per_event.astype(np.float32)}
        mus = iter(2.0 + 0.001 * np.arange(10 * repeat + 10))

        def nll_eval(nll=nll, mus=mus):
            mu.setVal(next(mus))
            nll.getVal()

        cases[(key, "per_event")] = lambda r=ratio: evaluate_log_ratio(r, per_event)
        cases[(key, "constant")] = lambda r=ratio: evaluate_log_ratio(r, constant)
        cases[(key, "nll")] = nll_eval
        cases[(key, "ort")] = lambda s=session, f=feed: s.run(None, f)
        # The same layers with identity activations: the time of the dense layers alone.
        linear = translate(onnx_file)
        linear.activations = ["identity"] * len(linear.activations)
        ident = ratio_from_network(linear, [x, mu], name=f"r_identity{width}_{activation}")
        cases[(key, "identity")] = lambda r=ident: evaluate_log_ratio(r, per_event)

    for func in cases.values():  # warm up: first-call set-up (tile ranges, pages) is not timed
        func()
    times = {name: [] for name in cases}
    for _ in range(repeat):  # the cases alternate, so drifts of the machine hit all of them
        for name, func in cases.items():
            t0 = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - t0)
    return {
        "library": f"{Path(path).parent.name}, roosbi from {Path(library.__file__).parents[1]}",
        "ms": {f"{k}|{c}": 1e3 * statistics.median(v) for (k, c), v in times.items()},
    }


# ----------------------------------------------------------------------------------------- parent


def package_with_sources(sources: Path, tmp: Path) -> Path:
    """A copy of this checkout's roosbi package with the C++ sources from ``sources``; returns its parent."""
    package = Path(__file__).resolve().parents[1] / "roosbi"
    shutil.copytree(package, tmp / "roosbi", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("RooLearnedRatio.h", "RooLearnedRatio.cxx", "LinkDef.h"):
        shutil.copy2(sources / name, tmp / "roosbi" / "cpp" / name)
    return tmp


def run_worker(isa: str, events: int, repeat: int, pythonpath: Path | None) -> dict:
    env = {**os.environ, "ROOSBI_MARCH": isa, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if pythonpath:  # found before the editable install of this checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), os.environ.get("PYTHONPATH")]))
    cmd = [sys.executable, __file__, "--worker", "--events", str(events), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"worker for {isa} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def table(isa: str, ms: dict, events: int, nominal_peak: float, measured_peak: float) -> str:
    lines = [
        "| network | logRatio, θ per event [ms] | logRatio, θ constant [ms] | NLL, RooFit cpu [ms] "
        "| onnxruntime f32 [ms] | logRatio / ORT | GFLOP/s | % of nominal peak | % of measured peak "
        "| GFLOP/s, identity activations | activations' share |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for width, activation in NETWORKS:
        key = f"2-{width}-{width}-1 {activation}"
        t = {c: ms[f"{key}|{c}"] for c in [*CASES, "identity"]}
        rate = flops(width) * events / (t["per_event"] * 1e-3) / 1e9
        rate_id = flops(width) * events / (t["identity"] * 1e-3) / 1e9
        share = 1 - t["identity"] / t["per_event"]
        lines.append(
            f"| {key} | {t['per_event']:.1f} | {t['constant']:.1f} | {t['nll']:.1f} | {t['ort']:.1f} "
            f"| {t['per_event'] / t['ort']:.2f} | {rate:.1f} | {100 * rate / nominal_peak:.0f} % "
            f"| {100 * rate / measured_peak:.0f} % | {rate_id:.1f} ({100 * rate_id / measured_peak:.0f} %) "
            f"| {100 * share:.0f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--isa", action="append", help="-march targets (default: x86-64-v3 and x86-64-v4)")
    parser.add_argument("--baseline", help="directory with the C++ sources to compare against")
    parser.add_argument("--json", help="write all medians to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.events, args.repeat)), flush=True)
        return

    isas = args.isa or ["x86-64-v3", "x86-64-v4"]
    sources = {"current": None}
    tmp = tempfile.TemporaryDirectory()
    if args.baseline:
        sources = {"baseline": package_with_sources(Path(args.baseline), Path(tmp.name)), "current": None}
    model, mhz = cpu_info()
    print(f"CPU: {model}; /proc/cpuinfo cpu MHz {mhz:.0f} (nominal: approximate, turbo runs faster)")
    peaks = {}
    for isa in isas:
        lanes = ISA_LANES.get(isa, 4)
        nominal = lanes * 2 * 2 * mhz / 1e3
        peaks[isa] = (nominal, measured_fma_peak(isa))
        print(
            f"{isa}: {lanes} doubles per vector; FMA peak of one core {nominal:.1f} GFLOP/s nominal "
            f"({lanes} x 2 FMA units x 2 flops x {mhz / 1e3:.2f} GHz), {peaks[isa][1]:.1f} GFLOP/s measured"
        )
    results = {(s, isa): [] for s in sources for isa in isas}
    for r in range(args.rounds):
        for label, src in sources.items():
            for isa in isas:
                out = run_worker(isa, args.events, args.repeat, src)
                results[(label, isa)].append(out["ms"])
                print(f"  round {r + 1}: {label} {isa} done ({out['library']})", flush=True)
    medians = {
        key: {name: statistics.median(run[name] for run in runs) for name in runs[0]} for key, runs in results.items()
    }
    for (label, isa), ms in medians.items():
        print(
            f"\n### {isa} ({label} sources): {args.events} events, 1 thread, "
            f"median over {args.rounds} rounds of medians of {args.repeat}\n"
        )
        print(table(isa, ms, args.events, *peaks[isa]))
    if args.baseline:
        print("\n### current vs baseline (time ratio, < 1 is faster)\n")
        print("| target | network | θ per event | θ constant | NLL | identity activations |\n|---|---|---|---|---|---|")
        for isa in isas:
            new, old = medians[("current", isa)], medians[("baseline", isa)]
            for width, activation in NETWORKS:
                key = f"2-{width}-{width}-1 {activation}"
                cells = " | ".join(
                    f"{new[f'{key}|{c}'] / old[f'{key}|{c}']:.2f}" for c in ("per_event", "constant", "nll", "identity")
                )
                print(f"| {isa} | {key} | {cells} |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({f"{label} {isa}": ms for (label, isa), ms in medians.items()} | {"peaks": peaks}, indent=1)
        )


if __name__ == "__main__":
    main()
