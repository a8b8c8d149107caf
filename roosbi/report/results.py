"""results.json and report.md: the comparison as data and as a page a person reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..inference import FitResult
from ..onnx import write_atomic


def results_dict(
    problem: str,
    seed: int,
    truth: dict[str, float],
    fits: dict[str, FitResult],
    training: dict,
    timings: dict[str, float],
    versions: dict[str, str] | None = None,
) -> dict:
    """The results in the layout of docs/architecture.md (``versions``: roosbi's and ROOT's, read here by default)."""
    versions = versions or software_versions()
    return {
        "problem": problem,
        "seed": seed,
        "roosbi_version": versions["roosbi"],
        "root_version": versions["root"],
        "truth": truth,
        "fits": {name: fit_record(fit) for name, fit in fits.items()},
        "training": training,
        "timings": timings,
    }


def software_versions() -> dict[str, str]:
    """``{"roosbi": ..., "root": ...}``: the versions results.json records."""
    from .. import __version__
    from ..library import import_root

    return {"roosbi": __version__, "root": str(import_root().gROOT.GetVersion())}


def fit_record(fit: FitResult) -> dict:
    """One fit as results.json writes it under ``fits``."""
    return {
        "status": fit.status,
        "nll_min": fit.nll_min,
        "time_s": fit.time_s,
        "params": {
            p: {"value": r.value, "error": r.error, "minos": [r.minos[0], r.minos[1]]} for p, r in fit.params.items()
        },
        # Beyond Minuit's status: a minimum on a limit, or a scanned point below it.
        "at_limit": list(fit.at_limit),
        "global_minimum": fit.lower_point is None,
        "lower_point": fit.lower_point,
        "flags": fit.flags,
    }


def write_json(data: dict, path: str | os.PathLike) -> Path:
    """Write JSON atomically."""
    return write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def markdown_report(results: dict, fits: dict[str, FitResult], figures: dict[str, str], notes: list[str]) -> str:
    """report.md: the comparison table, training and timing summaries, and the figures."""
    lines = [f"# roosbi: {results['problem']} (seed {results['seed']})", ""]
    truth = ", ".join(f"{k} = {v:g}" for k, v in results["truth"].items())
    lines += [
        f"Observed data generated with {truth}. ROOT {results['root_version']}, roosbi {results['roosbi_version']}.",
        "",
    ]
    lines += ["## Fits", ""]
    lines += [
        "| NLL | parameter | value | HESSE error | MINOS interval | bias / σ(analytic) | σ / σ(analytic) "
        "| NLL min | EDM | status (MIGRAD/HESSE/MINOS) | time [s] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref = fits.get("analytic")
    for name, fit in fits.items():
        for par, r in fit.params.items():
            bias = ratio = "—"
            if ref is not None and name != "analytic":
                a = ref.params[par]
                bias = f"{(r.value - a.value) / a.error:+.3f}"
                ratio = f"{r.error / a.error:.3f}"
            lines.append(
                f"| {name} | {par} | {r.value:.4f} | {r.error:.4f} | [{r.minos[0]:+.4f}, {r.minos[1]:+.4f}] | "
                f"{bias} | {ratio} | {fit.nll_min:.3f} | {fit.edm:.1e} "
                f"| {fit.status}/{fit.hesse_status}/{fit.minos_status} | {fit.time_s:.3f} |"
            )
    flagged = [(name, flag) for name, fit in fits.items() for flag in fit.flags]
    if flagged:
        lines += ["", "**Warning: some minima cannot be trusted as they are** (Minuit's status does not say so):"]
        lines += [""]
        lines += [f"- {name}: {flag}" for name, flag in flagged]
    lines += _training_error_lines(results)
    tr = results["training"]
    lines += ["", "## Training", ""]
    gold = " with the joint ratio and score (gold)" if tr.get("gold") else ""
    lines += [
        f"Estimator **{tr['estimator']}** on {tr['device']}: {tr['n_train']} events "
        f"({tr['n_train'] // 2} target + {tr['n_train'] // 2} reference){gold}, {tr['time_s']:.1f} s.",
        "",
    ]
    methods = tr.get("methods") or {}
    if methods:
        lines += ["| method | epochs | time [s] | model |", "|---|---|---|---|"]
        lines += [f"| {m} | {v['epochs']} | {v['time_s']:.1f} | {v['model']} |" for m, v in methods.items()]
    lines += [
        "",
        "## Timings",
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k.removesuffix('_s')} | {v:.2f} |" for k, v in results["timings"].items()]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Figures", ""]
    lines += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n".join(lines) + "\n"


def _training_error_lines(results: dict) -> list[str]:
    """report.md's table of the training-statistics uncertainty (bootstrap members), if the run has one."""
    rows = []
    for name, fit in results["fits"].items():
        members = fit.get("members")
        if not members:
            continue
        for par, r in fit["params"].items():
            values = ", ".join(f"{m['params'][par]:.4f}" for m in members)
            rows.append(
                f"| {name} | {par} | {r['value']:.4f} | {r['error']:.4f} | {r['training_error']:.4f} "
                f"| {len(members)} | {values} |"
            )
    if not rows:
        return []
    return [
        "",
        "## Training-statistics uncertainty",
        "",
        "Each ensemble member was trained on its own bootstrap resample of the training sample and its learned "
        "pdf fitted alone; the training error is the standard deviation of the members' fitted values, an "
        "uncertainty of the learned likelihood itself, next to the statistical (HESSE) error.",
        "",
        "| NLL | parameter | value | statistical error | training error | members | member values |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
