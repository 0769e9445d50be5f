"""`evalkit dynamics --plot`: the training-dynamics figure, x = training step.

One panel per k (up to three: the smallest, a middle and the largest asked for) with 95% bands, then
mean token entropy, mean completion length with the truncation rate on a second axis, and update
sparsity when --base-model gave it. One colour and marker per training run throughout, one legend
for the figure; the base run (--base-run) is a grey dashed line with its band. Checkpoints whose
settings differ from the reference are hollow. Drawn on a bare matplotlib Figure (Agg, no pyplot).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..types import EvalkitError

# Okabe-Ito: distinguishable with colour-vision deficiencies; markers tell runs apart in greyscale too
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
BASE_COLOR = "0.45"
STYLE = {"font.size": 8.5, "axes.titlesize": 9.5, "axes.labelsize": 8.5, "legend.fontsize": 8, "xtick.labelsize": 7.5,
         "ytick.labelsize": 7.5, "axes.spines.top": False, "axes.linewidth": 0.7, "lines.linewidth": 1.5, "lines.markersize": 4.5,
         "grid.linewidth": 0.5, "grid.alpha": 0.35, "font.family": "DejaVu Sans", "svg.fonttype": "none", "pdf.fonttype": 42}


def shown_ks(ks: list[int]) -> list[int]:
    """At most three ks get a panel: the smallest, the one nearest the geometric middle, the largest."""
    if len(ks) <= 3:
        return list(ks)
    middle = min(ks[1:-1], key=lambda k: abs(np.log(k) - (np.log(ks[0]) + np.log(ks[-1])) / 2))
    return [ks[0], middle, ks[-1]]


def panels(report: dict) -> list[tuple[str, Any]]:
    points = [pt for r in report["runs"] for pt in r["points"]]
    out: list[tuple[str, Any]] = [("pass", k) for k in shown_ks(report["ks"])]
    if any(pt["mean_entropy"] is not None for pt in points):
        out.append(("entropy", None))
    if any(pt["mean_tokens"] is not None for pt in points):
        out.append(("length", None))
    if any(pt["sparsity"] is not None for pt in points):
        out.append(("sparsity", None))
    return out


def figure(report: dict) -> Any:
    """The Figure: panels in rows of up to three; the legend takes the first free cell, else the top."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    wanted = panels(report)
    cols = 1 if len(wanted) == 1 else 2 if len(wanted) in (2, 4) else 3
    rows = -(-len(wanted) // cols)
    with rc_context(STYLE):
        fig = Figure(figsize=(3.45 * cols, 2.75 * rows + 0.55), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, (kind, k) in zip(axes, wanted):
            _step_axis(ax)
            DRAW[kind](ax, report, k)
        _legend(fig, report, axes[len(wanted):])
        notes = _notes(report)
        if notes:
            fig.text(0.005, 0.002, "\n".join(notes), fontsize=6.8, color="0.3", va="bottom", ha="left")
            fig.get_layout_engine().set(rect=(0, 0.022 * len(notes) + 0.01, 1, 1 - 0.022 * len(notes) - 0.01))
    return fig


def _series(run: dict, value: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, values, hollow) of one run's points where `value(point)` is known."""
    pts = [pt for pt in run["points"] if value(pt) is not None]
    return (np.array([pt["step"] for pt in pts], float), np.array([value(pt) for pt in pts], float),
            np.array([bool(pt["settings_differ"]) for pt in pts]))


def _line(ax, x: np.ndarray, y: np.ndarray, hollow: np.ndarray, i: int, **kw: Any) -> None:
    color, marker = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
    ax.plot(x, y, color=color, zorder=3, **kw)
    for mask, face in ((~hollow, color), (hollow, "white")):
        if mask.any():
            ax.plot(x[mask], y[mask], linestyle="none", marker=marker, color=color, markerfacecolor=face, zorder=4)


def _pass(ax, report: dict, k: int) -> None:
    key = str(k)
    base = report["base_run"]
    if base is not None:
        lo, hi = base["ci95"][key]
        ax.axhspan(100 * lo, 100 * hi, color=BASE_COLOR, alpha=0.1, linewidth=0, zorder=1)
        ax.axhline(100 * base["pass_at_k"][key], color=BASE_COLOR, linestyle="--", linewidth=1.1, zorder=2)
    for i, run in enumerate(report["runs"]):
        x, y, hollow = _series(run, lambda pt: pt["pass_at_k"][key])
        lo, hi = (np.array([100 * pt["ci95"][key][j] for pt in run["points"]]) for j in (0, 1))
        color = COLORS[i % len(COLORS)]
        if len(x) > 1:
            ax.fill_between(x, lo, hi, color=color, alpha=0.16, linewidth=0, zorder=2)
        else:
            ax.errorbar(x, 100 * y, yerr=np.array([100 * y - lo, hi - 100 * y]), color=color, linewidth=1, capsize=2, zorder=2)
        _line(ax, x, 100 * y, hollow, i)
    ax.set_title(f"pass@{k}")
    ax.set_ylabel(f"pass@{k} (%)")
    ax.margins(y=0.1)
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, -1.0), min(high, 101.0))  # a share: the margin stops at 0 and 100


