"""Studies: the settings of ``roosbi run`` (a dict or a TOML file) checked, and the pipeline run on them.

:func:`run_study` reads a study (the keys of :data:`STUDY_KEYS`, from a dict or a TOML file;
relative paths in a file resolve against its directory), builds the problem with
:func:`~roosbi.run.problem.problem_from_workspace` and runs the demo's pipeline on it
(:func:`run_problem`), or, for a study with ``signal`` and ``background``, runs a mixture on
files of simulated events (:mod:`roosbi.run.samples`), or, for a study with ``target``, a
parameterized study on files of events simulated at many parameter points
(:mod:`roosbi.run.parameterized`). An unknown key is an error that names it and the closest valid
one; a key of another kind of study is an error too (:func:`check_kind`). ``budget = "auto"``
runs the training-budget search of ``--budget auto`` (:func:`~roosbi.demo.budget.run_budget`).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..data.problems import Problem
from ..demo.run import staged_pipeline
from ..demo.settings import check_methods, check_study_settings
from ..estimators.losses import METHODS
from ..exceptions import InputError
from ..interrupts import deferred_interrupts
from ..output_dir import check_output_dir
from .problem import name_list, parse_reference, problem_from_workspace, source_record, string_value, study_notes

log = logging.getLogger(__name__)

#: Every key of a study (a TOML file, or the dict of :func:`run_study`): each is the option of
#: ``roosbi run`` of the same name with dashes (``n_train``: ``--n-train``; ``workspace`` is the
#: first argument). A study is of one of three kinds (:func:`study_kind`): a user's workspace
#: (required: workspace, pdf, observables, parameters, data, out; :data:`WORKSPACE_KEYS`), a
#: mixture from sample files (required: signal, background, observables, n_signal, n_background,
#: out; :data:`SAMPLE_KEYS`, :mod:`roosbi.run.samples`) or a parameterized study from sample
#: files (required: target, observables, parameters, out, and data or data_point;
#: :data:`PARAMETERIZED_KEYS` and some of the others' keys, :mod:`roosbi.run.parameterized`);
#: the other keys are shared.
STUDY_KEYS = {
    "workspace": "the ROOT file holding the workspace",
    "workspace_name": "the workspace's name in the file (needed only when it holds several)",
    "pdf": "the pdf p(x|theta): the simulator, and the analytic model unless 'analytic' names another",
    "observables": "the observables x (a list, or names separated by commas)",
    "parameters": "the parameters theta, each with a finite range: the uniform prior and training range "
    "(parameterized: columns of the target)",
    "data": "the observed dataset (RooDataSet or RooDataHist); for sample files the observed events, 'file.root:tree'",
    "reference": "a pdf name, a parameter point 'mu=1.0[,s=2]', or 'marginal' (default: uniform over x); "
    "parameterized: 'marginal' (default) or reference events 'file.root:tree'",
    "analytic": "the pdf fitted as 'analytic' (default: pdf)",
    "nuisances": "nuisance parameters nu of the pdf, each with a finite range: network inputs, profiled in every fit",
    "constraints": "the nuisances' constraint pdfs (auxiliary measurements), one per nuisance",
    "name": "the study's name in the report (default: the workspace file's name without .root)",
    "out": "output directory",
    "seed": "seed of the training sample, the network and the templates (default 1)",
    "estimator": "torch or sklearn (default: torch if installed)",
    "device": "auto, cpu, cuda or cuda:N (default auto; torch only)",
    "method": "training method(s): carl (default), rolr, rascal, alice, alices, cascal, sally",
    "n_train": "target events for training, as many reference events (default 50000)",
    "epochs": "maximum training epochs",
    "morph_grid": "morphing templates per parameter (default 5)",
    "morph_setting": "RooMomentMorphFuncND setting (default Linear)",
    "self_normalized": "do not normalise the learned pdf over x (default false)",
    "bootstrap": "train each ensemble member on a bootstrap resample (default false)",
    "budget": "'auto': double n_train (from 5000) with bootstrap runs until the training error is at most "
    "budget_target x the statistical error (default: off)",
    "budget_target": "budget auto: the largest training error / statistical error (default 0.1)",
    "budget_max": "budget auto: the largest n_train tried (default 1600000)",
    "no_plots": "write no PNG figures (default false)",
    "quiet": "no progress bars (default false)",
    "signal": "mixture from sample files: the signal events, 'file.root:tree' (or a table file, or a list of files)",
    "background": "mixture from sample files: the background events, as signal",
    "n_signal": "mixture: S, the expected signal events at poi = 1",
    "n_background": "mixture: B, the expected background events",
    "weight": "sample files: the event-weight column of the simulated events (default: unit weights)",
    "selection": "sample files: a selection of events in every file (RDataFrame Filter; DataFrame.query for tables)",
    "poi": "mixture: the signal strength's name (default mu)",
    "poi_range": "mixture: the signal strength's range [lo, hi] (default [0, 5])",
    "mu_observed": "mixture without data: the pseudo-data's true signal strength (default 1)",
    "n_bins": "mixture: bins of the score templates (default 30); parameterized: bins per observable of the "
    "morphing templates (default: about 10 events per bin, 5 to 50)",
    "calibration": "mixture: calibration of r on held-out events: normalization (default), isotonic, histogram, none",
    "target": "parameterized study from sample files: events with observable and parameter columns, each at its own "
    "theta, 'file.root:tree' (or a table file, or a list of files)",
    "data_point": "parameterized, without data: the grid point of the pseudo-data, 'mu=1.5[,s=2]' (or a table)",
    "n_data": "parameterized: pseudo-data events (default: all target events held out at data_point)",
}

#: The keys of a study of a user's workspace only (``roosbi run WORKSPACE.root``).
WORKSPACE_KEYS = (
    "workspace",
    "workspace_name",
    "pdf",
    "parameters",
    "reference",
    "analytic",
    "nuisances",
    "constraints",
    "morph_grid",
    "morph_setting",
    "self_normalized",
    "bootstrap",
)

#: The keys of a mixture from sample files only (``roosbi run --signal ... --background ...``).
SAMPLE_KEYS = (
    "signal",
    "background",
    "n_signal",
    "n_background",
    "weight",
    "selection",
    "poi",
    "poi_range",
    "mu_observed",
    "n_bins",
    "calibration",
)


#: The keys of a parameterized study from sample files only (``roosbi run --target ...``); it also
#: takes :data:`PARAMETERIZED_SHARED`.
PARAMETERIZED_KEYS = ("target", "data_point", "n_data")

#: Keys of the other kinds that a parameterized study takes too.
PARAMETERIZED_SHARED = ("parameters", "reference", "morph_setting", "bootstrap", "weight", "selection", "n_bins")


_REQUIRED = ("workspace", "pdf", "observables", "parameters", "data", "out")


_REQUIRED_PARAMETERIZED = ("target", "observables", "parameters", "out")


_REQUIRED_SAMPLES = ("signal", "background", "observables", "n_signal", "n_background", "out")


_STRINGS = ("workspace", "workspace_name", "pdf", "data", "analytic", "name", "out", "estimator", "device")
_STRINGS += ("morph_setting", "weight", "selection", "poi", "calibration", "budget")


_NUMBERS = ("n_signal", "n_background", "mu_observed", "budget_target")


_LISTS = ("observables", "parameters", "method", "nuisances", "constraints")


_INTEGERS = ("seed", "n_train", "epochs", "morph_grid", "n_bins", "n_data", "budget_max")


_BOOLEANS = ("self_normalized", "bootstrap", "no_plots", "quiet")


def load_study(path: str | os.PathLike) -> dict:
    """Read a study file (TOML): its keys checked (:data:`STUDY_KEYS`), relative paths made absolute.

    ``workspace`` and ``out``, when relative, are relative to the study file's directory, and so
    are the files of ``signal``, ``background`` and ``data`` in a mixture from sample files, and
    of ``target``, ``reference`` and ``data`` in a parameterized study.
    """
    tomllib = _toml_reader()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"study file '{path}' does not exist" if not path.exists() else f"'{path}' is not a file")
    try:
        with open(path, "rb") as stream:
            settings = tomllib.load(stream)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"study file '{path}' is not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise InputError(f"study file '{path}' is not UTF-8 text: {err}") from None
    check_keys(settings, f"study file '{path}'")
    base = path.resolve().parent
    for key in ("workspace", "out"):
        if isinstance(settings.get(key), str) and settings[key] and not Path(settings[key]).is_absolute():
            settings[key] = os.path.normpath(base / settings[key])
    kind = study_kind(settings)
    if kind != "workspace":  # data is a file too, not a dataset's name
        from .sources import resolve_source

        for key in _SOURCES[kind]:
            if settings.get(key) is not None and settings[key] != "marginal":
                settings[key] = resolve_source(settings[key], base)
    return settings


#: The keys that name files of events, by kind of study.
_SOURCES = {"samples": ("signal", "background", "data"), "parameterized": ("target", "reference", "data")}


def _toml_reader():
    """The TOML reader: tomllib (Python 3.11+), or tomli where it is installed on Python 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise InputError(
                "reading a study file needs Python 3.11 (tomllib) or the tomli package: pip install tomli"
            ) from None
    return tomllib


