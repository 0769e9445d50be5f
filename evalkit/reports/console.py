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
    n = f"n={m['n']}" + (f"..{m['n_max']}" if "n_max" in m else "")
    label = f"  [{m['label']}]" if m.get("label") and m["label"] != m["model"] else ""
    click.echo(f"\n{m['model']} on {m['benchmark']}: {problems_of(m['num_problems'], total)} x {n}{label}")
    if m.get("unknown_data"):
        click.echo(f"UNRECOGNIZED DATA: {m.get('data_version')}; these figures are not comparable with published {m['benchmark']} results")
    elif PUBLIC_TESTS_ONLY in str(m.get("data_version") or ""):
        click.echo(f"PUBLIC TESTS ONLY: {m['data_version']}; a sample passes on the problem's sample tests alone, so pass@k "
                   "is an upper bound of LiveCodeBench's (public and private tests), not comparable with published results")
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


PUBLIC_TESTS_ONLY = "public tests only"  # in the data version of LiveCodeBench files without their private tests


def problems_of(num: int, total: int | None) -> str:
    """`500 problems`, or `120 of 200 problems` for a run that covers part of its benchmark."""
    return f"{num} of {total} problems" if total and total > num else f"{num} problems"


def print_benchmarks(benches: Sequence[Benchmark], data_dir: str | None = None) -> None:
    """Name, family, problems per known release, the file a data directory needs, source. With
    `data_dir` ($EVALKIT_DATA_DIR), whether that file is there."""
    from ..adapters.loading import find_local, local_names

    rows = []
    for b in benches:
        here = find_local(b, Path(data_dir)) if data_dir is not None and b.builtin is None else None
        if b.builtin is not None:
            rows.append((b, "built in"))
        elif here is not None:
            rows.append((b, f"{here.relative_to(data_dir).as_posix()} (found)"))
        else:
            rows.append((b, local_names(b)[0] + (" (missing)" if data_dir is not None else "")))
    width = max(len(r[1]) for r in rows + [(None, "data file")])
    click.echo(f"{'name':<15} {'family':<6} {'size':>8}  {'data file':<{width}}  source")
    for b, name in rows:
        click.echo(f"{b.name:<15} {b.family:<6} {b.size_text:>8}  {name:<{width}}  {b.hub_id or b.source}  ({b.description})")
    where = f"EVALKIT_DATA_DIR={data_dir}" if data_dir else "a directory named by EVALKIT_DATA_DIR"
    click.echo(f"\nsize: problems per known release (378|399: two releases; 400-1055: a benchmark released in growing sets).\n"
               f"data file: what `run`, `score` and the tests read from --data DIR or {where}"
               f"{' (found: it is there)' if data_dir else ''}; other names work too (`evalkit benchmarks --files`), "
               "and without a file the source is loaded from the Hugging Face hub.")


def print_data_files(benches: Sequence[Benchmark]) -> None:
    """Every file name each benchmark is read from in a data directory, in the order they are tried."""
    from ..adapters.loading import local_names

    for b in benches:
        click.echo(f"{b.name}: {', '.join(local_names(b, every=True))}" + ("  (built in without --data)" if b.builtin is not None else ""))


def print_prompt_templates(bench: Benchmark, template: str | None = None) -> None:
    from ..prompts import describe

    click.echo(describe(bench, template))


def print_audit(report: dict, show: int = 20) -> None:
    """`evalkit audit`: agreement, the disagreement table, the first `show` disagreements, pass@k per reading."""
    r = report
    click.echo(f"\n{r['label']} on {r['benchmark']}: {problems_of(r['num_problems'], r.get('num_problems_total'))}, "
               f"{r['num_samples']} samples; second grader {r['second_grader']}")
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
