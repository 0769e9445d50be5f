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

Every reading command runs three ways (issue 29): with table.parquet (written by `score`), without it
(EVALKIT_TABLE=off: the JSONL files streamed, as before the table existed), and once more after the
tables are deleted (the first read, which rebuilds them); the table's size is printed. Goals: on
1M x 1 KB, compare of two runs <= 3 s, gate <= 2 s, export <= 3 s with the table, peak RSS no
higher than without it, the table <= 40 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
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


@contextlib.contextmanager
def peak_rss(proc: subprocess.Popen):
    """[peak RSS in bytes of `proc`'s process tree], sampled every 50 ms until the block ends."""
    peak = [0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield peak
    finally:
        proc.wait()
        t.join()


def measure(argv: list[str], src: Path, table: bool = True) -> tuple[float, float, int, float]:
    """(wall seconds, peak tree RSS in GiB, exit code, CPU seconds of the process tree) of
    `python -m evalkit.cli ARGV` from `src`; `table` False: EVALKIT_TABLE=off (read the JSONL files,
    write no table.parquet). CPU time says what the command costs when the machine is shared."""
    env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1", "EVALKIT_TABLE": "on" if table else "off"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd=src: `python -m` puts the working directory first on sys.path, so it decides which evalkit runs
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", *argv], env=env, cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with peak_rss(proc) as peak:
        _, err = proc.communicate()
    if proc.returncode:
        print(f"   ({' '.join(argv[:2])} failed: {err.decode(errors='replace').strip().splitlines()[-1:]})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - t0, peak[0] / 2**30, proc.returncode, cpu


def row(name: str, samples: int, new: tuple, old: tuple | None, plain: tuple | None = None) -> None:
    def cell(r):
        return f"{r[0]:7.1f} s (cpu {r[3]:6.1f} s) {samples / r[0]:9.0f} samples/s  peak {r[1]:5.2f} GiB" + ("" if r[2] == 0 else " (failed)")
    line = f"{name:<28} evalkit {cell(new)}"
    if plain is not None:
        line += (f"   | without table {plain[0]:7.1f} s (cpu {plain[3]:6.1f} s)  peak {plain[1]:5.2f} GiB "
                 f"(table x{plain[3] / max(new[3], 1e-9):.1f} less cpu)")
    if old is not None:
        line += (f"   | baseline {cell(old)}   | memory x{old[1] / max(new[1], 1e-9):.1f}, speed x{new[0] and old[0] / new[0]:.2f}"
                 f" (cpu x{old[3] / max(new[3], 1e-9):.2f})")
    print(line, flush=True)


def reading_commands(out: Path, work: Path, slug: str, label: str, ks: str) -> list[tuple[str, list[str]]]:
    copy = str(out) + "-copy"
    return [("compare (2 runs)", ["compare", str(out), copy, "--k", ks, "--format", "json"]),
            ("gate", ["gate", "--baseline", str(out), "--candidate", copy]),
            ("export", ["export", str(out), "--out", str(work / f"{slug}-{label}.json")]),
            ("compare --plot", ["compare", str(out), "--plot", str(work / f"{slug}-{label}.png")])]


def workload(name: str, rows: list[dict], n: int, size: int, work: Path, srcs: dict, only: set[str], reuse: bool = False) -> None:
    ks = ",".join(str(k) for k in (1, 8, 64) if k <= n)
    slug = name.replace(" ", "")
    samples = work / f"{slug}.jsonl"
    if not (reuse and samples.exists()):
        write_samples(samples, rows, n, size)
    total = len(rows) * n
    print(f"\n== {name}: {len(rows)} problems x {n} samples of ~{size} bytes = {total:,} samples, "
          f"{samples.stat().st_size / 2**30:.2f} GiB ==", flush=True)
    data = str(Path(os.environ["EVALKIT_DATA_DIR"]) / "math500.jsonl")
    results: dict[str, dict[str, tuple]] = {}
    for label, src in srcs.items():
        out = work / f"{slug}-{label}"
        res = results.setdefault(label, {})
        if not (reuse and (out / "metrics.json").exists() and (Path(str(out) + "-copy") / "metrics.json").exists()):
            for d in (out, Path(str(out) + "-copy")):
                shutil.rmtree(d, ignore_errors=True)
            res["score"] = measure(["score", "--bench", "math500", "--data", data, "--samples", str(samples), "--k", ks,
                                    "--out", str(out), "--model", label], src)
            shutil.copytree(out, str(out) + "-copy")
            _relabel(Path(str(out) + "-copy"))
        elif label == "evalkit":  # the first read deleted the tables: the next one writes them again
            measure(["compare", str(out), str(out) + "-copy", "--k", ks, "--format", "json"], src)
        for cmd, argv in reading_commands(out, work, slug, label, ks):
            if cmd.split()[0] not in only:
                continue
            res[cmd] = measure(argv, src)
            if label == "evalkit":
                res[cmd + " plain"] = measure(argv, src, table=False)
        if label == "evalkit":
            _first_read(out, res, ks, src)
    for cmd in results["evalkit"]:
        if not cmd.endswith(" plain"):
            row(cmd, total, results["evalkit"][cmd], results.get("baseline", {}).get(cmd), results["evalkit"].get(cmd + " plain"))


def _first_read(out: Path, res: dict, ks: str, src: Path) -> None:
    """The table's size, then compare once with both tables deleted: the first read rebuilds them."""
    table = out / "table.parquet"
    if table.exists():
        print(f"   table.parquet: {table.stat().st_size / 1e6:.1f} MB", flush=True)
    copy = Path(str(out) + "-copy")
    for d in (out, copy):
        (d / "table.parquet").unlink(missing_ok=True)
    res["compare (2 runs), first read"] = measure(["compare", str(out), str(copy), "--k", ks, "--format", "json"], src)


def _relabel(run: Path) -> None:
    m = json.loads((run / "manifest.json").read_text())
    m["model"] = m.get("model", "") + "-copy"
    (run / "manifest.json").write_text(json.dumps(m))


def sweep(rows: list[dict], n: int, runs: int, work: Path, srcs: dict, reuse: bool = False) -> None:
    """compare and export of `runs` checkpoints of one sweep (copies of one scored run, relabelled)."""
    samples = work / "sweep.jsonl"
    if not (reuse and samples.exists()):
        write_samples(samples, rows, n, 1000, seed=1)
    data = str(Path(os.environ["EVALKIT_DATA_DIR"]) / "math500.jsonl")
    print(f"\n== {runs} runs x {len(rows) * n:,} samples (compare / export of a sweep) ==", flush=True)
    for label, src in srcs.items():
        dirs = [work / f"sweep-{label}-{i}" for i in range(runs)]
        if not (reuse and all((d / "metrics.json").exists() for d in dirs)):
            shutil.rmtree(dirs[0], ignore_errors=True)
            measure(["score", "--bench", "math500", "--data", data, "--samples", str(samples), "--k", "1" if n < 8 else "1,8",
                     "--out", str(dirs[0])], src)
            for d in dirs[1:]:
                shutil.rmtree(d, ignore_errors=True)
                shutil.copytree(dirs[0], d)
                _relabel(d)
        srcs_result = {
            "compare (10 runs)": measure(["compare", *map(str, dirs), "--k", "1" if n < 8 else "1,8", "--format", "json"], src),
            "export (10 runs)": measure(["export", *map(str, dirs), "--out", str(work / f"sweep-{label}.json")], src),
        }
        if label == "evalkit":
            srcs_result["compare (10 runs), without table"] = measure(
                ["compare", *map(str, dirs), "--k", "1" if n < 8 else "1,8", "--format", "json"], src, table=False)
            srcs_result["export (10 runs), without table"] = measure(["export", *map(str, dirs), "--out", str(work / f"sweep-{label}-plain.json")],
                                                                     src, table=False)
        for cmd, r in srcs_result.items():
            print(f"{label:<9} {cmd:<34} {r[0]:7.1f} s (cpu {r[3]:6.1f} s)  peak {r[1]:5.2f} GiB" + ("" if r[2] == 0 else " (failed)"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-src", type=Path, default=None, help="a checkout of the evalkit to compare against")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="score,compare,gate,export,sweep")
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep (default: a temp dir, removed)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: time the reading commands on the runs a previous --keep left (no scoring)")
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
        workload("1M x 1KB", rows, scaled(2000), 1000, work, srcs, only, args.reuse)
        workload("32k x 32KB", rows, scaled(64), 32_000, work, srcs, only, args.reuse)
        if "sweep" in only:
            sweep(rows, scaled(200), 10, work, srcs, args.reuse)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
