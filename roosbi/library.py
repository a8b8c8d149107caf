"""Build and load the C++ library that holds ``RooLearnedRatio``.

The PyPI build of ROOT has no usable ``root-config`` and ACLiC libraries built from Python link
``libcppyy`` (which a plain ``root -b -q`` macro cannot load), so the library is built with
``rootcling`` and the system C++ compiler into a cache directory keyed by the source, the ROOT
version, the compiler flags and the CPU. Building happens in a temporary directory that is renamed
into place, so concurrent builds never see half a library.

The library is compiled with ``-march=native`` (the instruction set of the host CPU: AVX-512 where
it has it), unless the environment variable ``ROOSBI_MARCH`` names another target of the
compiler's ``-march`` option. A library for a cluster of mixed CPUs is built with
``ROOSBI_MARCH=x86-64-v3`` (AVX2 and FMA: every x86-64 CPU since Haswell and Zen), or
``x86-64-v4`` (AVX-512) where all of them have AVX-512. Every target with FMA (these two,
``native`` on such CPUs) gives the same numbers bit for bit; plain ``x86-64`` (SSE2, no FMA) differs
in the last digits. The value is part of the compiler flags and so of the cache key: builds for
different targets sit side by side in the cache, and one process loads the one its
``ROOSBI_MARCH`` names (one process can load only one ``libRooSBI.so``). The CPU model is part of
the key only for ``native``: a library for a named target, built once in a shared cache, serves
every node of a cluster, and loading it on a CPU that lacks the target's instructions is refused
with an error (x86-64-v2 to v4, read from /proc/cpuinfo) rather than a crash.
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
# -march=native by default: the library is built on the machine that runs it (the CPU is in the key).
_CXXFLAGS = ("-O3", "-fPIC", "-shared", "-std=c++17", "-pthread", "-Wall")
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


def march() -> str:
    """The ``-march`` target the library is built for: ``$ROOSBI_MARCH``, else ``native``."""
    value = os.environ.get("ROOSBI_MARCH", "").strip() or "native"
    if not all(c.isalnum() or c in "-_.," for c in value):
        raise LibraryBuildError(f"ROOSBI_MARCH={value!r} is not a -march target (e.g. native, x86-64-v3)")
    return value


def cxxflags() -> tuple[str, ...]:
    """The compiler flags of the build, ``-march`` included (see ``ROOSBI_MARCH``)."""
    return (*_CXXFLAGS[:1], f"-march={march()}", *_CXXFLAGS[1:])


# The CPU flags (as /proc/cpuinfo names them) that each x86-64 microarchitecture level needs.
_LEVEL_FLAGS = {
    "x86-64-v2": {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"},
    "x86-64-v3": {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"},
    "x86-64-v4": {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"},
}


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (None where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), None)


def _check_cpu_supports(target: str) -> None:
    """Refuse a library for an x86-64 level this CPU lacks (it would die of SIGILL on first use)."""
    flags = _cpu_flags() if target in _LEVEL_FLAGS else None
    if flags is None:
        return
    levels = list(_LEVEL_FLAGS)
    needed = set().union(*(_LEVEL_FLAGS[level] for level in levels[: levels.index(target) + 1]))
    if needed - flags:
        raise LibraryBuildError(
            f"ROOSBI_MARCH={target}, but this CPU lacks {', '.join(sorted(needed - flags))}; "
            "build for a lower level (x86-64-v3 needs AVX2 and FMA) or native"
        )


def _build_key(root_version: str, compiler: str) -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_SOURCE_DIR / name).read_bytes())
    # The CPU matters only to -march=native; a named target builds the same library on any CPU.
    cpu = _cpu_model() if march() == "native" else ""
    for part in (root_version, compiler, " ".join(cxxflags() + _ROOTCLING_FLAGS), cpu):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def library_path() -> Path:
    """Path of the library for this source, ROOT version, ``-march`` target and machine (built or not)."""
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
            [compiler, *cxxflags(), f"-I{incdir}", "-I.", "RooLearnedRatio.cxx", "G__RooSBI.cxx"]
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
    _check_cpu_supports(march())
    path = build_library()
    if ROOT.gSystem.Load(str(path)) < 0:
        raise LibraryBuildError(f"ROOT could not load {path}; delete {path.parent} to force a rebuild")
    return path
