"""RooLearnedRatio against onnxruntime (float32, one thread) over network shapes, and threads.

For widths 16-256 and depths 1-4 (tanh MLPs with 2 inputs, random weights), the time to
evaluate log r for 10^5 events with RooLearnedRatio's C++ kernel (double precision) and with
onnxruntime on the same ONNX file, the ratio, and RooLearnedRatio's rate in GFLOP/s next to the
machine's single-thread dgemm rate measured in the same run (numpy, 1024 x 1024 matrices).
Then the speed-up of RooLearnedRatio with 2 threads at 10^6 events, and the time per activation
for a 2-64-64-1 network with each activation. Median of 5.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/eval_shapes.py
"""

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from roosbi.library import import_root, load_library
from roosbi.roofit import evaluate_log_ratio, learned_ratio


def median_s(func, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def dgemm_gflops() -> float:
    a, b = np.random.default_rng(0).normal(size=(2, 1024, 1024))
    return 2 * 1024**3 / median_s(lambda: a @ b) / 1e9


ACTIVATIONS = {
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
    "leaky_relu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "selu": torch.nn.SELU,
    "sigmoid": torch.nn.Sigmoid,
    "silu": torch.nn.SiLU,
    "softplus": torch.nn.Softplus,
    "gelu": torch.nn.GELU,
}


def network(width: int, depth: int, path: Path, activation: str = "tanh") -> Path:
    torch.manual_seed(width * 10 + depth)
    layers, n_in = [], 2
    for _ in range(depth):
        layers += [torch.nn.Linear(n_in, width), ACTIVATIONS[activation]()]
        n_in = width
    net = torch.nn.Sequential(*layers, torch.nn.Linear(n_in, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, torch.zeros(1, 2), str(path), dynamo=False, input_names=["inputs"], dynamic_axes={"inputs": {0: "n"}}
        )
    return path


def flops(width: int, depth: int) -> int:
    sizes = [2] + [width] * depth + [1]
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def main() -> None:
    ROOT = import_root()
    load_library()
    x, mu = ROOT.RooRealVar("x", "x", 0, -5, 15), ROOT.RooRealVar("mu", "mu", 2, 0, 4)
    inputs = np.random.default_rng(1).uniform([-5, 0], [15, 4], size=(100_000, 2))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    peak = dgemm_gflops()
    print(f"single-thread dgemm (numpy, 1024^3): {peak:.1f} GFLOP/s\n")
    print("| width | depth | RooLearnedRatio [ms] | onnxruntime f32 [ms] | RLR / ORT | RLR GFLOP/s | % of dgemm |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for width in (16, 64, 256):
            for depth in (1, 2, 4):
                path = network(width, depth, Path(tmp) / f"w{width}d{depth}.onnx")
                ratio = learned_ratio(path, inputs=[x, mu], name=f"r{width}_{depth}")
                session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                feed = {"inputs": inputs.astype(np.float32)}
                t_rlr = median_s(lambda r=ratio: evaluate_log_ratio(r, inputs))
                t_ort = median_s(lambda s=session, f=feed: s.run(None, f))
                rate = flops(width, depth) * len(inputs) / t_rlr / 1e9
                print(
                    f"| {width} | {depth} | {1e3 * t_rlr:.1f} | {1e3 * t_ort:.1f} | {t_rlr / t_ort:.2f} | "
                    f"{rate:.1f} | {100 * rate / peak:.0f} % |"
                )
        path = network(64, 2, Path(tmp) / "threads.onnx")
        ratio = learned_ratio(path, inputs=[x, mu], name="r_threads")
        big = np.random.default_rng(2).uniform([-5, 0], [15, 4], size=(1_000_000, 2))
        print("\n| threads | 10^6 events, 2-64-64-1 tanh [ms] | speed-up |\n|---|---|---|")
        base = None
        for n in (1, 2):
            ROOT.RooLearnedRatio.setNumThreads(n)
            t = median_s(lambda: evaluate_log_ratio(ratio, big))
            base = base or t
            print(f"| {n} | {1e3 * t:.0f} | {base / t:.2f} |")
        ROOT.RooLearnedRatio.setNumThreads(1)

        print(
            "\n| activation (2-64-64-1) | RooLearnedRatio [ms] | onnxruntime f32 [ms] | RLR / ORT |\n|---|---|---|---|"
        )
        for name in ACTIVATIONS:
            path = network(64, 2, Path(tmp) / f"{name}.onnx", name)
            ratio = learned_ratio(path, inputs=[x, mu], name=f"r_{name}")
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            t_rlr = median_s(lambda r=ratio: evaluate_log_ratio(r, inputs))
            t_ort = median_s(lambda s=session: s.run(None, {"inputs": inputs.astype(np.float32)}))
            print(f"| {name} | {1e3 * t_rlr:.1f} | {1e3 * t_ort:.1f} | {t_rlr / t_ort:.2f} |")


if __name__ == "__main__":
    main()
