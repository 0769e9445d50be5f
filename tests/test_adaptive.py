"""Sequential designs: the estimator against brute-force enumeration of admissible paths in exact
rationals, an exact-integer DP at large N, and a seeded simulation that the plug-in formula fails;
design consistency checks; the planner's exact moments against simulation and direct sums."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from math import comb

import numpy as np
import pytest

from evalkit.scoring.adaptive import (
    Design,
    continues,
    endpoint_violation,
    next_end,
    pass_at_k_adaptive,
    sequence_violation,
)
from evalkit.scoring.passk import pass_at_k_matrix
from evalkit.scoring.planner import design_figures, fit_beta_binomial, fixed_n_for, moments_by_n_max, plan, plan_for_difficulties
from evalkit.types import EvalkitError

# (min_n, n_max, stop_at, step): a cut last block, step 1, stop_at above min_n, step != min_n, fixed
SMALL = [(2, 8, 2, 2), (3, 10, 2, 2), (4, 12, 3, 4), (2, 9, 1, 3), (3, 11, 4, 3), (1, 7, 2, 1), (5, 5, 2, 5)]


def ends_of(m: int, n_max: int, step: int) -> list[int]:
    return list(range(m, n_max, step)) + [n_max]


def admissible_paths(m: int, n_max: int, s: int, step: int):
    """Straight from the definition: every earlier block end below s, and the end is a stopping point."""
    ends = ends_of(m, n_max, step)
    for n in ends:
        for seq in itertools.product((0, 1), repeat=n):
            if any(sum(seq[:e]) >= s for e in ends if e < n):
                continue
            if sum(seq) >= s or n == n_max:
                yield seq


def rb_estimates(paths, k: int) -> dict[tuple[int, int], Fraction]:
    """1 - A_k/A by counting paths per end point."""
    total, all_fail = {}, {}
    for seq in paths:
        key = (len(seq), sum(seq))
        total[key] = total.get(key, 0) + 1
        all_fail[key] = all_fail.get(key, 0) + (sum(seq[:k]) == 0)
    return {key: 1 - Fraction(all_fail[key], total[key]) for key in total}


@pytest.mark.parametrize("m, n_max, s, step", SMALL)
def test_estimator_equals_path_counting_in_rationals(m, n_max, s, step):
    paths = list(admissible_paths(m, n_max, s, step))
    design, ks = Design(m, n_max, s, step), list(range(1, m + 1))
    for k in ks:
        want = rb_estimates(paths, k)
        ns, cs = zip(*sorted(want))
        got = pass_at_k_adaptive(design, ns, cs, [k])[:, 0]
        exact = np.array([float(want[key]) for key in zip(ns, cs)])
        np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("m, n_max, s, step", SMALL)
def test_expectation_is_exactly_pass_at_k_and_plug_in_is_not(m, n_max, s, step):
    """Sum over all admissible paths of P(path) * estimate, in rationals, for rational p."""
    paths = list(admissible_paths(m, n_max, s, step))
    fixed = len(ends_of(m, n_max, step)) == 1
    for p in (Fraction(1, 3), Fraction(1, 10), Fraction(4, 5)):
        prob = {seq: p ** sum(seq) * (1 - p) ** (len(seq) - sum(seq)) for seq in paths}
        assert sum(prob.values()) == 1  # the design stops every path
        for k in range(1, m + 1):
            est = rb_estimates(paths, k)
            mean = sum(w * est[(len(q), sum(q))] for q, w in prob.items())
            assert mean == 1 - (1 - p) ** k
            plug = sum(w * (1 - Fraction(comb(len(q) - sum(q), k), comb(len(q), k))) for q, w in prob.items())
            assert (plug == mean) == fixed  # the fixed-n formula on adaptive counts is biased


def exact_dp(design: Design, k: int) -> dict[tuple[int, int], Fraction]:
    """The path-count recursion in exact integers, for designs too large to enumerate."""
    ends = ends_of(design.min_n, design.n_max, design.step)
    full = [comb(design.min_n, c) for c in range(design.min_n + 1)]
    zero = [comb(design.min_n - k, c) for c in range(design.min_n + 1)]
    out = {}
    for j, e in enumerate(ends):
        if j:
            length = e - ends[j - 1]
            full, zero = ([sum(v[cp] * comb(length, c - cp) for cp in range(min(design.stop_at, len(v))) if 0 <= c - cp <= length)
                           for c in range(min(design.stop_at, len(v)) + length)] for v in (full, zero))
        for c in range(len(full)):
            if full[c] and (c >= design.stop_at or e == design.n_max):
                out[(e, c)] = 1 - Fraction(zero[c], full[c])
    return out


@pytest.mark.parametrize("design, k", [(Design(64, 2048, 16, 64), 64), (Design(32, 1000, 5, 48), 7), (Design(8, 300, 1, 8), 8)])
def test_large_designs_match_exact_integer_recursion(design, k):
    want = exact_dp(design, k)
    keys = sorted(want)
    got = pass_at_k_adaptive(design, [n for n, _ in keys], [c for _, c in keys], [k])[:, 0]
    np.testing.assert_allclose(got, [float(want[key]) for key in keys], rtol=1e-11, atol=1e-300)
    assert min(float(v) for v in want.values()) < 1e-2  # small values are covered, relatively


@pytest.mark.parametrize("n", [1, 7, 64, 1000])
def test_fixed_design_reduces_to_the_fixed_n_formula(n):
    cs = list(range(n + 1))
    ks = sorted({1, min(n, 5), n})
    got = pass_at_k_adaptive(Design(n, n, 3), [n] * len(cs), cs, ks)
    np.testing.assert_allclose(got, pass_at_k_matrix([n] * len(cs), cs, ks), rtol=1e-12, atol=1e-14)


def test_stop_at_above_every_earlier_block_end_is_the_fixed_design():
    cs = list(range(257))
    got = pass_at_k_adaptive(Design(16, 256, 250, 16), [256] * 257, cs, [1, 16])
    np.testing.assert_allclose(got, pass_at_k_matrix([256] * 257, cs, [1, 16]), rtol=1e-12, atol=1e-14)


def simulate(design: Design, p: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised draws: stop at the first block end below n_max with at least stop_at correct."""
    draws = rng.random((len(p), design.n_max)) < p[:, None]
    cum = np.cumsum(draws, axis=1)
    ends = np.asarray(design.block_ends)
    stop_here = cum[:, ends - 1] >= design.stop_at
    stop_here[:, -1] = True
    ns = ends[np.argmax(stop_here, axis=1)]
    return ns, cum[np.arange(len(p)), ns - 1]


