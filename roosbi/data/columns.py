"""Reading and checking columns: the helpers that samples, sample files and observed data share.

Columns come from numpy arrays, pandas (or any DataFrame with ``to_numpy``) and mappings of
arrays, or from a TTree or an RNTuple through ``ROOT.RDataFrame``. Every check raises
:class:`~roosbi.exceptions.InputError` with a message that names the column, the file or the tree,
and what is there instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..checks import check_root_file
from ..exceptions import InputError
from ..library import import_root

Source = Any  # a path, a list of paths, a TTree/TChain or an RDataFrame node


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------


def _check_finite(columns: Mapping[str, np.ndarray], where: str) -> None:
    for name, col in columns.items():
        bad = ~np.isfinite(col)
        if bad.any():
            raise InputError(
                f"column '{name}'{where} holds {int(bad.sum())} NaN/Inf value(s), first in row "
                f"{int(np.flatnonzero(bad)[0])}; remove or fix those events"
            )


def _names(names, what: str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    if not names:
        raise InputError(f"name at least one of the {what}")
    return names


def _check_distinct(names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(
            f"column {_quoted(repeated)} is given more than one role (observable, parameter, label, weight)"
        )


def _free_name(name: str, taken: Sequence[str]) -> str:
    return name if name not in taken else f"roosbi_{name}"  # roles are kept apart from column names


def _as_column(values, name: str, where: str) -> np.ndarray:
    """One column as a 1-D float64 array (pandas' nullable missing values become NaN)."""
    try:
        if hasattr(values, "to_numpy"):
            try:
                col = values.to_numpy(dtype=np.float64, na_value=np.nan)
            except TypeError:  # a to_numpy without pandas' keywords (polars, ...)
                col = np.asarray(values.to_numpy(), dtype=np.float64)
        else:
            col = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"column '{name}'{where} is not numeric: {err}") from None
    if col.ndim != 1:
        raise InputError(f"column '{name}'{where} must hold one number per event, not shape {col.shape}")
    return col


def _matrix(values, names: list[str], what: str) -> np.ndarray:
    """Columns ``names`` of a DataFrame/mapping, or an (n, len(names)) / (n,) array."""
    if hasattr(values, "columns") or isinstance(values, Mapping):
        keys = [str(k) for k in (values.columns if hasattr(values, "columns") else values)]
        missing = [n for n in names if n not in keys]
        if missing:
            raise InputError(f"{what} has no column {_quoted(missing)}; it has: {_listing(keys)}")
        cols = [_as_column(values[n], n, f" of {what}") for n in names]
        if len({len(c) for c in cols}) > 1:
            rows = ", ".join(f"{n} {len(c)}" for n, c in zip(names, cols, strict=True))
            raise InputError(f"the columns of {what} have different lengths ({rows})")
        return np.column_stack(cols)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} is not a numeric array: {err}") from None
    if arr.ndim == 1 and len(names) == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != len(names):
        hint = " (or (n,))" if len(names) == 1 else ""
        raise InputError(
            f"{what} has shape {arr.shape} but {len(names)} column name(s) were given ({', '.join(names)}); "
            f"pass shape (n, {len(names)}){hint}"
        )
    return arr


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _listing(names: Sequence[str], limit: int = 40) -> str:
    names = sorted(names)
    if not names:
        return "(none)"
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# --------------------------------------------------------------------------------------------
# Reading TTrees and RNTuples
# --------------------------------------------------------------------------------------------


def _open_file(path: str):
    """Open a ROOT file for reading; a missing or unreadable file is an InputError."""
    ROOT = import_root()
    if "://" not in path:  # a local file: checked before ROOT reads it
        check_root_file(path)
    try:
        handle = ROOT.TFile.Open(path, "READ")
    except OSError:
        handle = None
    if not handle or handle.IsZombie():
        raise InputError(f"{path!r} is not a readable ROOT file")
    return handle


