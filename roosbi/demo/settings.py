"""The demo's settings: defaults per problem, and the checks :func:`~roosbi.demo.run.run_demo` runs before any work."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..estimators.losses import METHODS
from ..exceptions import InputError
from ..morphing import SETTINGS
from ..stats.calibration import CALIBRATION_METHODS
from . import terms as term_stages

#: What ``--method`` may name: the ratio methods of roosbi.estimators.losses, and SALLY.
DEMO_METHODS = (*METHODS, "sally")


#: Each built-in problem's training budget, as in the ROOT tutorial it follows: the morphing
#: baseline gets n_templates points per parameter of n_train / n_templates events each; the
#: mixture's template baseline fills n_bins score bins from the training sample itself.
DEMO_DEFAULTS = {
    "gauss1d": {"n_train": 50_000, "n_templates": 5},  # rf615
    "gauss2d": {"n_train": 40_000, "n_templates": 4},  # rf617: a 4 x 4 grid of 10 000 events
    "mixture": {"n_train": 50_000, "n_bins": 30},  # rf618: signal vs background, no parameter input
    "smeared": {"n_train": 50_000, "n_templates": 5},  # rf615's budget, with detector smearing
    "resonance": {"n_train": 50_000, "n_templates": 5},  # two parameters: a 5 x 5 grid of 2000 events
    "eft": {"n_train": 50_000, "n_bins": 36},  # term morph (and SALLY's term templates) over 36 bins
    # rf618 with nuisances: per component, n_train events against the reference and n_templates
    # morphing templates per nuisance parameter of n_train / n_templates events each.
    "syst": {"n_train": 50_000, "n_templates": 5},
}

#: The training budget of a problem read from a user's workspace (``roosbi run``): gauss1d's, with
#: ``n_templates`` morphing templates per parameter (``--morph-grid``).
STUDY_DEFAULTS = {"n_train": 50_000, "n_templates": 5}


#: Fewest training events (per class) run_demo accepts: fewer leave the held-out validation
#: events and the score templates nearly empty.
MIN_N_TRAIN = 100
#: Share of the mixture's training events held out from the network for the calibration of r.
CALIBRATION_SHARE = 0.2
#: Fewest events per morphing template (n_train // n_templates).
MIN_TEMPLATE_EVENTS = 10


def check_demo_settings(
    problem: str = "gauss1d",
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    n_templates: int | None = None,
    n_bins: int | None = None,
    morph_setting: str = "Linear",
    methods: Sequence[str] = ("carl",),
    bootstrap: bool = False,
    calibration: str | None = None,
) -> None:
    """Check :func:`run_demo`'s settings before any work (ROOT is not needed; torch is, for its device).

    Raises
    ------
    InputError
        Naming the first bad setting and what it may be.
    """
    from ..data.builtin import PROBLEMS

    if problem not in PROBLEMS:
        raise InputError(f"unknown problem '{problem}'; choose one of: {', '.join(PROBLEMS)}")
    defaults = DEMO_DEFAULTS.get(problem, DEMO_DEFAULTS["gauss1d"])
    _check_run_settings(
        problem,
        defaults,
        seed,
        estimator,
        device,
        n_train,
        n_templates,
        n_bins,
        morph_setting,
        methods,
        bootstrap,
        calibration,
    )


def check_study_settings(
    seed: int = 1,
    estimator: str = "torch",
    device: str = "auto",
    n_train: int | None = None,
    n_templates: int | None = None,
    morph_setting: str = "Linear",
    methods: Sequence[str] = ("carl",),
    bootstrap: bool = False,
) -> None:
    """:func:`check_demo_settings` for a problem read from a user's workspace (``roosbi run``).

    Its defaults are :data:`STUDY_DEFAULTS`; ``n_templates`` is the morphing grid per parameter.

    Raises
    ------
    InputError
        Naming the first bad setting and what it may be.
    """
    _check_run_settings(
        "", STUDY_DEFAULTS, seed, estimator, device, n_train, n_templates, None, morph_setting, methods, bootstrap, None
    )


def _check_run_settings(
    problem: str,
    defaults: dict,
    seed,
    estimator: str,
    device: str,
    n_train: int | None,
    n_templates: int | None,
    n_bins: int | None,
    morph_setting: str,
    methods: Sequence[str],
    bootstrap: bool,
    calibration: str | None,
) -> None:
    """The checks shared by the demo and ``roosbi run``; ``problem`` is "" for a user's workspace."""
    from ..estimators.resources import resolve_device

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"the seed must be an integer >= 0 (numpy seeds are non-negative), not {seed!r}")
    if estimator not in ("torch", "sklearn"):
        raise InputError(f"estimator must be 'torch' or 'sklearn', not {estimator!r}")
    methods = check_methods(methods, problem, estimator)
    check_bootstrap(bootstrap, problem, estimator, methods)
    check_calibration(calibration, problem)
    if estimator == "torch":
        try:
            resolve_device(device)
        except ModuleNotFoundError as err:
            raise InputError(str(err)) from err
    n_train = defaults["n_train"] if n_train is None else n_train
    if n_train < MIN_N_TRAIN:
        raise InputError(f"n_train must be at least {MIN_N_TRAIN} events, not {n_train}")
    if "n_bins" in defaults:
        if n_bins is not None and n_bins < 2:
            raise InputError(f"the score templates need at least 2 bins, not {n_bins}")
        return
    n_templates = defaults["n_templates"] if n_templates is None else n_templates
    if n_templates < 2:
        raise InputError(f"morphing needs at least 2 templates per parameter, not {n_templates}")
    if n_train // n_templates < MIN_TEMPLATE_EVENTS:
        raise InputError(
            f"{n_train} training events make templates of {n_train // n_templates} events ({n_templates} per "
            f"parameter); each needs at least {MIN_TEMPLATE_EVENTS}: raise n_train or lower "
            + ("n_templates" if problem else "morph_grid")
        )
    if morph_setting not in SETTINGS:
        raise InputError(f"unknown morphing setting '{morph_setting}'; choose one of: {', '.join(SETTINGS)}")