SIM_DESIGNS = [(Design(16, 128, 4, 16), [1, 4, 16]), (Design(8, 100, 2, 12), [1, 8])]


@pytest.fixture(scope="module", params=range(len(SIM_DESIGNS)))
def simulated(request):
    design, ks = SIM_DESIGNS[request.param]
    rng = np.random.default_rng(20240516 + request.param)
    p = rng.beta(0.35, 0.6, 20000)
    ns, cs = simulate(design, p, rng)
    return design, ks, p, ns, cs


def bias_z(estimates: np.ndarray, p: np.ndarray, ks: list[int]) -> np.ndarray:
    """(mean estimate - mean truth) in standard errors, per k, truth = 1 - (1-p)^k of the same problems."""
    err = estimates - (1.0 - (1.0 - p[:, None]) ** np.asarray(ks)[None, :])
    return err.mean(axis=0) / (err.std(axis=0, ddof=1) / np.sqrt(len(p)))


def test_simulated_mean_is_within_four_standard_errors_at_every_k(simulated):
    design, ks, p, ns, cs = simulated
    assert np.abs(bias_z(pass_at_k_adaptive(design, ns, cs, ks), p, ks)).max() < 4


def test_same_check_rejects_the_plug_in_formula(simulated):
    design, ks, p, ns, cs = simulated
    assert np.abs(bias_z(pass_at_k_matrix(ns, cs, ks), p, ks)).max() > 4


def test_planner_moments_match_the_simulation(simulated):
    """Exact E[N] and E[(estimate - truth)^2] over the simulated p's, against what was drawn."""
    design, ks, p, ns, cs = simulated
    est = pass_at_k_adaptive(design, ns, cs, ks)
    for i, k in enumerate(ks):
        samples, within = design_figures(design, k, p)
        sq = (est[:, i] - (1 - (1 - p) ** k)) ** 2
        assert abs(ns.mean() - samples) < 4 * ns.std() / np.sqrt(len(ns))
        assert abs(sq.mean() - within) < 4 * sq.std() / np.sqrt(len(sq))


