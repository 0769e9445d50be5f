"""`evalkit gate`: a regression check a CI job can trust.

For each metric the candidate fails when its drop from the baseline exceeds `max_drop` with
significance: the one-sided paired bootstrap test of H0 "true drop <= max_drop" rejects at `alpha`
(equivalently, the one-sided 1 - alpha lower bound of the drop lies above `max_drop`). Noise alone
therefore fails a gate at most about `alpha` of the time per metric.

Exit codes: 0 no metric regressed, 1 some metric regressed, 2 usage or data error (unreadable run,
different benchmark or benchmark version, k larger than n). Only a measured regression gives 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ..environment import sample_setting_differences
from .compare import check_same_data, shared_problems
from .runs import load_run
from ..scoring.stats import NUM_RESAMPLES, TEST_NAME, drop_test, p_floor, paired_bootstrap
from ..store import write_json_atomic
from ..types import EvalkitError

MIN_ALPHA = 0.001  # smaller levels need more bootstrap resamples than are worth drawing
_METRIC = re.compile(r"^(pass@|pass\^|maj@)(\d+)$")
_KIND = {"pass@": "pass", "pass^": "hat", "maj@": "maj"}


class GateError(EvalkitError):
    """A usage or data problem: the gate could not decide (exit 2, never read as a regression)."""

    exit_code = 2


def parse_metric(name: str) -> tuple[str, int]:
    m = _METRIC.match(name.strip())
    if not m or int(m.group(2)) < 1:
        raise GateError(f"unknown metric {name!r}; use pass@K, pass^K or maj@K with K >= 1, e.g. --metric pass@1")
    return _KIND[m.group(1)], int(m.group(2))


def run_gate(baseline: str, candidate: str, metrics: Sequence[str], max_drop: float, alpha: float) -> dict:
    """Test every metric; the report carries the decision and one reason per metric."""
    parsed = [(m.strip(), *parse_metric(m)) for m in metrics]
    if alpha < MIN_ALPHA:
        raise GateError(f"--alpha {alpha:g} is below {MIN_ALPHA}; the bootstrap p-value cannot resolve it, use --alpha >= {MIN_ALPHA}")
    try:
        base, cand = load_run(baseline, stats=False), load_run(candidate, stats=False)
        check_same_data(base, cand)
        ids = shared_problems(base, cand)
        results = [_check(name, kind, k, base, cand, ids, max_drop, alpha) for name, kind, k in parsed]
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
        "baseline": {"run_dir": str(base.path), "model": base.model, "num_problems": len(base.problem_ids)},
        "candidate": {"run_dir": str(cand.path), "model": cand.model, "num_problems": len(cand.problem_ids)},
        "num_shared_problems": len(ids),
        "max_drop": max_drop,
        "alpha": alpha,
        "metrics": results,
        "warnings": _warnings(base, cand),
    }


def _warnings(base, cand) -> list[str]:
    """Settings that change samples and differ between the two runs: a drop may come from them."""
    diffs = sample_setting_differences(base.manifest, cand.manifest)
    if not diffs:
        return []
    return [f"baseline and candidate differ in settings that change samples ({'; '.join(diffs)}); "
            "part of any difference may come from these rather than the checkpoint"]


def _check(name: str, kind: str, k: int, base, cand, ids, max_drop: float, alpha: float) -> dict:
    if kind == "maj" and (base.family != "math" or cand.family != "math"):
        raise GateError(f"{name}: maj@k needs answers that vote (math benchmarks); use pass@K or pass^K for {base.benchmark}")
    a, b = cand.per_problem(kind, k, ids), base.per_problem(kind, k, ids)
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
