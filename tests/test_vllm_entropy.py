"""The top-K entropy estimate (evalkit/samplers/entropy.py) against brute force on random distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.samplers.entropy import mean_entropy_and_logprob, topk_entropy


def _lumped_entropy(p: np.ndarray, k: int) -> float:
    """Brute force: build the coarsened distribution (top k kept, the rest one outcome), take its entropy."""
    top = np.sort(p)[::-1][:k]
    coarse = np.append(top, max(0.0, 1.0 - top.sum()))
    coarse = coarse[coarse > 0]
    return float(-(coarse * np.log(coarse)).sum())


@pytest.mark.parametrize("seed", range(5))
def test_topk_entropy_is_a_tightening_lower_bound(seed):
    rng = np.random.default_rng(seed)
    vocab = 50
    p = rng.dirichlet(np.full(vocab, 0.3))
    exact = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    logp = np.log(np.sort(p)[::-1])
    previous = -1.0
    for k in range(1, vocab + 1):
        h = topk_entropy(logp[:k].tolist())
        assert h == pytest.approx(_lumped_entropy(p, k), abs=1e-9)
        assert previous - 1e-12 <= h <= exact + 1e-9
        previous = h
    assert topk_entropy(logp.tolist()) == pytest.approx(exact, abs=1e-9)


def test_edge_cases_and_means():
    assert topk_entropy([0.0]) == 0.0  # one certain token
    assert topk_entropy([math.log(0.5), math.log(0.5)]) == pytest.approx(math.log(2))
    assert topk_entropy([math.log(0.5)]) == pytest.approx(math.log(2))  # the other half lumped
    assert topk_entropy([math.log(0.25), -math.inf]) == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    steps = [[math.log(0.5), math.log(0.5)], [0.0]]
    assert mean_entropy_and_logprob(steps, [math.log(0.5), 0.0]) == pytest.approx((math.log(2) / 2, math.log(0.5) / 2))
    assert mean_entropy_and_logprob([], []) == (None, None)
