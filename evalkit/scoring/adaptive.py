"""Sequential sampling designs and their exactly unbiased pass@k.

The design. Every problem draws `min_n` samples. At each block end e < `n_max` it stops once it has
at least `stop_at` correct samples; otherwise it draws the next block of `step` samples (the last
block is cut at `n_max`). Whether to go on depends only on the problem's own count at block ends,
so easy problems stop after a few samples and the budget goes to the hard ones, which decide
pass@k at large k.

Why the usual formula is biased here. The number of samples N depends on the outcomes (a problem
that is lucky early stops early), so plugging the final (N, C) into 1 - C(N-C,k)/C(N,k) is biased:
with p ~ Beta(0.35, 0.6) and design (min_n 16, n 128, stop_at 4, step 16) it reads pass@1 0.376
and pass@16 0.752 against truths of 0.369 and 0.740 (200,000 simulated problems).

Derivation of the estimator. The draws of a problem are iid Bernoulli(p). A path is the observed 0/1
sequence; it is admissible when every block end before its length N has fewer than `stop_at`
ones, and it ends at a block end where the design stops (C >= stop_at, or N = n_max).
  * Sufficiency: every admissible path with end point (N, C) has probability p^C (1-p)^(N-C),
    whatever its order. Given (N, C) the path is therefore uniform over the A(N, C) admissible
    paths to (N, C), a distribution free of p: (N, C) is sufficient for p.
  * A crude unbiased estimator: k <= min_n, so the first k draws are always observed, and
    T = 1{one of the first k draws is correct} has E[T] = 1 - (1-p)^k = pass@k.
  * Rao-Blackwellisation: E[T | N, C] is unbiased too (tower rule), is a function of (N, C) only,
    and its variance is at most T's. Under the uniform conditional law it is the share of
    admissible paths to (N, C) whose first k draws are not all failures:
        pass@k(N, C) = 1 - A_k(N, C) / A(N, C),
    A_k counting the admissible paths whose first k draws all fail. (Completeness of (N, C) under
    this stopping rule, which would make it the UMVUE, is not claimed.)
  * Counting, a DP over block ends e_0 = min_n < e_1 < ... with block lengths L_j:
        f_0(c) = C(min_n, c),   f_j(c) = sum_{c' < stop_at} f_{j-1}(c') C(L_j, c - c'),
    and A(e_j, C) = f_j(C). A_k is the same recursion from f_0(c) = C(min_n - k, c) (the first k
    draws fixed to failures). f_j does not involve n_max, so neither does the estimate at a
    given end point; n_max only decides which end points occur.
  * Fixed design (one block, or stop_at above every earlier block end): A = C(N, C),
    A_k = C(N-k, C), and since C(N-k, C)/C(N, C) = C(N-C, k)/C(N, k) the estimate is the usual
    1 - C(N-C, k)/C(N, k) of `passk.pass_at_k_matrix`.
Numerics: the code runs the recursion for A and for B_k = A - A_k (start
C(min_n, c) - C(min_n - k, c) >= 0, exact integers), so the estimate B_k / A is a ratio of two sums
of positive terms. Done in log space (one logsumexp per block) there is no overflow at any N and
no cancellation, also where pass@k is tiny: the relative error is ~1e-13. Block ends below stop_at
stop no one, so the counts are plain binomials up to the first end >= stop_at; each later block
costs (len(ks) + 1) * stop_at * (stop_at + step) operations, once per call, whatever the number
of problems (10^6 problems x 64 k's under design (64, 1024, 8, 64): 0.7 s).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..types import EvalkitError


@dataclass(frozen=True)
class Design:
    """A sequential design; `step` defaults to `min_n`. Field names match the CLI flags
    --min-n, --n (n_max), --stop-at and --step."""

    min_n: int
    n_max: int
    stop_at: int
    step: int | None = None

    def __post_init__(self) -> None:
        if self.step is None:
            object.__setattr__(self, "step", self.min_n)
        for name, flag in (("min_n", "--min-n"), ("n_max", "--n"), ("stop_at", "--stop-at"), ("step", "--step")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise EvalkitError(f"{flag} {value!r} is not a positive integer; pass {flag} >= 1")
            object.__setattr__(self, name, int(value))  # numpy integers would not go into JSON
        if self.n_max < self.min_n:
            raise EvalkitError(f"--n {self.n_max} is below --min-n {self.min_n}; pass --n >= --min-n")

    @property
    def block_ends(self) -> tuple[int, ...]:
        """Sample counts at which a problem may stop: min_n, min_n + step, ..., and n_max."""
        return tuple(range(self.min_n, self.n_max, self.step)) + (self.n_max,)

    def check_ks(self, ks: Sequence[int]) -> None:
        """k <= min_n: the estimator needs the first k draws of every problem observed."""
        for k in ks:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise EvalkitError(f"k={k} is not a positive integer; pass k values >= 1, e.g. --k 1,8,64")
        if max(ks, default=0) > self.min_n:
            raise EvalkitError(
                f"k={max(ks)} exceeds --min-n {self.min_n}: every problem must draw at least k samples; "
                f"raise --min-n to at least {max(ks)} or drop that k"
            )

    def as_dict(self) -> dict:
        """For manifest.json / metrics.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Design":
        return cls(int(d["min_n"]), int(d["n_max"]), int(d["stop_at"]), int(d.get("step") or d["min_n"]))


