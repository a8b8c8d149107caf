"""The whole pipeline on a built-in problem: simulate, train, export, wrap, fit, report (``roosbi demo``).

:mod:`~roosbi.demo.run` drives it (stages, fits, files) after :mod:`~roosbi.demo.settings` has
checked its settings, :mod:`~roosbi.demo.methods` trains each method, :mod:`~roosbi.demo.pdfs`
builds the learned pdfs and the baselines, :mod:`~roosbi.demo.diagnostics` checks each learned
ratio's normalisation, and :mod:`~roosbi.demo.terms` holds the stages of a problem given as a
generator's term sample.
"""

from .run import run_demo, stage_seeds
from .settings import (
    DEMO_DEFAULTS,
    DEMO_METHODS,
    MIN_N_TRAIN,
    MIN_TEMPLATE_EVENTS,
    check_demo_settings,
    check_methods,
)

__all__ = [
    "DEMO_DEFAULTS",
    "DEMO_METHODS",
    "MIN_N_TRAIN",
    "MIN_TEMPLATE_EVENTS",
    "check_demo_settings",
    "check_methods",
    "run_demo",
    "stage_seeds",
]