def check_keys(settings: Mapping, where: str = "the study") -> None:
    """Refuse a key that is not in :data:`STUDY_KEYS`, naming it, the closest valid key and all of them."""
    for key in settings:
        if key not in STUDY_KEYS:
            close = difflib.get_close_matches(str(key), STUDY_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(
                f"unknown key '{key}' in {where}{hint}; valid keys: {', '.join(STUDY_KEYS)}",
            )


def study_kind(settings: Mapping) -> str:
    """``"parameterized"`` (``target`` given), ``"samples"`` (``signal`` or ``background``) or ``"workspace"``."""
    if settings.get("target") is not None:
        return "parameterized"
    return "samples" if any(settings.get(key) is not None for key in ("signal", "background")) else "workspace"


def check_kind(settings: Mapping, kind: str) -> None:
    """Refuse keys of another kind of study, naming them and what the study is."""
    given = [key for key, value in settings.items() if value is not None]
    if kind == "parameterized":
        own = (*PARAMETERIZED_KEYS, *PARAMETERIZED_SHARED)
        wrong = [key for key in given if key in WORKSPACE_KEYS + SAMPLE_KEYS and key not in own]
        if wrong:
            raise InputError(
                f"{', '.join(map(repr, wrong))} and 'target' do not go together: with target the study is "
                "parameterized from sample files (events simulated at many parameter points; no workspace, no pdf, "
                f"no signal/background); remove {', '.join(wrong)}, or target"
            )
    elif kind == "samples":
        wrong = [key for key in given if key in WORKSPACE_KEYS + PARAMETERIZED_KEYS]
        if wrong:
            raise InputError(
                f"{', '.join(map(repr, wrong))} and 'signal'/'background' do not go together: with signal and "
                "background the study is a mixture from sample files (no workspace, no pdf); "
                f"{'a workspace study is roosbi run WORKSPACE.root --pdf ...' if 'workspace' in wrong else ''}"
                f"remove {', '.join(wrong)}, or signal and background"
            )
        methods = settings.get("method")
        if methods is not None and name_list(methods, "method") != ["carl"]:
            raise InputError(
                "a mixture from sample files learns p_s(x)/p_b(x) with carl only (no parameters, no joint ratio): "
                f"method = {methods!r} is not possible"
            )
        if settings.get("budget") is not None:
            raise InputError(
                "budget = 'auto' (--budget auto) needs bootstrap runs, which a mixture from sample files does not "
                "have yet; set n_train yourself"
            )
    else:
        wrong = [key for key in given if key in SAMPLE_KEYS]
        if wrong:
            raise InputError(
                f"{', '.join(map(repr, wrong))} belong{'s' if len(wrong) == 1 else ''} to a mixture from sample "
                "files, which needs 'signal' and 'background' (files of simulated events); a study of a workspace "
                "takes none of them"
            )
        wrong = [key for key in given if key in PARAMETERIZED_KEYS]
        if wrong:
            raise InputError(
                f"{', '.join(map(repr, wrong))} belong{'s' if len(wrong) == 1 else ''} to a parameterized study "
                "from sample files, which needs 'target' (events simulated at many parameter points); a study of a "
                "workspace takes none of them"
            )


def study_settings(settings: Mapping) -> dict:
    """The study's settings checked for their types, with every default filled in.

    ``study["kind"]`` is :func:`study_kind`'s answer; keys of the other kind are refused.
    """
    check_keys(settings)
    kind = study_kind(settings)
    check_kind(settings, kind)
    required = {"samples": _REQUIRED_SAMPLES, "parameterized": _REQUIRED_PARAMETERIZED}.get(kind, _REQUIRED)
    missing = [key for key in required if settings.get(key) in (None, "", [])]
    if missing:
        options = [f"--{key.replace('_', '-')}" for key in missing if key != "workspace"]
        raise InputError(
            f"the study needs {', '.join(missing)}"
            + (f" (on the command line: {', '.join(options)})" if options else "")
            + "; "
            + "; ".join(f"{key}: {STUDY_KEYS[key]}" for key in missing)
        )
    study = {
        "kind": kind,
        "workspace_name": None,
        "reference": None,
        "analytic": None,
        "nuisances": None,
        "constraints": None,
        "name": None,
        "seed": 1,
        "estimator": None,
        "device": "auto",
        "method": ["carl"],
        "n_train": None,
        "epochs": None,
        "morph_grid": None,
        "morph_setting": "Linear",
        "self_normalized": False,
        "bootstrap": False,
        "no_plots": False,
        "quiet": False,
        "budget": None,
        "budget_target": None,
        "budget_max": None,
    }
    if kind == "parameterized":
        study.update(
            reference="marginal",
            data=None,
            data_point=None,
            n_data=None,
            weight=None,
            selection=None,
            n_bins=None,
        )
    if kind == "samples":
        study.update(
            data=None,
            weight=None,
            selection=None,
            poi="mu",
            poi_range=[0.0, 5.0],
            mu_observed=1.0,
            n_bins=30,
            calibration="normalization",
        )
    for key, value in settings.items():
        if value is None:
            continue
        if key in _SOURCES.get(kind, ()):
            study[key] = value  # a file or a list of files: roosbi.run.sources.parse_source checks it
        elif key == "poi_range":
            study[key] = _number_pair(value, key)
        elif key in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{key} must be a number, not {value!r}")
            study[key] = float(value)
        elif key in _STRINGS:
            study[key] = string_value(value, key)
        elif key in _LISTS:
            study[key] = name_list(value, key)
        elif key in _INTEGERS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{key} must be an integer, not {value!r}")
            study[key] = value
        elif key in _BOOLEANS:
            if not isinstance(value, bool):
                raise InputError(f"{key} must be true or false, not {value!r}")
            study[key] = value
        else:  # reference: a string or a table of parameter values
            study[key] = value
    if study["epochs"] is not None and study["epochs"] < 1:
        raise InputError(f"epochs must be at least 1, not {study['epochs']}")
    _check_budget(study)
    if study["estimator"] is None:
        study["estimator"] = default_estimator()
    return study


def _check_budget(study: dict) -> None:
    """``budget`` is ``"auto"`` or absent; ``budget_target`` and ``budget_max`` need it (as the CLI's options)."""
    from ..demo.settings import MIN_N_TRAIN

    if study["budget"] is None:
        if study["budget_target"] is not None or study["budget_max"] is not None:
            raise InputError("budget_target and budget_max need budget = 'auto' (--budget auto)")
        return
    if study["budget"] != "auto":
        raise InputError(f"budget must be 'auto' (or left out), not {study['budget']!r}")
    target = study["budget_target"]
    if target is not None and not (math.isfinite(target) and target > 0):
        raise InputError(f"budget_target must be a positive fraction of the statistical error, not {target:g}")
    if study["budget_max"] is not None and study["budget_max"] < MIN_N_TRAIN:
        raise InputError(f"budget_max must be at least {MIN_N_TRAIN} events, not {study['budget_max']}")


def _number_pair(value, key: str) -> list[float]:
    """``[lo, hi]`` from a list of two numbers or ``"lo,hi"``."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        if isinstance(items, (list, tuple)) and len(items) == 2 and not any(isinstance(v, bool) for v in items):
            return [float(items[0]), float(items[1])]
    except (TypeError, ValueError):
        pass
    raise InputError(f"{key} must be two numbers [lo, hi] (or 'lo,hi'), not {value!r}")


def default_estimator() -> str:
    """The default estimator: torch if it is installed, else sklearn."""
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        return "sklearn"
    return "torch"


def run_study(settings: Mapping | str | os.PathLike, out: str | os.PathLike | None = None) -> dict:
    """Run the demo's pipeline on a user's workspace, or on sample files: train, wrap, fit, report.

    A study with ``signal`` and ``background`` is a mixture from files of simulated events
    (:func:`~roosbi.run.samples.run_sample_study`: the learned mixture and the score template
    fits, no analytic one); a study with ``target`` is a parameterized study from files of events
    simulated at many parameter points
    (:func:`~roosbi.run.parameterized_run.run_parameterized_study`: the self-normalised learned
    r(x|theta) and, for a complete grid of points, the morphing baseline); any other is a user's
    workspace (simulate from its pdf, the learned, morphed and analytic fits). With
    ``budget = "auto"`` the study runs at doubling ``n_train`` with bootstrap until the training
    error is small enough (:func:`~roosbi.demo.budget.run_budget`), the last run left in ``out``.

    Parameters
    ----------
    settings : dict, or path of a study file (TOML)
        The keys of :data:`STUDY_KEYS`. In a file, relative ``workspace``, ``out``, ``signal``,
        ``background`` and (for sample files) ``data`` paths are relative to the file's
        directory; in a dict, to the working directory.
    out : path, optional
        Output directory; replaces the settings' ``out``.

    Returns
    -------
    dict
        The content of results.json: the demo's, with ``"problem"`` the study's name, ``"truth"``
        empty (for sample files without data: the pseudo-data's signal strength or grid point) and
        ``"source"`` saying what was read (file, names, reference, constants; for sample files the
        files, events, weights, selection, yields or grid, and the data or pseudo-data); with a
        budget search, ``"budget"``.

    Raises
    ------
    InputError
        For an unknown key, a bad setting or name, before any work
        (:func:`problem_from_workspace`, :func:`~roosbi.demo.settings.check_study_settings`).
    KeyboardInterrupt
        On Ctrl-C, at the next safe point, ``out`` as it was.
    """
    if isinstance(settings, (str, os.PathLike)):
        settings = load_study(settings)
    elif not isinstance(settings, Mapping):
        raise InputError(f"settings must be a dict or the path of a study file (TOML), not {type(settings).__name__}")
    settings = dict(settings)
    if out is not None:
        settings["out"] = os.fspath(out)
    study = study_settings(settings)
    if study["budget"] == "auto":
        from ..demo.budget import run_budget

        return run_budget(
            lambda n: _run_settled({**study, "n_train": n, "bootstrap": True}),
            study["out"],
            study["n_train"],
            study["budget_target"],
            study["budget_max"],
        )
    return _run_settled(study)


def _run_settled(study: dict) -> dict:
    """One run of a study as :func:`study_settings` gives it."""
    if study["kind"] == "samples":
        from .samples import run_sample_study

        return run_sample_study(study)
    if study["kind"] == "parameterized":
        from .parameterized_run import run_parameterized_study

        return run_parameterized_study(study)
    with deferred_interrupts():  # torch and ROOT are imported and called: see roosbi.interrupts
        check_study_settings(
            study["seed"],
            study["estimator"],
            study["device"],
            study["n_train"],
            study["morph_grid"],
            study["morph_setting"],
            study["method"],
            study["bootstrap"],
        )
        methods = check_methods(study["method"], "", study["estimator"])
        if parse_reference(study["reference"]) == "marginal":
            gold = [m for m in methods if m in METHODS and METHODS[m].needs]
            if gold:
                raise InputError(
                    f"{', '.join(gold)} need{'s' if len(gold) == 1 else ''} the joint ratio, which the marginal "
                    "reference does not have: use carl, or a point reference (e.g. --reference mu=1.0)"
                )
        check_output_dir(study["out"])
        problem = problem_from_workspace(
            study["workspace"],
            study["pdf"],
            study["observables"],
            study["parameters"],
            study["data"],
            reference=study["reference"],
            analytic=study["analytic"],
            name=study["name"],
            workspace_name=study["workspace_name"],
            nuisances=study["nuisances"],
            constraints=study["constraints"],
        )
    return run_problem(
        problem,
        study["out"],
        seed=study["seed"],
        estimator=study["estimator"],
        device=study["device"],
        n_train=study["n_train"],
        estimator_settings={} if study["epochs"] is None else {"max_epochs": study["epochs"]},
        normalize=not study["self_normalized"],
        morph_setting=study["morph_setting"],
        n_templates=study["morph_grid"],
        progress=not study["quiet"],
        plots=not study["no_plots"],
        methods=methods,
        bootstrap=study["bootstrap"],
        reference="marginal" if problem.reference_kind == "marginal" else None,
        analytic=problem.analytic_pdf,
        source=source_record(problem),
        notes=study_notes(problem),
    )


def run_problem(
    prob: Problem,
    out: str | os.PathLike,
    *,
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    estimator_settings: dict | None = None,
    normalize: bool = True,
    morph_setting: str = "Linear",
    n_templates: int | None = None,
    progress: bool = True,
    plots: bool = True,
    methods: Sequence[str] | str = ("carl",),
    bootstrap: bool = False,
    reference: str | None = None,
    analytic: str | None = None,
    source: dict | None = None,
    notes: Sequence[str] = (),
) -> dict:
    """The demo's pipeline on a ready :class:`~roosbi.data.problems.Problem` (``roosbi run``).

    Simulate from ``prob.target_pdf``, train, export, wrap, build the morphing baseline and fit
    ``learned``, ``morphed`` and ``analytic`` on ``prob.observed_data``; the files are the demo's
    (:func:`run_demo`, whose arguments of the same names these are). Defaults:
    :data:`~roosbi.demo.settings.STUDY_DEFAULTS`. The problem's seed of the observed data is not
    used (the data are given).

    Parameters
    ----------
    prob : Problem
        The problem: any but a mixture (the learned pdfs are r p_ref, the baseline is morphing).
    out : path
        Output directory, written as :func:`run_demo` writes it.
    seed, estimator, device, n_train, estimator_settings, normalize, morph_setting, n_templates
        As for :func:`run_demo` (``n_templates``: morphing templates per parameter).
    progress, plots, methods, bootstrap
        As for :func:`run_demo`.
    reference : {None, "marginal"}
        None: the problem's own reference (its ``reference_point`` if it has one, else its
        ``reference_pdf``). ``"marginal"``: the reference class is simulated at parameters drawn
        from the prior (r = p(x|theta) / p(x)); the learned pdfs are then self-normalised
        (``normalize`` is ignored), the normalisation check draws fresh events from the marginal,
        and ratio.png is not drawn (no density p(x) to compare with).
    analytic : str, optional
        The pdf fitted as ``analytic`` (default: ``prob.target_pdf``).
    source : dict, optional
        Written to results.json as ``"source"`` (where the problem came from).
    notes : sequence of str
        More lines for report.md's notes.

    Raises
    ------
    InputError
        For a bad setting (:func:`~roosbi.demo.settings.check_study_settings`), a mixture problem
        (use :func:`run_demo`), or an output directory that cannot be written, before any work.
    KeyboardInterrupt
        On Ctrl-C, at the next safe point, ``out`` as it was.
    """
    out = Path(out)
    require_problem(prob)
    if reference not in (None, "marginal"):
        raise InputError(f"reference must be None (the problem's own) or 'marginal', not {reference!r}")
    with deferred_interrupts() as interrupts:
        check_study_settings(seed, estimator, device, n_train, n_templates, morph_setting, methods, bootstrap)
        methods = check_methods(methods, "", estimator)
        return staged_pipeline(
            out,
            interrupts,
            problem=prob,
            seed=seed,
            estimator=estimator,
            device=device,
            n_train=n_train,
            estimator_settings=estimator_settings,
            normalize=normalize,
            morph_setting=morph_setting,
            n_templates=n_templates,
            progress=progress,
            plots=plots,
            n_bins=None,
            methods=methods,
            bootstrap=bool(bootstrap),
            reference=reference,
            analytic=analytic,
            source=source,
            extra_notes=list(notes),
        )


def require_problem(prob) -> None:
    """Refuse what :func:`run_problem` cannot run: not a Problem, a mixture or term-sample problem (run_demo's)."""
    if not isinstance(prob, Problem):
        raise InputError(f"expected a roosbi.Problem, not {type(prob).__name__}")
    if "signal" in prob.components and "background" in prob.components:
        raise InputError(
            f"'{prob.name}' is a mixture (signal and background components): its score template baseline runs in "
            "run_demo('mixture') only; for a mixture of your own, give its events: roosbi run --signal FILE:TREE "
            "--background FILE:TREE (roosbi.run.mixture_from_samples)"
        )
    if "expected_events" in prob.components:
        raise InputError(
            f"'{prob.name}' is given as a generator's term sample (an expected_events component): it runs in "
            "run_demo('eft') only"
        )
