"""maj@k at the k `export` shows (1, 4, 16, ..., n) on run-sized answer counts, against a baseline
checkout run side by side on the same counts, with the largest difference between the two.

    python benchmarks/bench_majority.py [--problems 500] [--n 2000] [--baseline-src DIR]

Two workloads of `problems` x `n` samples, drawn once with a fixed seed:
  few answers     bench_scale.py's answers: the gold answer (62% of samples, one class), one other
                  problem's answer (15%), a number 0-999 (15%: ~260 classes of one or two samples), no
                  answer (8%); the right answer dominates, so most vote counts are settled by bounds
  many answers    per problem a Beta(0.6, 0.6) accuracy (hard and easy problems, as real runs have),
                  wrong answers Zipf-distributed over up to 400 values with exponent 0.6-2 (hard problems
                  with hundreds of distinct wrong answers), 0-20% no answer
Each source runs in its own process (PYTHONPATH=src); the figure is its CPU time per k and in all.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import pickle, sys, time
import numpy as np
from evalkit.scoring.majority import majority_matrix
problems, ks = pickle.load(open(sys.argv[1], "rb"))
out, times = [], []
for k in ks:
    t0 = time.process_time()
    out.append(majority_matrix(problems, [k])[:, 0])
    times.append(time.process_time() - t0)
np.save(sys.argv[2], np.stack(out, axis=1))
print(" ".join(f"{t:.4f}" for t in times))
"""


def few_answers(problems: int, n: int, rng: np.random.Generator) -> list[tuple[list[int], list[bool], int]]:
    """bench_scale.py's weights: gold 30+5+5 (three spellings, one class), another problem's answer 10,
    a number 0-999 10, no answer 3 + 2 (a sentence, a cut-off box)."""
    out = []
    for _ in range(problems):
        kind = rng.choice(5, size=n, p=np.array([40, 10, 10, 3, 2]) / 65)
        numbers = np.bincount(rng.integers(0, 1000, size=(kind == 2).sum()))
        sizes = [int((kind == 0).sum()), int((kind == 1).sum())] + [int(x) for x in numbers[numbers > 0]]
        correct = [True, False] + [False] * (len(sizes) - 2)
        keep = [i for i, m in enumerate(sizes) if m > 0]
        out.append(([sizes[i] for i in keep], [correct[i] for i in keep], int((kind >= 3).sum())))
    return out


def many_answers(problems: int, n: int, rng: np.random.Generator) -> list[tuple[list[int], list[bool], int]]:
    out = []
    for _ in range(problems):
        p, silent, zipf = rng.beta(0.6, 0.6), rng.beta(1, 15), rng.uniform(0.6, 2.0)
        weights = 1.0 / np.arange(1, int(rng.integers(1, 400)) + 1) ** zipf
        kind = rng.choice(3, size=n, p=[p * (1 - silent), (1 - p) * (1 - silent), silent])
        wrong = np.bincount(rng.choice(len(weights), size=(kind == 1).sum(), p=weights / weights.sum()))
        sizes = [int(x) for x in wrong[wrong > 0]]
        correct = [False] * len(sizes)
        if (kind == 0).any():
            sizes.append(int((kind == 0).sum()))
            correct.append(True)
        out.append((sizes, correct, int((kind == 2).sum())))
    return out


def run(src: Path, problems_file: Path, out: Path) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(problems_file), str(out)], env=env, cwd=src,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"error: {src}: {proc.stderr.strip().splitlines()[-1:]}")
    return [float(x) for x in proc.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--baseline-src", type=Path, default=None, help="a checkout of the evalkit to compare against")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from evalkit.scoring.metrics import default_ks

    ks = default_ks(args.n)
    srcs = {"evalkit": Path(__file__).resolve().parents[1]}
    if args.baseline_src:
        srcs["baseline"] = args.baseline_src.resolve()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-majority-") as tmp:
        for name, make in (("few answers", few_answers), ("many answers", many_answers)):
            problems = make(args.problems, args.n, rng)
            classes = [len(s) for s, _, _ in problems]
            print(f"\n== {name}: {args.problems} problems x {args.n} samples, classes per problem "
                  f"median {int(np.median(classes))}, max {max(classes)}; k = {','.join(map(str, ks))} ==", flush=True)
            problems_file = Path(tmp) / "problems.pkl"
            problems_file.write_bytes(pickle.dumps((problems, ks)))
            times, values = {}, {}
            for label, src in srcs.items():
                times[label] = run(src, problems_file, Path(tmp) / f"{label}.npy")
                values[label] = np.load(Path(tmp) / f"{label}.npy")
                print(f"{label:<9} " + "  ".join(f"k={k}: {t:6.2f}" for k, t in zip(ks, times[label]))
                      + f"   all: {sum(times[label]):7.2f} s cpu", flush=True)
            if "baseline" in times:
                ratio = sum(times["baseline"]) / max(sum(times["evalkit"]), 1e-9)
                diff = float(np.abs(values["baseline"] - values["evalkit"]).max())
                print(f"evalkit x{ratio:.1f} faster than the baseline; largest difference per problem {diff:.1e}")
                print(json.dumps({"workload": name, "evalkit_s": round(sum(times["evalkit"]), 3),
                                  "baseline_s": round(sum(times["baseline"]), 3), "max_abs_diff": diff}))


if __name__ == "__main__":
    main()
