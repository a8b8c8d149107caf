"""``roosbi hypotest``: discovery significance and CLs upper limits of every NLL of a marked workspace.

Each NLL's test statistic is RooStats' one-sided ``ProfileLikelihoodTestStat`` of its own pdf (q0,
q_mu). Toys and Asimov data come from the *generator*: the pdf marked ``analytic`` (the simulator)
for NLLs of the observed data, the NLL's own pdf for one with its own dataset. Asymptotic: q and
q_A with ``AsymptoticCalculator``'s formulae (which cannot draw from one pdf and fit another).
Toys: ``FrequentistCalculator`` tasks per (NLL, scan point, chunk) on Dask, seeded from
``SeedSequence(seed, spawn_key=(point, chunk))``, merged into ``HypoTestResult``s. Both are
inverted by a ``HypoTestInverterResult``. See docs/hypotests.md.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ..exceptions import InputError
from ..inference import create_nll, fit_nll
from ..interrupts import checkpoint, deferred_interrupts, interruptible
from ..library import import_root
from ..output_dir import check_output_dir, publish, staging
from ..report import write_json
from ..workspace import DATA_MARK, PARAMETERS_MARK, open_workspace
from .cluster import RETRIES, absolute_path, dask_workers, workspace_file
from .hypotest_report import markdown, plot_limits
from .profile import global_observables
from .toys import marked_pdfs

log = logging.getLogger(__name__)

#: The files ``roosbi hypotest`` writes.
HYPOTEST_FILES = ("hypotest.json", "hypotest.md", "cls_limits.png")
#: Toys per hypothesis in one task: fixed, so that the numbers do not depend on the workers.
CHUNK = 25
#: The point index of the discovery toys in their seeds' spawn key (above any scan point's).
DISCOVERY = 1 << 20
#: Default scans: a first asymptotic one over the range, then these many points around the limits.
FIRST_POINTS, ASYMPTOTIC_POINTS, TOY_POINTS = 30, 40, 16
SIGMAS = (-2, -1, 0, 1, 2)
_SNAPSHOT = "roosbi_hypotest_start"


@dataclass
class Model:
    """One NLL's hypothesis tests: the pdf of its test statistic, the generator, its data."""

    name: str
    pdf: object
    generator: object
    data: object
    observables: object
    global_observables: list

    def config(self, ws, poi, role: str, value: float, toys: bool = False):
        """The generator's ``ModelConfig`` named after ``role``, with the POI snapshot at ``value``.

        For ``toys`` it names the global observables, which the toys then draw from their constraint terms
        (the auxiliary measurements fluctuate with the data: the unconditional ensemble).
        """
        ROOT = import_root()
        mc = ROOT.RooStats.ModelConfig(f"roosbi_{self.name}_{role}", ws)
        mc.SetPdf(self.generator)
        mc.SetParametersOfInterest(ROOT.RooArgSet(poi))
        mc.SetObservables(self.observables)
        mc.SetNuisanceParameters(ROOT.RooArgSet(*_floating(self.generator, self.data, poi)))
        if toys and self.global_observables:
            mc.SetGlobalObservables(ROOT.RooArgSet(*self.global_observables))
        poi.setVal(value)  # RooStats' classic pitfall: the snapshot takes the value the POI has now
        mc.SetSnapshot(ROOT.RooArgSet(poi))
        return mc

    def test_stat(self, discovery: bool):
        """RooStats' one-sided profile likelihood ratio of the NLL's pdf (its value is q / 2)."""
        ts = import_root().RooStats.ProfileLikelihoodTestStat(self.pdf)
        ts.SetOneSidedDiscovery(True) if discovery else ts.SetOneSided(True)
        return ts


def _floating(pdf, data, poi) -> list:
    """The pdf's floating parameters other than the POI: its nuisance parameters."""
    return [p for p in pdf.getParameters(data) if not p.isConstant() and p.GetName() != poi.GetName()]


