"""roosbi: simulation-based inference in RooFit.

Learn the likelihood ratio r(x|theta) = p(x|theta) / p_ref(x) with a parameterized classifier,
and use it as a native, persistable ``RooAbsReal`` (``RooLearnedRatio``) in a ``RooWorkspace``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roosbi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
