"""Render a `compare` report as an aligned text table, markdown, CSV or JSON.

Text and markdown show one block of tables per benchmark; CSV is one wide row per run (the figures
a spreadsheet needs, baseline differences included); JSON is the report itself.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from .compare import CORE_STATUSES

MAX_IDS = 8  # problem ids listed per line in text output; JSON and CSV carry them all


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def text(self) -> str:
        widths = [max(len(x) for x in col) for col in zip(self.headers, *self.rows)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
        return "\n".join([self.title, fmt(self.headers), *(fmt(r) for r in self.rows)])

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows])


def render(report: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2)
    if fmt == "csv":
        return to_csv(report)
    blocks = []
    for bench in report["benchmarks"]:
        title = bench_title(bench)
        tables = bench_tables(bench)
        settings, notes = bench_settings(bench), bench_notes(bench)
        if fmt == "markdown":
            parts = [f"### {title}", "\n".join(f"- {n}" for n in settings), *(t.markdown() for t in tables), "\n".join(f"- {n}" for n in notes)]
        else:
            parts = [f"== {title} ==", "\n".join(settings), *(t.text() for t in tables), "\n".join(notes)]
        blocks.append("\n\n".join(p for p in parts if p).rstrip())
    if report.get("suite"):
        blocks.append(render_suite(report["suite"], fmt))
    return "\n\n".join(blocks)


def render_suite(suite: dict, fmt: str) -> str:
    """The suite block: macro pass@k per model with its interval, then paired differences against the baseline."""
    title = f"{suite['name']} (macro average over {len(suite['benchmarks'])} benchmarks)"
    tables = suite_tables(suite)
    note = (f"each benchmark counts equally ({suite['average']}); intervals and differences resample problems within "
            "each benchmark; per-benchmark figures are in the tables above")
    if fmt == "markdown":
        return "\n\n".join([f"### {title}", *(t.markdown() for t in tables), f"- {note}"])
    return "\n\n".join([f"== {title} ==", *(t.text() for t in tables), note])


def suite_tables(suite: dict) -> list[Table]:
    ks, runs = suite["ks"], suite["runs"]
    passk = Table("pass@k in % [95% CI], macro average", ["model", "problems", *(f"pass@{k}" for k in ks)])
    for r in runs:
        cells = [f"{pct(c['value'])} [{pct(c['ci95'][0])}, {pct(c['ci95'][1])}]" for c in (r["pass_at_k"][str(k)] for k in ks)]
        passk.rows.append([r["label"], " + ".join(str(n) for n in r["num_problems"].values()), *cells])
    tables = [passk]
    paired = [r for r in runs if r["vs_baseline"]]
    if paired:
        diff = Table(f"vs baseline {suite['baseline']}: difference in points [95% CI] (p-value; {suite['test']})", ["model", *(f"pass@{k}" for k in ks)])
        for r in paired:
            d = r["vs_baseline"]
            diff.rows.append([r["label"], *(f"{_signed(d[str(k)]['diff'])} [{_signed(d[str(k)]['ci95'][0])}, "
                                            f"{_signed(d[str(k)]['ci95'][1])}] (p{_p(d[str(k)]['p_value'])})" for k in ks)])
        tables.append(diff)
    return tables


def suite_csv_rows(report: dict) -> list[dict]:
    """One CSV row per suite member: the suite's name as its benchmark, pass@k and the difference per k."""
    suite = report.get("suite")
    if not suite:
        return []
    rows = []
    for r in suite["runs"]:
        row = {"benchmark": suite["name"], "data_hash": "", "model": r["model"], "run_dir": " ".join(r["run_dirs"]), "n": "",
               "num_problems": sum(r["num_problems"].values())}
        for k in suite["ks"]:
            c, d = r["pass_at_k"][str(k)], (r["vs_baseline"] or {}).get(str(k))
            row.update({f"pass@{k}": c["value"], f"pass@{k}_lo": c["ci95"][0], f"pass@{k}_hi": c["ci95"][1],
                        f"diff@{k}": d and d["diff"], f"diff@{k}_lo": d and d["ci95"][0], f"diff@{k}_hi": d and d["ci95"][1],
                        f"p@{k}": d and d["p_value"]})
        rows.append(row)
    return rows


def pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def bench_title(bench: dict) -> str:
    """Benchmark, data hash and release; data that matches no known release says so loudly."""
    versions = {r.get("data_version") for r in bench["runs"]} - {None}
    version = versions.pop() if len(versions) == 1 else None
    title = f"{bench['benchmark']} ({bench['data_hash']}" + (f", {version}" if version else "") + ")"
    if version and version.startswith("unrecognized"):
        title += "  [UNRECOGNIZED DATA: not a known release of this benchmark]"
    return title