def read_models(ws, path: str, poi: str | None) -> tuple[dict[str, Model], object]:
    """Every marked NLL as a :class:`Model`, and the POI, checked.

    Raises
    ------
    InputError
        No marked NLLs or data, an unknown POI or one without a finite range holding 0 (the
        background-only value), a generator that is not a density.
    """
    ROOT = import_root()
    pdfs, params, data_mark = marked_pdfs(ws), ws.set(PARAMETERS_MARK), ws.genobj(DATA_MARK)
    fix = "mark it with roosbi.mark_fits(ws, {'analytic': pdf, ...}, data, ['mu']) and write it again"
    if not pdfs or not params or not data_mark:
        raise InputError(f"'{path}' records no NLLs, parameters or data to test; {fix}")
    names = [p.GetName() for p in params]
    poi = names[0] if poi is None else poi
    if poi not in names:
        raise InputError(f"the POI '{poi}' is not a parameter of the marked NLLs; choose from: {', '.join(names)}")
    var = ws.var(poi)
    lo, hi = var.getMin(), var.getMax()
    if not (var.hasMin() and var.hasMax() and math.isfinite(lo) and math.isfinite(hi) and lo <= 0 < hi):
        raise InputError(
            f"the POI '{poi}' needs a finite range that holds 0 (background only), not [{lo:g}, {hi:g}]; "
            f"give it one (e.g. ws.var('{poi}').setRange(0, 5)) and write the workspace again"
        )
    models = {}
    for name, pdf in pdfs.items():
        own = str(pdf.getStringAttribute("roosbi_data") or "")
        data = ws.data(own or data_mark.GetTitle())
        if not data:
            raise InputError(f"NLL '{name}': '{path}' has no dataset '{own or data_mark.GetTitle()}'; {fix}")
        obs = pdf.getObservables(data)
        gen = pdfs.get("analytic", pdf) if not own else pdf
        gen = gen if gen.getObservables(data).equals(obs) else pdf
        var.setVal(0.5 * (lo + hi))
        integral = gen.createIntegral(obs, ROOT.RooFit.NormSet(obs)).getVal()
        if abs(integral - 1) > 0.01:
            raise InputError(
                f"NLL '{name}': its toys would be drawn from '{gen.GetName()}', which is not a density over the "
                f"observables (integral {integral:.4g}); mark the simulator's pdf as 'analytic' to draw from it"
            )
        globs = global_observables(gen, gen.getObservables(data), _floating(gen, data, var))
        models[name] = Model(name, pdf, gen, data, obs, globs)
    return models, var


def _q(ts, data, poi, value: float) -> float:
    """q_mu (or q0) = 2 x RooStats' profile likelihood ratio, >= 0, of ``data`` at POI = ``value``."""
    ROOT = import_root()
    at = ROOT.RooRealVar(poi.GetName(), poi.GetTitle(), value, poi.getMin(), poi.getMax())  # the POI moves
    return max(0.0, 2 * ts.Evaluate(data, ROOT.RooArgSet(at)))


def _asimov(ws, model: Model, poi, value: float):
    """The generator's Asimov dataset at POI = ``value`` (nuisance parameters fitted to the data)."""
    ROOT = import_root()
    at = ROOT.RooRealVar(poi.GetName(), poi.GetTitle(), value, poi.getMin(), poi.getMax())
    config = model.config(ws, poi, "asimov", value)
    data = ROOT.RooStats.AsymptoticCalculator.MakeAsimovData(model.data, config, ROOT.RooArgSet(at), ROOT.RooArgSet())
    ROOT.SetOwnership(data, True)
    return data


def asymptotic_pvalues(q: float, q_a: float, qtilde: bool) -> tuple[float, float]:
    """CLs+b and CLb of q_mu from q and its Asimov value q_A, as RooStats' AsymptoticCalculator computes them."""
    sq, sq_a = math.sqrt(max(q, 0)), math.sqrt(max(q_a, 0))
    pnull, palt = norm.sf(sq), norm.cdf(sq_a - sq)
    if qtilde and q > q_a and (q_a > 0 or q > 2e-3):  # q~_mu above mu^2 / sigma^2 (Cowan et al., eq. 64, 65)
        pnull, palt = norm.sf((q + q_a) / (2 * sq_a)), norm.sf((q - q_a) / (2 * sq_a))
    return float(pnull), float(palt)


