"""Estimators against exact rational arithmetic and brute-force enumeration."""

from __future__ import annotations

import itertools
import json
import math
import random
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from collections import Counter

from evalkit.scoring.majority import majority_at_k, votes
from evalkit.scoring.passk import pass_at_k_curve, pass_at_k_matrix, pass_hat_k_matrix
from evalkit.scoring.stats import bootstrap_ci
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


def vote(answers, correct) -> Fraction:
    """One majority vote (NeMo-Skills' rule): top answers share the win; no answer, no vote."""
    count = Counter(a for a in answers if a is not None)
    if not count:
        return Fraction(0)
    top = max(count.values())
    winners = [a for a, v in count.items() if v == top]
    right = {a for a, ok in zip(answers, correct) if ok and a is not None}
    return Fraction(sum(a in right for a in winners), len(winners))


def subsets_mean(answers, correct, k) -> Fraction:
    """The definition: the vote averaged over every k-subset of the samples."""
    subs = list(itertools.combinations(range(len(answers)), k))
    return sum(vote([answers[i] for i in s], [correct[i] for i in s]) for s in subs) / len(subs)


def maj(answers, correct, k) -> float:
    return majority_at_k(*votes(answers, correct), [k])[0]


def test_majority_ties_split_fractionally():
    assert maj(["a", "b", "c"], [True, False, False], 3) == pytest.approx(1 / 3)  # 3 tied, one right
    assert maj(["a", "a", "b"], [True, True, False], 3) == 1.0
    assert maj(["b", "a", "b"], [False, True, False], 3) == 0.0
    assert maj([None, None], [False, False], 2) == 0.0  # no answer, no vote


@pytest.mark.parametrize("route", ["default", "tilted"])
def test_majority_is_exact_over_all_subsets_and_maj1_is_pass1(route, monkeypatch):
    from evalkit.scoring import majority, majority_window

    monkeypatch.setattr(majority, "_MEMO", {})
    if route == "tilted":  # every contested row with v > 1 through tilted_wins
        monkeypatch.setattr(majority_window, "SHALLOW", -1)
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 10)
        answers = [rng.choice(["a", "b", "c", "d", None]) for _ in range(n)]
        right = rng.choice(["a", "b", "c"])
        correct = [a == right for a in answers]
        for k in range(1, n + 1):
            assert maj(answers, correct, k) == pytest.approx(float(subsets_mean(answers, correct, k)), abs=1e-12)
        assert maj(answers, correct, 1) == pytest.approx(sum(correct) / n, abs=1e-12)


def test_majority_large_counts_match_a_simulation():
    """n = 1024 (C(1024, 512) ~ 1e307): no overflow, and a Monte Carlo of the vote agrees."""
    rng = np.random.default_rng(0)
    answers = ["gold"] * 300 + ["w1"] * 250 + ["w2"] * 120 + [f"x{i}" for i in range(200)] + [None] * 154
    correct = [a == "gold" for a in answers]
    got = majority_at_k(*votes(answers, correct), [64, 512])
    for k, value in zip((64, 512), got):
        sims = []
        for _ in range(3000):
            idx = rng.choice(1024, k, replace=False)
            sims.append(float(vote([answers[i] for i in idx], [correct[i] for i in idx])))
        assert abs(value - np.mean(sims)) < 4 * np.std(sims) / np.sqrt(len(sims)) + 1e-3, (k, value, np.mean(sims))


def exact_majority(sizes: list[int], correct: list[bool], abstain: int, k: int) -> Fraction:
    """maj@k with exact integers: for each correct class j and its votes v, the ways the others take
    the remaining k - v votes with none above v, t of them tied at v (a 1 / (1 + t) share)."""
    n = sum(sizes) + abstain
    total = Fraction(0)
    for j in (i for i, ok in enumerate(correct) if ok):
        others = sizes[:j] + sizes[j + 1:]
        for v in range(1, min(k, sizes[j]) + 1):
            ways = {(d, 0): math.comb(abstain, d) for d in range(min(abstain, k - v) + 1)}
            for m in others:
                step: dict = {}
                for (d, t), w in ways.items():
                    for c in range(min(m, v, k - v - d) + 1):
                        step[d + c, t + (c == v)] = step.get((d + c, t + (c == v)), 0) + w * math.comb(m, c)
                ways = step
            total += math.comb(sizes[j], v) * sum(Fraction(w, t + 1) for (d, t), w in ways.items() if d == k - v)
    return total / math.comb(n, k)