def _datasets(directory, prefix: str = "") -> list[tuple[str, str]]:
    """(name, class) of every TTree and RNTuple in a file, directories included."""
    ROOT = import_root()
    found: dict[str, str] = {}
    for key in directory.GetListOfKeys():
        name, cls = prefix + str(key.GetName()), str(key.GetClassName())
        if name in found:  # an older cycle
            continue
        tclass = ROOT.TClass.GetClass(cls)
        if "RNTuple" in cls or (tclass and tclass.InheritsFrom("TTree")):
            found[name] = cls
        elif tclass and tclass.InheritsFrom("TDirectory"):
            found.update(dict(_datasets(key.ReadObj(), name + "/")))
    return list(found.items())


def _dataset_listing(found: list[tuple[str, str]]) -> str:
    if not found:
        return "no TTree or RNTuple"
    return ", ".join(f"'{name}' ({cls})" for name, cls in found)


def _dataset_name(path: str, tree: str | None) -> str:
    """The TTree/RNTuple to read from ``path``: ``tree``, or the only one in the file."""
    handle = _open_file(path)
    try:
        found = _datasets(handle)
    finally:
        handle.Close()
    names = [name for name, _ in found]
    if tree is not None:
        if tree not in names:
            raise InputError(f"{path!r} has no TTree or RNTuple '{tree}'; it has {_dataset_listing(found)}")
        return tree
    if len(names) == 1:
        return names[0]
    if not names:
        raise InputError(f"{path!r} holds no TTree or RNTuple")
    raise InputError(f"{path!r} holds several trees, {_dataset_listing(found)}: pass tree= to pick one")


def _dataframe(source: Source, tree: str | None):
    """An RDataFrame over ``source``, a description for messages, and what it must keep alive."""
    ROOT = import_root()
    # The TTree test comes first: hasattr fails on a TTree, and a failed lookup on a cppyy object
    # goes through cppyy's error path, which crashes if Ctrl-C lands there (see roosbi.interrupts).
    if isinstance(source, ROOT.TTree):
        return ROOT.RDataFrame(source), f" in tree '{source.GetName()}'", source
    if hasattr(source, "AsNumpy") and hasattr(source, "Filter"):
        return source, " in the RDataFrame", None
    if isinstance(source, (str, os.PathLike)):
        paths = [os.fspath(source)]
    elif isinstance(source, (list, tuple)) and source and all(isinstance(p, (str, os.PathLike)) for p in source):
        paths = [os.fspath(p) for p in source]
    else:
        raise InputError(
            f"a source is a ROOT file path (or a list of them), a TTree or an RDataFrame, not {type(source).__name__}"
        )
    name = _dataset_name(paths[0], tree)
    for path in paths[1:]:
        _dataset_name(path, name)
    if len(paths) == 1:
        return ROOT.RDataFrame(name, paths[0]), f" in '{name}' of {paths[0]!r}", None
    files = ROOT.std.vector["std::string"]()
    for path in paths:
        files.push_back(path)
    return ROOT.RDataFrame(name, files), f" in '{name}' of {len(paths)} files", files


def _read_columns(
    source: Source,
    columns: list[str],
    tree: str | None,
    selection: str | None,
    optional: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], str]:
    """Read ``columns`` (and those of ``optional`` that exist) as float64 arrays."""
    frame, where, keepalive = _dataframe(source, tree)
    available = [str(c) for c in frame.GetColumnNames()]
    missing = [c for c in columns if c not in available]
    if missing:
        raise InputError(f"no branch {_quoted(missing)}{where}; it has: {_listing(available)}")
    wanted = columns + [c for c in optional if c in available and c not in columns]
    node = frame
    if selection:
        try:
            node = frame.Filter(selection)
        except Exception:  # cppyy raises the C++ exception's Python image
            raise InputError(
                f"the selection {selection!r} does not compile{where} (the C++ compiler's message is printed "
                f"above); columns: {_listing(available)}"
            ) from None
    try:
        arrays = node.AsNumpy(wanted)
    except Exception as err:
        raise InputError(f"reading {_quoted(wanted)}{where} failed: {err}") from None
    out = {}
    for name in wanted:
        col = arrays[name]
        if col.dtype == object or col.ndim != 1:
            raise InputError(
                f"column '{name}'{where} has type {frame.GetColumnType(name)}, not one number per event; "
                f"pick a number with RDataFrame's Define (e.g. Define('{name}_0', '{name}[0]'))"
            )
        out[name] = np.asarray(col, dtype=np.float64)
    del keepalive
    return out, where
