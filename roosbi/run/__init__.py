"""``roosbi run``: the demo's pipeline and report on a user's own RooFit workspace.

:mod:`~roosbi.run.problem` reads the workspace into a checked
:class:`~roosbi.data.problems.Problem` (:func:`problem_from_workspace`); :mod:`~roosbi.run.study`
reads a study (options, a dict or a TOML file) and runs the pipeline on it (:func:`run_study`).
docs/run.md describes both.
"""

from .problem import WorkspaceProblem, parse_reference, problem_from_workspace
from .study import STUDY_KEYS, load_study, run_problem, run_study

__all__ = [
    "STUDY_KEYS",
    "WorkspaceProblem",
    "load_study",
    "parse_reference",
    "problem_from_workspace",
    "run_problem",
    "run_study",
]