def asymptotic(ws, model: Model, poi, grid: np.ndarray, cl: float, warn: bool = True) -> dict:
    """Asymptotic discovery significance (observed and expected at the fitted POI) and CLs limits on ``grid``."""
    RS = import_root().RooStats
    ws.loadSnapshot(_SNAPSHOT)
    params = [poi, *_floating(model.pdf, model.data, poi)]
    nll = create_nll(model.pdf, model.data, backend=model.pdf.getStringAttribute("roosbi_backend") or "cpu")
    fit = fit_nll(nll, params, {p.GetName(): p.getVal() for p in params}, minos=False, check_points=0)
    mu_hat = float(fit.params[poi.GetName()].value)
    # A test statistic per dataset: RooStats' keeps its NLL, which cannot move to weighted (Asimov) data.
    q0 = _q(model.test_stat(True), model.data, poi, 0.0)
    q0_a = _q(model.test_stat(True), _asimov(ws, model, poi, mu_hat), poi, 0.0)
    ts, ts_a, asimov_b = model.test_stat(False), model.test_stat(False), _asimov(ws, model, poi, 0.0)
    qtilde = poi.getMin() == 0  # RooStats' choice: q~ where the POI's lower limit is the background-only value
    points = []
    for mu in grid:
        ws.loadSnapshot(_SNAPSHOT)
        pnull, palt = asymptotic_pvalues(_q(ts, model.data, poi, mu), _q(ts_a, asimov_b, poi, mu), qtilde)
        result = RS.HypoTestResult(f"{model.name}_{mu:g}", pnull, palt)
        result.SetBackgroundAsAlt(True)
        points.append((float(mu), result))
    limits = _invert(poi, cl, points, toys=False, label=f"{model.name} (asymptotic)" if warn else None)
    return {
        "mu_hat": mu_hat,
        "q0": q0,
        "p0_asymptotic": float(norm.sf(math.sqrt(q0))),
        "significance_asymptotic": math.sqrt(q0),
        "significance_expected_asymptotic": math.sqrt(q0_a),
        **{f"{key}_asymptotic": value for key, value in limits.items()},
    }


def _invert(poi, cl: float, points: list[tuple[float, object]], toys: bool, label: str | None) -> dict:
    """Observed and expected CLs upper limits, from RooStats' ``HypoTestInverterResult`` of the points.

    A limit at or beyond the scan's ends is logged as a warning naming ``label`` (unless None).
    """
    ROOT = import_root()
    inv = ROOT.RooStats.HypoTestInverterResult(f"cls_{poi.GetName()}", poi, cl)
    inv.UseCLs(True)
    for mu, result in points:
        inv.Add(mu, result)
    scan = {"mu": [], "cls": [], "clb": [], "clsb": [], "cls_expected": {str(k): [] for k in SIGMAS}}
    for i in range(inv.ArraySize()):
        scan["mu"].append(float(inv.GetXValue(i)))
        for key, value in (("cls", inv.CLs(i)), ("clb", inv.CLb(i)), ("clsb", inv.CLsplusb(i))):
            scan[key].append(float(value))
        dist = inv.GetExpectedPValueDist(i)
        ROOT.SetOwnership(dist, True)
        values = np.sort(np.array(dist.GetSamplingDistribution()))
        for k in SIGMAS:  # toys: CLs of each background-only toy; asymptotic: CLs at -5 ... 5 sigma
            scan["cls_expected"][str(k)].append(float(np.quantile(values, norm.cdf(k)) if toys else values[5 + k]))
    limit, lo, hi = float(inv.UpperLimit()), scan["mu"][0], scan["mu"][-1]
    expected = {str(k): float(inv.GetExpectedUpperLimit(k)) for k in SIGMAS}
    if label and not all(lo < v < hi for v in (limit, *expected.values())):
        log.warning("%s: a %s limit is at or beyond the scan [%g, %g]; widen it (scan)", label, poi.GetName(), lo, hi)
    return {"cls_limit": limit, "cls_expected": expected, "scan": scan}


# Per process (a Dask worker keeps them between tasks): each file's workspace, models and POI.
_OPENED: dict[tuple, tuple] = {}


