"""Build and load the C++ library that holds ``RooLearnedRatio``.

The PyPI build of ROOT has no usable ``root-config`` and ACLiC libraries built from Python link
``libcppyy`` (which a plain ``root -b -q`` macro cannot load), so the library is built with
``rootcling`` and the system C++ compiler into a cache directory keyed by the source, the ROOT
version, the compiler flags and the CPU (it is compiled for the host CPU). Building happens in a
temporary directory that is renamed into place, so concurrent builds never see half a library.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import signal
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from .exceptions import LibraryBuildError
from .interrupts import interruptible

log = logging.getLogger(__name__)

LIBRARY_NAME = "libRooSBI.so"
_SOURCE_DIR = Path(__file__).parent / "cpp"
_SOURCES = ("RooLearnedRatio.h", "RooLearnedRatio.cxx", "LinkDef.h")
# -march=native: the library is always built on the machine that runs it (the CPU is in the key).
_CXXFLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-std=c++17", "-pthread", "-Wall")
# -inlineInputHeader embeds the header in the dictionary: no include path is needed to load it.
_ROOTCLING_FLAGS = ("-inlineInputHeader", "-rmf", "libRooSBI.rootmap", "-rml", LIBRARY_NAME)
#: The files of a build that go together: the library, its rootmap and its dictionary's .pcm.
LIBRARY_FILES = (LIBRARY_NAME, "libRooSBI.rootmap", "G__RooSBI_rdict.pcm")


def import_root():
    """Import ROOT quietly (the PyPI wheel warns that it is an alpha at every import)."""
    import warnings

    with warnings.catch_warnings():
        # The message starts with a newline, which ".*" does not match.
        warnings.filterwarnings("ignore", message=r"\s*This distribution of ROOT is in alpha")
        import ROOT

    return ROOT


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") or line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_dir() -> Path:
    """Directory that holds built libraries: ``$ROOSBI_CACHE_DIR``, else ``~/.cache/roosbi``."""
    if "ROOSBI_CACHE_DIR" in os.environ:
        return Path(os.environ["ROOSBI_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "roosbi"


def _build_key(root_version: str, compiler: str) -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_SOURCE_DIR / name).read_bytes())
    for part in (root_version, compiler, " ".join(_CXXFLAGS + _ROOTCLING_FLAGS), _cpu_model()):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def library_path() -> Path:
    """Path of the library for this source, ROOT version and machine (built or not)."""
    ROOT = import_root()
    compiler = os.environ.get("CXX", "c++")
    key = _build_key(str(ROOT.gROOT.GetVersion()), compiler)
    return cache_dir() / f"RooSBI-{key}" / LIBRARY_NAME


def _run(cmd: list[str], cwd: Path) -> None:
    log.debug("running %s", " ".join(cmd))
    with interruptible():  # subprocess.run stops the compiler on Ctrl-C
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode == -signal.SIGINT:  # Ctrl-C in a terminal reaches the compiler first
        raise KeyboardInterrupt
    if proc.returncode != 0:
        raise LibraryBuildError(
            f"building the roosbi C++ library failed at:\n  {' '.join(cmd)}\n"
            f"{proc.stdout}{proc.stderr}\n"
            "Check that a C++17 compiler is installed (set CXX to choose one)."
        )


def build_library(force: bool = False) -> Path:
    """Build ``libRooSBI.so`` into the cache unless it is there already.

    Parameters
    ----------
    force : bool
        Rebuild even if a library for this source and ROOT version exists.

    Returns
    -------
    pathlib.Path
        The library. Its directory also holds the rootmap and the dictionary ``.pcm``,
        which ROOT needs beside it.
    """
    ROOT = import_root()
    target = library_path()
    if target.exists() and not force:
        return target
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise LibraryBuildError(f"no C++ compiler '{compiler}' found; install g++ or clang++, or set CXX")
    bindir = Path(str(ROOT.gROOT.GetBinDir()))
    incdir = str(ROOT.gROOT.GetIncludeDir())
    libdir = str(ROOT.gROOT.GetLibDir())

    target.parent.parent.mkdir(parents=True, exist_ok=True)
    log.info("building %s (once per roosbi and ROOT version)", target)
    with tempfile.TemporaryDirectory(dir=target.parent.parent) as tmp:
        work = Path(tmp) / "build"
        work.mkdir()
        for name in _SOURCES:
            shutil.copy2(_SOURCE_DIR / name, work / name)
        _run(
            [str(bindir / "rootcling"), "-f", "G__RooSBI.cxx", *_ROOTCLING_FLAGS, "RooLearnedRatio.h", "LinkDef.h"],
            work,
        )
        _run(
            [compiler, *_CXXFLAGS, f"-I{incdir}", "-I.", "RooLearnedRatio.cxx", "G__RooSBI.cxx"]
            + [f"-L{libdir}", "-lCore", "-lRIO", "-lRooFitCore", "-lRooFit"]
            + [f"-Wl,-rpath,{libdir}", "-o", LIBRARY_NAME],
            work,
        )
        for name in ("G__RooSBI.cxx", "RooLearnedRatio.cxx"):
            (work / name).unlink()
        try:
            work.rename(target.parent)
        except OSError:
            # Another process finished the same build first; its library is identical.
            if not target.exists():
                raise
    return target


@cache
def load_library() -> Path:
    """Build (if needed) and load the roosbi library into this ROOT session.

    Returns
    -------
    pathlib.Path
        The loaded library; give it to C++ macros with ``gSystem->Load``.
    """
    ROOT = import_root()
    path = build_library()
    if ROOT.gSystem.Load(str(path)) < 0:
        raise LibraryBuildError(f"ROOT could not load {path}; delete {path.parent} to force a rebuild")
    return path
