"""How many training events are enough: grow the sample until the learned likelihood's own uncertainty is small.

The learned NLL has two uncertainties: the statistical one of the observed data (its HESSE
error) and the training-statistics one of a finite training sample (the spread of the fitted
values over bootstrap members, :class:`~roosbi.estimators.TorchRatioEstimator` with
``bootstrap=True``). The second falls as 1/sqrt(n_train); :func:`auto_budget` doubles n_train
until it is below ``target`` times the first for every parameter of every learned fit, and
records each step. :func:`run_budget` is what ``roosbi demo --budget auto``, ``roosbi run
--budget auto`` and a study file's ``budget = "auto"`` run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from ..exceptions import InputError

log = logging.getLogger(__name__)

#: Default: the training error at most this fraction of the statistical error.
BUDGET_TARGET = 0.1
#: Default largest n_train tried.
BUDGET_MAX = 1_600_000
#: Default first n_train of the search.
BUDGET_START = 5000


def training_ratio(results: dict) -> tuple[float, dict[str, dict[str, float]]]:
    """The largest training error / statistical error over the learned fits and parameters, and each.

    Raises
    ------
    InputError
        If no fit carries a training error (the run was not a bootstrap run).
    """
    ratios = {}
    for key, fit in results["fits"].items():
        for par, values in fit["params"].items():
            if "training_error" in values:
                error = values["error"]
                ratio = values["training_error"] / error if error > 0 else math.inf
                ratios.setdefault(key, {})[par] = ratio
    if not ratios:
        raise InputError("no fit has a training error: the budget search needs bootstrap runs")
    return max(r for per_fit in ratios.values() for r in per_fit.values()), ratios


def auto_budget(
    run: Callable[[int], dict],
    n_start: int,
    target: float = BUDGET_TARGET,
    n_max: int = BUDGET_MAX,
) -> tuple[dict, dict]:
    """Double the training budget from ``n_start`` until the training error is small enough.

    Parameters
    ----------
    run : callable
        ``run(n_train)`` runs the pipeline with that many training events (per class) and
        ``bootstrap=True`` and returns its results.json content.
    n_start : int
        The first budget.
    target : float
        Stop at the first budget where every learned parameter has training error <= ``target``
        x statistical error.
    n_max : int
        The largest budget tried; if it does not reach the target, the search stops there and
        says so (``"reached": false``).

    Returns
    -------
    results : dict
        The last run's results.
    budget : dict
        ``{"target", "n_train" (the chosen budget, or None), "reached", "steps": [{"n_train",
        "ratio", "ratios", "wall_s"}, ...]}``.

    Examples
    --------
    A stand-in for the pipeline whose training error falls as 1/sqrt(n):

    >>> def run(n):
    ...     return {"fits": {"learned": {"params": {"mu": {"error": 0.05, "training_error": 0.5 / n**0.5}}}},
    ...             "timings": {"total_s": 1.0}}
    >>> _, budget = auto_budget(run, n_start=1000, target=0.1)
    >>> budget["n_train"], [step["n_train"] for step in budget["steps"]]
    (16000, [1000, 2000, 4000, 8000, 16000])
    """
    if not (math.isfinite(target) and target > 0):
        raise InputError(f"the budget target must be a positive fraction of the statistical error, not {target}")
    if n_start < 1 or n_max < n_start:
        raise InputError(f"the budget search needs 1 <= n_start <= n_max, not {n_start} and {n_max}")
    steps, n = [], n_start
    while True:
        results = run(n)
        worst, ratios = training_ratio(results)
        steps.append({"n_train": n, "ratio": worst, "ratios": ratios, "wall_s": results["timings"]["total_s"]})
        log.info("budget %d: training error / statistical error = %.3f (target %.3g)", n, worst, target)
        if worst <= target or 2 * n > n_max:
            break
        n *= 2
    reached = worst <= target
    if not reached:
        log.warning(
            "the training error is still %.2f of the statistical error at %d events (target %.3g); raise the "
            "largest budget to go on",
            worst,
            n,
            target,
        )
    return results, {"target": target, "n_train": n if reached else None, "reached": reached, "steps": steps}


def run_budget(
    run: Callable[[int], dict],
    out,
    n_start: int | None = None,
    target: float | None = None,
    n_max: int | None = None,
) -> dict:
    """The budget search (:func:`auto_budget`), recorded in ``out``'s results.json and report.md.

    Parameters
    ----------
    run : callable
        ``run(n_train)``: a bootstrap run of the pipeline into ``out``, returning its results.
    out : path
        The output directory the runs write (the last run is left there).
    n_start, target, n_max : optional
        The first budget (default :data:`BUDGET_START`), the target (:data:`BUDGET_TARGET`) and
        the largest budget (:data:`BUDGET_MAX`).

    Returns
    -------
    dict
        The last run's results with the search under ``"budget"`` (as written to results.json).
    """
    target = BUDGET_TARGET if target is None else target
    n_max = BUDGET_MAX if n_max is None else n_max
    results, budget = auto_budget(run, BUDGET_START if n_start is None else n_start, target, n_max)
    record_budget(out, budget)
    results["budget"] = budget
    log.info("%s", budget_line(budget))
    return results


def budget_line(budget: dict) -> str:
    """One line for the command's output: the chosen budget, or that none reached the target."""
    chosen = budget["n_train"] if budget["reached"] else f"not reached up to {budget['steps'][-1]['n_train']}"
    return f"budget: n_train {chosen} (training error <= {budget['target']:g} x statistical error)"


def record_budget(out, budget: dict) -> None:
    """Add the search to ``out``'s results.json (key ``"budget"``) and report.md, each rewritten atomically."""
    import json
    from pathlib import Path

    from ..onnx import write_atomic
    from ..report import write_json

    out = Path(out)
    results = json.loads((out / "results.json").read_text())
    results["budget"] = budget
    write_json(results, out / "results.json")
    lines = [
        "",
        "## Training budget",
        "",
        f"Doubled n_train until the training error (bootstrap spread) was at most {budget['target']:g} x the "
        "statistical error of every learned parameter: "
        + (f"chosen n_train = {budget['n_train']}." if budget["reached"] else "**not reached** at the largest budget."),
        "",
        "| n_train | training error / statistical error | wall time [s] |",
        "|---|---|---|",
        *(f"| {s['n_train']} | {s['ratio']:.3f} | {s['wall_s']:.1f} |" for s in budget["steps"]),
        "",
    ]
    report = (out / "report.md").read_text()
    write_atomic(out / "report.md", (report.rstrip("\n") + "\n" + "\n".join(lines)).encode())
