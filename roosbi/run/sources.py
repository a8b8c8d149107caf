"""Sources of events for ``roosbi run``: ROOT files (TTree or RNTuple), tables and arrays, with selections.

A source is ``"file.root:tree"`` (the tree may be omitted when the file holds one), a table
(``.parquet``, ``.feather``, ``.csv`` through pandas; ``.npz`` of named arrays; ``.npy`` of a
structured array), or a list of files of one kind (and one tree). A selection is an
``RDataFrame.Filter`` expression for ROOT files and a ``DataFrame.query`` expression for tables.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError

log = logging.getLogger(__name__)

#: File suffixes a source may have, and how each is read.
SUFFIXES = {
    ".root": "root",
    ".parquet": "pandas",
    ".feather": "pandas",
    ".csv": "pandas",
    ".npz": "numpy",
    ".npy": "numpy",
}
_SOURCE = re.compile(r"^(?P<path>.+?(?P<suffix>\.(?:root|parquet|feather|csv|npz|npy)))(?::(?P<tree>[^:]*))?$", re.I)


@dataclass
class EventSource:
    """Where a class's events are: files of one kind (and, for ROOT files, one tree or RNTuple)."""

    paths: list[str]
    tree: str | None
    kind: str  # "root", "pandas" or "numpy"
    role: str  # "signal", "background" or "data", for messages

    def describe(self) -> str:
        """The files (and the tree), as a person would write them."""
        files = ", ".join(self.paths)
        return f"{files}:{self.tree}" if self.tree else files


def parse_source(value, role: str) -> EventSource:
    """A source as given (``"file.root:tree"``, a table file, or a list of them) → an :class:`EventSource`.

    Raises
    ------
    InputError
        For an empty value, a suffix that is not one of :data:`SUFFIXES`, files of different
        kinds or trees, or a tree given for a table.
    """
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise InputError(f"{role} must be a file ('file.root:tree') or a list of files, not {value!r}")
    paths, trees, kinds = [], set(), set()
    for item in items:
        if not isinstance(item, (str, os.PathLike)) or not os.fspath(item).strip():
            raise InputError(f"{role}: each file must be a non-empty string, not {item!r}")
        path, tree = split_source(os.fspath(item).strip(), role)
        paths.append(path)
        trees.add(tree)
        kinds.add(SUFFIXES[Path(path).suffix.lower()])
    if len(kinds) > 1:
        raise InputError(f"{role}: the files are of different kinds ({', '.join(paths)}); give files of one kind")
    kind = kinds.pop()
    if len(trees) > 1:
        named = ", ".join(sorted(t or "(none)" for t in trees))
        raise InputError(f"{role}: the files name different trees ({named}); a list of files is read as one chain")
    tree = trees.pop()
    if tree is not None and kind != "root":
        raise InputError(f"{role}: '{paths[0]}:{tree}' names a tree, but only ROOT files hold trees")
    return EventSource(paths=paths, tree=tree, kind=kind, role=role)


def split_source(text: str, role: str) -> tuple[str, str | None]:
    """``"dir/file.root:tree"`` → ``("dir/file.root", "tree")``; ``"file.root"`` → ``("file.root", None)``."""
    match = _SOURCE.match(text)
    if not match:
        raise InputError(
            f"{role}: {text!r} is not a file of events; give 'file.root:tree' (a TTree or RNTuple; ':tree' may be "
            f"left out when the file holds one) or a table ({', '.join(s for s in SUFFIXES if s != '.root')})"
        )
    tree = match.group("tree")
    if tree is not None and not tree.strip():
        raise InputError(f"{role}: {text!r} has an empty tree name after ':'")
    return match.group("path"), None if tree is None else tree.strip()


