"""Token entropy estimated from the top-K log-probabilities a server or vLLM returns.

A backend that only sees the K most likely tokens at each step cannot know the exact entropy
H = -sum_v p_v log p_v. evalkit's estimate keeps those K tokens and lumps the rest of the vocabulary
into a single "other" outcome with the leftover mass r = 1 - sum_{i<=K} p_i:

    H_K = -sum_{i<=K} p_i log p_i  -  r log r

This is the exact entropy of a coarsened distribution, so (grouping property of entropy)

    H_K <= H,   H_K is non-decreasing in K,   H_K = H once the top K hold all the mass (K = vocab).

It is therefore a lower bound that tightens with K, never a guess about the tail's shape. The
log-probabilities are those of the model's raw distribution (before temperature, top-p, top-k),
the same distribution the transformers backend takes its exact entropy from. Units: nats.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def topk_entropy(top_logprobs: Iterable[float]) -> float:
    """H_K of one step from the log-probabilities of its top-K tokens (distinct tokens)."""
    h, mass = 0.0, 0.0
    for lp in top_logprobs:
        if lp == -math.inf:
            continue
        p = math.exp(lp)
        h -= p * lp
        mass += p
    rest = 1.0 - mass
    if rest > 1e-12:  # rounding can push the top-K mass a hair over 1
        h -= rest * math.log(rest)
    return max(h, 0.0)


def mean_entropy_and_logprob(steps: Sequence[Sequence[float]], chosen: Sequence[float]) -> tuple[float | None, float | None]:
    """Per-sample means over generated tokens: (mean H_K, mean log-probability of the drawn tokens).

    `steps[t]` holds the top-K log-probabilities at step t, `chosen[t]` the drawn token's.
    Returns (None, None) for an empty completion, which has no tokens to average over.
    """
    if not steps:
        return None, None
    entropy = sum(topk_entropy(s) for s in steps) / len(steps)
    logprob = sum(chosen) / len(chosen) if chosen else None
    return entropy, logprob