@pytest.mark.parametrize("route", ["default", "tilted"])
@pytest.mark.parametrize("sizes, correct, abstain, ks", [
    ([1252, 292, 291, 7, 5, 2] + [1] * 40, [True] + [False] * 45, 3, [4, 16, 64]),  # one dominant right answer
    ([40, 38, 37, 12] + [2] * 6 + [1] * 20, [False, True, False, True] + [False] * 26, 5, [2, 9, 30, 60]),  # contested
    ([6] * 20 + [1] * 10, [True] + [False] * 29, 0, [3, 12, 40]),  # many classes can match j
    ([300, 120] + [1] * 30, [False, True] + [False] * 30, 10, [50, 200]),  # a minority answer that is right
    ([9, 8, 8, 7, 7, 6, 6, 6, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 3] + [2] * 15 + [1] * 20, [False, True] + [False] * 53, 3,
     [20, 40, 64]),  # dozens of rivals of j's size: many folds, many possible ties
    ([40, 38, 37, 12] + [6] * 8 + [2] * 10 + [1] * 20, [False, True] + [False] * 40, 5, [110, 130]),  # deep rows
])
def test_majority_matches_exact_integers(sizes, correct, abstain, ks, route, monkeypatch):
    """Where the vote is contested, counted by either programme (route "tilted": every row through
    tilted_wins), or bounded away: within 1e-13 of exact rational arithmetic at up to 1,700 samples."""
    from evalkit.scoring import majority, majority_window

    monkeypatch.setattr(majority, "_MEMO", {})
    if route == "tilted":
        monkeypatch.setattr(majority_window, "SHALLOW", -1)
    got = majority_at_k(sizes, correct, abstain, ks)
    for k, value in zip(ks, got):
        assert value == pytest.approx(float(exact_majority(sizes, correct, abstain, k)), abs=1e-13), k


def test_majority_matches_nemo_skills_fixture(eval_dir: Path):
    """NeMo-Skills' hendrycks_math fixture (3 samples): its majority@3 = 76.19 is the full vote, which
    maj@3 must equal; its majority@2 = 78.57 votes over the *first* two samples, a single draw of the
    2-subset. evalkit's maj@2 averages all three 2-subsets; both are checked against brute force."""
    runs = []
    for seed in range(3):
        with open(eval_dir / "nemo_skills_fixtures" / f"hendrycks_math_output-rs{seed}.jsonl") as f:
            runs.append([json.loads(line) for line in f if line.strip()])
    problems = list(zip(*runs))
    answers = [[r["predicted_answer"] for r in p] for p in problems]
    correct = [[bool(r["symbolic_correct"]) for r in p] for p in problems]
    first2 = 100 * np.mean([float(vote(a[:2], c[:2])) for a, c in zip(answers, correct)])
    assert first2 == pytest.approx(78.57, abs=0.01)  # NeMo-Skills' published figure, by its rule
    ours = {k: 100 * np.mean([maj(a, c, k) for a, c in zip(answers, correct)]) for k in (1, 2, 3)}
    assert ours[3] == pytest.approx(76.19, abs=0.01)
    assert ours[2] == pytest.approx(100 * float(np.mean([subsets_mean(a, c, 2) for a, c in zip(answers, correct)])), abs=1e-9)
    p = {k: 100 * pass_at_k_matrix([3] * len(problems), [sum(c) for c in correct], [k]).mean() for k in (1, 2)}
    assert p[2] == pytest.approx(80.95, abs=0.01)
    assert ours[1] == pytest.approx(p[1], abs=1e-9)  # maj@1 = pass@1


def test_bootstrap_interval_covers_mean_and_is_reproducible():
    rng = np.random.default_rng(0)
    per_problem = rng.random((200, 3))
    ci = bootstrap_ci(per_problem)
    assert np.array_equal(ci, bootstrap_ci(per_problem))  # one seed: one interval per run, everywhere
    means = per_problem.mean(axis=0)
    assert (ci[:, 0] < means).all() and (means < ci[:, 1]).all()
    # width close to the normal approximation 2 * 1.96 * sd / sqrt(m)
    normal = 2 * 1.96 * per_problem.std(axis=0, ddof=1) / np.sqrt(200)
    assert np.allclose(ci[:, 1] - ci[:, 0], normal, rtol=0.15)


@pytest.mark.parametrize("seed", range(4))
def test_majority_random_problems_match_exact_integers(seed, monkeypatch):
    """Random answer counts (a right answer of random share among up to 30 others, some samples without
    an answer), both programmes, against exact rational arithmetic."""
    from evalkit.scoring import majority, majority_window

    rng = random.Random(seed)
    sizes = [rng.randint(1, 25) for _ in range(rng.randint(3, 30))]
    correct = [False] * len(sizes)
    correct[rng.randrange(len(sizes))] = True
    abstain = rng.randint(0, 10)
    n = sum(sizes) + abstain
    ks = sorted({rng.randint(2, n // 4), rng.randint(n // 4, n // 2), rng.randint(n // 2, n - 1)})
    exact = [float(exact_majority(sizes, correct, abstain, k)) for k in ks]
    for shallow in (majority_window.SHALLOW, -1):
        monkeypatch.setattr(majority, "_MEMO", {})
        monkeypatch.setattr(majority_window, "SHALLOW", shallow)
        got = majority_at_k(sizes, correct, abstain, ks)
        for k, value, want in zip(ks, got, exact):
            assert value == pytest.approx(want, abs=1e-13), (k, shallow)
