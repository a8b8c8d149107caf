"""Problems: a RooWorkspace plus the names that say what to learn in it.

A :class:`Problem` names, inside one ``RooWorkspace``, the target pdf p(x|theta), the reference
pdf p_ref(x), the observables x, the parameters theta (whose ranges are the uniform prior and the
training range) and the observed dataset. The learned, morphed and analytic likelihoods are all
built from it, so they see the same variables and the same data. A mixture problem (ROOT's
rf618, :func:`~roosbi.data.builtin.mixture`) also names its components: the signal and background
pdfs and yields. A latent-variable problem (:func:`~roosbi.data.builtin.smeared`,
:func:`~roosbi.data.builtin.resonance`) also names its latent variables z, the pdf p(z|theta) they
are drawn from and the detector p(x|z); simulation goes through them and knows the "gold"
(:mod:`roosbi.data.gold`), while ``target_pdf`` stays the exact observed-level density. A problem
with nuisance parameters nu (:func:`~roosbi.data.syst.syst`) names them and their constraint pdfs
(auxiliary measurements): simulation draws (theta, nu), the estimator is parameterized in both, and
the fits profile nu (docs/systematics.md).

The built-in problems live in :mod:`roosbi.data.builtin`; :func:`make_problem` builds one by name,
and ``PROBLEMS`` (from :mod:`roosbi.data.builtin`, which builds on this module) names them all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..checks import require_object
from ..exceptions import InputError

log = logging.getLogger(__name__)


@dataclass
class Problem:
    """A simulation-based inference problem held in a RooWorkspace.

    Parameters
    ----------
    name : str
        Short name, used in reports (``"gauss1d"``).
    workspace : ROOT.RooWorkspace
        Holds every object named below.
    target_pdf : str
        p(x|theta): the simulator. Also the analytic model where one exists.
    reference_pdf : str
        p_ref(x): the denominator of the learned ratio.
    observables : list of str
        x, in the order the network sees them.
    parameters : list of str
        theta, in the order the network sees them (after the observables). Each must have a
        finite range: it is the uniform prior and the training range.
    observed_data : str
        Name of the observed RooDataSet in the workspace.
    truth : dict
        Parameter values the observed data were generated with.
    components : dict
        Names of the parts of a mixture model, by role (``"signal"``, ``"background"``: pdfs;
        ``"n_signal"``, ``"n_background"``: expected yields at unit signal strength). Empty for
        problems that are not mixtures.
    latents : list of str
        Latent variables z: generated with every event and never observed (a parton- or
        truth-level quantity). Empty for problems without them.
    latent_pdf : str
        p(z|theta), a pdf of the latents (needed when ``latents`` are named). Simulation draws z
        from it, then x from ``observation_pdf``; the joint log ratio and joint score (the
        "gold", :mod:`roosbi.data.gold`) come from it alone, since p(x|z) does not depend on theta.
    observation_pdf : str
        p(x|z), a pdf of the observables whose parameters include the latents (the detector).
        ``target_pdf`` stays the observed-level p(x|theta) = integral p(x|z) p(z|theta) dz (exact,
        analytic or a convolution), which the analytic fit uses.
    reference_point : dict
        When given, the default reference of :func:`roosbi.data.simulate.simulate` is the simulator at
        this point (through the latents, so the gold is known for reference events too), and
        ``reference_pdf`` is the observed-level density at that point.
    nuisance_parameters : list of str
        nu: parameters that the model depends on but that are not of interest. They are network
        inputs after ``parameters`` (:attr:`all_parameters`), drawn uniformly over their ranges in
        simulation (the range is the training range and the range the profile fits may visit),
        and float in every fit (profiling). Each needs a finite range.
    constraints : list of str
        Names of constraint pdfs in the workspace (auxiliary measurements, e.g. a Gaussian of the
        nuisance around a constant global observable): each a pdf of exactly one nuisance
        parameter, of no observable and no parameter of interest; at most one per nuisance. The
        fitted pdfs are multiplied by them. A nuisance without one is a free parameter of the fit
        (a warning says so).
    """

    name: str
    workspace: object
    target_pdf: str
    reference_pdf: str
    observables: list[str]
    parameters: list[str]
    observed_data: str
    truth: dict[str, float] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)
    latents: list[str] = field(default_factory=list)
    latent_pdf: str = ""
    observation_pdf: str = ""
    reference_point: dict[str, float] = field(default_factory=dict)
    nuisance_parameters: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        ws = require_object(self.workspace, "workspace", "RooWorkspace")
        for name in (self.target_pdf, self.reference_pdf):
            if not ws.pdf(name):
                raise InputError(f"no pdf named '{name}' in workspace '{ws.GetName()}'{self._known(ws.allPdfs())}")
        for name in self.observables + self.parameters:
            if not ws.var(name):
                raise InputError(f"no variable named '{name}' in workspace '{ws.GetName()}'{self._known(ws.allVars())}")
        if not ws.data(self.observed_data):
            raise InputError(f"no dataset named '{self.observed_data}' in workspace '{ws.GetName()}'")
        for name in self.parameters:
            var = ws.var(name)
            if not (var.hasMin() and var.hasMax()):
                raise InputError(f"parameter '{name}' needs a finite range: it is the prior and the training range")
        for role, name in self.components.items():
            if not ws.arg(name):
                raise InputError(f"no object named '{name}' (the {role}) in workspace '{ws.GetName()}'")
        self._check_latents(ws)
        self._check_nuisances(ws)

    def _check_latents(self, ws) -> None:
        """Latent variables, their pdfs and the reference point must fit together."""
        if not self.latents:
            if self.latent_pdf or self.observation_pdf:
                raise InputError("latent_pdf and observation_pdf need latent variables: name them in latents")
        else:
            for name in self.latents:
                if not ws.var(name):
                    raise InputError(
                        f"no latent variable named '{name}' in workspace '{ws.GetName()}'{self._known(ws.allVars())}"
                    )
                if name in self.observables or name in self.parameters:
                    role = "an observable" if name in self.observables else "a parameter"
                    raise InputError(
                        f"'{name}' is named as a latent variable and as {role}; a latent is never observed"
                    )
            for role, name in (("latent_pdf", self.latent_pdf), ("observation_pdf", self.observation_pdf)):
                if not name or not ws.pdf(name):
                    raise InputError(
                        f"a problem with latent variables needs {role}, a pdf in workspace '{ws.GetName()}'"
                        f" (given: {name!r}){self._known(ws.allPdfs())}"
                    )
            latent_pdf, observation_pdf = ws.pdf(self.latent_pdf), ws.pdf(self.observation_pdf)
            for name in self.latents:
                if not latent_pdf.dependsOn(ws.var(name)):
                    raise InputError(f"latent_pdf '{self.latent_pdf}' does not depend on the latent '{name}'")
            for name in self.observables:
                if latent_pdf.dependsOn(ws.var(name)):
                    raise InputError(f"latent_pdf '{self.latent_pdf}' depends on the observable '{name}'")
            for name in self.parameters:
                if observation_pdf.dependsOn(ws.var(name)):
                    raise InputError(
                        f"observation_pdf '{self.observation_pdf}' depends on the parameter '{name}': the detector "
                        "model p(x|z) must not depend on theta, or the gold computed from p(z|theta) is wrong"
                    )
        if self.reference_point:
            if sorted(self.reference_point) != sorted(self.parameters):
                raise InputError(
                    f"reference_point must give a value for each of {', '.join(self.parameters)}, "
                    f"not {self.reference_point}"
                )
            for name, value in self.reference_point.items():
                lo, hi = ws.var(name).getMin(), ws.var(name).getMax()
                if not lo <= value <= hi:
                    raise InputError(f"reference point {name}={value} is outside its range [{lo}, {hi}]")

    def _check_nuisances(self, ws) -> None:
        """Nuisance parameters and their constraints: known, distinct, ranged, one constraint of one nuisance each."""
        if not self.nuisance_parameters:
            if self.constraints:
                raise InputError("constraints need nuisance parameters: name them in nuisance_parameters")
            return
        if len(set(self.nuisance_parameters)) < len(self.nuisance_parameters):
            raise InputError(f"a nuisance parameter is named twice in {self.nuisance_parameters}")
        for name in self.nuisance_parameters:
            var = ws.var(name)
            if not var:
                raise InputError(
                    f"no nuisance parameter named '{name}' in workspace '{ws.GetName()}'{self._known(ws.allVars())}"
                )
            for role, names in (("an observable", self.observables), ("a parameter of interest", self.parameters)):
                if name in names:
                    raise InputError(f"'{name}' is named as a nuisance parameter and as {role}")
            if name in self.latents:
                raise InputError(f"'{name}' is named as a nuisance parameter and as a latent variable")
            if not (var.hasMin() and var.hasMax()):
                raise InputError(
                    f"nuisance parameter '{name}' needs a finite range: it is the training range and the range the "
                    "profile fits may visit"
                )
        if self.latents or self.reference_point:
            raise InputError(
                "nuisance parameters are not supported yet together with latent variables or a reference point; "
                "use a reference pdf of the observables"
            )
        constrained = {}
        for name in self.constraints:
            pdf = ws.pdf(name)
            if not pdf:
                raise InputError(
                    f"no constraint pdf named '{name}' in workspace '{ws.GetName()}'{self._known(ws.allPdfs())}"
                )
            on_observables = [n for n in self.observables if pdf.dependsOn(ws.var(n))]
            if on_observables:
                raise InputError(
                    f"the constraint pdf '{name}' depends on the observable(s) {', '.join(on_observables)}: a "
                    "constraint is an auxiliary measurement of one nuisance parameter (e.g. a Gaussian around a "
                    "constant global observable) and must not depend on the observables"
                )
            on_parameters = [n for n in self.parameters if pdf.dependsOn(ws.var(n))]
            if on_parameters:
                raise InputError(
                    f"the constraint pdf '{name}' depends on the parameter(s) of interest {', '.join(on_parameters)}; "
                    "a constraint may depend on one nuisance parameter only"
                )
            on_nuisances = [n for n in self.nuisance_parameters if pdf.dependsOn(ws.var(n))]
            if len(on_nuisances) != 1:
                raise InputError(
                    f"the constraint pdf '{name}' depends on {len(on_nuisances)} nuisance parameters "
                    f"({', '.join(on_nuisances) or 'none'}); each constraint is a pdf of exactly one of "
                    f"{', '.join(self.nuisance_parameters)}"
                )
            if on_nuisances[0] in constrained:
                raise InputError(
                    f"the nuisance parameter '{on_nuisances[0]}' has two constraints, '{constrained[on_nuisances[0]]}' "
                    f"and '{name}'; multiply them into one pdf"
                )
            constrained[on_nuisances[0]] = name
        for name in self.nuisance_parameters:
            if name not in constrained:
                log.warning(
                    "nuisance parameter '%s' of problem '%s' has no constraint: it is then a free parameter of the "
                    "fits (profiled over its whole range [%g, %g] with no auxiliary measurement)",
                    name,
                    self.name,
                    ws.var(name).getMin(),
                    ws.var(name).getMax(),
                )

    @property
    def all_parameters(self) -> list[str]:
        """The network's parameter inputs: the parameters of interest theta, then the nuisance parameters nu."""
        return list(self.parameters) + list(self.nuisance_parameters)

    def constraint_of(self, nuisance: str) -> str:
        """The name of the constraint pdf of a nuisance parameter, or "" if it has none."""
        ws = self.workspace
        for name in self.constraints:
            if ws.pdf(name).dependsOn(self.var(nuisance)):
                return name
        return ""

    @staticmethod
    def _known(collection) -> str:
        names = sorted(arg.GetName() for arg in collection)
        return f"; it has: {', '.join(names)}" if names else ""

    def var(self, name: str):
        """A variable of the workspace, with a clear error for unknown names."""
        var = self.workspace.var(name)
        if not var:
            raise InputError(f"no variable named '{name}' in workspace '{self.workspace.GetName()}'")
        return var

    def point_array(self, point: Mapping[str, float], role: str = "point") -> np.ndarray:
        """Check a parameter point (every parameter named once, values inside their ranges) and return it in order.

        Parameters
        ----------
        point : mapping of str to float
            A value for each parameter.
        role : str
            What the point is, for the messages (``"reference point"``, ``"local point"``).

        Returns
        -------
        ndarray, shape (n_parameters,)
            The values in the order of ``parameters``.
        """
        if not isinstance(point, Mapping):
            raise InputError(f"the {role} must be a dict of parameter values, not {point!r}")
        unknown = sorted(set(point) - set(self.parameters))
        missing = [name for name in self.parameters if name not in point]
        if unknown or missing:
            raise InputError(
                f"a {role} needs a value for each of {', '.join(self.parameters)} "
                f"(unknown: {', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'})"
            )
        values = []
        for name in self.parameters:
            try:
                value = float(point[name])
            except (TypeError, ValueError):
                raise InputError(f"{role} {name}={point[name]!r} is not a number") from None
            lo, hi = self.var(name).getMin(), self.var(name).getMax()
            if not lo <= value <= hi:  # also refuses NaN
                raise InputError(f"{role} {name}={value} is outside its range ({lo}, {hi})")
            values.append(value)
        return np.array(values)

    def parameter_ranges(self) -> dict[str, tuple[float, float]]:
        """The prior (and training) range of each parameter."""
        return {name: (self.var(name).getMin(), self.var(name).getMax()) for name in self.parameters}

    def all_parameter_ranges(self) -> dict[str, tuple[float, float]]:
        """The prior (and training) range of each parameter of interest and each nuisance parameter."""
        return {name: (self.var(name).getMin(), self.var(name).getMax()) for name in self.all_parameters}

    def data(self):
        """The observed dataset."""
        return self.workspace.data(self.observed_data)


def make_problem(name: str, seed: int = 1) -> Problem:
    """Build one of the built-in problems (:mod:`roosbi.data.builtin`) by name."""
    from .builtin import PROBLEMS  # imported here: roosbi.data.builtin builds on this module

    if name not in PROBLEMS:
        raise InputError(f"unknown problem '{name}'; choose one of: {', '.join(PROBLEMS)}")
    return PROBLEMS[name](seed=seed)


def __getattr__(name: str):
    """``PROBLEMS``, the registry of the built-in problems, read from :mod:`roosbi.data.builtin` when asked for."""
    if name == "PROBLEMS":
        from .builtin import PROBLEMS

        return PROBLEMS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
