"""Saved workspaces: open them safely, and record what ``macros/fit_workspace.C`` should fit.

A workspace file that holds a ``RooLearnedRatio`` can only be read by a ROOT session that knows
the class: without it ROOT reads an "emulated" object where RooFit expects a compiled one, and
crashes. :func:`open_workspace` loads roosbi's library first (importing roosbi already does), and
checks the file before ROOT reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .checks import check_root_file, require_object
from .exceptions import InputError
from .library import import_root, load_library

#: Names of the marks that macros/fit_workspace.C reads (see :func:`mark_fits`).
DATA_MARK = "roosbi_observed_data"
PARAMETERS_MARK = "roosbi_parameters"
NLL_ATTRIBUTE = "roosbi_nll"


def open_workspace(path: str | os.PathLike, name: str | None = None):
    """Read a ``RooWorkspace`` from a ROOT file, with roosbi's C++ class loaded first.

    Parameters
    ----------
    path : str or path
        The ROOT file.
    name : str, optional
        The workspace's key in the file; by default the file must hold exactly one workspace.

    Returns
    -------
    ROOT.RooWorkspace
        The workspace (the file stays open as long as it lives).

    Raises
    ------
    InputError
        If the file is missing, empty, not a ROOT file, or holds no (or several, with no name
        given) workspaces.

    Examples
    --------
    >>> import ROOT, roosbi
    >>> ws = ROOT.RooWorkspace("w")
    >>> _ = ws.factory("Gaussian::g(x[-5, 5], mu[0, -1, 1], 1)")
    >>> _ = ws.writeToFile("example_ws.root")
    >>> roosbi.open_workspace("example_ws.root").pdf("g").GetName()
    'g'
    """
    path = Path(path)
    check_root_file(path)
    ROOT = import_root()
    load_library()
    try:
        file = ROOT.TFile.Open(str(path), "READ")
    except OSError as err:
        raise InputError(f"'{path}' is not a readable ROOT file: {err}") from err
    if not file or file.IsZombie():
        raise InputError(f"'{path}' is not a readable ROOT file (truncated or damaged)")
    names = sorted(
        {key.GetName() for key in file.GetListOfKeys() if key.GetClassName() == "RooWorkspace"},
    )
    if name is None:
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise InputError(f"'{path}' holds {len(names)} workspaces ({found}); pass name=... to choose one")
        name = names[0]
    elif name not in names:
        raise InputError(f"'{path}' has no workspace named '{name}'; it holds: {', '.join(names) or 'none'}")
    ws = file.Get(name)
    ws._roosbi_file = file  # keep the file open while the workspace is used
    return ws


def mark_fits(workspace, fits: Mapping[str, object], data, parameters: Iterable) -> None:
    """Record in ``workspace`` which pdfs ``macros/fit_workspace.C`` fits, to which data, over what.

    The macro fits every marked pdf with the same settings as :func:`roosbi.inference.fit_nll`
    and prints ``FIT <name> <param>=<value> +- <error> status=<n>``. Marking again replaces the
    data and the parameters; pdfs keep their marks until they are marked under another name.

    Parameters
    ----------
    workspace : ROOT.RooWorkspace
        Holds (or receives) the pdfs, the data and the parameters.
    fits : dict
        ``{fit name: pdf}``, each pdf a ``RooAbsPdf`` or the name of one in the workspace; a pdf
        that is not in the workspace yet is imported.
    data : ROOT.RooAbsData or str
        The observed data (imported if it is not in the workspace).
    parameters : list of str or RooRealVar
        The floating parameters (MINOS is run for each).

    Examples
    --------
    >>> import ROOT, roosbi
    >>> ws = ROOT.RooWorkspace("w")
    >>> _ = ws.factory("Gaussian::g(x[-5, 5], mu[0, -1, 1], 1)")
    >>> data = ws.pdf("g").generate({ws.var("x")}, 100)
    >>> roosbi.mark_fits(ws, {"analytic": "g"}, data, ["mu"])
    >>> ws.pdf("g").getStringAttribute("roosbi_nll")
    'analytic'
    """
    ROOT = import_root()
    require_object(workspace, "workspace", "RooWorkspace")
    if not fits:
        raise InputError("fits is empty: give at least one {name: pdf} to fit")
    data_name = _import_data(workspace, data)
    par_names = []
    for i, par in enumerate(parameters):
        par_name = par if isinstance(par, str) else require_object(par, f"parameters[{i}]", "RooRealVar").GetName()
        if not workspace.var(par_name):
            raise InputError(f"parameter '{par_name}' is not a variable of workspace '{workspace.GetName()}'")
        par_names.append(par_name)
    if not par_names:
        raise InputError("parameters is empty: name the floating parameters to fit")
    for fit_name, pdf in fits.items():
        _import_pdf(workspace, pdf, f"fits['{fit_name}']").setStringAttribute(NLL_ATTRIBUTE, fit_name)
    workspace.defineSet(PARAMETERS_MARK, ",".join(par_names))
    workspace.Import(ROOT.TNamed(DATA_MARK, data_name), True)


def _import_pdf(workspace, pdf, argument: str):
    if isinstance(pdf, str):
        found = workspace.pdf(pdf)
        if not found:
            raise InputError(f"{argument}: no pdf named '{pdf}' in workspace '{workspace.GetName()}'")
        return found
    require_object(pdf, argument, "RooAbsPdf")
    if not workspace.pdf(pdf.GetName()):
        workspace.Import(pdf, Silence=True)
    return workspace.pdf(pdf.GetName())


def _import_data(workspace, data) -> str:
    if isinstance(data, str):
        if not workspace.data(data):
            raise InputError(f"no dataset named '{data}' in workspace '{workspace.GetName()}'")
        return data
    require_object(data, "data", "RooAbsData")
    if not workspace.data(data.GetName()):
        workspace.Import(data)
    return data.GetName()