def resolve_source(value, base: Path):
    """A source with each relative file path made absolute against ``base`` (a study file's directory)."""

    def one(item):
        if not isinstance(item, str) or "://" in item:
            return item
        match = _SOURCE.match(item.strip())
        if not match or Path(match.group("path")).is_absolute():
            return item
        path = os.path.normpath(base / match.group("path"))
        return path if match.group("tree") is None else f"{path}:{match.group('tree')}"

    if isinstance(value, (list, tuple)):
        return [one(item) for item in value]
    return one(value)


def read_events(
    source: EventSource, columns: Sequence[str], selection: str | None
) -> tuple[dict[str, np.ndarray], str]:
    """Read ``columns`` of every event of ``source`` that passes ``selection``, as float64 arrays.

    Returns the columns and a description of where they came from (for messages).

    Raises
    ------
    InputError
        A missing or unreadable file, a missing tree or column (the message lists what exists),
        a selection that does not compile or removes every event, NaN/Inf values.
    """
    from ..data.columns import _check_finite, _read_columns

    if source.kind == "root":
        target = source.paths[0] if len(source.paths) == 1 else source.paths
        arrays, where = _read_columns(target, list(columns), source.tree, selection or None)
    else:
        arrays, where = _read_table(source, list(columns), selection)
    n = len(arrays[columns[0]])
    if n == 0:
        passing = f" that pass the selection {selection!r}" if selection else ""
        raise InputError(f"the {source.role} events ({where.strip()}) hold no events{passing}")
    _check_finite(arrays, where)
    return arrays, where


def _read_table(source: EventSource, columns: list[str], selection: str | None) -> tuple[dict, str]:
    """Columns of table files (pandas, or numpy's .npz/.npy) with a ``DataFrame.query`` selection."""
    from ..data.columns import _as_column, _listing

    frames = []
    for path in source.paths:
        if not Path(path).is_file():
            raise InputError(f"the {source.role} file '{path}' does not exist")
        frames.append(_load_table(path, source.kind))
    where = f" in {source.paths[0]!r}" if len(source.paths) == 1 else f" in {len(source.paths)} files"
    for path, frame in zip(source.paths, frames, strict=True):
        names = [str(c) for c in frame.columns]
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(f"no column {', '.join(map(repr, missing))} in {path!r}; it has: {_listing(names)}")
    import pandas as pd

    # All columns: the selection may use any of them.
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if selection:
        try:
            frame = frame.query(selection)
        except Exception as err:  # noqa: BLE001 - pandas raises many kinds for a bad expression
            raise InputError(
                f"the selection {selection!r} is not a pandas query{where} ({type(err).__name__}: {err}); "
                "for tables the selection is DataFrame.query syntax"
            ) from None
    return {c: _as_column(frame[c], c, where) for c in columns}, where


def _load_table(path: str, kind: str):
    """A pandas DataFrame of one table file."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise InputError(f"reading '{path}' needs pandas: pip install pandas (or give a ROOT file)") from None
    suffix = Path(path).suffix.lower()
    try:
        if kind == "numpy":
            if suffix == ".npz":
                with np.load(path, allow_pickle=False) as arrays:
                    return pd.DataFrame({name: np.asarray(arrays[name]).reshape(-1) for name in arrays.files})
            array = np.load(path, allow_pickle=False)
            if array.dtype.names is None:
                raise InputError(
                    f"'{path}' holds an unnamed array; give a structured array (named fields) or a .npz of named "
                    "columns, so that the observables can be found by name"
                )
            return pd.DataFrame({name: array[name] for name in array.dtype.names})
        reader = {".parquet": pd.read_parquet, ".feather": pd.read_feather, ".csv": pd.read_csv}[suffix]
        return reader(path)
    except InputError:
        raise
    except ImportError as err:  # parquet and feather need pyarrow (or fastparquet)
        raise InputError(f"reading '{path}' needs a package pandas uses for {suffix} files: {err}") from None
    except Exception as err:  # noqa: BLE001 - a damaged file: pandas and numpy raise many kinds
        raise InputError(f"'{path}' could not be read as a {suffix} file: {type(err).__name__}: {err}") from None
