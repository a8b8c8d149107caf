"""A user's RooFit workspace as a :class:`~roosbi.data.problems.Problem`: every name checked.

A physicist with an analysis already has a workspace file: a pdf p(x|theta) of the observables
x with parameters theta, and the observed data. :func:`problem_from_workspace` reads it into a
:class:`~roosbi.data.problems.Problem` (every name checked, with the names that exist when one
does not), and :func:`run_study` runs the demo's pipeline on it (simulate from the pdf, train,
export, wrap, build the morphing baseline, fit ``learned``, ``morphed`` and ``analytic``, write
results.json, report.md, workspace.root, model.onnx and the figures), from a dict of settings
or a study file (TOML) with the keys of :data:`STUDY_KEYS`. ``roosbi run`` (:mod:`roosbi.cli`)
is its command line; docs/run.md describes both.

Decisions:

- The pdf is the simulator *and* an exact likelihood, so it is fitted as ``analytic`` too;
  ``analytic`` names another pdf for that key (an independent implementation, say).
- The default reference is a ``RooUniform`` over the observables' box, added to the workspace
  (:data:`UNIFORM_REFERENCE`), as the built-in problems do: it covers the support of p(x|theta)
  inside the observables' ranges for every theta, and RooLearnedRatio normalises r over x by its
  own quadrature (no numerical integral of r p_ref in the fit).
- A point reference ``"mu=1.0[,s=2]"`` (a value for every parameter) is the simulator at that
  point: the reference events are simulated there, and the reference density is a copy of the
  pdf with the parameters replaced by constants (:data:`POINT_REFERENCE`, RooFit's ``EDIT``), so
  the learned pdf is r(x|theta) p(x|theta_0) normalised over x, as the built-in problems with a
  reference point (``smeared``, ``resonance``) are.
- ``"marginal"``: reference events simulated at parameters drawn from the prior, paired with
  unrelated theta (r = p(x|theta) / p(x)). p(x) has no pdf, so the learned pdfs are
  self-normalised (-sum log r is the NLL up to a constant in theta); the methods that need the
  joint ratio (the gold) cannot use it.
- Other floating variables of the pdfs (shape or nuisance parameters that are not named as
  parameters) are held constant at their values in the file, in every fit: the learned ratio
  knows only the named parameters. Parameters that are constant in the file float.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.problems import Problem
from ..exceptions import InputError

log = logging.getLogger(__name__)

#: The uniform reference pdf over the observables that :func:`problem_from_workspace` adds.
UNIFORM_REFERENCE = "roosbi_uniform_reference"


#: The copy of the pdf at a point reference; its constants are ``roosbi_reference_<parameter>``.
POINT_REFERENCE = "roosbi_point_reference"


#: Names the pipeline gives its own objects: a workspace that already holds one is refused.
_PIPELINE_PREFIXES = ("learned_ratio", "learned_pdf", "morphed_pdf", "sally_pdf")


@dataclass
class WorkspaceProblem(Problem):
    """A :class:`~roosbi.data.problems.Problem` read from a user's workspace file.

    Parameters
    ----------
    analytic_pdf : str
        The pdf fitted as ``analytic`` (the target pdf unless another was named).
    reference_kind : {"uniform", "pdf", "point", "marginal"}
        What the reference is: the uniform pdf added over the observables, a pdf of the
        workspace, the simulator at ``reference_point`` (``reference_pdf`` is then the pdf at that
        point), or the marginal (``reference_pdf`` is the uniform one, a constant factor of the
        self-normalised learned pdf; pass ``reference="marginal"`` to
        :func:`~roosbi.data.simulate.simulate`).
    source : str
        The file it was read from.
    held_constant : dict
        Floating variables of the pdfs that are not parameters, set constant at these values.
    """

    analytic_pdf: str = ""
    reference_kind: str = "uniform"
    source: str = ""
    held_constant: dict[str, float] = field(default_factory=dict)


def problem_from_workspace(
    path: str | os.PathLike,
    pdf: str,
    observables: Sequence[str] | str,
    parameters: Sequence[str] | str,
    data: str,
    reference: str | Mapping[str, float] | None = None,
    analytic: str | None = None,
    name: str | None = None,
    workspace_name: str | None = None,
    nuisances: Sequence[str] | str | None = None,
    constraints: Sequence[str] | str | None = None,
) -> WorkspaceProblem:
    """Read a user's workspace file into a Problem, checking every name and role.

    Parameters
    ----------
    path : path
        A ROOT file holding the workspace (:func:`roosbi.open_workspace`).
    pdf : str
        p(x|theta): the simulator, and (unless ``analytic`` names another) the analytic model.
        It must depend on every observable and every parameter.
    observables : list of str, or str
        x (names separated by commas, or a list): RooRealVars with finite ranges, columns of
        ``data``. In the order the network sees them.
    parameters : list of str, or str
        theta: RooRealVars with finite ranges (the uniform prior and the training range) that
        ``pdf`` depends on. A parameter constant in the file floats.
    data : str
        The observed RooDataSet or RooDataHist; it must hold the observables.
    reference : None, str or dict
        None: a RooUniform over the observables' box (:data:`UNIFORM_REFERENCE`, added to the
        workspace). A pdf name: that pdf of the observables (no parameter may enter it).
        ``"mu=1.0[,s=2]"`` or ``{"mu": 1.0}``: the simulator at that point, a value for every
        parameter (its density: :data:`POINT_REFERENCE`, the pdf with the parameters replaced by
        constants). ``"marginal"``: the simulator at parameters drawn from the prior.
    analytic : str, optional
        The pdf fitted as ``analytic``; it must depend on every observable and parameter.
    name : str, optional
        The problem's name in reports (default: the file's name without its suffix).
    workspace_name : str, optional
        The workspace's key in the file, if it holds several.
    nuisances : list of str, or str, optional
        Nuisance parameters nu: RooRealVars with finite ranges that ``pdf`` depends on. They are
        network inputs beside theta and float (are profiled) in every fit (docs/systematics.md).
    constraints : list of str, or str, optional
        Their constraint pdfs (auxiliary measurements), one per nuisance, each a pdf of one
        nuisance and no observable; every fitted pdf is multiplied by them. A nuisance without
        one is a free parameter of the fits (a warning says so).

    Returns
    -------
    WorkspaceProblem
        Its workspace is the file's, with the reference added and the pdfs' other floating
        variables set constant (``held_constant``); the file is not changed.

    Raises
    ------
    InputError
        A file that is not a ROOT file with a workspace; an unknown name (the message lists what
        the workspace has of that kind); a variable without a finite range; a pdf that does not
        depend on an observable or parameter; data without an observable; a bad reference.
    """
    from ..library import import_root
    from ..roofit import is_uniform
    from ..workspace import open_workspace

    ROOT = import_root()
    path = Path(path)
    ws = open_workspace(path, workspace_name)
    observables = name_list(observables, "observables")
    parameters = name_list(parameters, "parameters")
    nuisances = [] if nuisances is None else name_list(nuisances, "nuisances")
    constraints = [] if constraints is None else name_list(constraints, "constraints")
    both = sorted(set(observables) & set(parameters))
    if both:
        raise InputError(f"{', '.join(both)} named both as observable and as parameter")
    if constraints and not nuisances:
        raise InputError("constraints need nuisance parameters: name them with nuisances (--nuisances)")
    target = _pdf(ws, string_value(pdf, "pdf"), "pdf")
    obs_vars = [_variable(ws, n, "observable") for n in observables]
    par_vars = [_variable(ws, n, "parameter") for n in parameters]
    nu_vars = [_variable(ws, n, "nuisance parameter") for n in nuisances]
    for var in nu_vars:
        if not target.dependsOn(var):
            raise InputError(
                f"the pdf '{target.GetName()}' does not depend on the nuisance parameter '{var.GetName()}'"
            )
    for var in obs_vars:
        if not target.dependsOn(var):
            raise InputError(f"the pdf '{target.GetName()}' does not depend on the observable '{var.GetName()}'")
    for var in par_vars:
        if not target.dependsOn(var):
            raise InputError(
                f"the pdf '{target.GetName()}' does not depend on the parameter '{var.GetName()}': nothing could "
                "be learned or fitted about it"
            )
    dataset = _dataset(ws, string_value(data, "data"), observables)
    analytic_pdf = target if analytic is None else _pdf(ws, string_value(analytic, "analytic"), "analytic pdf")
    for var in obs_vars + par_vars:
        if not analytic_pdf.dependsOn(var):
            raise InputError(f"the analytic pdf '{analytic_pdf.GetName()}' does not depend on '{var.GetName()}'")
    _refuse_pipeline_names(ws)

    plan = parse_reference(reference)
    if nuisances and (plan == "marginal" or isinstance(plan, dict)):
        raise InputError(
            "with nuisance parameters the reference must be a pdf of the observables (the default uniform one, "
            "or --reference NAME); a point or marginal reference is not supported yet"
        )
    point: dict[str, float] = {}
    if plan is None or plan == "marginal":
        kind = "marginal" if plan else "uniform"
        reference_pdf = ws.pdf(UNIFORM_REFERENCE)
        if reference_pdf and not (is_uniform(reference_pdf) and all(reference_pdf.dependsOn(v) for v in obs_vars)):
            raise InputError(f"the workspace already holds a pdf '{UNIFORM_REFERENCE}' that is not the uniform one")
        if not reference_pdf:
            uniform = ROOT.RooUniform(UNIFORM_REFERENCE, "uniform reference over x", ROOT.RooArgSet(*obs_vars))
            ws.Import(uniform, Silence=True)
            reference_pdf = ws.pdf(UNIFORM_REFERENCE)
    elif isinstance(plan, dict):
        kind, point = "point", _reference_point(plan, par_vars)
        reference_pdf = _point_pdf(ws, target, point)
    else:
        kind = "pdf"
        reference_pdf = _pdf(ws, plan, "reference pdf")
        for var in obs_vars:
            if not reference_pdf.dependsOn(var):
                raise InputError(f"the reference pdf '{plan}' does not depend on the observable '{var.GetName()}'")
        for var in par_vars:
            if reference_pdf.dependsOn(var):
                raise InputError(
                    f"the reference pdf '{plan}' depends on the parameter '{var.GetName()}'; a reference must not "
                    "(for the simulator at a point, give --reference "
                    + ",".join(f"{p}=VALUE" for p in parameters)
                    + ")"
                )

    for var in par_vars + nu_vars:
        if var.isConstant():
            log.info("parameter '%s' is constant in the file; it floats in the fits", var.GetName())
            var.setConstant(False)
    constraint_pdfs = [_pdf(ws, n, "constraint pdf") for n in constraints]
    pdfs = [target, analytic_pdf, reference_pdf, *constraint_pdfs]
    held = _hold_others(ROOT, pdfs, obs_vars, set(parameters) | set(nuisances))
    problem = WorkspaceProblem(
        name=name or path.stem,
        workspace=ws,
        target_pdf=target.GetName(),
        reference_pdf=reference_pdf.GetName(),
        observables=observables,
        parameters=parameters,
        observed_data=dataset.GetName(),
        reference_point=point,
        nuisance_parameters=nuisances,
        constraints=constraints,
        analytic_pdf=analytic_pdf.GetName(),
        reference_kind=kind,
        source=str(path.resolve()),
        held_constant=held,
    )
    log.info(
        "problem '%s' from %s: pdf %s, observables %s, parameters %s, data %s (%d entries), reference %s",
        problem.name,
        path,
        problem.target_pdf,
        ",".join(observables),
        ",".join(parameters),
        problem.observed_data,
        dataset.numEntries(),
        reference_text(problem),
    )
    return problem


def parse_reference(reference) -> None | str | dict[str, float]:
    """A reference as given (CLI or study) → None (uniform), ``"marginal"``, a point (dict) or a pdf name.

    ``"mu=1.0,s=2"`` is a point; a name without ``=`` is a pdf; a dict (a TOML table) is a point.
    """
    if reference is None:
        return None
    if isinstance(reference, Mapping):
        point = {}
        for key, value in reference.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"reference point {key}={value!r} is not a number")
            point[str(key)] = float(value)
        if not point:
            raise InputError("the reference point is empty: give a value for every parameter")
        return point
    if not isinstance(reference, str) or not reference.strip():
        raise InputError(_REFERENCE_FORMS.format(given=repr(reference)))
    text = reference.strip()
    if text == "marginal":
        return "marginal"
    if "=" not in text:
        if "," in text or any(c.isspace() for c in text):
            raise InputError(_REFERENCE_FORMS.format(given=repr(reference)))
        return text
    point = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not key or not math.isfinite(number):
            raise InputError(_REFERENCE_FORMS.format(given=f"{reference!r} (at {item.strip()!r})"))
        if key in point:
            raise InputError(f"the reference point names '{key}' twice: {reference!r}")
        point[key] = number
    return point


_REFERENCE_FORMS = (
    "bad reference {given}: give a pdf name, a parameter point name=value[,name=value] (e.g. mu=1.0), or 'marginal'"
)


def reference_text(problem: WorkspaceProblem) -> str:
    """The reference in words, for logs, results.json and the report."""
    if problem.reference_kind == "point":
        return "point " + ", ".join(f"{k}={v:g}" for k, v in problem.reference_point.items())
    if problem.reference_kind == "marginal":
        return "marginal"
    if problem.reference_kind == "uniform":
        return f"uniform over {', '.join(problem.observables)} ('{problem.reference_pdf}')"
    return f"pdf '{problem.reference_pdf}'"


def source_record(problem: WorkspaceProblem) -> dict:
    """results.json's ``"source"``: what the study read, and what it changed in the workspace."""
    return {
        "workspace": problem.source,
        "workspace_name": problem.workspace.GetName(),
        "pdf": problem.target_pdf,
        "observables": list(problem.observables),
        "parameters": list(problem.parameters),
        "data": problem.observed_data,
        "reference": reference_text(problem),
        "reference_pdf": problem.reference_pdf,
        "analytic": problem.analytic_pdf,
        "nuisances": list(problem.nuisance_parameters),
        "constraints": list(problem.constraints),
        "held_constant": dict(problem.held_constant),
    }