def next_end(design: Design, n_drawn: int) -> int:
    """The first block end after `n_drawn` samples (n_max once past the last full block)."""
    if n_drawn < design.min_n:
        return design.min_n
    return min(design.n_max, design.min_n + ((n_drawn - design.min_n) // design.step + 1) * design.step)


def continues(design: Design, n_drawn: int, c_correct: int) -> bool:
    """Whether a problem with `c_correct` of `n_drawn` samples correct draws more.

    Inside a block (or before min_n) it always finishes the block; at a block end below n_max it
    goes on while fewer than stop_at are correct; at n_max it stops."""
    if n_drawn >= design.n_max:
        return False
    return not is_block_end(design, n_drawn) or c_correct < design.stop_at


def is_block_end(design: Design, n: int) -> bool:
    """Whether a problem may stop after n samples: min_n + a multiple of step, or n_max."""
    return n == design.n_max or (design.min_n <= n < design.n_max and (n - design.min_n) % design.step == 0)


def endpoint_violation(design: Design, n: int, c: int) -> str | None:
    """Why the design cannot end a problem at (n samples, c correct); None when it can."""
    d = design
    if n < d.min_n or n > d.n_max:
        side = f"fewer than --min-n {d.min_n}" if n < d.min_n else f"more than --n {d.n_max}"
        return f"it has {n} samples, {side}"
    if not is_block_end(d, n):
        return f"it has {n} samples, which is not a block end (--min-n {d.min_n} plus a multiple of --step {d.step}, or --n {d.n_max})"
    if not 0 <= c <= n:
        return f"it has {c} correct of {n} samples"
    if n < d.n_max and c < d.stop_at:
        return f"it stopped at {n} samples with {c} correct, below --stop-at {d.stop_at}, before reaching --n {d.n_max}"
    if n > d.min_n:
        prev = d.min_n + (n - 1 - d.min_n) // d.step * d.step  # the block end before n
        if c - (n - prev) >= d.stop_at:
            return f"it has {c} correct at {n} samples, so at least {d.stop_at} at block end {prev}, where the design stops"
    return None


def sequence_violation(design: Design, outcomes: Sequence[int | bool]) -> str | None:
    """Why a problem's 0/1 outcomes, in draw order, contradict the design; None when they fit."""
    values = [int(x) for x in outcomes]
    if any(v not in (0, 1) for v in values):
        return "its outcomes are not all 0/1"
    cum = 0
    for i, v in enumerate(values[: min(len(values), design.n_max) - 1], start=1):  # ends before the last
        cum += v
        if cum >= design.stop_at and is_block_end(design, i):
            return f"it continued after block end {i} with {cum} correct, already at --stop-at {design.stop_at}"
    return endpoint_violation(design, len(values), sum(values))


@lru_cache(maxsize=256)
def _comb_row(n: int) -> tuple[int, ...]:
    """C(n, x) for x = 0..n, exact."""
    row, value = [1], 1
    for x in range(n):
        value = value * (n - x) // (x + 1)
        row.append(value)
    return tuple(row)


@lru_cache(maxsize=256)
def _log_comb_row(n: int) -> np.ndarray:
    return _log(_comb_row(n))


def _log(values: Sequence[int]) -> np.ndarray:
    """Natural logs of non-negative exact integers (any size); log 0 = -inf."""
    return np.array([math.log(v) if v > 0 else -math.inf for v in values])


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - top), axis=axis)) + np.squeeze(top, axis=axis)


def prefix_logs(length: int, ks: Sequence[int]) -> np.ndarray:
    """Log counts of unconstrained 0/1 prefixes of `length` draws with c ones, c = 0..length: row 0
    C(length, c) (for A), row i C(length, c) - C(length - k_i, c) (for B_k = A - A_k: not all of
    the first k_i draws fail). Exact integers, then logs."""
    full = _comb_row(length)
    rows = [_log_comb_row(length)]
    for k in ks:
        zeros = _comb_row(length - k)
        rows.append(_log([full[c] - (zeros[c] if c < len(zeros) else 0) for c in range(length + 1)]))
    return np.stack(rows)


