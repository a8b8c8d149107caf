"""The demo's checks of each learned ratio that need no analytic pdf: E_ref[r(x|theta)] = 1 per parameter point."""

from __future__ import annotations

import itertools
import logging

import numpy as np

from ..data.problems import Problem
from ..data.simulate import generate_reference, generate_target, sample_prior
from ..exceptions import RoosbiError
from ..stats.calibration import normalization_checks
from .methods import Learned

log = logging.getLogger(__name__)

#: Fresh reference events per check, and points per parameter (a grid over several parameters).
CHECK_EVENTS = 20_000
CHECK_POINTS_PER_PARAMETER = 5


def check_points(prob: Problem, per_parameter: int = CHECK_POINTS_PER_PARAMETER) -> list[dict[str, float]]:
    """A grid of parameter points inside the training ranges (the ends left out: a quarter step in)."""
    axes = []
    for name in prob.parameters:
        var = prob.var(name)
        lo, hi = var.getMin(), var.getMax()
        step = (hi - lo) / per_parameter
        axes.append(lo + step * (np.arange(per_parameter) + 0.5))
    points = itertools.product(*(np.round(axis, 12) for axis in axes))  # 1.2, not 1.2000000000000002
    return [dict(zip(prob.parameters, map(float, values), strict=True)) for values in points]


def normalization_report(prob: Problem, learned: list[Learned], seed: int) -> dict[str, list[dict]]:
    """E_ref[r] with its error at :func:`check_points`, over fresh reference events, per ratio method.

    Fresh events: drawn from the problem's reference pdf with their own seed, so the network never
    saw them. A reference that RooFit cannot generate from is logged and left out.
    """
    ratios = {item.key: item.ratio for item in learned if item.ratio is not None}
    if not ratios:
        return {}
    try:
        x_reference = generate_reference(prob, CHECK_EVENTS, seed)
    except (RoosbiError, RuntimeError, TypeError) as err:  # a reference that cannot generate
        log.warning("normalisation check skipped: no reference events from '%s' (%s)", prob.reference_pdf, err)
        return {}
    points = check_points(prob)
    return {key: normalization_checks(ratio, x_reference, points) for key, ratio in ratios.items()}


def check_seed(seed: int) -> int:
    """The seed of the check's reference events: a stream of its own, apart from :func:`stage_seeds`'."""
    return int(np.random.SeedSequence([seed, 5]).generate_state(1)[0])


def normalization_notes(checks: dict[str, list[dict]]) -> list[str]:
    """One report line per method: the range of E_ref[r] over the points and the largest pull."""
    notes = []
    for key, rows in checks.items():
        worst = max(rows, key=lambda row: abs(row["pull"]))
        lo, hi = min(row["mean"] for row in rows), max(row["mean"] for row in rows)
        point = ", ".join(f"{k} = {v:g}" for k, v in worst["point"].items())
        notes.append(
            f"Normalisation check ({key}): E_ref[r(x|theta)] over {rows[0]['n_events']} fresh reference events at "
            f"{len(rows)} parameter points is {lo:.4f} to {hi:.4f} (1 for the exact ratio); largest pull "
            f"{worst['pull']:+.1f} sigma at {point}. results.json: normalization_check."
        )
    return notes


def marginal_normalization_report(prob: Problem, learned, seed: int) -> dict[str, list[dict]]:
    """E_p(x)[r(x|theta)] at the check points over fresh events of the marginal (x simulated at prior draws)."""
    ratios = {item.key: item.ratio for item in learned if item.ratio is not None}
    if not ratios:
        return {}
    rng = np.random.default_rng(seed)
    x_marginal = generate_target(prob, sample_prior(prob, CHECK_EVENTS, rng), int(rng.integers(1, 2**31 - 1)))
    points = check_points(prob)
    return {key: normalization_checks(ratio, x_marginal, points) for key, ratio in ratios.items()}
