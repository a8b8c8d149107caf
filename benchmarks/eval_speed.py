"""Learned-NLL evaluation speed at 10^5 events: RooLearnedRatio vs onnxruntime vs rf615's path.

One network, (x, mu) -> 64 -> 64 -> 1 with tanh, evaluated three ways on the same events:
- RooLearnedRatio: the learned NLL through RooFit (createNLL, default CPU backend), in C++;
- onnxruntime (float32, one thread) on the same ONNX file, plus the sum of log r in numpy;
- rf615's path: RooFit.bindFunction around scikit-learn's predict_proba, through RooFit.
The analytic RooGaussian NLL is shown for scale. Median of several repetitions, each with a
new value of mu so that nothing is cached.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_speed.py [--events 100000] [--repeat 7]
"""

import argparse
import tempfile
import time
import warnings

import numpy as np
import torch
from sklearn.neural_network import MLPClassifier

from roosbi.data.builtin import gauss1d
from roosbi.library import import_root, load_library
from roosbi.onnx import onnxruntime_log_ratio
from roosbi.roofit import learned_pdf, learned_ratio


def median_ms(func, repeat: int) -> float:
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        func(i)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    ROOT = import_root()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    load_library()
    torch.set_num_threads(1)

    problem = gauss1d(n_observed=args.events, seed=1)
    ws, data = problem.workspace, problem.data()
    x, mu = ws.var("x"), ws.var("mu")
    xs = data.to_numpy()["x"]
    mus = 2.0 + 0.01 * np.arange(args.repeat)

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
    )
    onnx_file = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False).name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, torch.zeros(1, 2), onnx_file, dynamo=False, input_names=["inputs"], dynamic_axes={"inputs": {0: "n"}}
        )

    ratio = learned_ratio(onnx_file, inputs=[x, mu])
    nll_cpp = learned_pdf(ratio, [x], normalize=False).createNLL(data)

    def cpp(i):
        mu.setVal(mus[i])
        nll_cpp.getVal()

    inputs = np.column_stack([xs, np.zeros_like(xs)])

    def ort(i):
        inputs[:, 1] = mus[i]
        -np.sum(onnxruntime_log_ratio(onnx_file, inputs))

    # rf615's path: a scikit-learn MLP of the same shape behind RooFit.bindFunction.
    rng = np.random.default_rng(0)
    clf = MLPClassifier((64, 64), activation="tanh", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(rng.normal(size=(2000, 2)), rng.integers(0, 2, 2000))

    def sk_ratio(xv, muv):
        n = max(len(xv), len(muv))
        X = np.zeros((n, 2))
        X[:, 0], X[:, 1] = xv, muv
        p = clf.predict_proba(X)[:, 1]
        return p / (1 - p)

    bound = ROOT.RooFit.bindFunction("sk_ratio", sk_ratio, x, mu)
    nll_py = ROOT.RooWrapperPdf("sk_pdf", "sk_pdf", bound, True).createNLL(data)

    def py(i):
        mu.setVal(mus[i])
        nll_py.getVal()

    nll_gauss = ws.pdf("gauss").createNLL(data)

    def gauss(i):
        mu.setVal(mus[i])
        nll_gauss.getVal()

    # onnxruntime needs a session: build it once, as a fair user would.
    import onnxruntime as rt

    opts = rt.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = rt.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"])
    feed = inputs.astype(np.float32)

    def ort_session(i):
        feed[:, 1] = mus[i]
        np.sum(session.run(None, {"inputs": feed})[0].astype(np.float64))

    rows = [
        ("RooLearnedRatio NLL (C++, double, through RooFit)", median_ms(cpp, args.repeat)),
        ("onnxruntime float32, session reused, + numpy sum", median_ms(ort_session, args.repeat)),
        ("onnxruntime float32, new session per call", median_ms(ort, args.repeat)),
        ("rf615: bindFunction + sklearn predict_proba (RooFit)", median_ms(py, args.repeat)),
        ("analytic RooGaussian NLL (for scale)", median_ms(gauss, args.repeat)),
    ]
    ref = rows[0][1]
    print(
        f"| learned NLL at {args.events} events, MLP 2-64-64-1 tanh, 1 thread | ms (median of {args.repeat}) "
        "| vs RooLearnedRatio |"
    )
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / ref:.2f}x |")


if __name__ == "__main__":
    main()
