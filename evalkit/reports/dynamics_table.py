"""`evalkit dynamics` on the terminal: one table per training run, a row per checkpoint by step."""

from __future__ import annotations

from .tables import Table, num, pct

MARK = "*"  # a checkpoint whose settings differ from the reference's


def render_text(report: dict) -> str:
    head = f"== {report['benchmark']} ({report['data_hash']}): training dynamics, pass@k in % [95% CI] =="
    blocks = [head, *_reference_lines(report)]
    blocks += [_run_table(run, report).text() for run in report["runs"]]
    blocks.append("\n".join(_notes(report)))
    if report["base_run"] is not None:
        blocks.append("delta@k: paired difference against the base run in points, '!' where its 95% interval excludes 0 "
                      "(paired bootstrap over problems); crossover: the ks (1..n) at which the leader changes")
    return "\n\n".join(b for b in blocks if b)


def _reference_lines(report: dict) -> list[str]:
    lines = []
    base = report["base_run"]
    if base is not None:
        cells = ", ".join(f"pass@{k} {pct(base['pass_at_k'][str(k)])}" for k in report["ks"])
        lines.append(f"base run {base['run_dir']} ({base['model']}): {cells}")
    if report["base_model"]:
        lines.append(f"sparsity: % of parameters bit-identical to --base-model {report['base_model']}; rel-upd: ||ckpt - base|| / ||base||")
    return ["\n".join(lines)] if lines else []


def _run_table(run: dict, report: dict) -> Table:
    ks, points = report["ks"], run["points"]
    maj = any(pt["maj_at_k"] for pt in points)
    sparse = any(pt["sparsity"] is not None for pt in points)
    based = report["base_run"] is not None
    headers = ["step", "n", *(f"pass@{k}" for k in ks), *([f"maj@{ks[-1]}"] if maj else []), "entropy", "tokens", "trunc%",
               *(["sparsity%", "rel-upd"] if sparse else []), *([f"delta@{k}" for k in ks] + ["crossover"] if based else [])]
    table = Table(f"{run['name']} ({len(points)} checkpoint{'s' if len(points) != 1 else ''})", headers)
    for pt in points:
        cells = [str(pt["step"]) + (MARK if pt["settings_differ"] else ""), str(pt["n"])]
        cells += [f"{pct(pt['pass_at_k'][str(k)])} [{pct(pt['ci95'][str(k)][0])}, {pct(pt['ci95'][str(k)][1])}]" for k in ks]
        cells += [pct(pt["maj_at_k"][str(ks[-1])]) if pt["maj_at_k"] else "-"] if maj else []
        cells += [num(pt["mean_entropy"]), num(pt["mean_tokens"], 1), pct(pt["truncated_rate"])]
        cells += [pct(pt["sparsity"], 2), _sci(pt["update_norm_rel"])] if sparse else []
        if based:
            cells += [_delta(pt["delta_vs_base"][str(k)]) for k in ks]
            cells.append(",".join(str(c["k"]) for c in pt["crossover_k"]) or "-")
        table.rows.append(cells)
    return table


def _delta(d: dict) -> str:
    excludes_zero = d["ci95"][0] > 0 or d["ci95"][1] < 0
    return f"{100 * d['diff']:+.1f}" + ("!" if excludes_zero else "")


def _sci(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def _notes(report: dict) -> list[str]:
    return [(f"{MARK} " if line.startswith("settings differ") else "") + line for line in report["notes"]]
