"""roosbi: simulation-based inference in RooFit.

Learn the likelihood ratio r(x|theta) = p(x|theta) / p_ref(x) with a parameterized classifier,
and use it as a native, persistable ``RooAbsReal`` (``RooLearnedRatio``) in a ``RooWorkspace``.
ROOT and torch are imported only when first needed.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roosbi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .estimators import SklearnRatioEstimator, TorchRatioEstimator  # noqa: E402
from .exceptions import InputError, RoosbiError, UnsupportedModelError  # noqa: E402
from .inference import create_nll, fit_nll  # noqa: E402
from .library import load_library  # noqa: E402
from .mixture import mixture_pdf, simulate_components, template_pdf  # noqa: E402
from .morphing import morphed_pdf  # noqa: E402
from .problems import Problem, gauss1d, gauss2d, gauss_nd, mixture  # noqa: E402
from .roofit import (  # noqa: E402
    evaluate_log_ratio,
    export_json,
    export_onnx,
    learned_pdf,
    learned_ratio,
    ratio_from_network,
)
from .samples import (  # noqa: E402
    balance_classes,
    observed_data_from_arrays,
    observed_data_from_tree,
    read_sample,
    sample_from_arrays,
    sample_from_dataframe,
    sample_from_tree,
    sample_from_trees,
    write_sample,
)
from .simulate import TrainingSample, simulate  # noqa: E402

__all__ = [
    "InputError",
    "Problem",
    "RoosbiError",
    "SklearnRatioEstimator",
    "TorchRatioEstimator",
    "TrainingSample",
    "UnsupportedModelError",
    "__version__",
    "balance_classes",
    "create_nll",
    "evaluate_log_ratio",
    "export_json",
    "export_onnx",
    "fit_nll",
    "gauss1d",
    "gauss2d",
    "gauss_nd",
    "learned_pdf",
    "learned_ratio",
    "ratio_from_network",
    "load_library",
    "mixture",
    "mixture_pdf",
    "morphed_pdf",
    "observed_data_from_arrays",
    "observed_data_from_tree",
    "read_sample",
    "sample_from_arrays",
    "sample_from_dataframe",
    "sample_from_tree",
    "sample_from_trees",
    "simulate",
    "simulate_components",
    "template_pdf",
    "write_sample",
]
