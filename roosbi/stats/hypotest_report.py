"""hypotest.md and cls_limits.png: the report of :func:`roosbi.stats.hypotest.run_hypotests`."""

from __future__ import annotations

from pathlib import Path


def markdown(results: dict) -> str:
    """hypotest.md: one row per NLL."""

    def limit(r: dict, kind: str) -> str:
        e = r[f"cls_expected_{kind}"]
        return "– | –" if e is None else f"{r[f'cls_limit_{kind}']:.3f} | {e['0']:.3f} [{e['-1']:.3f}, {e['1']:.3f}]"

    poi, toys = results["poi"], results["toys"]
    lines = [
        f"# roosbi hypotest: {poi}, CLs {100 * results['cl']:g} % upper limits and discovery significance",
        "",
        f"{toys} toys per hypothesis and scan point (seed {results['seed']}), {results['workers']} worker(s), "
        f"{results['wall_s']:.1f} s. Expected limits: median [−1σ, +1σ]. Z toys '>': no toy reached the observed q0.",
        "",
        f"| NLL | {poi} fitted | Z asymptotic | Z toys | limit asymptotic | expected asymptotic | limit toys "
        "| expected toys | toys drawn from |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results["nlls"]:
        r = results[name]
        z = (
            "–"
            if r["significance_toys"] is None
            else f"{'> ' * r['significance_toys_lower_bound']}{r['significance_toys']:.2f}"
        )
        lines.append(f"| {name} | {r['mu_hat']:.3f} | {r['significance_asymptotic']:.2f} | {z} | "
                     f"{limit(r, 'asymptotic')} | {limit(r, 'toys')} | {r['generator']} |")  # fmt: skip
    return "\n".join([*lines, "", "![CLs scans](cls_limits.png)", ""])


def plot_limits(results: dict, path: Path) -> None:
    """cls_limits.png: CLs against the POI per NLL (rows), asymptotic and toys side by side, with Brazil bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, kinds = results["nlls"], ["asymptotic"] + ["toys"] * bool(results["toys"])
    fig, axes = plt.subplots(len(names), len(kinds), figsize=(5.5 * len(kinds), 3.4 * len(names)), squeeze=False)
    for (i, name), (j, kind) in ((a, b) for a in enumerate(names) for b in enumerate(kinds)):
        ax, r = axes[i][j], results[name]
        scan, limit, median = r[f"scan_{kind}"], r[f"cls_limit_{kind}"], r[f"cls_expected_{kind}"]["0"]
        mu, exp = scan["mu"], scan["cls_expected"]
        ax.fill_between(mu, exp["-2"], exp["2"], color="#ffdf00", label="expected ±2σ")
        ax.fill_between(mu, exp["-1"], exp["1"], color="#00c000", label="expected ±1σ")
        ax.plot(mu, exp["0"], "k--", lw=1, label="expected median")
        ax.plot(mu, scan["cls"], "ko-", ms=2.5, lw=1.2, label="observed")
        ax.axhline(1 - results["cl"], color="red", lw=1, label=f"CLs = {1 - results['cl']:.2g}")
        ax.axvline(limit, color="grey", lw=0.8, ls=":")
        ax.set(xlabel=results["poi"], ylabel="CLs", ylim=(0, 1.05))
        ax.set_title(f"{name}, {kind}: limit {limit:.3f}, expected {median:.3f}", fontsize=10)
        if i == j == 0:
            ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
