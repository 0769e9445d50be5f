"""`compare --plot`: pass@k curves on a log-k axis with 95% bands (one row per benchmark), and with
`--plot-panels` pass@k against the mean token entropy, log-probability and completion length of each
checkpoint.

Every panel has its own legend; axes are scaled to the data; checkpoints that coincide stay visible
(curves differ in dash pattern, points are concentric hollow markers); points of different
checkpoints are never joined by a line (there is no order between them to suggest); a run that
covers part of its benchmark is noted under the figure. Drawn on a bare matplotlib `Figure` with the
Agg canvas: no display, no global pyplot state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..scoring.metrics import per_problem
from ..scoring.stats import bootstrap_ci
from ..types import EvalkitError
from .compare import Group
from .runs import RunData

STAT_PANELS = {"entropy": "mean token entropy (nats)", "logprob": "mean token log-prob", "tokens": "mean completion length (tokens)"}
CURVE_POINTS = 40  # log-spaced ks per curve; the band is bootstrapped at each
DASHES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))
K_MARKERS = "osD^vP*X"
MAX_X_LABELS = 7
LABEL_CHARS = 42


def curve_ks(n: int) -> list[int]:
    return sorted({int(round(x)) for x in np.logspace(0, np.log10(n), CURVE_POINTS)} | {1, n})


def pass_curve(run: RunData) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """The curve both the PNG and `evalkit view` draw: ks, mean pass@k and its 95% band (the same
    estimator and bootstrap as every table), at log-spaced k up to the run's n."""
    ks = curve_ks(run.design.min_n if run.design is not None else run.n_min())
    values = per_problem(run.table, "pass", ks, run.design)
    band = bootstrap_ci(values)
    return ks, values.mean(axis=0), band[:, 0], band[:, 1]


def parse_panels(text: str | None) -> list[str]:
    """--plot-panels: `all` or a comma list of entropy, logprob, tokens (the pass@k panel always comes first)."""
    if not text:
        return []
    names = list(STAT_PANELS) if text.strip() == "all" else [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in STAT_PANELS]
    if bad:
        raise EvalkitError(f"--plot-panels {text!r}: unknown panel {bad[0]!r}; give all, or some of {', '.join(STAT_PANELS)}")
    return list(dict.fromkeys(names))


def comparison_figure(groups: Sequence[Group], report: dict, panels: Sequence[str] = ()) -> Any:
    """The Figure; stat panels no run recorded are left out."""
    from matplotlib.figure import Figure

    benches = {b["benchmark"]: b for b in report["benchmarks"]}
    stats = [p for p in panels if any(r[p]["all"] is not None for b in report["benchmarks"] for r in b["runs"])]
    cols = 1 + len(stats)
    notes = partial_notes(report)
    fig = Figure(figsize=(6.0 + 4.6 * len(stats), 4.4 * len(groups) + 0.25 * len(notes)), layout="constrained")
    axes = fig.subplots(len(groups), cols, squeeze=False)
    for row, group in zip(axes, groups):
        bench = benches[group.benchmark]
        _curves(row[0], group, bench)
        for ax, key in zip(row[1:], stats):
            _against(ax, bench, key)
    if notes:
        fig.text(0.01, 0.005, "\n".join(notes), fontsize=8, color="0.3", va="bottom")
        fig.get_layout_engine().set(rect=(0, 0.03 * len(notes) / len(groups) + 0.01, 1, 1 - 0.03 * len(notes) / len(groups) - 0.01))
    return fig


def plot_comparison(groups: Sequence[Group], report: dict, path: str | Path, panels: Sequence[str] = ()) -> Path:
    """Write the PNG atomically (a failure leaves no partial file)."""
    out = Path(path)
    if out.parent and not out.parent.exists():
        raise EvalkitError(f"--plot {out}: directory {out.parent} does not exist")
    fig = comparison_figure(groups, report, panels)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=130, format="png")
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EvalkitError(f"cannot write {out} ({e.strerror or e}); choose a writable --plot path") from None
    return out