def problems_cell(r: dict) -> str:
    """`500`, or `20 of 500` for a run that covers part of its benchmark."""
    total = r.get("num_problems_total")
    return f"{r['num_problems']} of {total}" if total and total > r["num_problems"] else str(r["num_problems"])


def bench_tables(bench: dict) -> list[Table]:
    runs, ks = bench["runs"], bench["ks"]
    passk = Table("pass@k in % [95% CI]", ["model", "n", "problems", *(f"pass@{k}" for k in ks)])
    for r in runs:
        cells = [f"{pct(c['value'])} [{pct(c['ci95'][0])}, {pct(c['ci95'][1])}]" for c in (r["pass_at_k"][str(k)] for k in ks)]
        n = str(r["n"]) + (f"..{r['n_max']}" if "n_max" in r else "")
        passk.rows.append([r["label"], n, problems_cell(r), *cells])
    statuses = list(CORE_STATUSES) + [s for s in runs[0]["status_counts"] if s not in CORE_STATUSES and s != "correct" and any(r["status_counts"][s] for r in runs)]
    status = Table("status (% of samples)", ["model", *statuses])
    for r in runs:
        status.rows.append([r["label"], *(pct(r["status_fraction"][s]) for s in statuses)])
    split = Table(
        "mean per sample: all / correct / wrong samples",
        ["model", "tokens", "entropy (nats/token)", "log-prob (per token)"],
    )
    for r in runs:
        split.rows.append([r["label"], _triple(r["tokens"], 1), _triple(r["entropy"], 3), _triple(r["logprob"], 3)])
    tables = [passk, status, split, *reasoning_tables(runs, ks)]
    if any("audit" in r for r in runs):
        tables.append(audit_table(runs, ks))
    if any("evalplus_base" in r for r in runs):
        tables.append(evalplus_table(bench["benchmark"], runs, ks))
    if len(runs) > 1:
        test = runs[1]["vs_baseline"]["test"]
        diff = Table(f"vs baseline {bench['baseline']}: difference in points [95% CI] (p-value; {test})", ["model", "shared", *(f"pass@{k}" for k in ks)])
        for r in runs[1:]:
            v = r["vs_baseline"]
            cells = [f"{_signed(d['diff'])} [{_signed(d['ci95'][0])}, {_signed(d['ci95'][1])}] (p{_p(d['p_value'])})" for d in (v["diff"][str(k)] for k in ks)]
            diff.rows.append([r["label"], str(v["num_shared_problems"]), *cells])
        tables.append(diff)
    return tables


def reasoning_tables(runs: list[dict], ks: list[int]) -> list[Table]:
    """Truncation (always), pass@k against thinking budget and cost (when some run has them): reports/reasoning.py."""
    from .reasoning import COST_HEADERS, TRUNCATION_HEADERS, budget_rows, cost_row, truncation_row

    tables = []
    if all("truncation" in r for r in runs):
        tables.append(Table("truncation: samples that hit --max-tokens, pass@1 in % over all / completed / cut samples", TRUNCATION_HEADERS,
                            [truncation_row(r) for r in runs]))
    budget = [row for r in runs for row in budget_rows(r, ks)]
    if budget:
        tables.append(Table("pass@k in % [95% CI] against thinking budget (forced at B tokens; think = mean thinking tokens spent)",
                            ["model", "budget", "forced", "think", *(f"pass@{k}" for k in ks)], budget))
    costs = [row for r in runs if (row := cost_row(r)) is not None]
    if costs:
        tables.append(Table("cost of generation", COST_HEADERS, costs))
    return tables


def audit_table(runs: list[dict], ks: list[int]) -> Table:
    """`evalkit audit` figures of the runs that have them: agreement and pass@k in % per reading."""
    names = next(list(r["audit"]["pass_at_k"]) for r in runs if "audit" in r)
    if any("judged" in r["audit"]["pass_at_k"] for r in runs if "audit" in r) and "judged" not in names:
        names.append("judged")
    table = Table(f"grader audit (evalkit audit): pass@k in % as {' / '.join(names)}", ["model", "agreement", "disagreements", *(f"pass@{k}" for k in ks)])
    for r in runs:
        a = r.get("audit")
        if a is None:
            table.rows.append([r["label"], "not audited", "-", *("-" for _ in ks)])
            continue
        cells = [" / ".join(pct(a["pass_at_k"][n][str(k)]["value"]) if n in a["pass_at_k"] and str(k) in a["pass_at_k"][n] else "-" for n in names)
                 for k in ks]
        table.rows.append([r["label"], pct(a["agreement"], 2), str(a["num_disagreements"]), *cells])
    return table


