"""Compare checkpoints: pass@k tables with intervals, paired differences against a baseline,
where two pass@k curves cross, the problems one checkpoint solves at k = n that another never does,
and per-checkpoint entropy, log-probability and length split by correct vs wrong samples.

Runs are grouped by benchmark (one table each). Within a benchmark every run must have been made on
the same data (equal `data_hash`): a comparison across benchmark versions is refused, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..scoring.passk import bootstrap_ci, pass_at_k_matrix
from .runs import RunData, assign_labels, load_run
from ..scoring.stats import paired_bootstrap
from ..types import STATUSES, EvalkitError

# Always shown, as the issue names them; other failure statuses appear when some run has them.
CORE_STATUSES = ("wrong", "no_answer", "truncated", "timeout")
SAMPLE_FIELDS = (("tokens", "num_tokens"), ("entropy", "mean_entropy"), ("logprob", "mean_logprob"))


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
        run = load_run(p)
        if run.path.resolve() not in seen:
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


def shared_problems(a: RunData, b: RunData) -> list[str]:
    """Problem ids graded in both runs, in the order of `a`; none shared is an error."""
    theirs = set(b.grades)
    ids = [p for p in a.problem_ids if p in theirs]
    if not ids:
        raise EvalkitError(f"{a.path} and {b.path} share no problems; run both on the same problems (same --limit)")
    return ids


def choose_ks(runs: Sequence[RunData], ks: Sequence[int] | None) -> list[int]:
    """The user's ks (each checked against every run's n), else powers of 4 up to the smallest n, and n."""
    n = min(r.n_min() for r in runs)
    if ks:
        for r in runs:
            for k in ks:
                r.check_k(k)
        return sorted(set(ks))
    out = [4**i for i in range(0, 16) if 4**i <= n]
    return out + ([n] if out[-1] != n else [])


# -- per-run figures --------------------------------------------------------------------------
def run_summary(run: RunData, ks: Sequence[int], seed: int = 0) -> dict:
    """pass@k with 95% bootstrap intervals, status fractions and sample statistics of one run."""
    ns, cs = run.counts()
    per_problem = pass_at_k_matrix(ns, cs, ks)
    ci = bootstrap_ci(per_problem, seed=seed)
    statuses = {s: 0 for s in STATUSES}
    for row in run.grades.values():
        for g in row:
            statuses[g.status] += 1
    total = int(ns.sum())
    return {
        "label": run.label,
        "model": run.model,
        "run_dir": str(run.path),
        "n": int(ns.min()),
        **({"n_max": int(ns.max())} if ns.max() != ns.min() else {}),
        "num_problems": len(ns),
        "num_samples": total,
        "pass_at_k": {str(k): {"value": float(v), "ci95": [float(lo), float(hi)]} for k, v, (lo, hi) in zip(ks, per_problem.mean(axis=0), ci)},
        "status_counts": statuses,
        "status_fraction": {s: c / total for s, c in statuses.items()},
        **sample_stats(run),
    }


def sample_stats(run: RunData) -> dict:
    """Mean tokens, entropy and log-prob over graded samples: all, correct only, wrong only.

    Each sample weighs the same (its own per-token mean is one value). A field no sample recorded
    is None, as is length when every sample reports 0 tokens (completions scored from a file).
    """
    values: dict[str, dict[str, list[float]]] = {name: {"all": [], "correct": [], "wrong": []} for name, _ in SAMPLE_FIELDS}
    for pid, row in run.grades.items():
        for g in row:
            s = run.samples.get((pid, g.sample_index))
            if s is None:
                continue
            for name, attr in SAMPLE_FIELDS:
                v = getattr(s, attr)
                if v is not None:
                    values[name]["all"].append(float(v))
                    values[name]["correct" if g.correct else "wrong"].append(float(v))
    out: dict[str, dict[str, float | None]] = {}
    for name, split in values.items():
        out[name] = {part: (float(np.mean(v)) if v else None) for part, v in split.items()}
    if not any(values["tokens"]["all"]):
        out["tokens"] = {part: None for part in out["tokens"]}
    return out


# -- pairs ------------------------------------------------------------------------------------
def versus(run: RunData, base: RunData, ks: Sequence[int], seed: int = 0) -> dict:
    """Paired differences (run - baseline) per k, crossover ks, and problems solved by only one."""
    ids = shared_problems(run, base)
    a = np.stack([run.per_problem("pass", k, ids) for k in ks], axis=1)
    b = np.stack([base.per_problem("pass", k, ids) for k in ks], axis=1)
    paired = paired_bootstrap(a, b, seed=seed)
    only_run, only_base = solved_only(run, base, ids)
    return {
        "baseline": base.label,
        "num_shared_problems": len(ids),
        "diff": {str(k): {"diff": r.diff, "ci95": [r.lo, r.hi], "p_value": r.p_value} for k, r in zip(ks, paired)},
        "crossover_k": crossover_ks(run, base, ids),
        "solved_only": {"this": only_run, "baseline": only_base},
    }


def curve(run: RunData, ids: Sequence[str], kmax: int) -> np.ndarray:
    """Mean pass@k over `ids` for k = 1..kmax (index k-1)."""
    ns, cs = run.counts(ids)
    return pass_at_k_matrix(ns, cs, list(range(1, kmax + 1))).mean(axis=0)


def crossover_ks(run: RunData, base: RunData, ids: Sequence[str]) -> list[dict]:
    """Each k at which the leader changes between the two pass@k curves (k = 1..smallest n).

    Ties (equal values) do not end a lead; the entry names who is ahead from that k on.
    """
    kmax = min(run.n_min(), base.n_min())
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
    _, ca = a.counts(ids)
    _, cb = b.counts(ids)
    only_a = [p for p, x, y in zip(ids, ca, cb) if x > 0 and y == 0]
    only_b = [p for p, x, y in zip(ids, ca, cb) if y > 0 and x == 0]
    return only_a, only_b


# -- the whole report -------------------------------------------------------------------------
def compare(groups: Sequence[Group], seed: int = 0) -> dict:
    """A JSON-ready report: per benchmark, every run's summary and its comparison to the baseline."""
    out = []
    for g in groups:
        rows = []
        for i, run in enumerate(g.runs):
            row = run_summary(run, g.ks, seed)
            row["vs_baseline"] = versus(run, g.baseline, g.ks, seed) if i else None
            rows.append(row)
        out.append({"benchmark": g.benchmark, "data_hash": g.data_hash, "ks": g.ks, "baseline": g.baseline.label, "runs": rows})
    return {"benchmarks": out}


def compare_dirs(paths: Sequence[str | Path], baselines: Sequence[str | Path] = (), ks: Sequence[int] | None = None) -> tuple[list[Group], dict]:
    groups = load_groups([str(p) for p in paths], [str(p) for p in baselines], ks)
    return groups, compare(groups)
