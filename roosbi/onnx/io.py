"""ONNX files: roosbi metadata, loading with clear errors, and atomic writes.

roosbi records what it knows about a model (input names, observables, parameters and their
training ranges, what the output holds, estimator, roosbi version) as JSON values under
``roosbi.*`` keys of ``model.metadata_props``: :func:`set_metadata`, :func:`read_metadata`.
:func:`load_model` accepts a ModelProto, serialised bytes or a path and names an empty or broken
file. Files are written through a temporary file and a rename (:func:`atomic_path`,
:func:`write_atomic`, :func:`save_model`), so a reader never sees half a file; the other
modules of roosbi write their files the same way.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx

from ..exceptions import InputError

METADATA_PREFIX = "roosbi."


def set_metadata(model: onnx.ModelProto, metadata: dict) -> None:
    """Record roosbi metadata (JSON-encoded values) in ``model.metadata_props``."""
    existing = {p.key: p for p in model.metadata_props}
    for key, value in metadata.items():
        full = METADATA_PREFIX + key
        text = value if isinstance(value, str) else json.dumps(value)
        if full in existing:
            existing[full].value = text
        else:
            model.metadata_props.add(key=full, value=text)


def read_metadata(model: onnx.ModelProto | str | os.PathLike | bytes) -> dict:
    """Return the roosbi metadata of a model (keys without the ``roosbi.`` prefix)."""
    model = load_model(model)
    out = {}
    for prop in model.metadata_props:
        if prop.key.startswith(METADATA_PREFIX):
            try:
                out[prop.key[len(METADATA_PREFIX) :]] = json.loads(prop.value)
            except json.JSONDecodeError:
                out[prop.key[len(METADATA_PREFIX) :]] = prop.value
    return out


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` if the block succeeds.

    A reader of ``path`` sees its old content or the whole new one, never a part. The file gets
    the permissions of any new file (``mkstemp`` makes it private); on an error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def save_model(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Check the model and write it atomically."""
    onnx.checker.check_model(model)
    return write_atomic(path, model.SerializeToString())


def load_model(model: onnx.ModelProto | str | os.PathLike | bytes) -> onnx.ModelProto:
    """Accept a ModelProto, serialised bytes or a file path.

    A missing file, an empty file or empty bytes, bytes that are not ONNX, and a model without a
    graph are each an :class:`~roosbi.exceptions.InputError` that says which.
    """
    if isinstance(model, onnx.ModelProto):
        proto, source = model, "the given ModelProto"
    else:
        if isinstance(model, bytes):
            if not model:
                raise InputError("the given bytes are empty (0 bytes), not an ONNX model")
            source, load = "the given bytes", lambda: onnx.load_from_string(model)
        else:
            path = Path(model)
            if not path.is_file():
                raise InputError(f"ONNX file '{path}' does not exist")
            if path.stat().st_size == 0:
                # onnx.load reads 0 bytes as an empty model, which would surface later as a model
                # "without input names"; an empty file is usually a write that did not finish.
                raise InputError(f"ONNX file '{path}' is empty (0 bytes); was it written completely?")
            source, load = f"'{path}'", lambda: onnx.load(str(path))
        try:
            proto = load()
        except Exception as err:  # protobuf raises its own DecodeError, which is not worth importing
            raise InputError(f"{source} is not an ONNX model: {err}") from err
    if not proto.HasField("graph"):
        raise InputError(f"{source} parses as ONNX but holds no graph, so it is not a model roosbi can evaluate")
    return proto