def study_notes(problem: WorkspaceProblem) -> list[str]:
    """report.md's notes on where the model came from and what its reference is."""
    ranges = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, hi) in problem.parameter_ranges().items())
    notes = [
        f"Model: pdf '{problem.target_pdf}' of workspace '{problem.workspace.GetName()}' in '{problem.source}', "
        f"observables {', '.join(problem.observables)}, parameters {ranges} (uniform prior and training range); "
        f"observed data '{problem.observed_data}'. The pdf is the simulator"
        + (
            f"; the analytic fit is of '{problem.analytic_pdf}'."
            if problem.analytic_pdf != problem.target_pdf
            else " and the analytic likelihood."
        )
    ]
    if problem.held_constant:
        values = ", ".join(f"{k} = {v:g}" for k, v in problem.held_constant.items())
        notes.append(f"Held constant at their values in the file (not learned, not fitted): {values}.")
    if problem.reference_kind == "uniform":
        notes.append(
            f"Reference: uniform over the observables' ranges ('{problem.reference_pdf}', added by roosbi run)."
        )
    elif problem.reference_kind == "pdf":
        notes.append(f"Reference: the workspace's pdf '{problem.reference_pdf}'.")
    elif problem.reference_kind == "marginal":
        notes.append(
            "Reference: the marginal p(x) = integral p(x|theta) prior(theta) dtheta (x simulated at parameters drawn "
            "from the prior, paired with unrelated theta). p(x) has no pdf, so the learned pdf is self-normalised: "
            "-sum log r is the NLL up to a constant in theta; the normalisation check draws fresh marginal events."
        )
    return notes


