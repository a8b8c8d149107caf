"""``roosbi run``: the demo's pipeline and report on a user's own RooFit workspace, or on sample files.

:mod:`~roosbi.run.problem` reads the workspace into a checked
:class:`~roosbi.data.problems.Problem` (:func:`problem_from_workspace`); :mod:`~roosbi.run.study`
reads a study (options, a dict or a TOML file) and runs the pipeline on it (:func:`run_study`);
:mod:`~roosbi.run.samples` runs a mixture (a signal strength) on files of simulated signal and
background events, with no pdf (:func:`mixture_from_samples`, :func:`run_samples`);
:mod:`~roosbi.run.parameterized` a learned r(x|theta) on files of events simulated at many
parameter points (:func:`parameterized_from_samples`, :func:`run_parameterized`).
:mod:`~roosbi.run.refit` fits a trained model again on other data or in another workspace
(:func:`refit`, ``roosbi fit``). docs/run.md describes them.
"""

from .mixture_events import MixtureSamples, mixture_from_samples
from .parameterized import ParameterizedSamples, parameterized_from_samples
from .parameterized_run import run_parameterized
from .problem import WorkspaceProblem, parse_reference, problem_from_workspace
from .refit import refit
from .samples import run_samples
from .sources import parse_source
from .study import (
    PARAMETERIZED_KEYS,
    SAMPLE_KEYS,
    STUDY_KEYS,
    WORKSPACE_KEYS,
    load_study,
    run_problem,
    run_study,
    study_kind,
)

__all__ = [
    "PARAMETERIZED_KEYS",
    "SAMPLE_KEYS",
    "STUDY_KEYS",
    "WORKSPACE_KEYS",
    "MixtureSamples",
    "ParameterizedSamples",
    "WorkspaceProblem",
    "load_study",
    "mixture_from_samples",
    "parameterized_from_samples",
    "parse_reference",
    "parse_source",
    "problem_from_workspace",
    "refit",
    "run_parameterized",
    "run_problem",
    "run_samples",
    "run_study",
    "study_kind",
]
