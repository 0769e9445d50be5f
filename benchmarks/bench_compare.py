"""Wall time of `evalkit compare` / `gate` / `export` / `--plot` on two large runs, against the floor
any tool pays: parsing the two runs' JSONL files with json.loads.

    python benchmarks/bench_compare.py [--problems 500] [--n 256]

Writes two planted run directories (problems x n samples each) under /tmp, times each stage in this
process (best of --repeats), prints figure and ratio to the parse floor, and deletes the files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rundirs import make_run  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from evalkit.reports.compare import compare, load_groups
    from evalkit.reports.export import export
    from evalkit.reports.gate import run_gate
    from evalkit.reports.plots import plot_comparison

    root = Path(tempfile.mkdtemp(prefix="bench_compare_"))
    try:
        rng = np.random.default_rng(0)
        p = rng.beta(0.5, 1.0, args.problems)
        a = make_run(root / "a", rng.random((args.problems, args.n)) < p[:, None], model="base", rng=rng)
        b = make_run(root / "b", rng.random((args.problems, args.n)) < (0.9 * p)[:, None], model="rl", rng=rng)
        dirs = [str(a), str(b)]
        floor = best(lambda: [json.loads(line) for d in dirs for f in ("samples.jsonl", "grades.jsonl") for line in open(Path(d) / f)], args.repeats)
        load = best(lambda: load_groups(dirs), args.repeats)
        groups = load_groups(dirs)
        report_t = best(lambda: compare(groups), args.repeats)
        report = compare(groups)
        plot = best(lambda: plot_comparison(groups, report, root / "c.png"), args.repeats)
        gate = best(lambda: run_gate(dirs[0], dirs[1], ["pass@1", "pass@16", "maj@16"], 0.0, 0.05), args.repeats)
        exp = best(lambda: export(dirs, root / "board.json"), args.repeats)
        samples = 2 * args.problems * args.n
        print(f"two runs of {args.problems} problems x n={args.n} ({samples} samples)")
        print(f"{'stage':<28}{'seconds':>9}{'x parse floor':>15}")
        for name, t in (("json.loads of both runs", floor), ("load runs (RunStore)", load), ("compare report", report_t),
                        ("--plot", plot), ("gate (3 metrics, with load)", gate), ("export (with load)", exp)):
            print(f"{name:<28}{t:9.2f}{t / floor:15.2f}")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