def test_continues_and_next_end_draw_what_the_design_says():
    rng = np.random.default_rng(3)
    for design in (Design(4, 22, 2, 6), Design(1, 9, 3, 1), Design(16, 128, 4)):
        ns, cs = [], []
        for p in rng.beta(0.5, 0.8, 300):
            seq: list[int] = []
            while continues(design, len(seq), sum(seq)):
                seq += list((rng.random(next_end(design, len(seq)) - len(seq)) < p).astype(int))
            assert sequence_violation(design, seq) is None, seq
            assert endpoint_violation(design, len(seq), sum(seq)) is None
            ns.append(len(seq))
            cs.append(sum(seq))
        assert len(set(ns)) > 2  # the run really is adaptive
        pass_at_k_adaptive(design, ns, cs, [1])  # every end point is accepted


def test_continues_at_and_between_block_ends():
    d = Design(4, 14, 2, 4)  # block ends 4, 8, 12, 14
    assert d.block_ends == (4, 8, 12, 14)
    assert [next_end(d, n) for n in (0, 3, 4, 7, 8, 12, 13)] == [4, 4, 8, 8, 12, 14, 14]
    assert continues(d, 0, 0) and continues(d, 3, 3) and continues(d, 6, 5)  # inside a block
    assert continues(d, 8, 1) and not continues(d, 8, 2) and not continues(d, 14, 0)


@pytest.mark.parametrize("seq, reason", [
    ([1, 1, 0, 0, 0, 0, 0, 0], "continued after block end 4 with 2 correct"),
    ([0, 0, 0, 1, 0, 0, 0, 0], "stopped at 8 samples with 1 correct"),
    ([0, 0, 0, 0, 0], "not a block end"),
    ([1], "fewer than --min-n 4"),
    ([0] * 16, "more than --n 12"),
    ([0, 0, 0, 2], "not all 0/1"),
])
def test_sequences_that_contradict_the_design_are_named(seq, reason):
    got = sequence_violation(Design(4, 12, 2, 4), seq)
    assert got is not None and reason in got and "\n" not in got


@pytest.mark.parametrize("seq", [[1, 1, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0], [0] * 12, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]])
def test_sequences_that_fit_the_design(seq):
    assert sequence_violation(Design(4, 12, 2, 4), seq) is None  # crossing stop_at inside a block is fine


def test_unreachable_end_point_and_a_refused_problem_named_by_id():
    d = Design(4, 12, 2, 4)
    assert "at block end 4" in endpoint_violation(d, 8, 7)
    with pytest.raises(EvalkitError, match=r"problem gsm8k/7 does not fit .*stopped at 8 samples") as e:
        pass_at_k_adaptive(d, [4, 8], [2, 1], [1], ids=["gsm8k/3", "gsm8k/7"])
    assert "\n" not in str(e.value)
    with pytest.raises(EvalkitError, match="problem #1 .*block end 4"):
        pass_at_k_adaptive(d, [12, 8], [0, 7], [1])


@pytest.mark.parametrize("args, match", [
    ((0, 8, 2), "--min-n 0 is not a positive integer"),
    ((8, 4, 2), "--n 4 is below --min-n 8"),
    ((4, 8, 0), "--stop-at 0"),
    ((4, 8, 2, 0), "--step 0"),
    ((4, 8, True), "--stop-at True"),
    ((4.0, 8, 2), "--min-n 4.0"),
])
def test_bad_designs_are_one_line_errors(args, match):
    with pytest.raises(EvalkitError, match=match) as e:
        Design(*args)
    assert "\n" not in str(e.value)


def test_k_above_min_n_is_refused_and_design_round_trips():
    d = Design(8, 64, 3)
    with pytest.raises(EvalkitError, match="k=16 exceeds --min-n 8"):
        pass_at_k_adaptive(d, [64], [0], [1, 16])
    with pytest.raises(EvalkitError, match="positive"):
        d.check_ks([0])
    assert Design.from_dict(d.as_dict()) == d and d.as_dict()["step"] == 8
    assert json.loads(json.dumps(Design(np.int64(4), np.int32(8), 2).as_dict())) == {"min_n": 4, "n_max": 8, "stop_at": 2, "step": 4}