def log_reach_table(design: Design, ks: Sequence[int], num_ends: int, every_end: bool = False) -> np.ndarray:
    """log f_j(c), rows [A, B_k for each k] (axis 0), the first `num_ends` block ends (axis 1), c
    (axis 2, padded with -inf): counts of length-e_j prefixes with c ones whose earlier block ends
    all had fewer than stop_at ones.

    Block ends below stop_at never stop anyone, so up to the first end >= stop_at (j0) the counts
    are plain binomials; the DP runs from there. Ends before j0 cannot be end points (except n_max,
    which then is j0), so their rows stay -inf unless `every_end` (the planner cuts n_max anywhere)."""
    ends = design.block_ends[:num_ends]
    s = design.stop_at
    j0 = next((j for j, e in enumerate(ends) if e >= s), len(ends) - 1)
    width = min(design.n_max, max(design.min_n, s - 1 + design.step)) + 1
    table = np.full((len(ks) + 1, len(ends), width), -np.inf)
    for j in range(j0 + 1) if every_end else [j0]:
        table[:, j, : ends[j] + 1] = prefix_logs(ends[j], ks)
    for j in range(j0 + 1, len(ends)):
        length = ends[j] - ends[j - 1]
        kernel = np.full((s, width), -np.inf)  # kernel[c', c] = log C(length, c - c'), c' < stop_at
        logs = _log_comb_row(length)
        for cp in range(s):
            kernel[cp, cp : cp + length + 1] = logs[: width - cp]
        chunk = max(1, 4_000_000 // (s * width))  # bounds the (rows, c', c) temporary
        for r in range(0, table.shape[0], chunk):
            live = table[r : r + chunk, j - 1, :s]  # only problems below stop_at go on
            table[r : r + chunk, j, :] = _logsumexp(live[:, :, None] + kernel[None, :, :], axis=1)
    return table


def pass_at_k_adaptive(
    design: Design, ns: Sequence[int], cs: Sequence[int], ks: Sequence[int], ids: Sequence[str] | None = None
) -> np.ndarray:
    """Per-problem unbiased pass@k under `design`, shape (num_problems, len(ks)).

    ns, cs: each problem's final sample count and correct count. An end point the design cannot
    produce is an EvalkitError naming the problem (by `ids` when given, else by position)."""
    ns_a, cs_a = np.asarray(ns, dtype=np.int64), np.asarray(cs, dtype=np.int64)
    if ns_a.shape != cs_a.shape:
        raise ValueError("ns and cs must have the same length")
    design.check_ks(ks)
    if not len(ns_a):
        return np.zeros((0, len(ks)))
    ends = np.asarray(design.block_ends)
    j = np.clip(np.searchsorted(ends, ns_a), 0, len(ends) - 1)
    table = log_reach_table(design, ks, int(j.max()) + 1)
    width = table.shape[2]
    c_idx = np.clip(cs_a, 0, width - 1)
    log_a = table[0, j, c_idx]
    ok = (ends[j] == ns_a) & (cs_a >= 0) & (cs_a < width) & ((cs_a >= design.stop_at) | (ns_a == design.n_max)) & np.isfinite(log_a)
    if not ok.all():
        bad = int(np.argmin(ok))
        name = ids[bad] if ids is not None else f"#{bad}"
        reason = endpoint_violation(design, int(ns_a[bad]), int(cs_a[bad])) or "its end point is unreachable"
        raise EvalkitError(f"problem {name} does not fit the declared design: {reason}; declare the design it was drawn with")
    return np.exp(table[1:, j, c_idx].T - log_a[:, None])


# -- a design as a run directory records it ----------------------------------------------------------
def design_identity(design: Design) -> dict:
    """What manifest.json's identity holds: --n (n_max) may grow later, as a fixed run's --n may, since
    the estimate at an end point does not depend on n_max (see above)."""
    return {"min_n": design.min_n, "step": design.step, "stop_at": design.stop_at}


def design_from_manifest(manifest: dict) -> Design | None:
    d = manifest.get("design")
    if not d:
        return None
    return Design(int(d["min_n"]), int(d.get("n_max") or manifest["n"]), int(d["stop_at"]), int(d.get("step") or d["min_n"]))


def table_violation(design: Design, ids: Sequence[str], offsets: np.ndarray, correct: np.ndarray) -> str | None:
    """The first problem whose draw-order outcomes contradict the design, as `problem X: reason`."""
    for r, pid in enumerate(ids):
        reason = sequence_violation(design, correct[offsets[r]:offsets[r + 1]])
        if reason is not None:
            return f"problem {pid}: {reason}"
    return None


def unfinished(design: Design, ids: Sequence[str], ns: Sequence[int], cs: Sequence[int]) -> str | None:
    """The first problem the design would still draw for (a run stopped midway), or None."""
    for pid, n, c in zip(ids, ns, cs):
        if continues(design, int(n), int(c)):
            return f"problem {pid} has {n} samples ({c} correct) and the design draws more"
    return None


def check_design(design: Design, table, where, sampled: bool) -> None:
    """An adaptive run must be finished (no problem the design would still draw for) and every problem's
    outcomes, in draw order, must fit the design (a scored file may contradict the declared one)."""
    if sampled:
        left = unfinished(design, table.problem_ids, table.n, table.c)
        if left:
            raise EvalkitError(f"{where} is unfinished: {left}; rerun the command that made it")
    bad = table_violation(design, table.problem_ids, table.offsets, table.correct)
    if bad:
        raise EvalkitError(f"{where}: {bad}; declare the design the samples were drawn with (--min-n, --n, --stop-at, --step)")
