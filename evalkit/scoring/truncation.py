"""How many samples hit --max-tokens, and what accuracy looks like without them.

A sample cut at the token limit (finish_reason "length") never got to answer: graders mark it wrong
(`truncated`), so a run whose limit is too short for the model reads as a worse model, and the run
exits 0. Every table therefore shows, per run and benchmark, the truncation rate with a 95% interval
(bootstrap over problems, as pass@k's) and pass@1 over the completed samples beside pass@1 over all;
`compare` warns when two runs' rates differ by more than their intervals. pass@1 over completed samples
is the mean over problems of each problem's accuracy among its completed samples (problems with none
left out and counted), so it weighs problems as pass@1 does.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

from ..store import SAMPLES, RunStore, iter_finish_reasons
from .stats import bootstrap_ci
from .table import RunTable


def length_cut(store: RunStore, table: RunTable) -> np.ndarray:
    """Per sample of `table` (its order): whether it ended at the token limit (the first line of a pair wins).
    From the table's finish-reason column when it has every sample's, else by scanning samples.jsonl."""
    if table.finish is not None and len(table.finish) and (table.finish >= 0).all():
        return table.finished_by("length")
    rows_of = {pid: i for i, pid in enumerate(table.problem_ids)}
    n, offsets = table.n.tolist(), table.offsets.tolist()
    positions, cut = array("q"), array("B")
    for pid, i, reason in iter_finish_reasons(store.path / SAMPLES):
        r = rows_of.get(pid)
        if r is None or i >= n[r]:
            continue
        positions.append(offsets[r] + i)
        cut.append(reason == "length")
    out = np.zeros(len(table.correct), dtype=bool)
    pos = np.frombuffer(positions, dtype=np.int64)
    first = np.unique(pos, return_index=True)[1]
    out[pos[first]] = np.frombuffer(cut, dtype=np.uint8)[first].astype(bool)
    return out


def truncation_figures(table: RunTable, cut: np.ndarray) -> dict[str, Any]:
    """metrics.json's `truncation`: samples cut at --max-tokens (count, rate, 95% interval), pass@1 over all
    samples, over completed ones, and over the cut ones."""
    n = table.n.astype(np.float64)
    starts = table.offsets[:-1]
    cut_per = np.add.reduceat(cut.astype(np.int64), starts) if len(n) else np.zeros(0)
    ok = table.correct
    ok_cut = np.add.reduceat((ok & cut).astype(np.int64), starts) if len(n) else np.zeros(0)
    c = table.c.astype(np.float64)
    done = n - cut_per
    rate = cut_per / np.maximum(n, 1)
    lo, hi = bootstrap_ci(rate)[0] if len(n) else (0.0, 0.0)
    has_done, has_cut = done > 0, cut_per > 0
    return {
        "samples": int(cut.sum()),
        "of": int(n.sum()),
        "rate": float(rate.mean()) if len(n) else 0.0,
        "ci95": [float(lo), float(hi)],
        "pass_at_1_all": float((c / np.maximum(n, 1)).mean()) if len(n) else 0.0,
        "pass_at_1_completed": float(((c - ok_cut)[has_done] / done[has_done]).mean()) if has_done.any() else None,
        "pass_at_1_cut": float((ok_cut[has_cut] / cut_per[has_cut]).mean()) if has_cut.any() else None,
        "problems_without_completed": int((~has_done).sum()),
    }


def summary_line(t: dict) -> str:
    """The one line a run's summary prints."""
    line = f"{t['samples']} of {t['of']} samples hit --max-tokens ({100 * t['samples'] / max(t['of'], 1):.1f}%)"
    if t["samples"] and t["pass_at_1_completed"] is not None:
        line += f"; pass@1 {100 * t['pass_at_1_completed']:.2f} over completed samples vs {100 * t['pass_at_1_all']:.2f} over all"
    return line


def rates_differ(a: dict, b: dict) -> bool:
    """Two runs' truncation intervals do not overlap."""
    return a["ci95"][1] < b["ci95"][0] or b["ci95"][1] < a["ci95"][0]
