"""The ``roosbi`` command."""

from __future__ import annotations

import argparse
import logging
import sys

from .exceptions import RoosbiError


def _parser() -> argparse.ArgumentParser:
    from .problems import PROBLEMS

    parser = argparse.ArgumentParser(prog="roosbi", description="Simulation-based inference in RooFit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on a built-in problem")
    demo.add_argument("problem", nargs="?", default="gauss1d", choices=sorted(PROBLEMS), help="default: gauss1d")
    demo.add_argument("--out", default="roosbi-demo", help="output directory (default: roosbi-demo)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--estimator", choices=("torch", "sklearn"), default=None, help="default: torch if installed")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda (torch only)")
    demo.add_argument(
        "--n-train", type=int, default=None, help="target events (as many reference events); default per problem"
    )
    demo.add_argument("--epochs", type=int, default=None, help="maximum training epochs")
    demo.add_argument("--self-normalized", action="store_true", help="do not normalise the learned pdf over x")
    demo.add_argument("--morph-setting", default="Linear", help="RooMomentMorphFuncND setting")
    demo.add_argument("--templates", type=int, default=None, help="morphing templates per parameter")
    demo.add_argument("--no-plots", action="store_true")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

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
    """Entry point of the ``roosbi`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "library":
            from .library import build_library

            print(build_library(force=args.rebuild))
            return 0
        from .demo import run_demo

        settings = {} if args.epochs is None else {"max_epochs": args.epochs}
        results = run_demo(
            problem=args.problem,
            out=args.out,
            seed=args.seed,
            estimator=args.estimator or _default_estimator(),
            device=args.device,
            n_train=args.n_train,
            estimator_settings=settings,
            normalize=not args.self_normalized,
            morph_setting=args.morph_setting,
            n_templates=args.templates,
            progress=not args.quiet,
            plots=not args.no_plots,
        )
    except RoosbiError as err:
        print(f"roosbi: error: {err}", file=sys.stderr)
        return 2
    for name, fit in results["fits"].items():
        for par, r in fit["params"].items():
            print(f"{name:9s} {par} = {r['value']:.4f} +- {r['error']:.4f}  (status {fit['status']})")
    print(f"results in {args.out}/ (report.md, results.json, workspace.root, model.onnx, PNGs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
