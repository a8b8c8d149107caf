"""The systematics section of report.md and its figure: profile curves, intervals with and without nu, impacts.

Both read the ``"systematics"`` entry of results.json (:func:`roosbi.demo.syst.systematics_results`).
"""

from __future__ import annotations

import math
from pathlib import Path

from .plots import STYLES, _colours, _save, plt


def systematics_lines(syst: dict) -> list[str]:
    """report.md's "Systematics" section from results.json's ``"systematics"``: every parameter of interest's."""
    lines = ["", "## Systematic uncertainties (nuisance parameters profiled)", ""]
    nuisances = syst["nuisance_parameters"]
    rows = [
        f"| {name} | {p['constraint'] or 'none (free)'} | {p['nominal']:.3g} | "
        + ("—" if p["prefit_error"] is None else f"{p['prefit_error']:.3g}")
        + f" | [{p['range'][0]:g}, {p['range'][1]:g}] |"
        for name, p in nuisances.items()
    ]
    lines += [
        "| nuisance | constraint | nominal | pre-fit error | range (training and fit) |",
        "|---|---|---|---|---|",
        *rows,
    ]
    others = syst.get("other_pois", {})
    if others:
        lines += [
            "",
            f"Several parameters of interest ({', '.join([syst['poi'], *others])}): each one's intervals and "
            "impacts below are computed with the other parameters of interest floating beside the nuisances.",
        ]
    for poi, entry in [(syst["poi"], syst), *others.items()]:
        lines += _poi_lines(poi, entry)
    return lines


