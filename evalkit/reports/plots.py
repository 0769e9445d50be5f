"""`compare --plot`: pass@k curves on a log-k axis with 95% bands, and pass@k against the mean token
entropy, log-probability and completion length of each checkpoint (one row per benchmark).

Drawn on a bare matplotlib `Figure` with the Agg canvas: no display, no global pyplot state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..scoring.metrics import per_problem
from ..scoring.stats import bootstrap_ci
from ..types import EvalkitError
from .compare import Group
from .runs import RunData

STAT_PANELS = (("entropy", "mean token entropy (nats)"), ("logprob", "mean token log-prob"), ("tokens", "mean completion length (tokens)"))
CURVE_POINTS = 40  # log-spaced ks per curve; the band is bootstrapped at each


def curve_ks(n: int) -> list[int]:
    return sorted({int(round(x)) for x in np.logspace(0, np.log10(n), CURVE_POINTS)} | {1, n})


def pass_curve(run: RunData) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """The curve both the PNG and `evalkit view` draw: ks, mean pass@k and its 95% band (the same
    estimator and bootstrap as every table), at log-spaced k up to the run's n."""
    ks = curve_ks(run.design.min_n if run.design is not None else run.n_min())
    values = per_problem(run.table, "pass", ks, run.design)
    band = bootstrap_ci(values)
    return ks, values.mean(axis=0), band[:, 0], band[:, 1]


def plot_comparison(groups: Sequence[Group], report: dict, path: str | Path) -> Path:
    """Write the PNG; panels for statistics no run recorded are left out."""
    from matplotlib.figure import Figure

    benches = {b["benchmark"]: b for b in report["benchmarks"]}
    stats = [(key, label) for key, label in STAT_PANELS if any(r[key]["all"] is not None for b in report["benchmarks"] for r in b["runs"])]
    cols = 1 + len(stats)
    fig = Figure(figsize=(5.2 * cols, 4.2 * len(groups)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(groups), cols, squeeze=False))
    for row, group in zip(axes, groups):
        bench = benches[group.benchmark]
        colors = [f"C{i % 10}" for i in range(len(group.runs))]
        _curves(row[0], group, colors)
        for ax, (key, label) in zip(row[1:], stats):
            _against(ax, bench, key, label, colors)
    out = Path(path)
    if out.parent and not out.parent.exists():
        raise EvalkitError(f"--plot {out}: directory {out.parent} does not exist")
    fig.savefig(out, dpi=110)
    return out


def _curves(ax, group: Group, colors: list[str]) -> None:
    for run, color in zip(group.runs, colors):
        ks, mean, lo, hi = pass_curve(run)
        ax.plot(ks, 100 * mean, color=color, label=run.label, marker="o" if len(ks) < 3 else None)
        ax.fill_between(ks, 100 * lo, 100 * hi, color=color, alpha=0.15, linewidth=0)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("k (log scale)")
    ax.set_ylabel("pass@k (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"{group.benchmark}: pass@k, 95% bands")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def _against(ax, bench: dict, key: str, label: str, colors: list[str]) -> None:
    """One point per (checkpoint, k): color = checkpoint, marker = k; a gray line joins checkpoints in order."""
    markers = "osD^vP*X"
    runs = bench["runs"]
    for j, k in enumerate(bench["ks"]):
        xs = [r[key]["all"] for r in runs]
        ys = [100 * r["pass_at_k"][str(k)]["value"] for r in runs]
        pts = [(x, y, c) for x, y, c in zip(xs, ys, colors) if x is not None]
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="0.6", linewidth=0.8, zorder=1)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[p[2] for p in pts], marker=markers[j % len(markers)], zorder=2, label=f"pass@{k}")
    ax.set_xlabel(label)
    ax.set_ylabel("pass@k (%)")
    ax.set_title(f"{bench['benchmark']}: pass@k vs {key} (color = checkpoint)")
    ax.grid(True, alpha=0.3)
    handles = ax.collections
    if handles:
        legend = ax.legend(fontsize="small")
        for h in legend.legend_handles:
            h.set_color("0.3")