def run_chunk(path: str, poi: str, seed: int, name: str, point: int, mu: float, chunk: int, n: int, alt: float):
    """One Dask task (also run in-process): ``n`` toys of each hypothesis of NLL ``name`` at scan point ``point``.

    At scan point ``point`` (POI = ``mu``), q_mu of ``n`` toys at ``mu`` and ``n`` background-only
    toys; ``point`` = :data:`DISCOVERY`: q0 of ``n`` background-only toys (``alt``, the fitted
    POI, is the alternative's snapshot). ROOT is seeded from ``SeedSequence(seed, spawn_key=(point, chunk))``.

    Returns
    -------
    dict
        ``{"name", "point", "chunk", "observed", "null", "alt"}``: the test statistic (q / 2,
        RooStats' convention) on the observed data, and arrays of it on each hypothesis' toys.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ROOT = import_root()
    with _quiet():
        stat = os.stat(path)
        key = (path, poi, stat.st_mtime_ns, stat.st_size)  # a rewritten file is read again
        if key not in _OPENED:
            ws = open_workspace(path)
            ws.saveSnapshot(_SNAPSHOT, ws.allVars(), True)
            _OPENED[key] = (ws, *read_models(ws, path, poi))
        ws, models, var = _OPENED[key]
        model, discovery = models[name], point == DISCOVERY
        ws.loadSnapshot(_SNAPSHOT)  # every task starts from the file's values
        # The calculator keeps pointers to the configs and the test statistic: they live until the end.
        null = model.config(ws, var, "null", 0.0 if discovery else mu, toys=True)
        alt_config = model.config(ws, var, "alt", alt if discovery else 0.0, toys=True)
        calc = ROOT.RooStats.FrequentistCalculator(model.data, alt_config, null)
        calc.SetToys(n, 0 if discovery else n)
        sampler = calc.GetTestStatSampler()
        sampler.SetTestStatistic(ts := model.test_stat(discovery))  # noqa: F841
        # toys like the data: unbinned, also from histogram templates, unless the data are binned (HistFactory's
        # weighted obsData), where an NLL built on them takes only datasets of the same structure
        sampler.SetGenerateAutoBinned(bool(model.data.isWeighted()))
        state = np.random.SeedSequence(seed, spawn_key=(point, chunk)).generate_state(1)
        ROOT.RooRandom.randomGenerator().SetSeed(int(state[0]) or 1)  # 0 would seed from the clock
        # GetHypoTest prints the ModelConfigs, which evaluates the pdf with the last normalisation set it saw; for
        # a RooSimultaneous (a HistFactory model) that set can belong to a deleted integral or NLL: a segfault.
        model.generator.getVal(model.observables)  # the last set is now the model's own, alive
        result = calc.GetHypoTest()
        ROOT.SetOwnership(result, True)
    dists = (result.GetNullDistribution(), None if discovery else result.GetAltDistribution())
    null_q, alt_q = (np.array(d.GetSamplingDistribution(), dtype=float) if d else np.empty(0) for d in dists)
    return {"name": name, "point": point, "chunk": chunk, "observed": float(result.GetTestStatisticData()),
            "null": null_q, "alt": alt_q}  # fmt: skip


class _quiet:
    """RooFit's, RooStats' and roosbi's fit messages below ERROR off, for a while."""

    def __enter__(self):
        ROOT = import_root()
        self.messages, self.logger = ROOT.RooMsgService.instance(), logging.getLogger("roosbi.inference")
        self.levels = self.messages.globalKillBelow(), self.logger.level
        self.messages.setGlobalKillBelow(ROOT.RooFit.ERROR)
        self.logger.setLevel(max(logging.ERROR, self.logger.getEffectiveLevel()))  # "mu at a limit" is usual here
        ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)

    def __exit__(self, *exc):
        self.messages.setGlobalKillBelow(self.levels[0])
        self.logger.setLevel(self.levels[1])


def _tasks(names: list[str], grid: np.ndarray, toys: int) -> list[tuple]:
    """(name, point, mu, chunk, n) of every task: each NLL's discovery toys, then its scan points'."""
    chunks = [(c, min(CHUNK, toys - c * CHUNK)) for c in range(math.ceil(toys / CHUNK))]
    points = [(DISCOVERY, 0.0), *enumerate(float(m) for m in grid)]
    return [(name, k, mu, c, n) for name in names for k, mu in points for c, n in chunks]


def run_toys(path, poi, seed, tasks, mu_hats, client, progress: Callable[[int], None]) -> list[dict]:
    """Every task, in this process (``client`` None) or on Dask (retried where a worker dies)."""
    out = []
    if client is None:
        for name, k, mu, c, n in tasks:
            checkpoint()
            out.append(run_chunk(path, poi, seed, name, k, mu, c, n, mu_hats[name]))
            progress(n * (1 if k == DISCOVERY else 2))
        return out
    from distributed import as_completed

    futures = [
        client.submit(run_chunk, path, poi, seed, name, k, mu, c, n, mu_hats[name], retries=RETRIES, pure=False)
        for name, k, mu, c, n in tasks
    ]
    try:
        for future in as_completed(futures):
            out.append(future.result())
            progress(len(out[-1]["null"]) + len(out[-1]["alt"]))
    except BaseException:
        client.cancel(futures)
        raise
    return out


