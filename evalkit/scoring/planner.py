"""Choose a sequential design (adaptive.Design) from a pilot run, for one k and an average budget.

The bootstrap interval of mean pass@k resamples problems, so its width is about
2 z sqrt((V_between + V_within) / P): V_between, the spread of the problems' true pass@k, is the
same for every design; V_within = E_p Var(estimate | p), the sampling noise, is what a design
changes. Minimising the interval at a fixed average budget therefore means minimising V_within,
and "the fixed n that gives the same interval" is the n whose V_within matches.

Both figures are computed exactly for a difficulty p, not simulated: the chance that a problem
reaches block end e_j with c correct along an admissible path is f_j(c) p^c (1-p)^(e_j - c) (the
path counts of adaptive.log_reach_table), so E[N | p] and E[estimate^2 | p] are finite sums. The
difficulties come from the pilot: a beta-binomial fit of the pilot's (n, c) gives a prior, and
every problem's posterior contributes draws, condensed to equally weighted quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .adaptive import Design, log_reach_table
from ..types import EvalkitError

Z95 = 1.959963984540054
# A sequential design is suggested only when a fixed n would need this many times its samples for the
# same sampling noise. Below that its rounds (each block is graded before the next is drawn) and its
# noisier pass@1 cost more than the few samples it saves: on a 200-problem arith pilot at a budget of
# 24, k=4, the best design narrowed the pass@4 interval from 0.0976 to 0.0972 (a fixed n=26, 1.09x).
MIN_SAVING = 1.2


@dataclass(frozen=True)
class Plan:
    """The suggested design and the predicted figures at k, against fixed n at the same budget."""

    design: Design
    k: int
    budget: float
    expected_samples: float  # mean samples per problem under the design
    ci_width: float  # predicted 95% interval width of mean pass@k
    fixed_n: int  # the fixed n the budget buys
    fixed_ci_width: float
    fixed_n_same_width: int | None  # fixed n with the design's interval width (None: above the search cap)
    saving: float  # fixed_n_same_width / expected_samples (a lower bound when that n is None)

    @property
    def worthwhile(self) -> bool:
        """Whether the design saves enough samples (MIN_SAVING) to be worth its rounds."""
        return self.design.n_max != self.design.min_n and self.saving >= MIN_SAVING

    @property
    def recommended(self) -> Design:
        """What to run: the design when worthwhile, else the fixed n the budget buys."""
        return self.design if self.worthwhile else Design(self.fixed_n, self.fixed_n, 1)

    def summary(self) -> str:
        d = self.design
        same = f"{self.fixed_n_same_width}" if self.fixed_n_same_width else f"> {16 * self.fixed_n}"
        if d.n_max == d.min_n:
            return f"design: fixed --n {d.n_max}; no sequential design has a narrower pass@{self.k} interval at this budget"
        flags = f"--min-n {d.min_n} --step {d.step} --stop-at {d.stop_at} --n {d.n_max}"
        widths = f"{self.ci_width:.4f} vs {self.fixed_ci_width:.4f} at fixed n={self.fixed_n}"
        if not self.worthwhile:
            return (
                f"design: fixed --n {self.fixed_n}; adaptive sampling is not worth it here\n"
                f"the best sequential design ({flags}, {self.expected_samples:.1f} samples per problem) would narrow the "
                f"pass@{self.k} 95% interval only to {widths}: a fixed n={same} does as well, {self.saving:.2f}x the samples "
                f"(evalkit suggests a design from {MIN_SAVING:.2f}x: below that, its rounds and its noisier pass@1 cost more than it saves)"
            )
        return (
            f"design: {flags} ({self.expected_samples:.1f} samples per problem on average)\n"
            f"pass@{self.k} 95% interval width: {widths}\n"
            f"fixed n for the same width: {same}, {self.saving:.2f}x the samples"
        )


def fit_beta_binomial(ns: Sequence[int], cs: Sequence[int]) -> tuple[float, float]:
    """Maximum-likelihood Beta(a, b) prior for per-problem (n, c) counts (coarse-to-fine grid in log a, log b)."""
    pairs, weights = np.unique(np.stack([np.asarray(ns), np.asarray(cs)], axis=1), axis=0, return_counts=True)
    n, c = pairs[:, 0], pairs[:, 1]
    steps = np.arange(int(n.max()) + 1)

    def rising(x: float) -> np.ndarray:  # log x(x+1)...(x+t-1) for t = 0..max n
        return np.concatenate([[0.0], np.cumsum(np.log(x + steps[:-1]))])

    def loglik(la: float, lb: float) -> float:
        a, b = math.exp(la), math.exp(lb)
        return float(weights @ (rising(a)[c] + rising(b)[n - c] - rising(a + b)[n]))

    center, span = (0.0, 0.0), 5.0
    for _ in range(4):
        grid = np.linspace(-span, span, 21)
        scores = [(loglik(center[0] + x, center[1] + y), center[0] + x, center[1] + y) for x in grid for y in grid]
        _, la, lb = max(scores)
        center, span = (float(np.clip(la, -6, 8)), float(np.clip(lb, -6, 8))), span / 5
    return math.exp(center[0]), math.exp(center[1])


def difficulty_grid(ns: Sequence[int], cs: Sequence[int], points: int = 256, seed: int = 0) -> np.ndarray:
    """Equally weighted difficulties standing for the pilot's problems (posterior draws, condensed)."""
    ns_a, cs_a = np.asarray(ns, dtype=np.int64), np.asarray(cs, dtype=np.int64)
    a, b = fit_beta_binomial(ns_a, cs_a)
    per_problem = max(1, -(-(1 << 17) // len(ns_a)))
    rng = np.random.default_rng(seed)
    draws = rng.beta(a + cs_a[:, None], b + (ns_a - cs_a)[:, None], size=(len(ns_a), per_problem))
    return np.quantile(draws, (np.arange(points) + 0.5) / points)


def moments_by_n_max(design: Design, k: int, ps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E[N], E[estimate] and E[estimate^2] at k per difficulty, shape (len(block_ends), len(ps)):
    row J is the design cut to n_max = block_ends[J] (the path counts do not involve n_max)."""
    ends = np.asarray(design.block_ends, dtype=np.float64)
    table = log_reach_table(design, [k], len(ends), every_end=True)
    reach = np.isfinite(table[0])
    table = table[:, :, : int(np.nonzero(reach.any(axis=0))[0][-1]) + 1]
    reach = reach[:, : table.shape[2]]
    c = np.arange(table.shape[2], dtype=np.float64)
    p = np.clip(np.asarray(ps, dtype=np.float64), 1e-15, 1 - 1e-15)
    # chance of reaching (e_j, c) on an admissible path: f_j(c) p^c (1-p)^(e_j - c), shape (ends, c, ps)
    prob = np.exp(table[0][:, :, None] + c[None, :, None] * np.log(p) + (ends[:, None] - c)[:, :, None] * np.log1p(-p))
    with np.errstate(invalid="ignore"):
        est = np.where(reach, np.exp(table[1] - table[0]), 0.0)
    q = np.stack([np.broadcast_to(ends[:, None], est.shape), est, est**2], axis=2)  # (ends, c, 3)
    q = np.concatenate([q, q * (c >= design.stop_at)[None, :, None]], axis=2)
    sums = np.matmul(q.transpose(0, 2, 1), prob)  # (ends, 6, ps): columns 3..5 only stopping rows
    stopped = np.cumsum(sums[:, 3:], axis=0)
    before = np.concatenate([np.zeros_like(stopped[:1]), stopped[:-1]])  # stopped at an earlier end
    total = before + sums[:, :3]  # + everyone who reaches this end, when it is n_max
    return total[:, 0], total[:, 1], total[:, 2]


def design_figures(design: Design, k: int, ps: np.ndarray) -> tuple[float, float]:
    """(mean samples per problem, V_within at k) of `design` over equally weighted difficulties."""
    design.check_ks([k])
    samples, _, second = moments_by_n_max(design, k, ps)
    truth = 1.0 - (1.0 - np.asarray(ps, dtype=np.float64)) ** k
    return float(samples[-1].mean()), float((second[-1] - truth**2).mean())


def fixed_n_for(within: float, k: int, ps: np.ndarray, cap: int) -> int | None:
    """The smallest fixed n >= k whose V_within at k is at most `within` (None above `cap`)."""

    def var(n: int) -> float:
        return design_figures(Design(n, n, 1), k, ps)[1]

    if var(cap) > within:
        return None
    lo, hi = k - 1, cap  # var(lo) > within (or lo < k), var(hi) <= within; V_within falls with n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= k and var(mid) <= within:
            hi = mid
        else:
            lo = mid
    return hi


def _candidates(k: int, budget: float) -> list[tuple[int, int, int]]:
    """(min_n, step, stop_at) triples searched: min_n k to 3k, step half to twice min_n, stop_at 1 to min_n."""
    out = []
    for min_n in sorted({k, math.ceil(1.5 * k), 2 * k, 3 * k}):
        if min_n > budget:
            continue
        stops = [s for s in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if s <= max(4, min_n)]
        for step in sorted({max(1, min_n // 2), min_n, 2 * min_n}):
            out += [(min_n, step, s) for s in stops]
    return out + [(int(budget), int(budget), 1)]  # fixed n = budget, chosen when nothing beats it


def plan_for_difficulties(
    ps: np.ndarray, budget: float, k: int, num_problems: int, max_blocks: int = 16, max_n: int | None = None
) -> Plan:
    """The design with the smallest V_within at k among those whose mean samples fit the budget
    (at most `max_blocks` blocks and, when given, `max_n` samples for any one problem)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise EvalkitError(f"k={k} is not a positive integer; pass one k >= 1, the largest you report")
    if not k <= budget:
        raise EvalkitError(f"budget {budget:g} samples per problem is below k={k}; raise the budget to at least k or lower k")
    if max_blocks < 1:
        raise EvalkitError(f"--max-blocks {max_blocks} leaves no block to draw; pass --max-blocks >= 1")
    ps = np.asarray(ps, dtype=np.float64)
    truth = 1.0 - (1.0 - ps) ** k
    best: tuple[float, float, Design] | None = None
    for min_n, step, stop_at in _candidates(k, budget):
        longest = Design(min_n, min_n + (max_blocks - 1) * step, stop_at, step)
        samples, _, second = moments_by_n_max(longest, k, ps)
        mean_samples, within = samples.mean(axis=1), (second - truth**2).mean(axis=1)
        fits = np.nonzero((mean_samples <= budget + 1e-9) & (np.asarray(longest.block_ends) <= (max_n or np.inf)))[0]
        if not len(fits):
            continue
        j = int(fits[-1])  # within falls as n_max grows: take the largest n_max that fits
        if best is None or (within[j], mean_samples[j]) < best[:2]:
            best = (float(within[j]), float(mean_samples[j]), Design(min_n, longest.block_ends[j], stop_at, step))
    if best is None:
        raise EvalkitError(f"no design fits --max-n {max_n}; pass --max-n >= k={k}")
    within, mean_samples, design = best
    fixed_n = int(budget)
    fixed_within = design_figures(Design(fixed_n, fixed_n, 1), k, ps)[1]
    same = fixed_n_for(within, k, ps, cap=16 * fixed_n)
    between = float(truth.var())

    def width(v: float) -> float:
        return 2 * Z95 * math.sqrt((between + v) / num_problems)

    saving = (same if same is not None else 16 * fixed_n) / mean_samples
    return Plan(design, k, budget, mean_samples, width(within), fixed_n, width(fixed_within), same, saving)


def plan(
    ns: Sequence[int], cs: Sequence[int], budget: float, k: int, *,
    max_blocks: int = 16, max_n: int | None = None, seed: int = 0,
) -> Plan:
    """Suggest a design for pass@k from a pilot run's per-problem (n, c), at `budget` samples per
    problem on average; the predicted interval is for as many problems as the pilot has."""
    ns_a, cs_a = np.asarray(ns, dtype=np.int64), np.asarray(cs, dtype=np.int64)
    if not len(ns_a):
        raise EvalkitError("the pilot run has no problems; plan from a run with graded samples")
    if ns_a.shape != cs_a.shape or (ns_a < 1).any() or (cs_a < 0).any() or (cs_a > ns_a).any():
        raise EvalkitError("pilot counts need 0 <= c <= n and n >= 1 per problem; plan from a run's graded counts")
    return plan_for_difficulties(difficulty_grid(ns_a, cs_a, seed=seed), budget, k, len(ns_a), max_blocks, max_n)
