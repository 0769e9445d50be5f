"""`evalkit gate`: a regression check a CI job can trust.

For each metric the candidate fails when its drop from the baseline exceeds `max_drop` with
significance: the one-sided paired bootstrap test of H0 "true drop <= max_drop" rejects at `alpha`
(equivalently, the one-sided 1 - alpha lower bound of the drop lies above `max_drop`). Noise alone
therefore fails a gate at most about `alpha` of the time per metric.

`pass@K:READING` (and pass^K:READING) gate on a reading of `evalkit audit` (primary, second, both,
any, judged): both runs must have a finished audit; the per-problem values come from reports/audit.py.

Exit codes: 0 no metric regressed, 1 some metric regressed, 2 usage or data error (unreadable run,
different benchmark or benchmark version, k larger than n). Only a measured regression gives 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .audit import READINGS
from .compare import check_same_data, setting_differences, shared_problems
from .runs import assign_labels, load_run
from ..scoring.stats import NUM_RESAMPLES, TEST_NAME, drop_test, p_floor, paired_bootstrap
from ..store import write_json_atomic
from ..types import EvalkitError

MIN_ALPHA = 0.001  # smaller levels need more bootstrap resamples than are worth drawing
_METRIC = re.compile(r"^(pass@|pass\^|maj@)(\d+)(?::([a-z]+))?$")
_KIND = {"pass@": "pass", "pass^": "hat", "maj@": "maj"}


class GateError(EvalkitError):
    """A usage or data problem: the gate could not decide (exit 2, never read as a regression)."""

    exit_code = 2


def parse_metric(name: str) -> tuple[str, int, str | None]:
    """(kind, k, audit reading or None): `pass@1`, or `pass@1:any` to gate on a reading of the audit."""
    m = _METRIC.match(name.strip())
    if not m or int(m.group(2)) < 1:
        raise GateError(f"unknown metric {name!r}; use pass@K, pass^K or maj@K with K >= 1, e.g. --metric pass@1, "
                        f"or pass@K:READING / pass^K:READING with READING one of {', '.join(READINGS)} (from `evalkit audit`)")
    reading = m.group(3)
    if reading is not None and reading not in READINGS:
        raise GateError(f"unknown reading {reading!r} in {name!r}; use one of {', '.join(READINGS)}, e.g. --metric pass@1:any")
    if reading is not None and m.group(1) == "maj@":
        raise GateError(f"{name}: maj@K votes with the primary's answers and has no per-reading form; use pass@K:{reading} or pass^K:{reading}")
    return _KIND[m.group(1)], int(m.group(2)), reading


def run_gate(baseline: str, candidate: str, metrics: Sequence[str], max_drop: float, alpha: float) -> dict:
    """Test every metric; the report carries the decision and one reason per metric."""
    parsed = [(m.strip(), *parse_metric(m)) for m in metrics]
    if alpha < MIN_ALPHA:
        raise GateError(f"--alpha {alpha:g} is below {MIN_ALPHA}; the bootstrap p-value cannot resolve it, use --alpha >= {MIN_ALPHA}")
    try:
        base, cand = load_run(baseline, stats=False), load_run(candidate, stats=False)
        assign_labels([base, cand])  # two runs of one model: told apart by their settings, else their directories
        check_same_data(base, cand)
        ids = shared_problems(base, cand)
        results = [_check(name, kind, k, reading, base, cand, ids, max_drop, alpha) for name, kind, k, reading in parsed]
    except GateError:
        raise
    except EvalkitError as e:
        raise GateError(str(e)) from e
    failed = any(r["regressed"] for r in results)
    return {
        "decision": "fail" if failed else "pass",
        "exit_code": 1 if failed else 0,
        "benchmark": base.benchmark,
        "data_hash": base.data_hash,
        "baseline": {"run_dir": str(base.path), "model": base.model, "label": base.label, "num_problems": len(base.problem_ids)},
        "candidate": {"run_dir": str(cand.path), "model": cand.model, "label": cand.label, "num_problems": len(cand.problem_ids)},
        "num_shared_problems": len(ids),
        "max_drop": max_drop,
        "alpha": alpha,
        "metrics": results,
        "warnings": _warnings(base, cand),
    }


def _warnings(base, cand) -> list[str]:
    """Settings that change samples and differ between the two runs (what `compare` names): a drop may
    come from them."""
    diffs = setting_differences(base, cand)
    if not diffs:
        return []
    return [f"baseline and candidate differ in settings that change samples ({'; '.join(diffs)}); "
            "part of any difference may come from these rather than the checkpoint"]


def _check(name: str, kind: str, k: int, reading: str | None, base, cand, ids, max_drop: float, alpha: float) -> dict:
    if kind == "maj" and (base.family != "math" or cand.family != "math"):
        raise GateError(f"{name}: maj@k needs answers that vote (math benchmarks); use pass@K or pass^K for {base.benchmark}")
    if reading is None:
        a, b = cand.per_problem(kind, k, ids), base.per_problem(kind, k, ids)
    else:
        a, b = _reading_values(cand, name, kind, k, reading, ids), _reading_values(base, name, kind, k, reading, ids)
    resamples = max(NUM_RESAMPLES, int(20 / alpha))  # about 20 resamples beyond the alpha tail
    paired = paired_bootstrap(a, b, num_resamples=resamples)[0]
    p, lower = drop_test(a, b, max_drop, alpha, num_resamples=resamples)
    regressed = p < alpha
    return {
        "metric": name,
        "baseline": float(b.mean()),
        "candidate": float(a.mean()),
        "diff": paired.diff,
        "ci95": [paired.lo, paired.hi],
        "drop_lower_bound": lower,
        "p_value": p,
        "p_at_floor": p <= p_floor(resamples) + 1e-15,
        "test": f"one-sided {TEST_NAME}, {resamples} resamples",
        "regressed": regressed,
        "reason": _reason(name, float(b.mean()), float(a.mean()), paired, p, lower, max_drop, alpha, regressed, resamples),
    }


def _reading_values(run, name: str, kind: str, k: int, reading: str, ids) -> np.ndarray:
    """Per-problem values of one audit reading (reports/audit.py counts them); the run must be audited."""
    from ..store import RunStore
    from .audit import load_audit, reading_values, readings
    from .audit_judge import read_judge

    if run.family != "math":
        raise GateError(f"{name}: {run.path} is a {run.benchmark} run; audit readings exist for math runs only, use {name.split(':')[0]}")
    run.check_k(k)
    second = load_audit(run)
    if second is None:
        raise GateError(f"{name}: {run.path} has no finished audit for its current samples; run `evalkit audit {run.path}` first")
    judge = read_judge(RunStore(run.path), run) if reading == "judged" else None
    if reading == "judged" and judge is None:
        raise GateError(f"{name}: {run.path} has no judge verdicts; run `evalkit audit {run.path} --judge-url URL --judge-model NAME` first")
    values = reading_values(run, readings(run, second, judge)[reading], kind, [k])[:, 0]
    return values[run.table.rows(ids)]


def _reason(name, before, after, paired, p, lower, max_drop, alpha, regressed, resamples) -> str:
    pts = lambda x: f"{100 * x:.1f}"  # noqa: E731
    head = f"{name}: {pts(before)} -> {pts(after)} ({100 * paired.diff:+.1f} points, 95% CI [{100 * paired.lo:+.1f}, {100 * paired.hi:+.1f}])"
    bound = f"one-sided {100 * (1 - alpha):g}% lower bound of the drop {pts(lower)}"
    test = f"{_p(p, resamples)}, one-sided {TEST_NAME}"
    if regressed:
        return f"FAIL {head}: dropped more than max-drop {pts(max_drop)} points ({bound}, {test})"
    return f"ok   {head}: no drop beyond max-drop {pts(max_drop)} points is significant ({bound}, {test})"


def _p(p: float, resamples: int) -> str:
    """A p-value at the bootstrap's floor is only known to be below it: say so."""
    if p <= p_floor(resamples) + 1e-15:
        return f"p < 1/{resamples + 1} (the floor of {resamples} resamples)"
    return f"p={p:.3f}" if p >= 0.001 else f"p={p:.1e}"


def error_report(message: str) -> dict:
    return {"decision": "error", "exit_code": 2, "error": message}


def write_report(path: str | Path, report: dict) -> None:
    p = Path(path)
    if not p.parent.is_dir():
        raise GateError(f"--json {p}: directory {p.parent} does not exist")
    write_json_atomic(p, report)