def _hold_others(ROOT, pdfs: list, obs_vars: list, parameters: set[str]) -> dict[str, float]:
    """Set constant every floating variable of ``pdfs`` that is neither observable nor parameter; their values."""
    observables = ROOT.RooArgSet(*obs_vars)
    held = {}
    for pdf in pdfs:
        for var in pdf.getParameters(observables):
            name = var.GetName()
            if name in parameters or name in held or var.isConstant() or not isinstance(var, ROOT.RooRealVar):
                continue
            var.setConstant(True)
            held[name] = float(var.getVal())
    if held:
        log.info(
            "held constant at their values in the file (not parameters): %s",
            ", ".join(f"{k}={v:g}" for k, v in held.items()),
        )
    return held


def name_list(value, key: str) -> list[str]:
    """A list of names from a list or a comma-separated string; none empty, none twice."""
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
    elif isinstance(value, (list, tuple)) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value]
    else:
        raise InputError(f"{key} must be a list of names or names separated by commas, not {value!r}")
    if not names:
        raise InputError(f"{key}: give at least one name")
    if any(not n for n in names):
        raise InputError(f"{key}: an empty name in {value!r}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{key}: {', '.join(twice)} named twice")
    return names


def string_value(value, key: str) -> str:
    """``value`` as a non-empty string (a path is fine), or an InputError naming ``key``."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
        raise InputError(f"{key} must be a non-empty string, not {value!r}")
    return os.fspath(value).strip()


def _unknown(kind: str, name: str, known: list[str], ws, role: str) -> InputError:
    """An InputError for an unknown name: the closest known one, and all of them."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    listed = ", ".join(sorted(known)) or "none"
    return InputError(
        f"no {kind} named '{name}' (the {role}) in workspace '{ws.GetName()}'{hint}; its {kind}s: {listed}"
    )


