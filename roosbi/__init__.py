"""roosbi: simulation-based inference in RooFit.

Learn the likelihood ratio r(x|theta) = p(x|theta) / p_ref(x) with a parameterized classifier,
and use it as a native, persistable ``RooAbsReal`` (``RooLearnedRatio``) in a ``RooWorkspace``.

Importing roosbi loads its C++ library into ROOT (building it the first time, about a minute):
a workspace that holds a ``RooLearnedRatio`` read by a process that does not know the class
would be read as an "emulated" object and crash ROOT. torch is imported only when first needed.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roosbi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .data.observed import observed_data_from_arrays, observed_data_from_tree  # noqa: E402
from .data.problems import Problem  # noqa: E402
from .data.sample import ScoreSample, TrainingSample  # noqa: E402
from .data.sample_files import read_sample, write_sample  # noqa: E402
from .data.samples import (  # noqa: E402
    balance_classes,
    sample_from_arrays,
    sample_from_dataframe,
    sample_from_tree,
    sample_from_trees,
)
from .data.simulate import simulate, simulate_local  # noqa: E402
from .data.terms import TermSample, sample_from_terms  # noqa: E402
from .estimators import SallyEstimator, SklearnRatioEstimator, TorchRatioEstimator  # noqa: E402
from .exceptions import InputError, RoosbiError, UnsupportedModelError  # noqa: E402
from .inference import create_nll, fit_nll, grid_start  # noqa: E402
from .library import load_library  # noqa: E402
from .mixture import mixture_pdf, simulate_components, template_pdf  # noqa: E402
from .morphing import morphed_pdf, score_morphed_pdf  # noqa: E402
from .onnx import annotate_model  # noqa: E402
from .roofit import (  # noqa: E402
    evaluate_log_ratio,
    export_json,
    export_onnx,
    learned_pdf,
    learned_ratio,
    ratio_from_network,
)
from .term_morph import expected_events, histograms_from, polynomial_morph, term_histograms  # noqa: E402
from .workspace import mark_fits, open_workspace  # noqa: E402

# isort: split
# After the module roosbi.mixture is imported above: the name roosbi.mixture is the rf618 problem.
from .data.builtin import gauss1d, gauss2d, gauss_nd, mixture, resonance, smeared  # noqa: E402
from .data.eft import eft, eft_terms  # noqa: E402


def _load_library_on_import() -> None:
    """Load libRooSBI now, so that ROOT knows RooLearnedRatio before any file is read."""
    from .exceptions import LibraryBuildError
    from .interrupts import deferred_interrupts

    try:
        with deferred_interrupts():  # Ctrl-C inside ROOT's C++ can crash cppyy: see roosbi.interrupts
            load_library()
    except LibraryBuildError as err:  # roosbi's training half still works without a compiler
        logging.getLogger(__name__).warning(
            "the roosbi C++ library is not available (%s); RooLearnedRatio cannot be built or read until it is", err
        )


_load_library_on_import()

__all__ = [
    "__version__",
    "InputError",
    "Problem",
    "RoosbiError",
    "SallyEstimator",
    "ScoreSample",
    "SklearnRatioEstimator",
    "TermSample",
    "TorchRatioEstimator",
    "TrainingSample",
    "UnsupportedModelError",
    "annotate_model",
    "balance_classes",
    "create_nll",
    "eft",
    "eft_terms",
    "evaluate_log_ratio",
    "expected_events",
    "export_json",
    "export_onnx",
    "fit_nll",
    "gauss1d",
    "gauss2d",
    "gauss_nd",
    "grid_start",
    "histograms_from",
    "learned_pdf",
    "learned_ratio",
    "load_library",
    "mark_fits",
    "mixture",
    "mixture_pdf",
    "morphed_pdf",
    "observed_data_from_arrays",
    "observed_data_from_tree",
    "open_workspace",
    "polynomial_morph",
    "ratio_from_network",
    "read_sample",
    "resonance",
    "sample_from_arrays",
    "sample_from_dataframe",
    "sample_from_terms",
    "sample_from_tree",
    "sample_from_trees",
    "score_morphed_pdf",
    "simulate",
    "simulate_components",
    "simulate_local",
    "smeared",
    "template_pdf",
    "term_histograms",
    "write_sample",
]
