"""Plain-text tables for the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import click

from ..adapters.registry import Benchmark


def print_metrics(metrics: dict, out: Path | str) -> None:
    """The figures of one finished run, as `evalkit run` / `score` / `merge` end."""
    m = metrics
    total = m.get("num_problems_total")
    problems = f"{m['num_problems']} of {total} problems" if total and total > m["num_problems"] else f"{m['num_problems']} problems"
    n = f"n={m['n']}" + (f"..{m['n_max']}" if "n_max" in m else "")
    label = f"  [{m['label']}]" if m.get("label") and m["label"] != m["model"] else ""
    click.echo(f"\n{m['model']} on {m['benchmark']}: {problems} x {n}{label}")
    if m.get("unknown_data"):
        click.echo(f"UNRECOGNIZED DATA: {m.get('data_version')}; these figures are not comparable with published {m['benchmark']} results")
    if total and total > m["num_problems"]:
        click.echo(f"PARTIAL: {total - m['num_problems']} of the benchmark's {total} problems have no samples here")
    maj = "maj_at_k" in m
    click.echo(f"{'k':>6}  {'pass@k':>8}  {'95% CI':>17}" + (f"  {'maj@k':>7}" if maj else "") + f"  {'pass^k':>7}")
    for k, v in m["pass_at_k"].items():
        lo, hi = m["ci95"][k]
        cells = f"{k:>6}  {100 * v:8.2f}  [{100 * lo:6.2f}, {100 * hi:6.2f}]"
        cells += f"  {100 * m['maj_at_k'][k]:7.2f}" if maj else ""
        click.echo(cells + f"  {100 * m['pass_hat_k'][k]:7.2f}")
    count = sum(m["status_counts"].values()) or 1
    parts = [f"{s} {c} ({100 * c / count:.1f}%)" for s, c in m["status_counts"].items() if c]
    click.echo("status: " + ", ".join(parts))
    click.echo(f"wrote {Path(out) / 'metrics.json'}")


def print_benchmarks(benches: Sequence[Benchmark]) -> None:
    click.echo(f"{'name':<15} {'family':<6} {'size':>5}  source")
    for b in benches:
        size = str(b.size) if b.size else "-"
        where = b.hub_id or b.source
        click.echo(f"{b.name:<15} {b.family:<6} {size:>5}  {where}  ({b.description})")


def print_prompt_templates(bench: Benchmark, template: str | None = None) -> None:
    from ..prompts import describe

    click.echo(describe(bench, template))