def _pdf(ws, name: str, role: str):
    pdf = ws.pdf(name)
    if not pdf:
        raise _unknown("pdf", name, [p.GetName() for p in ws.allPdfs()], ws, role)
    return pdf


def _variable(ws, name: str, role: str):
    """A RooRealVar with a finite range, as an observable or a parameter needs."""
    var = ws.var(name)
    if not var:
        other = ws.arg(name)
        if other:
            raise InputError(f"the {role} '{name}' is a {other.ClassName()}; it must be a RooRealVar")
        raise _unknown("variable", name, [v.GetName() for v in ws.allVars()], ws, role)
    lo, hi = var.getMin(), var.getMax()
    if not (var.hasMin() and var.hasMax() and math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        why = (
            "it is the uniform prior and the training range"
            if role in ("parameter", "nuisance parameter")
            else "the learned pdf is normalised over it"
        )
        raise InputError(
            f"the {role} '{name}' needs a finite range ({why}); it has [{lo:g}, {hi:g}]: "
            f"give it one in the workspace, e.g. {name}.setRange(lo, hi)"
        )
    return var


def _dataset(ws, name: str, observables: list[str]):
    from ..library import import_root

    ROOT = import_root()
    data = ws.data(name)
    if not data:
        raise _unknown("dataset", name, [d.GetName() for d in ws.allData()], ws, "observed data")
    if not isinstance(data, (ROOT.RooDataSet, ROOT.RooDataHist)):
        raise InputError(f"the data '{name}' is a {data.ClassName()}; give a RooDataSet or a RooDataHist")
    columns = [v.GetName() for v in data.get()]
    missing = [n for n in observables if n not in columns]
    if missing:
        raise InputError(
            f"the dataset '{name}' has no column {', '.join(map(repr, missing))}; its columns: {', '.join(columns)}"
        )
    if data.numEntries() == 0:
        raise InputError(f"the dataset '{name}' is empty")
    return data


def _refuse_pipeline_names(ws) -> None:
    """A workspace that already holds the pipeline's objects (a roosbi output) would clash with the new ones."""
    names = [arg.GetName() for arg in ws.components()]
    taken = sorted(n for n in names if n.startswith(_PIPELINE_PREFIXES))
    if taken:
        raise InputError(
            f"workspace '{ws.GetName()}' already holds objects named as roosbi's ({', '.join(taken[:5])}"
            f"{' ...' if len(taken) > 5 else ''}); give the workspace of the original model"
        )


def _reference_point(point: dict[str, float], par_vars: list) -> dict[str, float]:
    """Check a point reference: a value for every parameter, inside its range; in the parameters' order."""
    names = [v.GetName() for v in par_vars]
    unknown = [n for n in point if n not in names]
    missing = [n for n in names if n not in point]
    if unknown or missing:
        raise InputError(
            f"a reference point needs a value for each parameter ({', '.join(names)}); "
            f"unknown: {', '.join(unknown) or 'none'}, missing: {', '.join(missing) or 'none'}"
        )
    for var in par_vars:
        value, lo, hi = point[var.GetName()], var.getMin(), var.getMax()
        if not lo <= value <= hi:
            raise InputError(f"reference point {var.GetName()}={value:g} is outside its range [{lo:g}, {hi:g}]")
    return {n: point[n] for n in names}


def _point_pdf(ws, target, point: dict[str, float]):
    """The pdf at ``point``: a copy of ``target`` with each parameter replaced by a constant (RooFit's EDIT)."""
    if ws.pdf(POINT_REFERENCE):
        raise InputError(f"the workspace already holds a pdf named '{POINT_REFERENCE}'")
    replacements = []
    for name, value in point.items():
        constant = f"roosbi_reference_{name}"
        if ws.arg(constant):
            raise InputError(f"the workspace already holds an object named '{constant}'")
        replacements.append(f"{name}={constant}[{value!r}]")
    pdf = ws.factory(f"EDIT::{POINT_REFERENCE}({target.GetName()}, {', '.join(replacements)})")
    if not pdf or not ws.pdf(POINT_REFERENCE):
        raise InputError(f"could not build the pdf '{target.GetName()}' at the reference point {point}")
    return ws.pdf(POINT_REFERENCE)
