"""``roosbi fit``: fit a trained model again, on other data or in another workspace, without retraining.

The source is what a run wrote: its output directory (or its ``workspace.root``), whose marked
pdfs (:func:`roosbi.mark_fits`: learned, morphed, analytic, …) carry the trained networks as
``RooLearnedRatio`` objects, or a bare ``model.onnx``. Three uses:

- **other data, same model**: ``roosbi fit RUN_DIR --data other.root:tree`` fits every marked pdf
  to events read from a tree or table (the observables named as in the workspace), or to
  another dataset of the workspace (``--data NAME``);
- **another workspace**: ``roosbi fit RUN_DIR --workspace other.root --data NAME`` imports the
  marked pdfs (not the source's analytic one) into the other workspace, where they use its
  observables and parameters of the same names (each must exist there), and fits them, with the
  other workspace's own pdf as ``analytic`` if ``--analytic NAME`` is given;
- **a bare model**: ``roosbi fit model.onnx --workspace ws.root --data NAME`` builds the learned
  pdf from the network (inputs named in its metadata), r × the ``--reference`` pdf when given.

The fits are the demo's (:func:`roosbi.inference.fit_pdfs`). The output directory receives
``fit.json`` (the fits in results.json's layout, the data and where everything came from),
``fit.md`` and ``workspace.root`` with the fitted pdfs, the data and the marks, so that
``macros/fit_workspace.C`` repeats the fits from C++ (the library files are copied beside it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..exceptions import InputError
from ..inference import fit_pdfs
from ..library import LIBRARY_FILES, load_library
from ..output_dir import check_output_dir, publish, staging
from ..report.results import fit_record, write_json
from ..workspace import DATA_MARK, NLL_ATTRIBUTE, PARAMETERS_MARK, open_workspace
from .problem import _pdf
from .sources import SUFFIXES, parse_source, read_events

log = logging.getLogger(__name__)

#: What ``roosbi fit`` writes into its output directory.
FIT_FILES = ("fit.json", "fit.md", "workspace.root", *LIBRARY_FILES)
#: Suffix of the pdfs (and functions) imported from the source into another workspace.
IMPORT_SUFFIX = "fitted"
#: Name of the dataset read from a file of events.
DATA_NAME = "fit_data"


def refit(
    source: str | os.PathLike,
    out: str | os.PathLike,
    data: str | None = None,
    workspace: str | os.PathLike | None = None,
    workspace_name: str | None = None,
    fits: Sequence[str] | None = None,
    analytic: str | None = None,
    reference: str | None = None,
    weight: str | None = None,
    selection: str | None = None,
    minos: bool = True,
) -> dict:
    """Fit a trained model again without retraining; returns what ``fit.json`` holds.

    Parameters
    ----------
    source : path
        A run's output directory, its ``workspace.root``, or a ``model.onnx`` (then ``workspace``
        is needed).
    out : path
        Output directory (``fit.json``, ``fit.md``, ``workspace.root``).
    data : str, optional
        A dataset of the (other) workspace, or events: ``"file.root:tree"`` or a table file, with
        a column per observable. Default: the workspace's marked data.
    workspace : path, optional
        Another workspace file to fit in.
    workspace_name : str, optional
        The workspace's name in that file (needed when it holds several).
    fits : list of str, optional
        The marked fits to fit (default: all of them; in another workspace all but ``analytic``).
    analytic : str, optional
        A pdf of the other workspace to fit beside them as ``analytic``.
    reference : str, optional
        With a bare model: the reference pdf p_ref(x) in the workspace (default: the uniform
        reference if the model was trained against one, else the self-normalised NLL -Σ log r).
    weight, selection : str, optional
        With events from a file: the event-weight column, and a selection.
    minos : bool
        Run MINOS after HESSE.

    Examples
    --------
    Refit a run on new events (the run's observables are the columns)::

        roosbi.run.refit("runs/gauss1d", "runs/refit", data="new_events.root:events")
    """
    source = Path(source)
    check_output_dir(out)
    is_model = source.suffix.lower() == ".onnx"
    if is_model and workspace is None:
        raise InputError(f"'{source}' is a model alone: give the workspace to fit it in (--workspace FILE.root)")
    load_library()
    if is_model:
        ws, pdfs, parameters, observables = _model_setup(source, workspace, workspace_name, reference)
        marked_data = _marked_data(ws)
    else:
        src_path = _source_workspace(source)
        src = open_workspace(src_path)
        src_pdfs, parameters, src_data = _marked(src, src_path)
        observables = [v.GetName() for v in src.data(src_data).get()]
        chosen = _choose_fits(src_pdfs, fits, other=workspace is not None, path=src_path)
        if workspace is None:
            ws, pdfs, marked_data = src, chosen, src_data
        else:
            ws = open_workspace(workspace, workspace_name)
            pdfs = _import_fits(ws, src, chosen, observables + parameters, workspace)
            marked_data = _marked_data(ws)
    if analytic is not None:
        pdfs = {"analytic": _pdf(ws, analytic, "analytic pdf").GetName(), **pdfs}
    dataset, data_record = _data(ws, data, marked_data, observables, weight, selection)
    par_vars = _parameters(ws, parameters)
    fitted, _ = fit_pdfs(ws, pdfs, dataset, par_vars, minos=minos)
    results = {
        "roosbi_version": __version__,
        "source": str(source),
        "workspace": str(workspace) if workspace is not None else str(_source_workspace(source)),
        "data": data_record,
        "parameters": parameters,
        "pdfs": pdfs,
        "fits": {name: fit_record(fit) for name, fit in fitted.items()},
    }
    _write(Path(out), ws, pdfs, dataset, parameters, results)
    return results


def _source_workspace(source: Path) -> Path:
    """The workspace file of a run directory or a path to one."""
    if source.is_dir():
        path = source / "workspace.root"
        if not path.is_file():
            held = ", ".join(sorted(p.name for p in source.iterdir())) or "nothing"
            raise InputError(f"'{source}' holds no workspace.root (it holds {held}); give a run's output directory")
        return path
    if not source.exists():
        raise InputError(f"'{source}' does not exist; give a run's output directory, its workspace.root, a model.onnx")
    return source


def _marked(ws, path: Path) -> tuple[dict[str, str], list[str], str]:
    """The marked fits ``{name: pdf name}``, the parameters and the observed dataset's name."""
    from ..stats.toys import marked_pdfs

    pdfs = {name: pdf.GetName() for name, pdf in marked_pdfs(ws).items()}
    params, data_mark = ws.set(PARAMETERS_MARK), ws.genobj(DATA_MARK)
    if not pdfs or not params or not data_mark or not ws.data(data_mark.GetTitle()):
        raise InputError(
            f"'{path}' records no fits, parameters or data (roosbi.mark_fits); roosbi fit needs a workspace written "
            "by roosbi demo / run, or marked with roosbi.mark_fits"
        )
    return pdfs, [p.GetName() for p in params], str(data_mark.GetTitle())


def _marked_data(ws) -> str | None:
    mark = ws.genobj(DATA_MARK)
    return str(mark.GetTitle()) if mark and ws.data(mark.GetTitle()) else None


def _choose_fits(marked: dict[str, str], fits: Sequence[str] | None, other: bool, path: Path) -> dict[str, str]:
    """The fits asked for, checked against the marked ones; by default all (but analytic in another workspace)."""
    if fits is None:
        chosen = {n: p for n, p in marked.items() if not (other and n == "analytic")}
        if not chosen:
            raise InputError(f"'{path}' marks only the analytic fit, which is not carried to another workspace")
        return chosen
    unknown = [n for n in fits if n not in marked]
    if unknown:
        raise InputError(f"no fit named {', '.join(map(repr, unknown))} in '{path}'; its fits: {', '.join(marked)}")
    return {n: marked[n] for n in fits}


def _import_fits(ws, src, pdfs: dict[str, str], connected: list[str], path) -> dict[str, str]:
    """Import the source's pdfs into ``ws``: their observables and parameters become ``ws``'s own.

    Variables are joined by name (RooFit's import); every other node is renamed with
    :data:`IMPORT_SUFFIX`, so that nothing of ``ws`` is replaced. A variable the pdfs use that is
    neither an observable nor a parameter but exists in ``ws`` with another value is joined too:
    a warning names it.
    """
    missing = [n for n in connected if not ws.var(n)]
    if missing:
        raise InputError(
            f"the trained model needs {', '.join(map(repr, missing))}, which workspace '{ws.GetName()}' in '{path}' "
            f"does not have; its variables: {_names(ws.allVars())}"
        )
    imported = {}
    for name, pdf_name in pdfs.items():
        pdf = src.pdf(pdf_name)
        if pdf.getStringAttribute("roosbi_data"):
            raise InputError(
                f"the fit '{name}' is fitted to its own dataset ('{pdf.getStringAttribute('roosbi_data')}', the "
                "score of the mixture's network), which cannot be carried to another workspace; leave it out "
                "with --fits"
            )
        for var in pdf.getVariables():
            other = ws.var(var.GetName())
            if var.GetName() not in connected and other and abs(other.getVal() - var.getVal()) > 1e-12:
                log.warning(
                    "the fit '%s' uses '%s', which is %g in the source and %g in '%s': the latter is used",
                    name,
                    var.GetName(),
                    var.getVal(),
                    other.getVal(),
                    path,
                )
        ws.Import(pdf, RenameAllNodes=IMPORT_SUFFIX, Silence=True)
        imported[name] = f"{pdf_name}_{IMPORT_SUFFIX}"
    return imported


def _model_setup(model: Path, workspace, workspace_name, reference):
    """The learned pdf of a bare ONNX model in ``workspace``: (ws, {"learned": name}, parameters, observables)."""
    from ..onnx import read_metadata
    from ..roofit import learned_pdf, learned_ratio

    if not model.is_file():
        raise InputError(f"'{model}' does not exist")
    meta = read_metadata(str(model))
    observables, parameters = meta.get("observables"), meta.get("parameters")
    if not observables or not parameters:
        raise InputError(
            f"'{model}' records no observables or no parameters (a mixture's signal/background network has none): "
            "refit its run directory instead, which holds the pdf built from it"
        )
    ws = open_workspace(workspace, workspace_name)
    missing = [n for n in observables + parameters if not ws.var(n)]
    if missing:
        raise InputError(
            f"the model's inputs {', '.join(map(repr, missing))} are not variables of workspace '{ws.GetName()}'; "
            f"its variables: {_names(ws.allVars())}"
        )
    ratio = learned_ratio(str(model), workspace=ws, name=f"learned_ratio_{IMPORT_SUFFIX}")
    ref_pdf = None if reference is None else _pdf(ws, reference, "reference pdf")
    normalize = ref_pdf is not None or bool(meta.get("reference_uniform"))
    if not normalize:
        log.info("'%s' has a non-uniform reference and no --reference is given: fitting -sum log r", model)
    obs_vars = [ws.var(n) for n in observables]
    pdf = learned_pdf(ratio, obs_vars, ref_pdf, name=f"learned_pdf_{IMPORT_SUFFIX}", normalize=normalize)
    ws.Import(pdf, RecycleConflictNodes=True, Silence=True)
    return ws, {"learned": pdf.GetName()}, list(parameters), list(observables)


def _data(ws, data, marked: str | None, observables: list[str], weight, selection):
    """The dataset to fit, and a record of it for fit.json."""
    if data is None:
        if marked is None:
            raise InputError(f"workspace '{ws.GetName()}' marks no observed data: give --data NAME or --data FILE")
        data = marked
    if ws.data(data):
        if weight is not None or selection is not None:
            raise InputError("--weight and --selection apply to events read from a file, not to a workspace dataset")
        dataset = ws.data(data)
        return dataset, {"name": data, "from": "workspace", **_counts(dataset)}
    if Path(str(data).rsplit(":", 1)[0]).suffix.lower() not in SUFFIXES:
        raise InputError(
            f"--data {data!r} is neither a dataset of workspace '{ws.GetName()}' (its datasets: "
            f"{_names(ws.allData())}) nor a file of events ('file.root:tree', or a table)"
        )
    from ..data.observed import observed_data_from_arrays

    events = parse_source(data, "--data")
    columns, where = read_events(events, observables + ([weight] if weight else []), selection)
    weights = columns.pop(weight) if weight else None
    dataset = observed_data_from_arrays(columns, [ws.var(n) for n in observables], weights, name=DATA_NAME)
    ws.Import(dataset, Silence=True)
    dataset = ws.data(DATA_NAME)
    record = {"name": DATA_NAME, "from": where.strip(), "selection": selection, "weight": weight}
    return dataset, {**record, **_counts(dataset)}


def _counts(dataset) -> dict:
    return {"n_events": int(dataset.numEntries()), "sum_weights": float(dataset.sumEntries())}


def _parameters(ws, names: list[str]) -> list:
    params = [ws.var(n) for n in names]
    for p in params:
        p.setConstant(False)
    return params


def _names(collection) -> str:
    return ", ".join(sorted(o.GetName() for o in collection)) or "(none)"


def _write(out: Path, ws, pdfs: dict[str, str], dataset, parameters: list[str], results: dict) -> None:
    """fit.json, fit.md and the workspace with exactly these fits marked, published together."""
    from ..demo.run import save_workspace
    from ..library import library_path

    for pdf in ws.allPdfs():  # a workspace written by a run marks its own fits: only these remain
        if pdf.getStringAttribute(NLL_ATTRIBUTE):
            pdf.removeStringAttribute(NLL_ATTRIBUTE)
    with staging(out) as stage:
        save_workspace(ws, stage, library_path(), pdfs, dataset, parameters)
        write_json(results, stage / "fit.json")
        (stage / "fit.md").write_text(fit_markdown(results))
        publish(stage, out, owned=FIT_FILES)


def fit_markdown(results: dict) -> str:
    """fit.md: where the model and the data came from, and one row per fit and parameter."""
    d = results["data"]
    lines = [
        "# roosbi fit",
        "",
        f"- model: `{results['source']}`; fitted in `{results['workspace']}`",
        f"- data: `{d['name']}` from {d['from']}: {d['n_events']} events, sum of weights {d['sum_weights']:.6g}",
        "",
        "| fit | parameter | value | HESSE error | MINOS interval | status |",
        "|---|---|---|---|---|---|",
    ]
    for name, fit in results["fits"].items():
        for par, r in fit["params"].items():
            lo, hi = r["minos"]
            lines.append(
                f"| {name} | {par} | {r['value']:.5g} | {r['error']:.3g} | [{lo:+.3g}, {hi:+.3g}] | {fit['status']} |"
            )
    return "\n".join(lines) + "\n"
