"""Import roosbi's torch-side modules where ROOT is absent (the lent GPU machine has torch, not ROOT).

``roosbi/__init__`` loads libRooSBI and ``roosbi/diffana/__init__`` the RooFit export, so where ``import ROOT``
fails both packages are replaced by bare modules that only know their folder: their torch-only submodules
(``roosbi.estimators.torch_mlp``, ``roosbi.diffana.train``, ...) then import as usual. Where ROOT is, nothing changes.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "roosbi"


def without_root() -> bool:
    """Stub ``roosbi`` and ``roosbi.diffana`` if ROOT cannot be imported; True if it could not."""
    try:
        import ROOT  # noqa: F401
    except ImportError:
        for name, folder in (("roosbi", PACKAGE), ("roosbi.diffana", PACKAGE / "diffana")):
            module = types.ModuleType(name)
            module.__path__ = [str(folder)]
            module.__version__ = "benchmark"
            sys.modules[name] = module
        return True
    return False
