"""Can the learned likelihood be trusted: toys, coverage, hypothesis tests (Dask), calibration.

Toy studies and coverage (``roosbi validate``) and hypothesis tests with RooStats (``roosbi
hypotest``) run locally or on Dask; the calibration of a learned ratio uses held-out events.

:mod:`~roosbi.stats.toys` generates and fits toys, :mod:`~roosbi.stats.validate` drives a study
and :mod:`~roosbi.stats.validation_report` writes its report; :mod:`~roosbi.stats.hypotest` and
:mod:`~roosbi.stats.hypotest_report` the same for discovery significance and CLs limits;
:mod:`~roosbi.stats.cluster` holds the Dask client and the worker probe they share;
:mod:`~roosbi.stats.calibration` the normalisation check, reliability curves and calibration.
"""

from .calibration import CALIBRATION_METHODS, RatioCalibration, fit_calibration, normalization_check, reliability_curve
from .hypotest import HYPOTEST_FILES, run_hypotests
from .validate import VALIDATION_FILES, nll_results, run_validation, summarize

__all__ = [
    "CALIBRATION_METHODS",
    "HYPOTEST_FILES",
    "VALIDATION_FILES",
    "RatioCalibration",
    "fit_calibration",
    "nll_results",
    "normalization_check",
    "reliability_curve",
    "run_hypotests",
    "run_validation",
    "summarize",
]
