"""Peak memory and throughput of every command that reads a run, at the size users run, against the
evalkit it replaced (the landed version before the streaming readers, checked out beside this one).

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_scale.py --baseline-src /path/to/old/checkout
        [--scale 1.0] [--only score,compare,export,merge,gate,plot] [--keep DIR]

Workloads (MATH-500 problems, completions with realistic diversity: per problem a handful of distinct
final answers - the gold, rewrites of it, wrong integers, another problem's answer - plus unboxed and
cut-off responses, padded with reasoning text):
  1M x 1 KB   500 problems x 2,000 samples (a 1 GB samples file)
  32k x 32 KB 500 problems x 64 samples of 32 KB (1 GB): a reasoning model's completions
  10 x 100k   ten runs of 500 x 200, for `compare` / `export` of a training sweep
Each command runs in its own process; its peak RSS is sampled every 50 ms over the process *tree*
(the harness plus its grading workers). --scale shrinks every workload (e.g. 0.1 for a quick look).
Goals (issue 14): score and compare of two runs <= 1 GiB on the first two workloads, compare/export of
ten runs <= 1.5 GiB, throughput no lower than the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

FILLER = ("We simplify the expression step by step. ", "Substituting the values gives ", "Therefore the term equals ",
          "Let us check the boundary case: ", "Multiplying both sides by 2, ", "which leaves \\frac{a}{b} + c = ",
          "Hence the sum is ", "Note that $x^2 - 1 = (x-1)(x+1)$. ")


def completions(rows: list[dict], n: int, size: int, seed: int):
    """(problem_id, completion) in file order: a few distinct answers per problem, skewed frequencies."""
    rng = random.Random(seed)
    for i, row in enumerate(rows):
        gold, other = row["answer"], rows[rng.randrange(len(rows))]["answer"]
        answers = [f"\\boxed{{{gold}}}", f"\\boxed{{{gold.replace('frac', 'dfrac')}}}", f"The answer is ${gold}$.",
                   f"\\boxed{{{other}}}", f"\\boxed{{{rng.randint(0, 999)}}}", "I could not finish.", "\\boxed{"]
        weights = [30, 5, 5, 10, 10, 3, 2]
        for _ in range(n):
            body = []
            while sum(map(len, body)) < size:
                body.append(rng.choice(FILLER) + str(rng.randint(1, 10**6)) + ". ")
            yield f"math500/{i}", "".join(body)[:size] + "\n" + rng.choices(answers, weights)[0]


def write_samples(path: Path, rows: list[dict], n: int, size: int, seed: int = 0) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for pid, text in completions(rows, n, size, seed):
            f.write(json.dumps({"problem_id": pid, "completion": text}) + "\n")


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def measure(argv: list[str], src: Path) -> tuple[float, float, int]:
    """(wall seconds, peak tree RSS in GiB, exit code) of `python -m evalkit.cli ARGV` from `src`."""
    env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1"}
    t0 = time.perf_counter()
    # cwd=src: `python -m` puts the working directory first on sys.path, so it decides which evalkit runs
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", *argv], env=env, cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    _, err = proc.communicate()
    t.join()
    if proc.returncode:
        print(f"   ({' '.join(argv[:2])} failed: {err.decode(errors='replace').strip().splitlines()[-1:]})")
    return time.perf_counter() - t0, peak[0] / 2**30, proc.returncode


def row(name: str, samples: int, new: tuple, old: tuple | None) -> None:
    def cell(r):
        return f"{r[0]:7.1f} s {samples / r[0]:9.0f} samples/s  peak {r[1]:5.2f} GiB" + ("" if r[2] == 0 else " (failed)")
    line = f"{name:<28} evalkit {cell(new)}"
    if old is not None:
        line += f"   | baseline {cell(old)}   | memory x{old[1] / max(new[1], 1e-9):.1f}, speed x{new[0] and old[0] / new[0]:.2f}"
    print(line, flush=True)


def workload(name: str, rows: list[dict], n: int, size: int, work: Path, srcs: dict, only: set[str]) -> None:
    ks = ",".join(str(k) for k in (1, 8, 64) if k <= n)
    slug = name.replace(" ", "")
    samples = work / f"{slug}.jsonl"
    write_samples(samples, rows, n, size)
    total = len(rows) * n
    print(f"\n== {name}: {len(rows)} problems x {n} samples of ~{size} bytes = {total:,} samples, "
          f"{samples.stat().st_size / 2**30:.2f} GiB ==", flush=True)
    data = str(Path(os.environ["EVALKIT_DATA_DIR"]) / "math500.jsonl")
    results: dict[str, dict[str, tuple]] = {}
    for label, src in srcs.items():
        out = work / f"{slug}-{label}"
        shutil.rmtree(out, ignore_errors=True)
        res = results.setdefault(label, {})
        res["score"] = measure(["score", "--bench", "math500", "--data", data, "--samples", str(samples), "--k", ks,
                                "--out", str(out), "--model", label], src)
        for cmd, argv in (("compare (2 runs)", ["compare", str(out), str(out) + "-copy", "--k", ks, "--format", "json"]),
                          ("gate", ["gate", "--baseline", str(out), "--candidate", str(out) + "-copy"]),
                          ("export", ["export", str(out), "--out", str(work / f"{slug}-{label}.json")]),
                          ("compare --plot", ["compare", str(out), "--plot", str(work / f"{slug}-{label}.png")])):
            if cmd.split()[0] not in only:
                continue
            if cmd.startswith("compare (2") and not (Path(str(out) + "-copy")).exists():
                shutil.copytree(out, str(out) + "-copy")
                _relabel(Path(str(out) + "-copy"))
            res[cmd] = measure(argv, src)
    for cmd in results["evalkit"]:
        row(cmd, total, results["evalkit"][cmd], results.get("baseline", {}).get(cmd))


def _relabel(run: Path) -> None:
    m = json.loads((run / "manifest.json").read_text())
    m["model"] = m.get("model", "") + "-copy"
    (run / "manifest.json").write_text(json.dumps(m))


def sweep(rows: list[dict], n: int, runs: int, work: Path, srcs: dict) -> None:
    """compare and export of `runs` checkpoints of one sweep (copies of one scored run, relabelled)."""
    samples = work / "sweep.jsonl"
    write_samples(samples, rows, n, 1000, seed=1)
    data = str(Path(os.environ["EVALKIT_DATA_DIR"]) / "math500.jsonl")
    print(f"\n== {runs} runs x {len(rows) * n:,} samples (compare / export of a sweep) ==", flush=True)
    for label, src in srcs.items():
        first = work / f"sweep-{label}-0"
        shutil.rmtree(first, ignore_errors=True)
        measure(["score", "--bench", "math500", "--data", data, "--samples", str(samples), "--k", "1" if n < 8 else "1,8", "--out", str(first)], src)
        dirs = [first]
        for i in range(1, runs):
            d = work / f"sweep-{label}-{i}"
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(first, d)
            _relabel(d)
            dirs.append(d)
        srcs_result = {
            "compare (10 runs)": measure(["compare", *map(str, dirs), "--k", "1" if n < 8 else "1,8", "--format", "json"], src),
            "export (10 runs)": measure(["export", *map(str, dirs), "--out", str(work / f"sweep-{label}.json")], src),
        }
        for cmd, r in srcs_result.items():
            print(f"{label:<9} {cmd:<20} {r[0]:7.1f} s  peak {r[1]:5.2f} GiB" + ("" if r[2] == 0 else " (failed)"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-src", type=Path, default=None, help="a checkout of the evalkit to compare against")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="score,compare,gate,export,sweep")
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep (default: a temp dir, removed)")
    args = ap.parse_args()
    data = Path(os.environ.get("EVALKIT_DATA_DIR", "../shared/data")) / "math500.jsonl"
    if not data.is_file():
        sys.exit(f"error: {data} not found; set EVALKIT_DATA_DIR to the shared benchmark data")
    os.environ["EVALKIT_DATA_DIR"] = str(data.parent)
    rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    srcs = {"evalkit": Path(__file__).resolve().parents[1]}
    if args.baseline_src:
        srcs["baseline"] = args.baseline_src.resolve()
    only = set(args.only.split(","))
    work = args.keep or Path(__import__("tempfile").mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        scaled = lambda x: max(1, int(x * args.scale))  # noqa: E731
        workload("1M x 1KB", rows, scaled(2000), 1000, work, srcs, only)
        workload("32k x 32KB", rows, scaled(64), 32_000, work, srcs, only)
        if "sweep" in only:
            sweep(rows, scaled(200), 10, work, srcs)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
