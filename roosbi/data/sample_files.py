"""Training samples in ROOT files: :func:`write_sample` and :func:`read_sample`.

:func:`read_sample` gives back what :func:`write_sample` wrote, bit for bit: names, roles,
parameter ranges, the reference and the gold columns are stored beside the tree as JSON; gold
branches are ``joint_log_ratio`` and ``joint_score_<parameter>``. A file that write_sample did not
write is read with :func:`~roosbi.data.samples.sample_from_tree`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..library import import_root
from ..onnx import atomic_path
from .columns import _check_distinct, _dataset_listing, _datasets, _free_name, _open_file, _read_columns
from .sample import TrainingSample
from .samples import _make_sample

log = logging.getLogger(__name__)

__all__ = ["read_sample", "write_sample"]

#: Identifies the JSON record that :func:`write_sample` stores beside the tree.
SAMPLE_FORMAT = "roosbi.sample"
#: Version 2 adds the gold columns. A sample without them is written as version 1, which older
#: roosbi reads; one with them as version 2, which older roosbi refuses instead of dropping the gold.
SAMPLE_FORMAT_VERSION = 2
_META_SUFFIX = "_info"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def write_sample(sample: TrainingSample, path: str | os.PathLike, tree: str = "roosbi_sample") -> Path:
    """Write a training sample to a ROOT file, atomically.

    The file holds one TTree with a ``double`` branch per observable and per parameter, ``label``
    (``int``: 1 target, 0 reference) and ``weight`` (``double``), and a ``TNamed``
    ``<tree>_info`` whose title is a JSON record of the roles of the branches, the names in
    network input order, the parameter ranges and the reference. A sample with gold adds
    ``joint_log_ratio`` and ``joint_score_<parameter>`` branches (``double``). (If an observable
    or a parameter already has one of these names, or ``label`` or ``weight``, the branch is
    prefixed ``roosbi_``; the record says so.) The file is written to a temporary file in the
    same directory and renamed into place, so ``path`` holds either its old content or the whole
    new sample.

    Parameters
    ----------
    sample : TrainingSample
        The sample to write.
    path : str or path
        The ROOT file to write (replaced if it exists).
    tree : str
        Name of the TTree.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(sample, TrainingSample):
        raise InputError(f"write_sample takes a TrainingSample, not {type(sample).__name__}")
    names = sample.observables + sample.parameters
    _check_distinct(names)
    for name in [*names, tree]:
        if not _IDENTIFIER.match(str(name)):
            raise InputError(
                f"{name!r} cannot name a branch or tree in a file that RDataFrame reads back; "
                "use letters, digits and underscores, not starting with a digit"
            )
    label_branch = _free_name("label", names)
    weight_branch = _free_name("weight", names)
    taken = [*names, label_branch, weight_branch]
    ratio_branch = None if sample.joint_log_ratio is None else _free_name("joint_log_ratio", taken)
    score_branches = None
    if sample.joint_score is not None:
        score_branches = [_free_name(f"joint_score_{name}", [*taken, ratio_branch]) for name in sample.parameters]
    has_gold = ratio_branch is not None or score_branches is not None
    record = {
        "format": SAMPLE_FORMAT,
        "version": SAMPLE_FORMAT_VERSION if has_gold else 1,
        "observables": list(sample.observables),
        "parameters": list(sample.parameters),
        "parameter_ranges": {name: [float(lo), float(hi)] for name, (lo, hi) in sample.parameter_ranges.items()},
        "label": label_branch,
        "weight": weight_branch,
        "n_events": len(sample),
        "reference": sample.reference,
        "reference_uniform": bool(sample.reference_uniform),
        "joint_log_ratio": ratio_branch,
        "joint_score": score_branches,
    }
    columns = {name: np.ascontiguousarray(sample.x[:, i]) for i, name in enumerate(sample.observables)}
    columns.update({name: np.ascontiguousarray(sample.theta[:, i]) for i, name in enumerate(sample.parameters)})
    columns[label_branch] = sample.y.astype(np.int32)
    columns[weight_branch] = np.ascontiguousarray(sample.weights, dtype=np.float64)
    if ratio_branch is not None:
        columns[ratio_branch] = np.ascontiguousarray(sample.joint_log_ratio, dtype=np.float64)
    if score_branches is not None:
        for i, branch in enumerate(score_branches):
            columns[branch] = np.ascontiguousarray(sample.joint_score[:, i], dtype=np.float64)

    ROOT = import_root()
    path = Path(path)
    with atomic_path(path, suffix=".tmp.root") as tmp:
        options = ROOT.RDF.RSnapshotOptions()
        options.fMode = "RECREATE"
        frame = ROOT.RDF.FromNumpy(columns)
        frame.Snapshot(tree, tmp, list(columns), options)
        del frame
        out = ROOT.TFile.Open(tmp, "UPDATE")
        if not out or out.IsZombie():
            raise InputError(f"cannot reopen the temporary file {tmp!r} to write the sample's record")
        out.WriteTObject(ROOT.TNamed(tree + _META_SUFFIX, json.dumps(record)))
        out.Close()
    log.info("wrote %d events to %s (tree '%s')", len(sample), path, tree)
    return path