def _entropy(ax, report: dict, _: Any) -> None:
    _plain(ax, report, "mean_entropy", 1.0)
    ax.set_title("token entropy")
    ax.set_ylabel("mean entropy (nats/token)")


def _length(ax, report: dict, _: Any) -> None:
    """Mean length (solid, left axis) and the truncation rate (dashed, right axis) of each checkpoint."""
    _plain(ax, report, "mean_tokens", 1.0)
    twin = ax.twinx()
    twin.spines["right"].set_visible(True)
    top = 0.0
    for i, run in enumerate(report["runs"]):
        x, y, hollow = _series(run, lambda pt: pt["truncated_rate"])
        twin.plot(x, 100 * y, color=COLORS[i % len(COLORS)], linestyle=(0, (3, 2)), linewidth=1.1, alpha=0.9, marker=".", markersize=3)
        top = max(top, float((100 * y).max()) if len(y) else 0.0)
    twin.set_ylim(-0.04 * max(1.0, top), max(1.0, top) * 1.15)  # a rate of 0 stays off the frame
    twin.set_ylabel("truncated (%, dashed)")
    ax.set_title("length and truncation")
    ax.set_ylabel("mean length (tokens, solid)")


def _sparsity(ax, report: dict, _: Any) -> None:
    _plain(ax, report, "sparsity", 100.0, base=False)
    ax.set_title("update sparsity")
    ax.set_ylabel("parameters unchanged (%)")


def _plain(ax, report: dict, field: str, scale: float, base: bool = True) -> None:
    ref = report["base_run"]
    if base and ref is not None and ref.get(field) is not None:
        ax.axhline(scale * ref[field], color=BASE_COLOR, linestyle="--", linewidth=1.1, zorder=2)
    for i, run in enumerate(report["runs"]):
        x, y, hollow = _series(run, lambda pt: pt[field])
        _line(ax, x, scale * y, hollow, i)


DRAW = {"pass": _pass, "entropy": _entropy, "length": _length, "sparsity": _sparsity}


def _step_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], integer=True, min_n_ticks=2))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if abs(x) >= 10_000 else f"{x:g}"))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.margins(x=0.04, y=0.1)
    ax.set_xlabel("training step")
    ax.grid(True)


def _legend(fig, report: dict, free: Any) -> None:
    """One legend: a marker and colour per training run, the base run, what hollow means."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=COLORS[i % len(COLORS)], marker=MARKERS[i % len(MARKERS)], label=run["name"])
               for i, run in enumerate(report["runs"])]
    if report["base_run"] is not None:
        handles.append(Line2D([], [], color=BASE_COLOR, linestyle="--", label=f"base run ({report['base_run']['model']})"))
    if any(pt["settings_differ"] for r in report["runs"] for pt in r["points"]):
        handles.append(Line2D([], [], color="0.2", marker="o", markerfacecolor="white", linestyle="none", label="settings differ"))
    if len(free):
        for ax in free:
            ax.set_axis_off()
        free[0].legend(handles=handles, loc="center", frameon=False, title="training run", fontsize=8.5)
        fig.suptitle(_title(report), fontsize=10)
    else:  # no free cell: the legend goes on top, under the title (its own title, so the two cannot overlap)
        legend = fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 5), frameon=False,
                            title=_title(report), title_fontsize=10)
        legend.get_title().set_fontweight("normal")


def _title(report: dict) -> str:
    ns = sorted({pt["n"] for r in report["runs"] for pt in r["points"]})
    n = f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}..{ns[-1]}"
    return f"{report['benchmark']}: training dynamics ({n} samples per problem, 95% bootstrap bands)"


def _notes(report: dict) -> list[str]:
    """The report's caveats that concern the figure: partial coverage, and what hollow markers mean."""
    out = [line for line in report["notes"] if line.startswith("partial")][:2]
    differ = [line for line in report["notes"] if line.startswith("settings differ")]
    if differ:
        out.append("hollow markers: " + differ[0] + (f" (and {len(differ) - 1} more: see the JSON)" if len(differ) > 1 else ""))
    return out


def write_figure(report: dict, path: str | Path) -> Path:
    """Write the figure atomically; the format follows the suffix (.png at 200 dpi, .pdf, .svg)."""
    out = Path(path)
    fig = figure(report)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, dpi=200, format=out.suffix[1:].lower())
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EvalkitError(f"cannot write {out} ({e.strerror or e}); choose a writable --plot path") from None
    return out
