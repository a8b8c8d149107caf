"""Checks made before anything is handed to ROOT's C++: a bad object is named, never dereferenced."""

from __future__ import annotations

import os
from pathlib import Path

from .exceptions import InputError
from .library import import_root


def is_null(obj) -> bool:
    """True for a C++ null pointer as cppyy hands it out (``ws.var("missing")``, ``ws.pdf("typo")``)."""
    if obj is None:
        return True
    ROOT = import_root()
    try:
        return ROOT.addressof(obj) == 0
    except TypeError:  # not a C++ object at all: callers check the type themselves
        return False


def require_object(obj, argument: str, kind: str | None = None):
    """Return ``obj``, or raise an InputError naming ``argument`` if it is None or a null pointer.

    Parameters
    ----------
    obj : object
        What the caller was given.
    argument : str
        How the caller's signature names it, e.g. ``"observables[1]"``.
    kind : str, optional
        A ROOT class name the object must inherit from (``"RooAbsReal"``, ``"RooAbsPdf"``, ...).

    Examples
    --------
    >>> import ROOT
    >>> ws = ROOT.RooWorkspace("w")
    >>> require_object(ws.var("missing"), "parameters[0]")
    Traceback (most recent call last):
    ...
    roosbi.exceptions.InputError: argument 'parameters[0]' is a null pointer ...
    """
    if is_null(obj):
        raise InputError(
            f"argument '{argument}' is a null pointer (None or an empty C++ object); a workspace lookup such as "
            "ws.var('name') or ws.pdf('name') returns one when nothing has that name: check the spelling against "
            "ws.Print()"
        )
    if kind is not None:
        ROOT = import_root()
        cls = getattr(ROOT, kind)
        if not isinstance(obj, cls):
            raise InputError(f"argument '{argument}' must be a {kind}, not {type(obj).__name__}")
    return obj


def check_root_file(path: str | os.PathLike) -> None:
    """Refuse, before ROOT reads it, a path that is missing, a directory, empty, or not a ROOT file.

    ROOT itself would print errors and hand back a "zombie" file; a file that is not ROOT's at
    all is recognised by its first four bytes (every ROOT file starts with ``root``).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"ROOT file '{path}' does not exist")
    if path.is_dir():
        raise InputError(f"'{path}' is a directory, not a ROOT file")
    if path.stat().st_size == 0:
        raise InputError(f"ROOT file '{path}' is empty (0 bytes)")
    with open(path, "rb") as stream:
        if stream.read(4) != b"root":
            raise InputError(f"'{path}' is not a readable ROOT file (it does not start with ROOT's file signature)")


#: Bytes a training row takes at the peak of a fit, per column (the sample's float64 columns, the
#: stacked float64 inputs and the float32 tensors; measured 110 B for 4 columns at 10^7 rows,
#: docs/scale.md), with room for the estimator's copies.
BYTES_PER_COLUMN = 48
#: What the interpreter with ROOT and torch loaded takes before any sample (measured ~820 MiB).
BASELINE_BYTES = 1 << 30


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (``MemAvailable``), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_training_memory(n_rows: int, n_columns: int, what: str = "the training sample") -> None:
    """Refuse a training sample that cannot fit in this machine's memory, saying how much it needs.

    Raises
    ------
    InputError
        If the estimate (rows x columns x :data:`BYTES_PER_COLUMN` + :data:`BASELINE_BYTES`) is
        more than the memory available now.

    Examples
    --------
    >>> check_training_memory(1000, 4)  # a few hundred kB: fine anywhere
    """
    need = n_rows * n_columns * BYTES_PER_COLUMN + BASELINE_BYTES
    have = available_memory()
    if have is not None and need > have:
        raise InputError(
            f"{what} ({n_rows:,} rows of {n_columns} columns) needs about {need / 2**30:.1f} GiB of memory to "
            f"train, and {have / 2**30:.1f} GiB are available: lower --n-train, or run on a larger machine"
        )
