"""The samples the estimators train on: :class:`TrainingSample` and SALLY's :class:`ScoreSample`.

:func:`~roosbi.data.simulate.simulate` simulates a training sample from a problem, and
:mod:`roosbi.data.samples` and :mod:`roosbi.data.sample_files` build one from outside RooFit;
:func:`~roosbi.data.simulate.simulate_local` simulates a score sample. Both check their columns
when made (shapes, NaN/Inf, labels, class weights).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..exceptions import InputError


@dataclass
class TrainingSample:
    """Columns of a labelled training sample.

    Attributes
    ----------
    x : ndarray, shape (n, n_observables)
    theta : ndarray, shape (n, n_parameters)
    y : ndarray, shape (n,)
        1 for target events, 0 for reference events.
    weights : ndarray, shape (n,)
        Event weights (1 unless given).
    observables, parameters : list of str
        Column names, in network input order.
    parameter_ranges : dict
        Training range of each parameter.
    reference : str
        What the reference class is, for the record: ``"pdf <name>"``, ``"point <p>=<v>, ..."``,
        ``"marginal"``, or ``"sample"`` (events from outside RooFit: the reference is whatever
        produced them).
    reference_uniform : bool
        True when the reference is a uniform pdf of x (a RooUniform or a product of them): then
        p(x|theta) is proportional to r alone, and a learned pdf needs no reference pdf.
    joint_log_ratio : ndarray, shape (n,), optional
        The "gold" of latent-variable problems: log r(x, z | theta) = log p(x, z | theta) -
        log p_ref(x, z) for each event at its own theta (the latent z never reaches the network).
        Its expectation given x is not log r(x | theta), but r(x, z) is an unbiased estimate of
        r(x) for reference events, which is what the augmented losses use.
    joint_score : ndarray, shape (n, n_parameters), optional
        The joint score t(x, z | theta) = grad_theta log p(x, z | theta) for each event at its own
        theta; for target events its expectation given x is the score t(x | theta).
    """

    x: np.ndarray
    theta: np.ndarray
    y: np.ndarray
    observables: list[str]
    parameters: list[str]
    parameter_ranges: dict[str, tuple[float, float]]
    weights: np.ndarray | None = None
    reference: str = "sample"
    reference_uniform: bool = False
    joint_log_ratio: np.ndarray | None = None
    joint_score: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64).reshape(len(self.x), -1)
        self.theta = np.asarray(self.theta, dtype=np.float64).reshape(len(self.theta), -1)
        self.y = np.asarray(self.y, dtype=np.float64).reshape(-1)
        self.weights = np.ones(len(self.y)) if self.weights is None else np.asarray(self.weights, np.float64)
        n = len(self.y)
        for name, arr in (("x", self.x), ("theta", self.theta), ("weights", self.weights)):
            if len(arr) != n:
                raise InputError(f"column '{name}' has {len(arr)} rows but y has {n}")
        if self.x.shape[1] != len(self.observables):
            raise InputError(f"x has {self.x.shape[1]} columns but {len(self.observables)} observables are named")
        if self.theta.shape[1] != len(self.parameters):
            raise InputError(f"theta has {self.theta.shape[1]} columns but {len(self.parameters)} parameters are named")
        self._check_gold(n)
        columns = [("x", self.x), ("theta", self.theta), ("y", self.y), ("weights", self.weights)]
        for name in ("joint_log_ratio", "joint_score"):
            if getattr(self, name) is not None:
                columns.append((name, getattr(self, name)))
        for name, arr in columns:
            bad = ~np.isfinite(arr)
            if bad.any():
                rows = np.unique(np.nonzero(bad)[0])
                raise InputError(
                    f"training data column '{name}' holds {bad.sum()} NaN/Inf value(s), first in row {rows[0]}; "
                    "remove or fix those events before training"
                )
        if not np.isin(self.y, (0.0, 1.0)).all():
            raise InputError("labels y must be 0 (reference) or 1 (target)")
        if len(np.unique(self.y)) < 2:
            raise InputError("the sample needs both target (y=1) and reference (y=0) events")
        self.check_weights()

    def _check_gold(self, n: int) -> None:
        """Shape the gold columns: log r one value per event, the score one value per parameter."""
        if self.joint_log_ratio is not None:
            self.joint_log_ratio = np.asarray(self.joint_log_ratio, dtype=np.float64)
            if self.joint_log_ratio.shape != (n,):
                raise InputError(
                    f"joint_log_ratio must hold one value per event, shape ({n},), not {self.joint_log_ratio.shape}"
                )
        if self.joint_score is not None:
            score = np.asarray(self.joint_score, dtype=np.float64)
            if score.ndim == 1 and len(self.parameters) == 1:
                score = score.reshape(-1, 1)
            if score.shape != (n, len(self.parameters)):
                raise InputError(
                    f"joint_score must have one column per parameter ({', '.join(self.parameters) or 'none'}), "
                    f"shape ({n}, {len(self.parameters)}), not {score.shape}"
                )
            self.joint_score = score

    @property
    def has_gold(self) -> bool:
        """True when the sample carries the joint log ratio (and maybe the joint score)."""
        return self.joint_log_ratio is not None

    def check_weights(self) -> None:
        """Refuse class weights that cannot be trained on: each class must sum to a positive total.

        Negative event weights are allowed (NLO generators write them), but a class whose weights
        sum to zero or less is not a distribution: the cross-entropy then has no minimum and the
        training loss runs off to minus infinity. Estimators call this again before training, as
        the columns may have been changed after the sample was made.
        """
        for label, what in ((1.0, "target (y=1)"), (0.0, "reference (y=0)")):
            total = float(np.sum(self.weights[self.y == label]))
            if not total > 0.0:
                raise InputError(
                    f"the {what} event weights sum to {total:.6g}; each class needs a positive total weight "
                    "(negative weights are fine as long as the class total stays positive): check the weight "
                    "column and any selection applied to it"
                )

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray) -> TrainingSample:
        """The events ``rows`` (indices or a boolean mask) with all their columns."""
        columns = {k: getattr(self, k) for k in ("x", "theta", "y", "weights", "joint_log_ratio", "joint_score")}
        return replace(self, **{k: (v[rows] if v is not None else None) for k, v in columns.items()})

    def split(self, fraction: float, seed: int) -> tuple[TrainingSample, TrainingSample]:
        """Hold out ``fraction`` of each class at random: ``(rest, held_out)``.

        Per class, so that both keep the class balance (a calibration needs both classes).

        Examples
        --------
        >>> import numpy as np
        >>> s = TrainingSample(np.zeros((10, 1)), np.zeros((10, 0)), np.repeat([1.0, 0.0], 5), ["x"], [], {})
        >>> rest, held_out = s.split(0.2, seed=1)
        >>> len(rest), len(held_out), int(held_out.y.sum())
        (8, 2, 1)
        """
        if not 0.0 < fraction < 1.0:
            raise InputError(f"the held-out fraction must be in (0, 1), not {fraction}")
        rng = np.random.default_rng(seed)
        held = np.zeros(len(self), dtype=bool)
        for label in (0.0, 1.0):
            rows = np.flatnonzero(self.y == label)
            held[rng.choice(rows, int(round(fraction * len(rows))), replace=False)] = True
        return self.subset(~held), self.subset(held)

    @property
    def inputs(self) -> np.ndarray:
        """Network inputs ``[x, theta]``, shape ``(n, n_observables + n_parameters)``."""
        return np.hstack([self.x, self.theta])

    @property
    def input_names(self) -> list[str]:
        """Names of the network inputs, observables first."""
        return self.observables + self.parameters


@dataclass
class ScoreSample:
    """Events simulated at one parameter point with their joint score: what SALLY trains on.

    Attributes
    ----------
    x : ndarray, shape (n, n_observables)
    joint_score : ndarray, shape (n, n_parameters)
        t(x, z | point) for each event; its expectation given x is the score t(x | point).
    observables, parameters : list of str
        Column names.
    point : dict
        The parameter point the events were simulated at (and the score is taken at).
    weights : ndarray, shape (n,)
        Event weights (1 unless given).
    """

    x: np.ndarray
    joint_score: np.ndarray
    observables: list[str]
    parameters: list[str]
    point: dict[str, float]
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64).reshape(len(self.x), -1)
        n = len(self.x)
        self.joint_score = np.asarray(self.joint_score, dtype=np.float64).reshape(n, -1)
        self.weights = np.ones(n) if self.weights is None else np.asarray(self.weights, np.float64).reshape(-1)
        if self.x.shape[1] != len(self.observables):
            raise InputError(f"x has {self.x.shape[1]} columns but {len(self.observables)} observables are named")
        if self.joint_score.shape[1] != len(self.parameters):
            raise InputError(
                f"joint_score has {self.joint_score.shape[1]} columns but {len(self.parameters)} parameters are named"
            )
        if len(self.weights) != n:
            raise InputError(f"weights has {len(self.weights)} rows but x has {n}")
        if sorted(self.point) != sorted(self.parameters):
            raise InputError(f"the point must give a value for each of {', '.join(self.parameters)}, not {self.point}")
        for name, arr in (("x", self.x), ("joint_score", self.joint_score), ("weights", self.weights)):
            if not np.isfinite(arr).all():
                raise InputError(f"score sample column '{name}' holds NaN/Inf values; fix those events first")

    def __len__(self) -> int:
        return len(self.x)