def evalplus_table(benchmark: str, runs: list[dict], ks: list[int]) -> Table:
    """EvalPlus's two figures of one run: base tests ("humaneval", "mbpp") and base + plus (this benchmark's)."""
    base = next(r["evalplus_base"]["benchmark"] for r in runs if "evalplus_base" in r)
    table = Table(f"EvalPlus: pass@k in % as {base} (base tests) / {benchmark} (base + plus tests)", ["model", *(f"pass@{k}" for k in ks)])
    for r in runs:
        b = r.get("evalplus_base")
        cells = [f"{pct(b['pass_at_k'][str(k)]['value']) if b else '-'} / {pct(r['pass_at_k'][str(k)]['value'])}" for k in ks]
        table.rows.append([r["label"], *cells])
    return table


def bench_settings(bench: dict) -> list[str]:
    """What differs between each run's manifest and the baseline's, shown above the tables."""
    out = []
    for r in bench["runs"][1:]:
        diffs = r["vs_baseline"]["settings_differ"]
        if diffs:
            out.append(f"settings of {r['label']} vs {bench['baseline']}: " + "; ".join(diffs))
    return out


def bench_notes(bench: dict) -> list[str]:
    """Warnings, then crossover and solved-only lines, one per non-baseline run."""
    notes, base = list(bench.get("warnings") or []), bench["baseline"]
    for r in bench["runs"][1:]:
        v = r["vs_baseline"]
        cross = v["crossover_k"]
        if cross:
            parts = ", ".join(f"{c['ahead']} ahead from k={c['k']}" for c in cross)
            notes.append(f"crossover {r['label']} vs {base}: {parts}")
        else:
            notes.append(f"crossover {r['label']} vs {base}: none (curves do not cross for k = 1..n)")
        for who, other, ids in ((r["label"], base, v["solved_only"]["this"]), (base, r["label"], v["solved_only"]["baseline"])):
            shown = ", ".join(ids[:MAX_IDS]) + (f", ... ({len(ids) - MAX_IDS} more)" if len(ids) > MAX_IDS else "")
            notes.append(f"solved at k=n by {who}, never by {other}: {len(ids)}" + (f" ({shown})" if ids else ""))
    return notes


def _triple(stats: dict, digits: int) -> str:
    return " / ".join(num(stats[p], digits) for p in ("all", "correct", "wrong"))


def _signed(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return f"={p:.3f}" if p >= 0.001 else "<0.001"


def _reasoning_csv(r: dict, ks: list[int]) -> dict:
    from .reasoning import csv_fields

    return csv_fields(r, ks)


def to_csv(report: dict) -> str:
    """One row per run; pass@k, its interval and the paired difference as columns per k."""
    rows = []
    for bench in report["benchmarks"]:
        for r in bench["runs"]:
            row = {"benchmark": bench["benchmark"], "data_hash": bench["data_hash"], "model": r["model"], "run_dir": r["run_dir"],
                   "n": r["n"], "num_problems": r["num_problems"]}
            for k in bench["ks"]:
                c = r["pass_at_k"][str(k)]
                row.update({f"pass@{k}": c["value"], f"pass@{k}_lo": c["ci95"][0], f"pass@{k}_hi": c["ci95"][1]})
            row.update({f"frac_{s}": f for s, f in r["status_fraction"].items() if s != "correct"})
            for name in ("tokens", "entropy", "logprob"):
                row.update({f"{name}_{part}": r[name][part] for part in ("all", "correct", "wrong")})
            v = r["vs_baseline"]
            for k in bench["ks"]:
                d = v["diff"][str(k)] if v else None
                row.update({f"diff@{k}": d and d["diff"], f"diff@{k}_lo": d and d["ci95"][0], f"diff@{k}_hi": d and d["ci95"][1], f"p@{k}": d and d["p_value"]})
            row["crossover_k"] = " ".join(str(c["k"]) for c in v["crossover_k"]) if v else ""
            row.update(_reasoning_csv(r, bench["ks"]))
            a = r.get("audit")
            if a is not None:
                row["audit_agreement"] = a["agreement"]
                row.update({f"pass@{k}_{name}": a["pass_at_k"][name][str(k)]["value"] for name in a["pass_at_k"] for k in bench["ks"]
                            if str(k) in a["pass_at_k"][name]})
            rows.append(row)
    rows += suite_csv_rows(report)
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