def partial_notes(report: dict) -> list[str]:
    """One line per run that covers part of its benchmark."""
    return [f"note: {r['label']} covers {r['num_problems']} of the {r['num_problems_total']} problems of {b['benchmark']} (partial run)"
            for b in report["benchmarks"] for r in b["runs"] if r.get("num_problems_total") and r["num_problems"] < r["num_problems_total"]]


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else "..." + label[-(LABEL_CHARS - 3):]


def _curves(ax, group: Group, bench: dict) -> None:
    """Per checkpoint: its curve (own dash pattern), band, and hollow markers at the table's ks."""
    lows, highs, kmax = [], [], 1
    for i, run in enumerate(group.runs):
        color, row = f"C{i % 10}", bench["runs"][i]
        ks, mean, lo, hi = pass_curve(run)
        ax.fill_between(ks, 100 * lo, 100 * hi, color=color, alpha=0.12, linewidth=0)
        ax.plot(ks, 100 * mean, color=color, linestyle=DASHES[i % len(DASHES)], linewidth=max(1.2, 2.2 - 0.25 * i), label=_short(run.label))
        table_ks = bench["ks"]
        ax.scatter(table_ks, [100 * row["pass_at_k"][str(k)]["value"] for k in table_ks], s=max(14, 70 - 14 * i), facecolors="none",
                   edgecolors=color, linewidths=1.3, zorder=3)
        lows.append(100 * lo.min())
        highs.append(100 * hi.max())
        kmax = max(kmax, ks[-1])
    _log2_axis(ax, kmax)
    _fit_percent(ax, min(lows), max(highs))
    ax.set_xlabel("k (log scale)")
    ax.set_ylabel("pass@k (%)")
    ax.set_title(f"{group.benchmark}: pass@k, 95% bands")
    ax.grid(True, which="major", alpha=0.3)
    if len(group.runs) <= 4:
        ax.legend(fontsize="small", loc="best", title="checkpoint", title_fontsize="small")
    else:  # many checkpoints: below the panel, off the curves
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False)


def _log2_axis(ax, kmax: int) -> None:
    """Labels at powers of two up to kmax, thinned so that at most MAX_X_LABELS are drawn."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    powers = [2**e for e in range(int(np.log2(max(kmax, 1))) + 1)]
    stride = -(-len(powers) // MAX_X_LABELS)
    ticks = powers[::stride] + ([kmax] if kmax not in powers[::stride] and kmax / powers[::stride][-1] > 1.5 else [])
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(0.85, kmax * 1.15)


def _fit_percent(ax, low: float, high: float) -> None:
    """The data's range with a margin, inside [0, 100]."""
    pad = max(1.0, 0.08 * (high - low))
    ax.set_ylim(max(-2.0, low - pad), min(102.0, high + pad))  # room for a marker at 0 or 100


def _against(ax, bench: dict, key: str) -> None:
    """pass@k against one statistic: colour = checkpoint, marker = k, hollow and concentric so that
    coinciding checkpoints all show; no line joins checkpoints."""
    from matplotlib.lines import Line2D

    runs, ks = bench["runs"], bench["ks"]
    ys_all = []
    for i, r in enumerate(runs):
        x = r[key]["all"]
        if x is None:
            continue
        for j, k in enumerate(ks):
            y = 100 * r["pass_at_k"][str(k)]["value"]
            ys_all.append(y)
            ax.scatter([x], [y], marker=K_MARKERS[j % len(K_MARKERS)], s=max(16, 90 - 18 * i), facecolors="none",
                       edgecolors=f"C{i % 10}", linewidths=1.4, zorder=3)
    if ys_all:
        _fit_percent(ax, min(ys_all), max(ys_all))
    ax.margins(x=0.12)
    ax.set_xlabel(STAT_PANELS[key])
    ax.set_ylabel("pass@k (%)")
    ax.set_title(f"{bench['benchmark']}: pass@k vs {key}")
    ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor=f"C{i % 10}", label=_short(r["label"]))
               for i, r in enumerate(runs) if r[key]["all"] is not None]
    handles += [Line2D([], [], linestyle="none", marker=K_MARKERS[j % len(K_MARKERS)], color="0.35", markerfacecolor="none", label=f"pass@{k}")
                for j, k in enumerate(ks)]
    ax.legend(handles=handles, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False)