@pytest.mark.parametrize("m, n_max, s, step", SMALL)
def test_planner_moments_equal_path_sums_at_every_n_max_cut(m, n_max, s, step):
    """E[N], E[estimate], E[estimate^2] per n_max cut, against sums over enumerated paths of each cut design."""
    p, k = Fraction(2, 7), m
    samples, first, second = moments_by_n_max(Design(m, n_max, s, step), k, np.array([float(p)]))
    for j, cut in enumerate(ends_of(m, n_max, step)):
        paths = list(admissible_paths(m, cut, s, step))
        est = rb_estimates(paths, k)
        prob = [(q, p ** sum(q) * (1 - p) ** (len(q) - sum(q))) for q in paths]
        assert samples[j, 0] == pytest.approx(float(sum(w * len(q) for q, w in prob)), rel=1e-12)
        assert first[j, 0] == pytest.approx(float(1 - (1 - p) ** k), rel=1e-12)
        assert second[j, 0] == pytest.approx(float(sum(w * est[(len(q), sum(q))] ** 2 for q, w in prob)), rel=1e-12)


def test_fixed_design_figures_against_a_direct_binomial_sum():
    for n, k, p in ((20, 5, 0.07), (64, 64, 0.3), (9, 1, 0.95)):
        pmf = np.array([comb(n, c) * p**c * (1 - p) ** (n - c) for c in range(n + 1)])
        est = pass_at_k_matrix([n] * (n + 1), range(n + 1), [k])[:, 0]
        samples, within = design_figures(Design(n, n, 1), k, np.array([p]))
        assert samples == pytest.approx(n, rel=1e-12)
        assert within == pytest.approx(pmf @ est**2 - (1 - (1 - p) ** k) ** 2, rel=1e-9, abs=1e-13)


def test_fixed_n_for_is_the_smallest_n_that_matches():
    ps = np.random.default_rng(5).beta(0.3, 0.5, 200)
    target = design_figures(Design(40, 40, 1), 8, ps)[1] * 0.999
    n = fixed_n_for(target, 8, ps, cap=400)
    assert design_figures(Design(n, n, 1), 8, ps)[1] <= target < design_figures(Design(n - 1, n - 1, 1), 8, ps)[1]
    assert n == 41


def test_beta_binomial_fit_recovers_the_prior():
    rng = np.random.default_rng(11)
    cs = rng.binomial(32, rng.beta(0.35, 0.6, 5000))
    a, b = fit_beta_binomial([32] * 5000, cs)
    assert a == pytest.approx(0.35, rel=0.15) and b == pytest.approx(0.6, rel=0.15)


def test_plan_beats_fixed_n_and_the_hand_picked_design_at_its_budget():
    rng = np.random.default_rng(7)
    p = rng.beta(0.35, 0.6, 400)
    cs = rng.binomial(16, p)
    hand = Design(16, 128, 4)  # the design
    ps = np.random.default_rng(8).beta(0.35, 0.6, 256)
    hand_samples, hand_within = design_figures(hand, 16, ps)
    got = plan_for_difficulties(ps, hand_samples, 16, 400)
    assert got.design.min_n >= 16 and got.expected_samples <= hand_samples + 1e-9
    samples, within = design_figures(got.design, 16, ps)
    assert samples == pytest.approx(got.expected_samples)
    assert within <= hand_within
    assert got.ci_width < got.fixed_ci_width and got.saving > 1.5
    from_pilot = plan([16] * 400, cs, 64, 16)
    assert from_pilot.expected_samples <= 64 and from_pilot.design.min_n >= 16 and from_pilot.saving > 1.2
    assert "fixed n for the same width" in from_pilot.summary()


def test_plan_keeps_fixed_n_where_adaptive_does_not_help():
    """At k = 1 stopping easy problems early costs more than it saves (the issue's finding)."""
    cs = np.random.default_rng(9).binomial(16, np.random.default_rng(10).beta(0.35, 0.6, 300))
    got = plan([16] * 300, cs, 8, 1)
    assert got.design == Design(8, 8, 1, 8) and got.saving == pytest.approx(1.0)
    assert got.summary().startswith("design: fixed --n 8")


@pytest.mark.parametrize("kwargs, match", [
    (dict(ns=[16, 16], cs=[3, 0], budget=8, k=16), "below k=16"),
    (dict(ns=[], cs=[], budget=64, k=16), "no problems"),
    (dict(ns=[16], cs=[17], budget=64, k=16), "0 <= c <= n"),
    (dict(ns=[16], cs=[3], budget=64, k=0), "k=0"),
])
def test_plan_refuses_bad_input(kwargs, match):
    ns, cs = kwargs.pop("ns"), kwargs.pop("cs")
    with pytest.raises(EvalkitError, match=match):
        plan(ns, cs, **kwargs)