def merge_toys(chunks: list[dict], name: str, poi, grid: np.ndarray, cl: float) -> dict:
    """One NLL's toy results: p0 from its discovery toys, CLs limits from its scan points' toys."""
    ROOT = import_root()
    mine = sorted((c for c in chunks if c["name"] == name), key=lambda c: (c["point"], c["chunk"]))
    discovery = [c for c in mine if c["point"] == DISCOVERY]
    q0_toys = np.concatenate([c["null"] for c in discovery])
    n, passed = len(q0_toys), int(np.sum(np.maximum(q0_toys, 0) >= max(discovery[0]["observed"], 0)))
    bound = passed == 0  # p0 < 1/n is not resolved: Z(1/n) is a lower bound
    p0 = 1 / n if bound else passed / n
    points = []
    for k, mu in enumerate(grid):
        parts = [c for c in mine if c["point"] == k]
        result = ROOT.RooStats.HypoTestResult(f"{name}_toys_{mu:g}")
        result.SetPValueIsRightTail(True)
        result.SetBackgroundAsAlt(True)
        result.SetTestStatisticData(parts[0]["observed"])
        for setter, key in ((result.SetNullDistribution, "null"), (result.SetAltDistribution, "alt")):
            values = ROOT.std.vector("double")(np.concatenate([c[key] for c in parts]).tolist())
            dist = ROOT.RooStats.SamplingDistribution(f"{name}_{key}_{k}", key, values, "q")
            ROOT.SetOwnership(dist, False)  # the HypoTestResult owns it
            setter(dist)
        points.append((float(mu), result))
    limits = _invert(poi, cl, points, toys=True, label=f"{name} (toys)")
    return {
        "significance_toys": max(0.0, float(norm.isf(p0))),
        "p0_toys": p0,
        "p0_toys_err": None if bound else math.sqrt(p0 * (1 - p0) / n),
        "significance_toys_lower_bound": bound,
        **{f"{key}_toys": value for key, value in limits.items()},
    }


def _check(toys, workers, scheduler, seed, cl, scan, var=None) -> None:
    count = lambda x: isinstance(x, int) and not isinstance(x, bool)  # noqa: E731
    if not count(toys) or toys < 0:
        raise InputError(f"toys must be a non-negative integer, not {toys!r}: 0 for asymptotics only, else e.g. 500")
    if workers is not None and (not count(workers) or workers < 1):
        raise InputError(f"workers must be a positive integer, not {workers!r}")
    if workers is not None and scheduler is not None:
        raise InputError("give either workers (local Dask workers) or scheduler (an existing cluster), not both")
    if not count(seed) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    if isinstance(cl, bool) or not isinstance(cl, float | int) or not 0 < cl < 1:
        raise InputError(f"cl must be a confidence level between 0 and 1 (e.g. 0.95), not {cl!r}")
    lo, hi = (var.getMin(), var.getMax()) if var is not None else (-math.inf, math.inf)
    if scan is not None and not (len(scan) == 3 and count(scan[2]) and scan[2] >= 2 and lo <= scan[0] < scan[1] <= hi):
        raise InputError(f"scan must be (lo, hi, n) with {lo:g} <= lo < hi <= {hi:g} and n >= 2, not {scan!r}")