def check_methods(methods: Sequence[str], problem: str = "gauss1d", estimator: str = "torch") -> list[str]:
    """The training methods asked for, checked: known, each once, and possible with the estimator and problem."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",")]
    methods = list(methods)
    if not methods:
        raise InputError(f"name at least one method; choose from: {', '.join(DEMO_METHODS)}")
    unknown = [m for m in methods if m not in DEMO_METHODS]
    if unknown:
        raise InputError(f"unknown method {', '.join(map(repr, unknown))}; choose from: {', '.join(DEMO_METHODS)}")
    if len(set(methods)) < len(methods):
        raise InputError(f"a method is named twice in {','.join(methods)}")
    if estimator == "sklearn" and methods != ["carl"]:
        raise InputError(
            "the sklearn estimator trains CARL only (binary cross-entropy); the gold methods and SALLY need torch: "
            "use --estimator torch"
        )
    if problem == "mixture" and methods != ["carl"]:
        raise InputError(
            "the mixture problem (rf618) learns p_s(x)/p_b(x) with no parameter input and has no latent variables: "
            "only --method carl applies to it"
        )
    if problem == "syst" and methods != ["carl"]:
        raise InputError(
            "the syst problem learns each mixture component's ratio to the reference with its nuisance parameters: "
            "only --method carl applies to it"
        )
    return methods


def check_calibration(calibration: str | None, problem: str) -> None:
    """Refuse an unknown calibration method, or one for a problem whose ratio depends on parameters."""
    if calibration is None or calibration == "none":
        return
    if calibration not in CALIBRATION_METHODS:
        raise InputError(f"unknown calibration '{calibration}'; choose one of: {', '.join(CALIBRATION_METHODS)}")
    if problem != "mixture":
        # A map fitted on held-out events at one parameter point says nothing about the others.
        raise InputError(
            "--calibration applies to the mixture, whose ratio has no parameter input; for a parameterized ratio "
            "the demo reports the normalisation check only"
        )


def check_bootstrap(bootstrap: bool, problem: str, estimator: str, methods: Sequence[str]) -> None:
    """Refuse ``bootstrap`` where the demo cannot fit the members: not a bool, sklearn, SALLY alone, term samples."""
    if not isinstance(bootstrap, (bool, np.bool_)):
        raise InputError(f"bootstrap must be True or False, not {bootstrap!r}")
    if not bootstrap:
        return
    if estimator != "torch":
        raise InputError("--bootstrap trains torch ensemble members on resamples; use --estimator torch")
    if not any(m in METHODS for m in methods):
        raise InputError("--bootstrap needs a ratio method (carl, alices …); SALLY's template fit has no members")
    if problem in term_stages.TERM_SAMPLES:
        raise InputError(f"--bootstrap is not available for '{problem}' (a term-sample problem) yet; leave it off")
    if problem == "syst":
        raise InputError("--bootstrap is not available for 'syst' (profiled nuisance parameters) yet; leave it off")
