"""Statistical validation of the NLLs in a workspace: toy studies, locally or on Dask (``roosbi validate``)."""

from .validate import VALIDATION_FILES, nll_results, run_validation, summarize

__all__ = ["VALIDATION_FILES", "nll_results", "run_validation", "summarize"]