def run_hypotests(
    path: str | os.PathLike,
    out: str | os.PathLike,
    toys: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    seed: int = 1,
    poi: str | None = None,
    cl: float = 0.95,
    scan: tuple[float, float, int] | None = None,
    progress: bool = True,
) -> dict:
    """Discovery significance and CLs upper limits of every marked NLL: hypotest.json, .md and cls_limits.png.

    Parameters
    ----------
    path : str or path
        A workspace file marked by :func:`roosbi.mark_fits` or a ``roosbi demo`` output directory,
        at a path the Dask workers see (they open it themselves).
    out : str or path
        Output directory (made if needed; the files appear when everything is done).
    toys : int
        Toys per hypothesis and scan point, and background-only toys for p0; 0: asymptotics only.
    workers : int, optional
        Local Dask worker processes (default one per core); 1 runs in this process, without Dask.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of local workers.
    seed : int
        The toys of scan point k, chunk c come from ``SeedSequence(seed, spawn_key=(k, c))``.
    poi : str, optional
        The parameter of interest (default the first marked one); the other parameters float.
    cl : float
        Confidence level of the upper limits.
    scan : tuple (lo, hi, n), optional
        POI points of the scans. Default: after a first asymptotic scan of the POI's range, 40
        (asymptotic) and 16 (toys) points from half the lowest to 1.3 times the highest observed
        or +-2 sigma expected limit of any NLL.
    progress : bool
        Show a progress bar of the toys.

    Returns
    -------
    dict
        The contents of hypotest.json (docs/hypotests.md).

    Raises
    ------
    InputError
        Before any work: bad arguments, no marked NLLs, an unknown POI or one without a finite
        range holding 0, an unwritable ``out``, a scheduler that does not answer.
    """
    _check(toys, workers, scheduler, seed, cl, scan)
    out, path = Path(out), absolute_path(workspace_file(path))
    with deferred_interrupts() as guard:
        ws = open_workspace(path)
        ws.saveSnapshot(_SNAPSHOT, ws.allVars(), True)
        with _quiet():
            models, var = read_models(ws, path, poi)
        _check(toys, workers, scheduler, seed, cl, scan, var)
        check_output_dir(out)
        n_workers = (workers or os.cpu_count() or 1) if toys else 1
        with dask_workers(scheduler if toys else None, n_workers, path) as (client, n_workers):
            t0 = time.perf_counter()
            lo, hi, n = scan or (var.getMin(), var.getMax(), FIRST_POINTS + 1)
            grid = np.linspace(lo, hi, n)[0 if scan else 1 :]  # the first scan leaves out the lower limit
            with _quiet():
                if scan is None:
                    first = {name: asymptotic(ws, m, var, grid, cl, warn=False) for name, m in models.items()}
                    lo, hi = _scan_range(first, var)
                    grid = np.linspace(lo, hi, ASYMPTOTIC_POINTS)
                results = {name: asymptotic(ws, m, var, grid, cl) for name, m in models.items()}
            scans = [("asymptotic", grid, 1)]
            grid = np.linspace(lo, hi, TOY_POINTS if scan is None else n)
            scans.append(("toys", grid, toys))
            if toys:
                tasks = _tasks(list(models), grid, toys)
                log.info("%d toys per hypothesis at %d points of %s, %d NLL(s), %d worker(s)",
                         toys, len(grid), var.GetName(), len(models), n_workers)  # fmt: skip
                mu_hats = {name: r["mu_hat"] for name, r in results.items()}
                from tqdm.auto import tqdm

                total = sum(n * (1 if k == DISCOVERY else 2) for _, k, _, _, n in tasks)
                with tqdm(total=total, unit="toy", desc="toys", disable=not progress) as bar:
                    with interruptible() if client is not None else nullcontext():
                        chunks = run_toys(path, var.GetName(), seed, tasks, mu_hats, client, bar.update)
                with _quiet():
                    for name in models:
                        results[name].update(merge_toys(chunks, name, var, grid, cl))
            wall_s = time.perf_counter() - t0
        no_toys = dict.fromkeys(("significance_toys", "p0_toys", "p0_toys_err", "significance_toys_lower_bound",
                                 "cls_limit_toys", "cls_expected_toys", "scan_toys"))  # fmt: skip
        summary = dict(workspace=path, poi=var.GetName(), cl=cl, toys=toys, workers=n_workers, seed=seed, wall_s=wall_s)
        summary["scan"] = {kind: [float(g[0]), float(g[-1]), len(g)] if n else None for kind, g, n in scans}
        summary["nlls"] = list(models)
        for name, m in models.items():
            source = {"pdf": m.pdf.GetName(), "data": m.data.GetName(), "generator": m.generator.GetName()}
            summary[name] = {**source, "n_toys": toys, **no_toys, **results[name]}
        with staging(out) as stage:
            write_json(summary, stage / "hypotest.json")
            (stage / "hypotest.md").write_text(markdown(summary))
            plot_limits(summary, stage / "cls_limits.png")
            publish(stage, out, owned=HYPOTEST_FILES)
        guard.done()
    return summary


def _scan_range(results: dict, var) -> tuple[float, float]:
    """A range that holds every NLL's observed and +-2 sigma expected limits of a first asymptotic scan."""
    values = [v for r in results.values() for v in (r["cls_limit_asymptotic"], *r["cls_expected_asymptotic"].values())]
    values = [v for v in values if math.isfinite(v) and v > var.getMin()] or [var.getMax()]
    return max(var.getMin(), 0.5 * min(values)), min(var.getMax(), 1.3 * max(values))
