"""Compare checkpoints: pass@k tables with intervals, paired differences against a baseline, where two
pass@k curves cross, the problems one checkpoint solves at k = n that another never does, per-checkpoint
entropy, log-probability and length split by correct vs wrong samples, and what differs between the
runs' manifests (a temperature, a seed, a data version) so a difference is read for what it is.

Runs are grouped by benchmark (one table each). Within a benchmark every run must have been made on
the same data (equal `data_hash`): a comparison across benchmark versions is refused, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..environment import sample_setting_differences
from ..scoring.metrics import default_ks
from ..scoring.stats import NUM_RESAMPLES, TEST_NAME, paired_bootstrap
from ..types import EvalkitError
from .runs import RunData, assign_labels, load_run, shared_problems  # noqa: F401 -- shared_problems: gate imports it from here

# Always shown; other failure statuses appear when some run has them.
CORE_STATUSES = ("wrong", "no_answer", "truncated", "timeout")
# Manifest fields whose difference changes what a sample is, shown above a comparison.
SETTING_FIELDS = ("sampling", "seed", "prompt_template", "data_version", "design", "backend")


@dataclass
class Group:
    """The runs of one benchmark version; `runs[0]` is the baseline."""

    benchmark: str
    data_hash: str | None
    runs: list[RunData]
    ks: list[int]

    @property
    def baseline(self) -> RunData:
        return self.runs[0]


# -- grouping and checks ----------------------------------------------------------------------
def load_groups(paths: Sequence[str], baselines: Sequence[str] = (), ks: Sequence[int] | None = None) -> list[Group]:
    """Load runs, group by benchmark, put each benchmark's baseline first, and fix the k list."""
    if not paths and not baselines:
        raise EvalkitError("give at least one RUN_DIR to compare")
    base_runs = [load_run(p) for p in baselines]
    seen = {r.path.resolve() for r in base_runs}
    others = []
    for p in paths:
        if Path(p).resolve() in seen:
            continue
        run = load_run(p)
        seen.add(run.path.resolve())
        others.append(run)
    assign_labels(base_runs + others)
    groups: dict[str, Group] = {}
    for run in base_runs:
        if run.benchmark in groups:
            raise EvalkitError(f"two --baseline runs on benchmark {run.benchmark}; give one baseline per benchmark")
        groups[run.benchmark] = Group(run.benchmark, run.data_hash, [run], [])
    for run in others:
        group = groups.setdefault(run.benchmark, Group(run.benchmark, run.data_hash, [], []))
        check_same_data(group.runs[0] if group.runs else run, run)
        group.runs.append(run)
    for group in groups.values():
        group.ks = choose_ks(group.runs, ks)
    return list(groups.values())


def check_same_data(a: RunData, b: RunData) -> None:
    """Refuse to pair runs made on different benchmarks or benchmark versions."""
    if a.benchmark != b.benchmark:
        raise EvalkitError(f"{a.path} is on benchmark {a.benchmark} but {b.path} is on {b.benchmark}; compare runs of one benchmark")
    if a.data_hash != b.data_hash:
        raise EvalkitError(
            f"{a.path} and {b.path} were made on different versions of {a.benchmark} "
            f"(data_hash {a.data_hash} vs {b.data_hash}); rerun both on the same benchmark file"
        )


def choose_ks(runs: Sequence[RunData], ks: Sequence[int] | None) -> list[int]:
    """The user's ks (each checked against every run), else scoring.metrics.default_ks of the smallest n."""
    if ks:
        for r in runs:
            for k in ks:
                r.check_k(k)
        return sorted(set(ks))
    return default_ks(min(r.design.min_n if r.design is not None else r.n_min() for r in runs))


def setting_differences(base: RunData, run: RunData) -> list[str]:
    """What differs between two runs' manifests that changes what a sample is, as readable lines."""
    return manifest_differences(base.manifest, run.manifest)


def manifest_differences(base: dict, run: dict) -> list[str]:
    """setting_differences on two manifests (`dynamics` checks them before any run is read)."""
    out = []
    for key in SETTING_FIELDS:
        a, b = base.get(key), run.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{sub}: {a.get(sub)!r} vs {b.get(sub)!r}" for sub in dict.fromkeys([*a, *b]) if a.get(sub) != b.get(sub)]
        else:
            out.append(f"{key}: {a!r} vs {b!r}")
    return out + sample_setting_differences(base, run)  # hardware, vLLM version, dtype, TP


# -- per-run figures --------------------------------------------------------------------------
def run_summary(run: RunData, ks: Sequence[int]) -> dict:
    """One run's figures (scoring.metrics.summarize), keyed for tables: pass@k value + interval."""
    s = run.summary(ks)
    total = s["num_samples"]
    graded, expected = run.coverage()
    return {
        "label": run.label,
        "model": run.model,
        "run_dir": str(run.path),
        "n": s["n"],
        **({"n_max": s["n_max"]} if "n_max" in s else {}),
        "num_problems": s["num_problems"],
        "num_problems_total": expected,
        "num_samples": total,
        "data_version": run.manifest.get("data_version"),
        "pass_at_k": {k: {"value": v, "ci95": s["ci95"][k]} for k, v in s["pass_at_k"].items()},
        "pass_hat_k": s["pass_hat_k"],
        **({"maj_at_k": s["maj_at_k"]} if "maj_at_k" in s else {}),
        "status_counts": s["status_counts"],
        "status_fraction": {st: c / total for st, c in s["status_counts"].items()},
        **{name: s[name] for name in ("tokens", "entropy", "logprob")},
        **_audit(run, ks),
        **_evalplus_base(run, ks),
        **_lengths(run, ks),
    }


