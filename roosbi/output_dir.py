"""The output directory of a run: checked before any work, filled through a staging directory.

A run writes every file into a staging directory inside ``out`` (making it is also the check that
``out`` is writable, done before any work) and moves them into place only when the run is
complete, each with an atomic rename. An interrupted or failed run leaves ``out`` exactly as it
was; a completed rerun replaces an earlier run's files and removes those of its files it did not
write again, never a file roosbi did not write.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .estimators.losses import METHODS
from .exceptions import InputError
from .interrupts import deferred_interrupts
from .library import LIBRARY_FILES

log = logging.getLogger(__name__)

#: Every name run_demo writes into ``out``. A rerun removes those of an earlier run that it does
#: not write again (a gauss2d run's contours.png after a gauss1d rerun), and nothing else.
OUTPUT_FILES = (
    "results.json",
    "report.md",
    "workspace.root",
    "model.onnx",
    # With several --method: one model per method.
    *(f"model_{method}.onnx" for method in (*METHODS, "sally")),
    "delta_nll.png",
    "contours.png",
    "ratio.png",
    "templates.png",
    "training.png",
    "errors_vs_n.png",
    "calibration.png",
    "inputs.png",
    # roosbi demo syst: the profile curves and impacts, one model per mixture component.
    "systematics.png",
    "model_signal.onnx",
    "model_background.onnx",
    # ... and its comparison of summary statistics: the figure, the neos summary and its HistFactory model.
    "summaries.png",
    "summary_neos.onnx",
    "summary_workspace.root",
    *LIBRARY_FILES,
)
#: Prefix of the staging directory a run writes into, inside ``out``.
STAGING_PREFIX = ".roosbi-partial-"


def check_output_dir(out: str | os.PathLike) -> None:
    """Raise an InputError unless ``out`` is, or can be made, a directory to write in; leave no trace.

    It makes (and removes) what a run makes first: the directory and a staging directory in it.
    Permissions are not read (``os.access`` says yes to root even on a read-only file system).
    """
    out = Path(out)
    with deferred_interrupts():
        created = _make_output_dir(out)
        try:
            _make_staging_dir(out).rmdir()
        finally:
            _remove_dirs(created)


def _make_output_dir(out: Path) -> list[Path]:
    """Make ``out`` and any missing parents; return the directories made, outermost first."""
    if out.exists() and not out.is_dir():
        raise InputError(f"the output directory '{out}' exists and is not a directory: choose another --out")
    missing = []
    path = out
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except OSError as err:
            _remove_dirs(created)
            raise InputError(f"cannot create the output directory '{out}': {err.strerror or err}") from err
        created.append(path)
    return created


def _make_staging_dir(out: Path) -> Path:
    try:
        return Path(tempfile.mkdtemp(dir=out, prefix=STAGING_PREFIX))
    except OSError as err:
        raise InputError(f"cannot write in the output directory '{out}': {err.strerror or err}") from err


def _remove_dirs(created: list[Path]) -> None:
    """Remove the directories :func:`_make_output_dir` made (innermost first) if they are empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            return


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A staging directory in ``out`` (made if needed): removed at the end, with ``out`` if the block fails."""
    created = _make_output_dir(out)
    try:
        stage = _make_staging_dir(out)
    except BaseException:
        _remove_dirs(created)
        raise
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        _remove_dirs(created)
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _holds_a_run(out: Path) -> bool:
    """True if ``out`` holds the results.json of a roosbi run (so its other output names are roosbi's too)."""
    try:
        return "roosbi_version" in json.loads((out / "results.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def publish(stage: Path, out: Path, owned: tuple[str, ...] = OUTPUT_FILES) -> None:
    """Move a complete run from ``stage`` into ``out``, removing what is left of an earlier run.

    Nothing in ``out`` changes if a new file's place is taken by something that is not a file.
    Only names of ``owned`` (by default :data:`OUTPUT_FILES`, a demo's) are removed, and only where
    ``out`` holds an earlier run's results.json: a user's own files stay. results.json moves last.
    """
    new = sorted((p.name for p in stage.iterdir()), key=lambda name: name == "results.json")
    for name in new:
        target = out / name
        if (target.exists() or target.is_symlink()) and not target.is_file():
            raise InputError(f"cannot write '{target}': something other than a file is in the way; move it")
    stale = [name for name in owned if name not in new and (out / name).is_file()] if _holds_a_run(out) else []
    replaced = [name for name in new if (out / name).exists()]
    for name in new:
        os.replace(stage / name, out / name)
    for name in stale:
        (out / name).unlink()
    if replaced or stale:
        gone = f"; removed {', '.join(stale)}, which this run did not write" if stale else ""
        log.info("%s: replaced the earlier run's %s%s", out, ", ".join(replaced) or "files", gone)
