"""The ``roosbi`` command."""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys

from .exceptions import InputError, RoosbiError


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


def _level(text: str) -> float:
    """An argparse type: a confidence level strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a confidence level between 0 and 1 (e.g. 0.95), not {text!r}")
    return value


def _scan(text: str) -> tuple[float, float, int]:
    """An argparse type: ``lo,hi,n`` (a POI scan of n >= 2 points from lo to hi)."""
    try:
        lo, hi, n = text.split(",")
        scan = (float(lo), float(hi), int(n))
    except ValueError:
        scan = None
    if scan is None or not (math.isfinite(scan[0]) and scan[0] < scan[1] < math.inf and scan[2] >= 2):
        raise argparse.ArgumentTypeError(f"expected LO,HI,N with LO < HI and N >= 2 (e.g. 0,2,20), not {text!r}")
    return scan


def _parser() -> argparse.ArgumentParser:
    from .data.builtin import PROBLEMS
    from .demo import MIN_N_TRAIN
    from .morphing import SETTINGS
    from .stats.calibration import CALIBRATION_METHODS

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
    _budget_options(demo)
    demo.add_argument(
        "--calibration",
        choices=CALIBRATION_METHODS,
        default=None,
        help="mixture: calibration of r fitted on held-out training events and stored in the workspace "
        "(default: normalization)",
    )

    _run_parser(sub)

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
        help="a parameter point to draw toys at, e.g. mu=2.5 or mu=2,sigma=1; repeat for several points "
        "(coverage_vs_point.png); default: the best fit",
    )
    val.add_argument(
        "--generator",
        default=None,
        help="marked pdf to draw the toys from (default: analytic, else the held-out events of a study on sample "
        "files ('pool'), else the first marked that can); 'learned' is the closure test",
    )
    val.add_argument(
        "--out",
        required=True,
        help="output directory for validation.json, validation.md, pulls.png, coverage_vs_point.png",
    )
    val.add_argument("--quiet", action="store_true", help="no progress bar")

    hyp = sub.add_parser("hypotest", help="discovery significance and CLs limits of a workspace's NLLs (RooStats)")
    hyp.add_argument("workspace", help="workspace.root marked by roosbi (or a roosbi demo output directory)")
    hyp.add_argument(
        "--toys",
        type=_integer(0, " (0: asymptotics only)"),
        default=0,
        help="toys per hypothesis and scan point, also background-only toys for p0 (default 0: asymptotic only)",
    )
    where = hyp.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_integer(1), default=None, help="local Dask workers (default: one per core)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://HOST:8786)")
    hyp.add_argument("--seed", type=_integer(0, " (numpy seeds are non-negative)"), default=1)
    hyp.add_argument("--poi", default=None, help="parameter of interest (default: the first marked parameter)")
    hyp.add_argument("--cl", type=_level, default=0.95, help="confidence level of the upper limits (default 0.95)")
    hyp.add_argument("--scan", type=_scan, default=None, help="POI scan LO,HI,N (default: from the asymptotic limits)")
    hyp.add_argument("--out", required=True, help="output directory for hypotest.json, hypotest.md, cls_limits.png")
    hyp.add_argument("--quiet", action="store_true", help="no progress bar")

    _fit_parser(sub)

    lib = sub.add_parser("library", help="build the C++ library (if needed) and print its path, for macros")
    lib.add_argument("--rebuild", action="store_true")
    return parser


def _run_parser(sub) -> None:
    """``roosbi run``: the demo's pipeline on a user's workspace, from options or a study file (.toml)."""
    from .demo import MIN_N_TRAIN
    from .morphing import SETTINGS
    from .stats.calibration import CALIBRATION_METHODS

    run = sub.add_parser(
        "run",
        help="run the demo's pipeline on your own workspace (WORKSPACE.root with options, or STUDY.toml), a "
        "mixture on files of simulated signal and background events (--signal, --background), or a parameterized "
        "study on files of events simulated at many parameter points (--target)",
        description="Simulate from your pdf, train, fit learned, morphed and analytic NLLs to your data, and write "
        "the demo's report. Give WORKSPACE.root and the options, or a study file STUDY.toml whose keys are the "
        "options' names with underscores (options given with a study file replace its keys). With --signal and "
        "--background (files of simulated events, no workspace) it learns p_s/p_b and fits the signal strength "
        "with the learned mixture and the score template baseline. With --target (events simulated at many "
        "parameter points, the parameters as columns) it learns r(x|theta) and fits it, with the morphing baseline "
        "when the points make a grid. docs/run.md.",
    )
    run.add_argument(
        "source",
        nargs="?",
        default=None,
        help="WORKSPACE.root, or a study file STUDY.toml (none with --signal or --target)",
    )
    run.add_argument("--pdf", default=None, help="the pdf p(x|theta): simulator and analytic model")
    run.add_argument("--observables", default=None, help="observables, comma-separated: x[,y]")
    run.add_argument("--parameters", default=None, help="parameters with finite ranges, comma-separated: mu[,s]")
    run.add_argument("--data", default=None, help="the observed dataset (sample files: observed events FILE[:TREE])")
    run.add_argument(
        "--reference",
        default=None,
        help="a pdf name, a parameter point mu=1.0[,s=2] (the simulator there), or marginal; "
        "default: uniform over the observables' ranges (--target: marginal, the default, or FILE[:TREE])",
    )
    run.add_argument("--analytic", default=None, help="the pdf fitted as 'analytic' (default: --pdf)")
    run.add_argument(
        "--nuisances", default=None, help="nuisance parameters, comma-separated: network inputs, profiled in the fits"
    )
    run.add_argument("--constraints", default=None, help="their constraint pdfs, comma-separated (one per nuisance)")
    run.add_argument("--workspace-name", default=None, help="the workspace in the file, if it holds several")
    run.add_argument("--name", default=None, help="the study's name in the report (default: the file's name)")
    run.add_argument("--out", default=None, help="output directory (required unless the study file gives out)")
    run.add_argument("--seed", type=_integer(0, " (numpy seeds are non-negative)"), default=None, help="default 1")
    run.add_argument("--estimator", choices=("torch", "sklearn"), default=None, help="default: torch if installed")
    run.add_argument("--device", type=_device, default=None, help="auto, cpu, cuda or cuda:N (torch only)")
    run.add_argument(
        "--n-train", type=_integer(MIN_N_TRAIN), default=None, help="target events (as many reference events)"
    )
    run.add_argument(
        "--method",
        type=_methods,
        default=None,
        help="training method(s), comma-separated: carl (default), rolr, rascal, alice, alices, cascal, sally",
    )
    run.add_argument("--epochs", type=_integer(1), default=None, help="maximum training epochs")
    run.add_argument("--morph-grid", type=_integer(2), default=None, help="morphing templates per parameter (5)")
    run.add_argument("--morph-setting", default=None, choices=SETTINGS, help="RooMomentMorphFuncND setting")
    run.add_argument("--self-normalized", action="store_true", default=None, help="do not normalise over x")
    run.add_argument("--bootstrap", action="store_true", default=None, help="as for demo: the training error")
    run.add_argument("--no-plots", action="store_true", default=None)
    run.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    _budget_options(run)
    mix = run.add_argument_group("mixture from sample files (no workspace; --data is then FILE[:TREE] or omitted)")
    mix.add_argument(
        "--signal", action="append", default=None, metavar="FILE[:TREE]", help="signal events (repeat for more files)"
    )
    mix.add_argument("--background", action="append", default=None, metavar="FILE[:TREE]", help="background events")
    mix.add_argument("--n-signal", type=float, default=None, metavar="S", help="expected signal events at poi = 1")
    mix.add_argument("--n-background", type=float, default=None, metavar="B", help="expected background events")
    mix.add_argument("--weight", default=None, help="event-weight column of the simulated events' files")
    mix.add_argument("--selection", default=None, help="RDataFrame Filter (tables: DataFrame.query) for every file")
    mix.add_argument("--poi", default=None, help="the signal strength's name (default mu)")
    mix.add_argument("--poi-range", default=None, metavar="LO,HI", help="its range (default 0,5)")
    mix.add_argument(
        "--mu-observed", type=float, default=None, help="without --data: the pseudo-data's signal strength (1)"
    )
    mix.add_argument(
        "--n-bins", type=_integer(2), default=None, help="score template bins (30); parameterized: per observable"
    )
    mix.add_argument("--calibration", choices=CALIBRATION_METHODS, default=None, help="of r (normalization)")
    par = run.add_argument_group(
        "parameterized study from sample files (events at many parameter points, no workspace; --parameters and "
        "--observables are columns, --reference marginal (default) or FILE[:TREE], --data FILE[:TREE] or "
        "--data-point; --weight, --selection, --n-bins as above)"
    )
    par.add_argument(
        "--target",
        action="append",
        default=None,
        metavar="FILE[:TREE]",
        help="events with observable and parameter columns, each at its own theta (repeat for more files)",
    )
    par.add_argument(
        "--data-point",
        default=None,
        metavar="MU=V[,S=V]",
        help="pseudo-data from target events held out at this grid point",
    )
    par.add_argument("--n-data", type=_integer(1), default=None, help="pseudo-data events (default: all held out)")


def _budget_options(parser: argparse.ArgumentParser) -> None:
    from .demo import MIN_N_TRAIN

    parser.add_argument(
        "--budget",
        choices=("auto",),
        default=None,
        help="auto: double --n-train (default start 5000) with --bootstrap until the training error is at most "
        "--budget-target x the statistical error",
    )
    parser.add_argument("--budget-target", type=float, default=None, help="default 0.1")
    parser.add_argument("--budget-max", type=_integer(MIN_N_TRAIN), default=None, help="largest n_train tried")


def _default_estimator() -> str:
    # Look for torch without importing it: roosbi imports it later with OMP_WAIT_POLICY=PASSIVE set
    # first (roosbi.estimators.resources.import_torch), which only works before torch's first import.
    import importlib.util

    return "torch" if importlib.util.find_spec("torch") is not None else "sklearn"


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
        if args.command == "hypotest":
            return _hypotest(args)
        if args.command == "run":
            return _run(args)
        if args.command == "fit":
            return _fit(args)
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


def _budget(args: argparse.Namespace, run_at, n_start: int | None, out) -> dict:
    """``--budget auto``: ``run_at(n_train)`` (a bootstrap run) at doubling n_train, the last one left in ``out``."""
    from .demo.budget import run_budget

    results = run_budget(run_at, out, n_start, args.budget_target, args.budget_max)
    _budget_print(results)
    return results


def _budget_print(results: dict) -> None:
    """The budget search's line, for a run that made one (``--budget auto`` or a study file's ``budget``)."""
    from .demo.budget import budget_line

    if "budget" in results:
        print(budget_line(results["budget"]))


def _check_budget_options(args: argparse.Namespace) -> None:
    if args.budget is None and (args.budget_target is not None or args.budget_max is not None):
        raise InputError("--budget-target and --budget-max need --budget auto")


def _demo(args: argparse.Namespace) -> int:
    from .demo import check_demo_settings, run_demo
    from .interrupts import deferred_interrupts
    from .output_dir import check_output_dir

    settings = {} if args.epochs is None else {"max_epochs": args.epochs}
    _check_budget_options(args)
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
        options = dict(
            problem=args.problem,
            out=args.out,
            seed=args.seed,
            estimator=estimator,
            device=args.device,
            estimator_settings=settings,
            normalize=not args.self_normalized,
            morph_setting=args.morph_setting,
            n_templates=args.templates,
            progress=not args.quiet,
            plots=not args.no_plots,
            methods=args.method,
            calibration=args.calibration,
        )
        if args.budget == "auto":
            results = _budget(args, lambda n: run_demo(**options, n_train=n, bootstrap=True), args.n_train, args.out)
        else:
            results = run_demo(**options, n_train=args.n_train, bootstrap=args.bootstrap)
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


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .interrupts import deferred_interrupts
    from .run import STUDY_KEYS, load_study, run_study

    options = {key: value for key, value in vars(args).items() if key in STUDY_KEYS and value is not None}
    _check_budget_options(args)
    with deferred_interrupts():
        if args.source is None:
            if args.signal is None and args.background is None and args.target is None:
                raise InputError(
                    "give WORKSPACE.root, a study file STUDY.toml, or --signal and --background (files of simulated "
                    "events), or --target (events simulated at many parameter points)"
                )
            settings = options
        elif Path(args.source).suffix.lower() == ".toml":
            settings = {**load_study(args.source), **options}  # the options replace the file's keys
        else:
            settings = {"workspace": args.source, **options}
    out = settings.get("out")
    try:
        # --budget auto is the study's budget key: run_study runs the search (as for a study file's).
        results = run_study(settings)
    except KeyboardInterrupt:
        print(f"roosbi: interrupted; nothing was written to {out}", file=sys.stderr)
        return 130
    _budget_print(results)
    width = max(9, *map(len, results["fits"]))
    for name, fit in results["fits"].items():
        for par, r in fit["params"].items():
            print(f"{name:{width}s} {par} = {r['value']:.4f} +- {r['error']:.4f}  (status {fit['status']})")
    print(f"results in {out}/ (report.md, results.json, workspace.root, model.onnx, PNGs)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .stats import run_validation

    try:
        results = run_validation(
            args.workspace,
            args.toys,
            args.out,
            seed=args.seed,
            points=args.at or None,
            generator=args.generator,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.quiet,
        )
    except KeyboardInterrupt as err:
        # A study that stops writes the statistics of the toys that finished (run_validation).
        n = getattr(err, "toys_finished", 0)
        kept = f'the {n} finished toys are in {args.out}/ ("interrupted": true)' if n else "nothing was written"
        print(f"roosbi: interrupted; {kept}" + ("" if n else f" to {args.out}"), file=sys.stderr)
        return 130
    from .stats import nll_results

    for name, pars in nll_results(results).items():
        for par, s in pars.items():
            cov = "-" if s["coverage_68"] is None else f"{s['coverage_68']:.3f} +- {s['coverage_68_err']:.3f}"
            print(f"{name:9s} {par} MINOS 68% coverage {cov}  failed {s['n_failed']}/{s['n_toys']}")
    print(f"results in {args.out}/ (validation.json, validation.md, pulls.png, coverage_vs_point.png)")
    return 0


def _hypotest(args: argparse.Namespace) -> int:
    from .stats.hypotest import run_hypotests

    try:
        results = run_hypotests(
            args.workspace,
            args.out,
            toys=args.toys,
            workers=args.workers,
            scheduler=args.scheduler,
            seed=args.seed,
            poi=args.poi,
            cl=args.cl,
            scan=args.scan,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        print(f"roosbi: interrupted; nothing was written to {args.out}", file=sys.stderr)
        return 130

    def limit(r: dict, kind: str) -> str:
        if r[f"cls_limit_{kind}"] is None:
            return "-"
        e = r[f"cls_expected_{kind}"]
        return f"{r[f'cls_limit_{kind}']:.3f} (exp {e['0']:.3f} [{e['-1']:.3f}, {e['1']:.3f}])"

    head = f"{results['poi']} CLs {100 * results['cl']:g}% limit: asymptotic / toys"
    print(f"{'NLL':9s} {'Z asym':>7s} {'Z toys':>7s}  {head}")
    for name in results["nlls"]:
        r = results[name]
        z = "-" if r["significance_toys"] is None else f"{r['significance_toys']:.2f}"
        z = f">{z}" if r["significance_toys_lower_bound"] else z
        print(f"{name:9s} {r['significance_asymptotic']:7.2f} {z:>7s}  {limit(r, 'asymptotic')} / {limit(r, 'toys')}")
    print(f"results in {args.out}/ (hypotest.json, hypotest.md, cls_limits.png)")
    return 0


def _fit_parser(sub) -> None:
    """``roosbi fit``: a trained model fitted again, on other data or in another workspace."""
    fit = sub.add_parser(
        "fit",
        help="fit a trained model again without retraining: on other data, or in another workspace",
        description="Fit the NLLs a run marked (learned, morphed, analytic) again: to other events (--data "
        "FILE[:TREE] or a table), to another dataset (--data NAME), or in another workspace (--workspace FILE.root) "
        "whose observables and parameters have the names the model was trained with. SOURCE is a run's output "
        "directory, its workspace.root, or a model.onnx (then --workspace is needed). Writes fit.json, fit.md and "
        "workspace.root (for macros/fit_workspace.C). docs/run.md.",
    )
    fit.add_argument("source", help="a run's output directory, its workspace.root, or a model.onnx")
    fit.add_argument("--data", default=None, help="a dataset of the workspace, or events: FILE.root[:TREE] or a table")
    fit.add_argument("--workspace", default=None, help="another workspace file to fit in")
    fit.add_argument("--workspace-name", default=None, help="the workspace in that file, if it holds several")
    fit.add_argument("--fits", default=None, help="marked fits to fit, comma-separated (default: all)")
    fit.add_argument("--analytic", default=None, help="a pdf of the other workspace, fitted beside as 'analytic'")
    fit.add_argument("--reference", default=None, help="with a model.onnx: the reference pdf p_ref(x) in the workspace")
    fit.add_argument("--weight", default=None, help="with events from a file: the event-weight column")
    fit.add_argument("--selection", default=None, help="with events from a file: RDataFrame Filter / DataFrame.query")
    fit.add_argument("--no-minos", action="store_true", help="HESSE errors only")
    fit.add_argument("--out", required=True, help="output directory for fit.json, fit.md and workspace.root")


def _fit(args: argparse.Namespace) -> int:
    from .run.refit import refit

    results = refit(
        args.source,
        args.out,
        data=args.data,
        workspace=args.workspace,
        workspace_name=args.workspace_name,
        fits=None if args.fits is None else [f.strip() for f in args.fits.split(",") if f.strip()],
        analytic=args.analytic,
        reference=args.reference,
        weight=args.weight,
        selection=args.selection,
        minos=not args.no_minos,
    )
    width = max(len(name) for name in results["fits"])
    for name, fit in results["fits"].items():
        for par, r in fit["params"].items():
            print(f"{name:{width}s} {par} = {r['value']:.4f} +- {r['error']:.4f}  (status {fit['status']})")
    d = results["data"]
    print(f"{d['n_events']} events of {d['name']}; results in {args.out}/ (fit.json, fit.md, workspace.root)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