def read_sample(path: str | os.PathLike, tree: str = "roosbi_sample") -> TrainingSample:
    """Read a training sample written by :func:`write_sample`; the round trip is exact.

    Parameters
    ----------
    path : str or path
        The ROOT file.
    tree : str
        Name of the TTree given to :func:`write_sample`.

    Returns
    -------
    TrainingSample
        With the names, the column order, the parameter ranges, the reference and the gold
        columns that were written.
    """
    path = os.fspath(path)
    handle = _open_file(path)
    try:
        stored = handle.Get(tree + _META_SUFFIX)
        if not stored:
            found = _datasets(handle)
            raise InputError(
                f"{path!r} holds no roosbi sample '{tree}' (no '{tree}{_META_SUFFIX}' record); it has "
                f"{_dataset_listing(found)}. A file that write_sample did not write is read with "
                "sample_from_tree(path, observables, parameters, label, ...)"
            )
        text = str(stored.GetTitle())
    finally:
        handle.Close()
    try:
        record = json.loads(text)
        if record.get("format") != SAMPLE_FORMAT:
            raise ValueError(f"format is {record.get('format')!r}, not {SAMPLE_FORMAT!r}")
        if int(record["version"]) > SAMPLE_FORMAT_VERSION:
            raise ValueError(f"format version {record['version']} is newer than this roosbi reads")
        observables, parameters = list(record["observables"]), list(record["parameters"])
        label, weight = str(record["label"]), str(record["weight"])
        ranges = {name: (float(lo), float(hi)) for name, (lo, hi) in record["parameter_ranges"].items()}
        n_events = int(record["n_events"])
        # Keys a version 1 record may lack.
        reference = str(record.get("reference", "sample"))
        reference_uniform = bool(record.get("reference_uniform", False))
        ratio = record.get("joint_log_ratio")
        ratio = None if ratio is None else str(ratio)
        score = record.get("joint_score")
        score = None if score is None else [str(name) for name in score]
        if score is not None and len(score) != len(parameters):
            raise ValueError(f"{len(score)} joint score branches for {len(parameters)} parameters")
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"the sample record '{tree}{_META_SUFFIX}' in {path!r} is damaged: {err}") from None
    gold_branches = ([ratio] if ratio else []) + (score or [])
    columns, where = _read_columns(path, observables + parameters + [label, weight] + gold_branches, tree, None)
    if len(columns[label]) != n_events:
        raise InputError(f"{where.strip()} holds {len(columns[label])} events but its record says {n_events}")
    return _make_sample(
        columns,
        observables,
        parameters,
        label,
        weight,
        ranges,
        where,
        gold=(ratio, score),
        reference=reference,
        reference_uniform=reference_uniform,
    )
