"""Adaptive (sequential) sampling against fixed n at the same average samples per problem: the 95%
intervals of mean pass@k, and the fixed n that matches the adaptive design at the largest k.

    python benchmarks/bench_adaptive.py [--reps 200] [--scenario codet64|codet16|beta16]
    python benchmarks/bench_adaptive.py --hf [--limit 200] [--repeat 3]

--hf times real runs instead: `evalkit run --model tiny-arith --bench arith --backend hf` with a fixed
n = 16 against the design `evalkit plan` proposed for it (--min-n 6 --step 3 --stop-at 6 --n 27), each
in a fresh directory, and the same design with the hf sampler's prompt packing off (how every adaptive
round was decoded before: one batch per prompt of --step rows). It prints samples per second of the
sampler alone and of the whole run (draw, grade, count), and each adaptive figure over the fixed one.

Difficulty mixes: the CodeT HumanEval file in ../shared/eval (CodeGen-Mono-16B, 164 tasks x 100
recorded samples; a task's p is its share of passing samples, so a draw is one of its recorded
samples picked at random; 43 tasks never pass), and the issue's Beta(0.35, 0.6) over 500 problems.
A pilot of 16 samples per problem (CodeT: the first 16 recorded ones) goes through planner.plan,
which picks the design for the largest k and the budget. Then `reps` whole benchmark runs are
simulated with common random numbers: the adaptive design, fixed n = budget, and a ladder of
larger fixed n, each run twice. Figures, as means over runs:
  * CI width: the percentile bootstrap over problems (stats.bootstrap_means), as metrics.json reports
    it. Its width is mostly the spread of difficulty between problems, which no design changes, so it
    moves little.
  * paired CI width: stats.paired_bootstrap of the rerun against the run, as compare/gate would
    test two checkpoints; the difficulty spread cancels and the sampling noise is what is left.
  * rms error: per problem, estimate against the true pass@k.
The fixed n giving the adaptive design's figure is read off the ladder (log-linear interpolation);
the ratio is that n over the adaptive design's measured mean samples per problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from evalkit.scoring.adaptive import Design, pass_at_k_adaptive  # noqa: E402
from evalkit.scoring.passk import pass_at_k_matrix  # noqa: E402
from evalkit.scoring.planner import plan  # noqa: E402
from evalkit.scoring.stats import bootstrap_means, paired_bootstrap  # noqa: E402

LADDER = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
CODET = "codet_humaneval_codegen16B_t0.8_n100_labels.jsonl"


def codet_labels() -> np.ndarray | None:
    """Per-task recorded pass/fail, shape (164, 100) in task and sample order; None without the file."""
    data = os.environ.get("EVALKIT_DATA_DIR")
    path = Path(data).parent / "eval" / CODET if data else None
    if path is None or not path.is_file():
        return None
    passed: dict[str, list[bool]] = defaultdict(list)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        passed[row["task_id"]].append(bool(row["passed"]))
    return np.array(list(passed.values()))


def draw(p: np.ndarray, design: Design, width: int, rng: np.random.Generator):
    """One run's cumulative correct counts (for every fixed n) and the design's (N, C) from the same draws."""
    cum = np.cumsum(rng.random((len(p), width)) < p[:, None], axis=1)
    ends = np.asarray(design.block_ends)
    stop = cum[:, ends - 1] >= design.stop_at
    stop[:, -1] = True
    ns = ends[np.argmax(stop, axis=1)]
    return cum, ns, cum[np.arange(len(p)), ns - 1]


def simulate(p: np.ndarray, design: Design, fixed: list[int], ks: list[int], reps: int, seed: int) -> dict:
    """Per design (the adaptive one and each fixed n), means over runs of: single-run interval width,
    paired interval width of a rerun against the run (what compare/gate resolve), squared error,
    samples per problem; shape (4, len(ks)). Every design sees the same draws and bootstrap weights."""
    rng = np.random.default_rng(seed)
    truth = 1.0 - (1.0 - p[:, None]) ** np.asarray(ks)[None, :]
    acc: dict = defaultdict(lambda: np.zeros((4, len(ks))))
    for rep in range(reps):
        first, second = (draw(p, design, max(design.n_max, max(fixed)), rng) for _ in range(2))
        runs = {"adaptive": [(ns, pass_at_k_adaptive(design, ns, cs, ks)) for _, ns, cs in (first, second)]}
        for n in fixed:
            runs[n] = [(np.full(len(p), n), pass_at_k_matrix(np.full(len(p), n), cum[:, n - 1], ks)) for cum, _, _ in (first, second)]
        names = list(runs)  # all designs' columns in one call: the same problem weights for every design
        est = np.hstack([runs[m][0][1] for m in names])
        again = np.hstack([runs[m][1][1] for m in names])
        ci = np.quantile(bootstrap_means(est, seed=rep), [0.025, 0.975], axis=0).T  # as metrics.json, per run seed
        paired = paired_bootstrap(again, est, seed=rep)
        for i, name in enumerate(names):
            cols = slice(i * len(ks), (i + 1) * len(ks))
            acc[name] += np.stack([
                (ci[:, 1] - ci[:, 0])[cols], [r.hi - r.lo for r in paired[cols]],
                ((est[:, cols] - truth) ** 2).mean(axis=0), np.full(len(ks), runs[name][0][0].mean()),
            ])
    return {name: a / reps for name, a in acc.items()}


def matching_n(fixed: list[int], values: np.ndarray, target: float) -> float:
    """The fixed n whose figure (falling with n) equals target, log-linear between ladder rungs."""
    if target < values[-1]:
        return float("inf")
    if target >= values[0]:
        return float(fixed[0])
    return float(np.exp(np.interp(-target, -values, np.log(fixed))))


def scenario(name: str, p: np.ndarray, pilot: np.ndarray, ks: list[int], budget: int, reps: int) -> None:
    """pilot: (problems, pilot_n) outcomes the planner sees."""
    pilot_n, pilot = pilot.shape[1], pilot.sum(axis=1)
    t0 = time.process_time()
    suggestion = plan(np.full(len(p), pilot_n), pilot, budget, max(ks))
    plan_s = time.process_time() - t0
    d = suggestion.design
    fixed = sorted({int(round(budget * f)) for f in LADDER})
    res = simulate(p, d, fixed, ks, reps, seed=2)
    ada, base = res["adaptive"], res[budget]
    print(f"\n== {name}: {len(p)} problems, k = {ks}, budget {budget} samples per problem, {reps} simulated runs")
    print(f"planner ({plan_s:.1f} s CPU, pilot of {pilot_n} samples per problem): --min-n {d.min_n} --step {d.step} "
          f"--stop-at {d.stop_at} --n {d.n_max}; it predicts {suggestion.expected_samples:.1f} samples, {suggestion.saving:.2f}x saving")
    print(f"mean samples per problem: adaptive {ada[3, 0]:.1f}, fixed {budget}")
    print(f"{'':>5}{'95% CI width of pass@k':>30}{'paired CI width, rerun':>30}{'rms error per problem':>26}")
    print(f"{'k':>5}{'adaptive':>15}{'fixed':>15}{'adaptive':>15}{'fixed':>15}{'adaptive':>13}{'fixed':>13}")
    for i, k in enumerate(ks):
        print(f"{k:>5}{ada[0, i]:15.4f}{base[0, i]:15.4f}{ada[1, i]:15.4f}{base[1, i]:15.4f}"
              f"{np.sqrt(ada[2, i]):13.4f}{np.sqrt(base[2, i]):13.4f}")
    print(f"pass@{ks[-1]}: the fixed n that matches the adaptive design ({ada[3, 0]:.1f} samples per problem) in")
    for row, label in ((0, "CI width"), (1, "paired CI width"), (2, "rms error")):
        n = matching_n(fixed, np.array([res[m][row, -1] for m in fixed]), ada[row, -1])
        print(f"  {label:<16} n = {n:6.0f}: {n / ada[3, 0]:.2f}x fewer samples adaptive (target 1.5x)")


def timed_run(limit: int, n: int, design: Design | None, pack: bool) -> tuple[int, float, float]:
    """One hf run of tiny-arith on arith in a fresh directory: (samples, sampler seconds, run seconds)."""
    import tempfile

    import evalkit.samplers as samplers
    from evalkit.config import EngineConfig, RunConfig, SamplingConfig
    from evalkit.pipeline import run

    made = samplers.make_sampler
    spent = [0.0]

    def make(*args, **kwargs):  # time the sampler's own work; pack=False restores the per-prompt rounds
        sampler = made(*args, **{**kwargs, "pack_prompts": kwargs.get("pack_prompts", False) and pack})
        inner = sampler.sample

        def sample(requests):
            t = time.perf_counter()
            for s in inner(requests):
                spent[0] += time.perf_counter() - t
                yield s
                t = time.perf_counter()
        sampler.sample = sample
        return sampler

    samplers.make_sampler = make
    try:
        with tempfile.TemporaryDirectory() as d:
            config = RunConfig("tiny-arith", "arith", (1, 4) if design else (1, 4, 16), n, sampling=SamplingConfig(),
                               engine=EngineConfig(backend="hf"), out=d, limit=limit, design=design)
            t0 = time.perf_counter()
            result = run(config, argv=["bench_adaptive"])
            return result.drawn, spent[0], time.perf_counter() - t0
    finally:
        samplers.make_sampler = made


def hf_timing(limit: int, repeat: int) -> None:
    """Samples per second, fixed n against the planned adaptive design (packed, and as before)."""
    import torch

    design = Design(6, 27, 6, 3)
    cases = {"fixed n=16": (16, None, True), "adaptive (packed rounds)": (27, design, True),
             "adaptive, one batch per prompt (before)": (27, design, False)}
    print(f"hf backend, tiny-arith on arith, {limit} problems, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} at start; best of {repeat} runs each")
    best: dict[str, tuple[int, float, float]] = {}
    for _ in range(repeat):
        for name, (n, d, pack) in cases.items():
            got = timed_run(limit, n, d, pack)
            if name not in best or got[2] < best[name][2]:
                best[name] = got
    base = best["fixed n=16"]
    print(f"{'':42}{'samples':>8}{'sampler s':>11}{'run s':>8}{'sampler samples/s':>19}{'run samples/s':>15}{'per-sample cost vs fixed (sampler, run)':>42}")
    for name, (count, sampler_s, run_s) in best.items():
        ratio = (sampler_s / count) / (base[1] / base[0]), (run_s / count) / (base[2] / base[0])
        print(f"{name:42}{count:8d}{sampler_s:11.1f}{run_s:8.1f}{count / sampler_s:19.1f}{count / run_s:15.1f}"
              f"{ratio[0]:21.2f}x{ratio[1]:20.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--scenario", choices=["all", "codet64", "codet16", "beta16"], default="all")
    ap.add_argument("--hf", action="store_true", help="Time real hf runs (fixed n vs the planned design) instead of simulating.")
    ap.add_argument("--limit", type=int, default=200, help="--hf: problems of arith.")
    ap.add_argument("--repeat", type=int, default=3, help="--hf: runs of each case; the fastest counts (the machine may be shared).")
    args = ap.parse_args()
    if args.hf:
        hf_timing(args.limit, args.repeat)
        return
    labels = codet_labels()
    if labels is None:
        print("note: ../shared/eval/ not found (set EVALKIT_DATA_DIR); running the Beta(0.35, 0.6) mix only")
    rng = np.random.default_rng(0)
    beta = rng.beta(0.35, 0.6, 500)
    mixes = {"beta": (beta, rng.random((500, 16)) < beta[:, None])}
    if labels is not None:
        mixes["codet"] = (labels.mean(axis=1), labels[:, :16])
    runs = {
        "codet64": ("CodeT HumanEval CodeGen-16B mix", "codet", [1, 16, 64], 256),
        "codet16": ("CodeT HumanEval CodeGen-16B mix", "codet", [1, 4, 16], 64),
        "beta16": ("Beta(0.35, 0.6) mix (the issue's)", "beta", [1, 4, 16], 51),
    }
    for key, (name, mix, ks, budget) in runs.items():
        if args.scenario in ("all", key) and mix in mixes:
            scenario(name, *mixes[mix], ks, budget, args.reps)


if __name__ == "__main__":
    main()
