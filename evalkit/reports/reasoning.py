"""Reasoning length in reports: truncation, pass@k against thinking budget, and cost, per run.

`compare`, `export` and `view` add these to every run they show (tables.py renders them):

  * truncation: the share of samples cut at --max-tokens with its 95% interval, and pass@1 over the
    completed samples beside pass@1 over all (a run whose limit is too short reads as a worse model);
    compare warns when two runs' truncation intervals do not overlap;
  * budgets: pass@k at each forced thinking budget (evalkit/forcing.py), from the run's grades;
  * cost: generation wall time, tokens, tokens/s, prefix-cache hits and engine (manifest.json `cost`).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..scoring.budgets import budget_figures
from ..scoring.truncation import length_cut, rates_differ, truncation_figures
from ..store import RunStore
from .runs import RunData


def length_summary(run: RunData, ks: Sequence[int]) -> dict[str, Any]:
    """run_summary's `truncation`, `budgets` (when forced) and `cost` (when recorded) of one run."""
    store = RunStore(run.path)
    out: dict[str, Any] = {"truncation": truncation_figures(run.table, length_cut(store, run.table))}
    adaptive = run.design is not None
    budgets = budget_figures(store, run.manifest, run.table, ks, majority=run.family == "math", design=run.design,
                             n=None if adaptive else run.manifest.get("n"))
    if budgets:
        out["budgets"] = {b: {**{k: v for k, v in f.items() if k != "ci95"},
                              "pass_at_k": {k: {"value": v, "ci95": f["ci95"][k]} for k, v in f["pass_at_k"].items()}}
                          for b, f in budgets.items()}
    if run.manifest.get("cost"):
        out["cost"] = run.manifest["cost"]
    return out


def truncation_warnings(bench: dict) -> list[str]:
    """One line per run whose truncation interval does not overlap the baseline's."""
    runs = bench["runs"]
    base = runs[0]
    out = []
    for r in runs[1:]:
        a, b = base.get("truncation"), r.get("truncation")
        if a and b and rates_differ(a, b):
            out.append(f"warning: truncation differs: {r['label']} cuts {_rate(b)} of its samples at --max-tokens, {base['label']} {_rate(a)}; "
                       "the runs do not answer equally often, and a longer --max-tokens could change the verdict")
    return out


def _rate(t: dict) -> str:
    return f"{100 * t['rate']:.1f}% [{100 * t['ci95'][0]:.1f}, {100 * t['ci95'][1]:.1f}]"


def truncation_row(r: dict) -> list[str]:
    """model, cut %, [CI], cut / samples, pass@1 all / completed / cut."""
    t = r["truncation"]
    return [r["label"], _rate(t), f"{t['samples']} / {t['of']}", _pct(t["pass_at_1_all"]), _pct(t["pass_at_1_completed"]), _pct(t["pass_at_1_cut"])]


TRUNCATION_HEADERS = ["model", "hit --max-tokens % [95% CI]", "samples", "pass@1 all", "pass@1 completed", "pass@1 cut"]
COST_HEADERS = ["model", "engine", "draw s", "prompt / completion tokens", "tokens/s", "prefix cache", "budgets s"]


def cost_row(r: dict) -> list[str] | None:
    cost = r.get("cost")
    if not cost:
        return None
    draw, budgets, engine = cost.get("draw") or {}, cost.get("budgets") or {}, cost.get("engine") or {}
    name = " ".join(str(engine[k]) for k in ("backend", "version") if engine.get(k)) or "-"
    hits = draw.get("prefix_cache_hit_rate")
    return [r["label"], name, _num(draw.get("wall_s"), 1), f"{draw.get('prompt_tokens', '-')} / {draw.get('completion_tokens', '-')}",
            _num(draw.get("tokens_per_s"), 0), "-" if hits is None else f"{100 * hits:.1f}%", _num(budgets.get("wall_s"), 1)]


def budget_rows(r: dict, ks: Sequence[int]) -> list[list[str]]:
    """One row per forced budget: model, budget, samples forced, mean thinking tokens, pass@k [CI] per k."""
    rows = []
    for b, f in (r.get("budgets") or {}).items():
        cells = []
        for k in ks:
            c = f["pass_at_k"].get(str(k))
            cells.append("-" if c is None else f"{_pct(c['value'])} [{_pct(c['ci95'][0])}, {_pct(c['ci95'][1])}]")
        rows.append([r["label"], b, str(f["forced"]), _num(f.get("mean_think_tokens"), 0), *cells])
    return rows


def csv_fields(r: dict, ks: Sequence[int]) -> dict[str, Any]:
    """The wide CSV's columns for one run: truncation, cost, pass@k per budget."""
    t, out = r.get("truncation"), {}
    if t:
        out.update({"trunc_rate": t["rate"], "trunc_lo": t["ci95"][0], "trunc_hi": t["ci95"][1], "trunc_samples": t["samples"],
                    "pass@1_all": t["pass_at_1_all"], "pass@1_completed": t["pass_at_1_completed"], "pass@1_cut": t["pass_at_1_cut"]})
    for stage in ("draw", "budgets"):
        c = (r.get("cost") or {}).get(stage) or {}
        out.update({f"{stage}_{k}": c[k] for k in ("wall_s", "prompt_tokens", "completion_tokens", "tokens_per_s", "prefix_cache_hit_rate") if k in c})
    for b, f in (r.get("budgets") or {}).items():
        out[f"budget{b}_forced"] = f["forced"]
        out.update({f"budget{b}_pass@{k}": f["pass_at_k"][str(k)]["value"] for k in ks if str(k) in f["pass_at_k"]})
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _num(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"