def _poi_lines(poi: str, entry: dict) -> list[str]:
    """The interval and impact tables of one parameter of interest."""
    lines = [
        "",
        f"68 % intervals of {poi}: **with systematics** (nuisances profiled: MINOS on the NLL times the "
        "constraints, all nuisances floating) and **without** (nuisances fixed at their nominal values). "
        "The systematic part is sqrt(width_with² − width_without²) / 2; the last columns compare the profile "
        "interval with the analytic one (width ratio; centre shift in units of the analytic half-width).",
        "",
        f"| NLL | {poi} (with syst.) | interval with syst. | width | {poi} (stat. only) | interval stat. only "
        "| width | syst. part | width / analytic | centre shift / σ(analytic) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, interval in entry["intervals"].items():
        w, s = interval["with_systematics"], interval["without_systematics"]
        compare = interval.get("vs_analytic") or {}
        ratio = "—" if not compare else f"{compare['width_ratio']:.3f}"
        shift = "—" if not compare else f"{compare['centre_shift']:+.3f}"
        lines.append(
            f"| {name} | {w['value']:.4f} | [{w['interval'][0]:.4f}, {w['interval'][1]:.4f}] | {w['width']:.4f} "
            f"| {s['value']:.4f} | [{s['interval'][0]:.4f}, {s['interval'][1]:.4f}] | {s['width']:.4f} "
            f"| {interval['systematic']:.4f} | {ratio} | {shift} |"
        )
    lines += [
        "",
        f"Impacts on {poi}: each nuisance fixed at its post-fit value ± its post-fit (HESSE) error, and at its "
        f"nominal ± its pre-fit error, the others profiled; the shift of {poi}'s best fit. Pull = (post-fit − "
        "nominal) / pre-fit error; constraint = post-fit error / pre-fit error.",
        "",
        "| NLL | nuisance | post-fit value | post-fit error | pull | constraint | impact +1σ (post) "
        "| impact −1σ (post) | impact +1σ (pre) | impact −1σ (pre) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, per_nu in entry["impacts"].items():
        for nu, e in per_nu.items():
            pre = e["prefit"] or {"up": math.nan, "down": math.nan}
            lines.append(
                f"| {name} | {nu} | {e['value']:+.4f} | {e['error']:.4f} | {_num(e['pull'], '+.3f')} "
                f"| {_num(e['constraint'], '.3f')} | {e['postfit']['up']:+.4f} | {e['postfit']['down']:+.4f} "
                f"| {pre['up']:+.4f} | {pre['down']:+.4f} |"
            )
    return lines


def _num(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def plot_systematics(syst: dict, truth: dict, path) -> Path:
    """systematics.png: profile Delta NLL curves of the parameter of interest (left), impacts (right).

    Left: each NLL's profile curve (nuisances minimised at each point, solid) and its curve with
    the nuisances at their nominal values (statistical only, thin), with the 1 and 2 sigma
    levels. Right: the post-fit ±1σ impacts of each nuisance on the parameter of interest, one
    bar group per NLL.
    """
    poi = syst["poi"]
    profile = syst["profile"]
    names = list(profile["delta_nll"])
    colours = _colours(names)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13.0, 4.8), gridspec_kw={"width_ratios": [1.3, 1.0]})
    values = profile["values"]
    for name in names:
        interval = syst["intervals"][name]["with_systematics"]
        label = f"{name}: [{interval['interval'][0]:.3f}, {interval['interval'][1]:.3f}]"
        ax.plot(values, profile["delta_nll"][name], STYLES.get(name, "-"), color=colours[name], lw=2, label=label)
        ax.plot(values, profile["delta_nll_stat_only"][name], STYLES.get(name, "-"), color=colours[name], lw=0.9)
    for level, text in ((0.5, r"1$\sigma$"), (2.0, r"2$\sigma$")):
        ax.axhline(level, color="grey", lw=0.8, ls="--")
        ax.text(values[-1], level, f" {text}", va="center", fontsize=9, color="grey")
    if poi in truth:
        ax.axvline(truth[poi], color="grey", lw=0.8, ls=":", label=f"true {poi} = {truth[poi]:g}")
    ax.set_xlabel(poi)
    ax.set_ylabel(r"$\Delta$NLL (profiled: thick; nuisances at nominal: thin)")
    ax.set_ylim(0, 4.5)
    ax.set_xlim(values[0], values[-1])
    ax.legend(frameon=False, fontsize=9, title="68 % profile intervals", title_fontsize=9)
    nuisances = list(syst["nuisance_parameters"])
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        per_nu = syst["impacts"][name]
        ys = [i + (k - (len(names) - 1) / 2) * width for i in range(len(nuisances))]
        up = [per_nu[nu]["postfit"]["up"] for nu in nuisances]
        down = [per_nu[nu]["postfit"]["down"] for nu in nuisances]
        bx.barh(ys, up, height=width, color=colours[name], alpha=0.85, label=name)
        bx.barh(ys, down, height=width, color=colours[name], alpha=0.4, hatch="//")
    bx.axvline(0.0, color="grey", lw=0.8)
    bx.set_yticks(range(len(nuisances)), nuisances)
    bx.set_xlabel(f"shift of the best-fit {poi} with " + r"$\nu = \hat\nu \pm \sigma_\nu$ (solid: +, hatched: $-$)")
    bx.set_title("post-fit impacts", fontsize=10)
    bx.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


#: The comparison's approaches (results.json ``summaries``), as the table and the figure name them.
SUMMARY_LABELS = {
    "neos": "neos summary (binned)",
    "bce": "BCE classifier (same bins)",
    "learned_unbinned": "learned likelihood (unbinned)",
    "analytic": "analytic likelihood (unbinned)",
}


def summaries_lines(summaries: dict) -> list[str]:
    """report.md's table of the summary statistics: expected CLs limits and significances, systematics on and off."""
    on, off = summaries["summaries"], summaries["summaries_stat_only"]
    lines = [
        "",
        "## Summary statistics: neos, BCE, learned and analytic likelihoods",
        "",
        "Median expected 95 % CLs upper limit on mu (background-only Asimov data, asymptotic q̃μ) and median "
        "expected discovery significance (Asimov data at mu = 1), with the systematics (nuisances profiled) and "
        "without (stat only: no histosys, nuisances at nominal). neos and BCE bin their summary in the same "
        "equal bins with the same nuisances; docs/systematics.md says how each is computed.",
        "",
        "| approach | CLs limit (syst.) | CLs limit (stat. only) | significance (syst.) | significance (stat. only) |",
        "|---|---|---|---|---|",
    ]
    for name, label in SUMMARY_LABELS.items():
        if name in on:
            a, b = on[name], off.get(name, {"cls_limit": math.nan, "significance": math.nan})
            lines.append(
                f"| {label} | {a['cls_limit']:.4f} | {b['cls_limit']:.4f} | {a['significance']:.3f} "
                f"| {b['significance']:.3f} |"
            )
    if "neos" in on and "bce" in on:
        ratio, ratio0 = (d["neos"]["cls_limit"] / d["bce"]["cls_limit"] for d in (on, off))
        lines += ["", f"neos / BCE expected limit: {ratio:.3f} with the systematics, {ratio0:.3f} without."]
    fit = summaries.get("summary_workspace")
    if fit:
        pars = ", ".join(f"{k} = {v['value']:.4f} ± {v['error']:.4f}" for k, v in fit["fit"]["params"].items())
        lines += [
            "",
            f"The neos summary in RooFit: `{fit['model']}` evaluated natively (RooLearnedRatio, output score; "
            f"max |native − torch| = {fit['native_vs_torch']:.1e}) as a column of the observed data, binned into the "
            f"HistFactory model of `{fit['file']}` (nuisances {', '.join(fit['nuisances'].values())}, unit Gaussian "
            f"constraints). Fit to the observed data: {pars}.",
        ]
    return lines


def plot_summaries(summaries: dict, path) -> Path:
    """summaries.png: expected CLs limits (left) and significances (right) of each approach, systematics on and off."""
    on, off = summaries["summaries"], summaries["summaries_stat_only"]
    names = [n for n in SUMMARY_LABELS if n in on]
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.2))
    ys = list(range(len(names)))
    for ax, key, title in (
        (axes[0], "cls_limit", "median expected 95 % CLs limit on mu (lower is better)"),
        (axes[1], "significance", "median expected discovery significance (higher is better)"),
    ):
        ax.barh([y - 0.2 for y in ys], [on[n][key] for n in names], height=0.4, color="C3", label="systematics on")
        ax.barh([y + 0.2 for y in ys], [off[n][key] for n in names], height=0.4, color="C0", label="stat. only")
        for y, n in zip(ys, names, strict=True):
            ax.text(on[n][key], y - 0.2, f" {on[n][key]:.3f}", va="center", fontsize=8)
            ax.text(off[n][key], y + 0.2, f" {off[n][key]:.3f}", va="center", fontsize=8)
        ax.set_yticks(ys, [SUMMARY_LABELS[n] for n in names] if ax is axes[0] else [""] * len(names))
        ax.invert_yaxis()
        lo = min(min(on[n][key], off[n][key]) for n in names)
        hi = max(max(on[n][key], off[n][key]) for n in names)
        ax.set_xlim(0.8 * lo, hi + 0.15 * (hi - 0.8 * lo))
        ax.set_title(title, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, fontsize=9, loc="lower center", ncol=2)
    fig.tight_layout(rect=(0.0, 0.06, 1.0, 1.0))
    return _save(fig, path)
