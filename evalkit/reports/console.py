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
    base = m.get("evalplus_base")
    if base:  # humanevalplus / mbppplus: EvalPlus's base-tests figure of the same samples
        cells = ", ".join(f"pass@{k} {100 * c['value']:.2f} [{100 * c['ci95'][0]:.2f}, {100 * c['ci95'][1]:.2f}]" for k, c in base["pass_at_k"].items())
        click.echo(f"EvalPlus {base['benchmark']} (base tests): {cells}; the table above is {m['benchmark']} (base + plus tests)")
    for line in length_lines(m):
        click.echo(line)
    click.echo(f"wrote {Path(out) / 'metrics.json'}")


def length_lines(m: dict) -> list[str]:
    """Truncation (one line), pass@k per thinking budget, and what generating cost."""
    from ..scoring.truncation import summary_line

    lines = [summary_line(m["truncation"])] if "truncation" in m else []
    if m.get("budgets"):
        ks = list(m["pass_at_k"])
        lines.append(f"{'budget':>8}  {'forced':>7}  {'think':>7}  " + "  ".join(f"{'pass@' + k:>24}" for k in ks))
        for b, f in m["budgets"].items():
            cells = [f"{100 * f['pass_at_k'][k]:6.2f} [{100 * f['ci95'][k][0]:6.2f}, {100 * f['ci95'][k][1]:6.2f}]" for k in ks]
            think = "-" if f.get("mean_think_tokens") is None else f"{f['mean_think_tokens']:.0f}"
            lines.append(f"{b:>8}  {f['forced']:>7}  {think:>7}  " + "  ".join(f"{c:>24}" for c in cells))
    lines += cost_lines(m.get("cost"))
    return lines


def cost_lines(cost: dict | None) -> list[str]:
    """One line per generation stage: wall time, tokens, throughput, prefix-cache hits, engine."""
    out = []
    for stage in ("draw", "budgets"):
        c = (cost or {}).get(stage)
        if not c:
            continue
        rate = f", {c['tokens_per_s']:.0f} tokens/s" if c.get("tokens_per_s") else ""
        hits = f", prefix cache {100 * c['prefix_cache_hit_rate']:.1f}% of prompt tokens" if c.get("prefix_cache_hit_rate") is not None else ""
        grading = f", {c['grade_s']:.1f}s grading" if c.get("grade_s") else ""
        out.append(f"cost ({stage}): {c['wall_s']:.1f}s generating (+{c['startup_s']:.1f}s engine start{grading}), {c['prompt_tokens']} prompt + "
                   f"{c['completion_tokens']} completion tokens{rate}{hits}")
    return out


def print_benchmarks(benches: Sequence[Benchmark]) -> None:
    click.echo(f"{'name':<15} {'family':<6} {'size':>5}  source")
    for b in benches:
        size = str(b.size) if b.size else "-"
        where = b.hub_id or b.source
        click.echo(f"{b.name:<15} {b.family:<6} {size:>5}  {where}  ({b.description})")


def print_prompt_templates(bench: Benchmark, template: str | None = None) -> None:
    from ..prompts import describe

    click.echo(describe(bench, template))


def print_audit(report: dict, show: int = 20) -> None:
    """`evalkit audit`: agreement, the disagreement table, the first `show` disagreements, pass@k per reading."""
    r = report
    click.echo(f"\n{r['label']} on {r['benchmark']}: {r['num_problems']} problems, {r['num_samples']} samples; second grader {r['second_grader']}")
    click.echo(f"agreement {100 * r['agreement']:.2f}% ({r['num_disagreements']} disagreements)")
    for row in r["disagreement_table"]:
        side = "primary correct / second not" if row["class"] == "primary_correct_second_wrong" else "second correct / primary not"
        click.echo(f"  {row['count']:6}  {side}: primary {row['primary_status']}, second {row['second_status']}")
    judged = "judge" in r
    for d in r.get("disagreements", [])[:show]:
        verdict = "" if not judged else f"  judge {'-' if d['judge'] is None else int(d['judge'])}"
        click.echo(f"  {d['problem_id']} #{d['sample_index']}: gold {_cut(d['gold'])}  primary {int(d['primary'])} {_cut(d['primary_answer'])}"
                   f"  second {int(d['second'])} {_cut(d['second_answer'])}{verdict}")
    if len(r.get("disagreements", [])) > show:
        click.echo(f"  ... {len(r['disagreements']) - show} more (--json FILE lists all)")
    if judged:
        j = r["judge"]
        click.echo(f"judge {j['model']}: {j['answered']} answered of {j['asked']} asked ({j['equivalent']} equivalent, "
                   f"{j['not_equivalent']} not, {j['unparsed']} without a verdict; {j['pending']} pending)")
    if "counted" in r:
        click.echo(f"counted: {r['counted']}")
    names = list(r["pass_at_k"])
    click.echo(f"{'k':>6}  " + "  ".join(f"{name:>22}" for name in names))
    for k in r["pass_at_k"]["primary"]:
        cells = [f"{100 * r['pass_at_k'][n][k]:6.2f} [{100 * r['ci95'][n][k][0]:6.2f},{100 * r['ci95'][n][k][1]:6.2f}]" for n in names]
        click.echo(f"{k:>6}  " + "  ".join(f"{c:>22}" for c in cells))


def _cut(text: object, width: int = 40) -> str:
    s = repr(text) if text is not None else "-"
    return s if len(s) <= width else s[: width - 3] + "..."
