"""Estimators against exact rational arithmetic and brute-force enumeration."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from evalkit.scoring.passk import (
    bootstrap_ci,
    majority_at_k,
    pass_at_k_curve,
    pass_at_k_matrix,
    pass_hat_k_matrix,
)
from evalkit.types import EvalkitError


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def exact_pass_hat_k(n: int, c: int, k: int) -> Fraction:
    return Fraction(comb(c, k), comb(n, k))


def test_pass_at_k_matches_rationals_random_cases():
    rng = random.Random(1)
    cases = [(n, rng.randint(0, n), rng.randint(1, n)) for n in [rng.randint(1, 1024) for _ in range(300)]]
    cases += [(1024, 1, 1024), (1024, 1023, 1), (1024, 0, 512), (1024, 1024, 7), (1, 1, 1), (1, 0, 1)]
    for n, c, k in cases:
        got = pass_at_k_matrix([n], [c], [k])[0, 0]
        assert got == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-12, rel=1e-12), (n, c, k)
        got_hat = pass_hat_k_matrix([n], [c], [k])[0, 0]
        assert got_hat == pytest.approx(float(exact_pass_hat_k(n, c, k)), abs=1e-12, rel=1e-10), (n, c, k)


def test_whole_curve_with_different_n_per_problem():
    ns, cs = [16, 40, 7, 1024], [3, 0, 7, 17]
    curve = pass_at_k_curve(ns, cs)
    assert len(curve) == 7  # k runs up to the smallest n
    for k in range(1, 8):
        want = sum(exact_pass_at_k(n, c, k) for n, c in zip(ns, cs)) / len(ns)
        assert curve[k - 1] == pytest.approx(float(want), abs=1e-12)


def test_pass_at_k_equals_brute_force_subsets():
    """Average over all k-subsets of the samples of 'any correct': the definition itself."""
    outcomes = [1, 0, 0, 1, 0, 0, 0, 1, 0]
    n, c = len(outcomes), sum(outcomes)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(outcomes, k))
        any_ok = Fraction(sum(max(s) for s in subsets), len(subsets))
        all_ok = Fraction(sum(min(s) for s in subsets), len(subsets))
        assert pass_at_k_matrix([n], [c], [k])[0, 0] == pytest.approx(float(any_ok), abs=1e-12)
        assert pass_hat_k_matrix([n], [c], [k])[0, 0] == pytest.approx(float(all_ok), abs=1e-12)


@pytest.mark.parametrize("ks", [[0], [-3], [1, 0]])
def test_nonpositive_k_is_an_error(ks):
    with pytest.raises(EvalkitError, match="positive"):
        pass_at_k_matrix([10], [3], ks)


def test_k_greater_than_n_is_an_error_not_one():
    with pytest.raises(EvalkitError, match="exceeds"):
        pass_at_k_matrix([10, 4], [3, 1], [5])


def test_majority_ties_split_fractionally():
    # 3 groups tied (a, b, c) with one correct -> 1/3
    assert majority_at_k(["a", "b", "c"], [True, False, False], 3) == pytest.approx(1 / 3)
    # clear winner correct
    assert majority_at_k(["a", "a", "b"], [True, True, False], 3) == 1.0
    # clear winner wrong
    assert majority_at_k(["b", "a", "b"], [False, True, False], 3) == 0.0
    # first k only; no-answer samples do not vote
    assert majority_at_k([None, "x", "y", "y"], [False, True, False, False], 2) == 1.0
    assert majority_at_k([None, None], [False, False], 2) == 0.0


def test_majority_matches_nemo_skills_fixture(eval_dir: Path):
    """NeMo-Skills' hendrycks_math fixture: majority@2 = 78.57, majority@3 = 76.19, pass@2 = 80.95."""
    runs = []
    for seed in range(3):
        with open(eval_dir / "nemo_skills_fixtures" / f"hendrycks_math_output-rs{seed}.jsonl") as f:
            runs.append([json.loads(line) for line in f if line.strip()])
    problems = list(zip(*runs))
    answers = [[r["predicted_answer"] for r in p] for p in problems]
    correct = [[bool(r["symbolic_correct"]) for r in p] for p in problems]
    maj = {k: 100 * np.mean([majority_at_k(a, c, k) for a, c in zip(answers, correct)]) for k in (2, 3)}
    assert maj[2] == pytest.approx(78.57, abs=0.01)
    assert maj[3] == pytest.approx(76.19, abs=0.01)
    p2 = 100 * pass_at_k_matrix([3] * len(problems), [sum(c) for c in correct], [2]).mean()
    assert p2 == pytest.approx(80.95, abs=0.01)


def test_bootstrap_interval_covers_mean_and_is_reproducible():
    rng = np.random.default_rng(0)
    per_problem = rng.random((200, 3))
    ci = bootstrap_ci(per_problem, seed=7)
    assert np.array_equal(ci, bootstrap_ci(per_problem, seed=7))
    means = per_problem.mean(axis=0)
    assert (ci[:, 0] < means).all() and (means < ci[:, 1]).all()
    # width close to the normal approximation 2 * 1.96 * sd / sqrt(m)
    normal = 2 * 1.96 * per_problem.std(axis=0, ddof=1) / np.sqrt(200)
    assert np.allclose(ci[:, 1] - ci[:, 0], normal, rtol=0.15)