def _evalplus_base(run: RunData, ks: Sequence[int]) -> dict:
    """EvalPlus's base-tests figure of a humanevalplus / mbppplus run (base_tests.py), when it has one."""
    from ..base_tests import base_figures

    figures = base_figures(run.path, run.benchmark, run.problem_ids, run.table.n, ks, run.design)
    return {"evalplus_base": figures} if figures is not None else {}


def _lengths(run: RunData, ks: Sequence[int]) -> dict:
    """Truncation, pass@k per thinking budget and cost (reports/reasoning.py)."""
    from .reasoning import length_summary

    return length_summary(run, ks)


def _audit(run: RunData, ks: Sequence[int]) -> dict:
    """The run's `evalkit audit` figures (agreement, pass@k per reading), when it has a finished audit."""
    from .audit import audit_figures

    figures = audit_figures(run, ks)
    return {"audit": figures} if figures is not None else {}


# -- pairs ------------------------------------------------------------------------------------
def versus(run: RunData, base: RunData, ks: Sequence[int]) -> dict:
    """Paired differences (run - baseline) per k, crossover ks, and problems solved by only one."""
    ids = shared_problems(run, base)
    a = np.stack([run.per_problem("pass", k, ids) for k in ks], axis=1)
    b = np.stack([base.per_problem("pass", k, ids) for k in ks], axis=1)
    paired = paired_bootstrap(a, b)
    only_run, only_base = solved_only(run, base, ids)
    return {
        "baseline": base.label,
        "num_shared_problems": len(ids),
        "test": f"{TEST_NAME}, {NUM_RESAMPLES} resamples, two-sided",
        "settings_differ": setting_differences(base, run),
        "diff": {str(k): {"diff": r.diff, "ci95": [r.lo, r.hi], "p_value": r.p_value} for k, r in zip(ks, paired)},
        "crossover_k": crossover_ks(run, base, ids),
        "solved_only": {"this": only_run, "baseline": only_base},
    }


def curve(run: RunData, ids: Sequence[str], kmax: int) -> np.ndarray:
    """Mean pass@k over `ids` for k = 1..kmax (index k-1)."""
    from ..scoring.metrics import per_problem

    rows = run.table.rows(ids)
    return per_problem(run.table, "pass", list(range(1, kmax + 1)), run.design)[rows].mean(axis=0)


def crossover_ks(run: RunData, base: RunData, ids: Sequence[str]) -> list[dict]:
    """Each k at which the leader changes between the two pass@k curves (k = 1..smallest n).

    Ties (equal values) do not end a lead; the entry names who is ahead from that k on.
    """
    kmax = min(r.design.min_n if r.design is not None else r.n_min() for r in (run, base))
    diff = curve(run, ids, kmax) - curve(base, ids, kmax)
    out, lead = [], 0
    for k, d in enumerate(diff, start=1):
        sign = 0 if abs(d) < 1e-12 else (1 if d > 0 else -1)
        if sign and lead and sign != lead:
            out.append({"k": k, "ahead": run.label if sign > 0 else base.label})
        lead = sign or lead
    return out


def solved_only(a: RunData, b: RunData, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Shared problems that one run solves at least once in its n samples and the other never does."""
    ca, cb = a.table.c[a.table.rows(ids)], b.table.c[b.table.rows(ids)]
    only_a = [p for p, x, y in zip(ids, ca, cb) if x > 0 and y == 0]
    only_b = [p for p, x, y in zip(ids, ca, cb) if y > 0 and x == 0]
    return only_a, only_b


# -- the whole report -------------------------------------------------------------------------
def compare(groups: Sequence[Group]) -> dict:
    """A JSON-ready report: per benchmark, every run's summary and its comparison to the baseline."""
    out = []
    for g in groups:
        rows = []
        for i, run in enumerate(g.runs):
            row = run_summary(run, g.ks)
            row["vs_baseline"] = versus(run, g.baseline, g.ks) if i else None
            rows.append(row)
        bench = {"benchmark": g.benchmark, "data_hash": g.data_hash, "ks": g.ks, "baseline": g.baseline.label, "runs": rows}
        out.append({**bench, "warnings": _warnings(bench)})
    from .suite import suite_report

    suite = suite_report(groups)  # several benchmarks: the macro average of each model's runs on all of them
    return {"benchmarks": out, **({"suite": suite} if suite else {})}


def _warnings(bench: dict) -> list[str]:
    from .reasoning import truncation_warnings

    return truncation_warnings(bench)


def compare_dirs(paths: Sequence[str | Path], baselines: Sequence[str | Path] = (), ks: Sequence[int] | None = None) -> tuple[list[Group], dict]:
    groups = load_groups([str(p) for p in paths], [str(p) for p in baselines], ks)
    return groups, compare(groups)
