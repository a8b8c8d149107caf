"""The ``roosbi`` command."""

from __future__ import annotations

import argparse
import logging
import re
import sys

from .exceptions import RoosbiError


class _Parser(argparse.ArgumentParser):
    """argparse with each error on one line, as the command's other errors (the usage is in --help)."""

    def error(self, message: str):
        self.exit(2, f"roosbi: error: {message} (see '{self.prog} --help')\n")


def _integer(minimum: int, why: str = ""):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{why}, not {value}")
        return value

    return parse


def _device(text: str) -> str:
    """An argparse type: auto, cpu, cuda or cuda:N (whether CUDA is there is checked later, with torch)."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, not {text!r}")
    return text


def _methods(text: str) -> list[str]:
    """An argparse type: a comma-separated list of known training methods."""
    from .demo import DEMO_METHODS

    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in DEMO_METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(map(repr, unknown)) or repr(text)}; choose from: {', '.join(DEMO_METHODS)}"
        )
    return methods


def _point(text: str) -> dict[str, float]:
    """An argparse type: ``name=value[,name=value...]``."""
    point = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            point[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected name=value (e.g. mu=2.5), not {item!r}")
    return point


def _parser() -> argparse.ArgumentParser:
    from .data.builtin import PROBLEMS
    from .demo import MIN_N_TRAIN
    from .morphing import SETTINGS

    parser = _Parser(prog="roosbi", description="Simulation-based inference in RooFit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on a built-in problem")
    demo.add_argument("problem", nargs="?", default="gauss1d", choices=sorted(PROBLEMS), help="default: gauss1d")
    demo.add_argument("--out", default="roosbi-demo", help="output directory (default: roosbi-demo)")
    demo.add_argument("--seed", type=_integer(0, " (numpy seeds are non-negative)"), default=1)
    demo.add_argument("--estimator", choices=("torch", "sklearn"), default=None, help="default: torch if installed")
    demo.add_argument("--device", type=_device, default="auto", help="auto, cpu, cuda or cuda:N (torch only)")
    demo.add_argument(
        "--n-train",
        type=_integer(MIN_N_TRAIN),
        default=None,
        help="target events (as many reference events); default per problem",
    )
    demo.add_argument(
        "--method",
        type=_methods,
        default=["carl"],
        help="training method(s), comma-separated: carl (default), rolr, rascal, alice, alices, cascal, sally",
    )
    demo.add_argument("--epochs", type=_integer(1), default=None, help="maximum training epochs")
    demo.add_argument("--self-normalized", action="store_true", help="do not normalise the learned pdf over x")
    demo.add_argument("--morph-setting", default="Linear", choices=SETTINGS, help="RooMomentMorphFuncND setting")
    demo.add_argument("--templates", type=_integer(2), default=None, help="morphing templates per parameter")
    demo.add_argument("--no-plots", action="store_true")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.add_argument(
        "--bootstrap",
        action="store_true",
        help="train each ensemble member on a bootstrap resample and report the members' spread of the fitted "
        "parameters as the learned likelihood's training-statistics uncertainty (torch ratio methods)",
    )

    val = sub.add_parser("validate", help="toy study of a workspace's NLLs: bias, pulls, coverage (on Dask)")
    val.add_argument("workspace", help="workspace.root marked by roosbi (or a roosbi demo output directory)")
    val.add_argument("--toys", type=_integer(1, " (a study needs toys)"), required=True, help="number of toys")
    where = val.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_integer(1), default=None, help="local Dask workers (default: one per core)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://HOST:8786)")
    val.add_argument("--seed", type=_integer(0, " (numpy seeds are non-negative)"), default=1)
    val.add_argument(
        "--at",
        type=_point,
        action="append",
        default=[],
        help="parameter values to draw toys at, e.g. mu=2.5 (repeat or comma-separate); default: the best fit",
    )
    val.add_argument("--out", required=True, help="output directory for validation.json, validation.md, pulls.png")
    val.add_argument("--quiet", action="store_true", help="no progress bar")

    lib = sub.add_parser("library", help="build the C++ library (if needed) and print its path, for macros")
    lib.add_argument("--rebuild", action="store_true")
    return parser


def _default_estimator() -> str:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        return "sklearn"
    return "torch"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``roosbi`` console script.

    Exit status: 0, 2 for bad input (one ``roosbi: error: ...`` line), 1 for an OSError or an
    unexpected exception, 130 on Ctrl-C.
    """
    try:
        args = _parser().parse_args(argv)
    except KeyboardInterrupt:
        print("roosbi: interrupted", file=sys.stderr)
        return 130
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    # Expected failures (bad input, a file system that refuses a write) get one line; -v adds the
    # traceback of an OSError. Any other exception is a bug and keeps its traceback even without
    # -v: a run can take many minutes, and asking for a rerun to see where it failed would waste
    # them, while a bug report needs exactly that traceback.
    try:
        if args.command == "library":
            from .library import build_library

            print(build_library(force=args.rebuild))
            return 0
        if args.command == "validate":
            return _validate(args)
        return _demo(args)
    except KeyboardInterrupt:
        print("roosbi: interrupted", file=sys.stderr)
        return 130
    except RoosbiError as err:
        print(f"roosbi: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if args.verbose:
            raise
        print(f"roosbi: error: {err} (run with -v for the traceback)", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace) -> int:
    from .demo import check_demo_settings, run_demo
    from .interrupts import deferred_interrupts
    from .output_dir import check_output_dir

    settings = {} if args.epochs is None else {"max_epochs": args.epochs}
    try:
        # Everything that can be checked before simulating (run_demo checks again, for library
        # users). Deferred: this imports torch, and an extension module that Ctrl-C stops half-way
        # through its initialisation fails with an ImportError instead of a KeyboardInterrupt.
        with deferred_interrupts():
            estimator = args.estimator or _default_estimator()
            check_output_dir(args.out)
            check_demo_settings(
                args.problem,
                args.seed,
                estimator,
                args.device,
                args.n_train,
                args.templates,
                None,
                args.morph_setting,
                args.method,
                args.bootstrap,
            )
        results = run_demo(
            problem=args.problem,
            out=args.out,
            seed=args.seed,
            estimator=estimator,
            device=args.device,
            n_train=args.n_train,
            estimator_settings=settings,
            normalize=not args.self_normalized,
            morph_setting=args.morph_setting,
            n_templates=args.templates,
            progress=not args.quiet,
            plots=not args.no_plots,
            methods=args.method,
            bootstrap=args.bootstrap,
        )
    except KeyboardInterrupt:
        # run_demo stops at a safe point and leaves the output directory as it was.
        print(f"roosbi: interrupted; nothing was written to {args.out}", file=sys.stderr)
        return 130
    width = max(9, *map(len, results["fits"]))
    for name, fit in results["fits"].items():
        for par, r in fit["params"].items():
            print(f"{name:{width}s} {par} = {r['value']:.4f} +- {r['error']:.4f}  (status {fit['status']})")
    print(f"results in {args.out}/ (report.md, results.json, workspace.root, model.onnx, PNGs)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .stats import run_validation

    point = {k: v for item in args.at for k, v in item.items()}
    try:
        results = run_validation(
            args.workspace,
            args.toys,
            args.out,
            seed=args.seed,
            at=point,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        print(f"roosbi: interrupted; nothing was written to {args.out}", file=sys.stderr)
        return 130
    from .stats import nll_results

    for name, pars in nll_results(results).items():
        for par, s in pars.items():
            cov = "-" if s["coverage_68"] is None else f"{s['coverage_68']:.3f} +- {s['coverage_68_err']:.3f}"
            print(f"{name:9s} {par} MINOS 68% coverage {cov}  failed {s['n_failed']}/{s['n_toys']}")
    print(f"results in {args.out}/ (validation.json, validation.md, pulls.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
