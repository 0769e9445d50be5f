"""`evalkit audit` at the size users run it, and on recorded generations (the README's figures).

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_audit.py [--problems 500] [--n 256] [--out DIR]
    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_audit.py --fidelity --out DIR [--show 60]

Default: a MATH-500 x n run made with `evalkit score` from bench_math_verify.py's workload (real
solutions, the gold in several spellings, wrong answers, no answer, token-limit cut-offs); prints, in
the same run, the primary's grading time inside `score` (the anchor: what the run itself cost to
grade), the first audit, the audit resumed after a kill half-way, and a rerun with everything
cached, with each one's peak memory.

--fidelity: the recorded generations in ../shared/eval through the real path (`evalkit score`, then
`evalkit audit --json`): Qwen2.5-Math MATH 100x8, the SkyThought greedy files (5 models x
MATH-500 / AIME24 / AMC23) and verifier_pairs.jsonl (each pred scored as a completion). Prints
each run's disagreement table, and every disagreement with the stored label for reading by hand.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


_PEAK = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
         "print('peak_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def evalkit(*args: str) -> tuple[float, int, str]:
    """Run the CLI as users do; (wall seconds, peak RSS MiB of its largest process, stdout)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "evalkit", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"evalkit {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    peak = int(proc.stderr.rsplit("peak_kb", 1)[1].split()[0])
    return seconds, peak // 1024, proc.stdout


# -- speed -----------------------------------------------------------------------------------------
def _workload(rows: list[dict], n: int):
    spec = importlib.util.spec_from_file_location("bench_math_verify", HERE / "bench_math_verify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.workload(rows, n)


def speed(data_dir: Path, problems: int, n: int, out: Path) -> None:
    rows = read_jsonl(data_dir / "math500.jsonl")[:problems]
    items = _workload(rows, n)
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.jsonl"
    write_jsonl(samples, ({"problem_id": p.id, "completion": s.completion} for p, s, _ in items))
    run = out / "run"
    score_s, score_mb, _ = evalkit("score", "--bench", "math500", "--samples", str(samples), "--out", str(run), "--k", "1", "--overwrite")
    print(f"{len(items)} samples ({problems} problems x {n}), {os.cpu_count()} CPUs, samples.jsonl {samples.stat().st_size / 2**20:.0f} MiB")
    print(f"anchor: evalkit score (copy + primary grading + metrics): {score_s:.1f} s, peak {score_mb} MiB")
    first_s, first_mb, text = evalkit("audit", str(run), "--show", "0")
    print(f"evalkit audit, first:   {first_s:.1f} s, peak {first_mb} MiB  (ratio audit/score {first_s / score_s:.2f})")
    print("   " + next(line for line in text.splitlines() if line.startswith("agreement")))
    again_s, again_mb, _ = evalkit("audit", str(run), "--show", "0")
    print(f"evalkit audit, cached:  {again_s:.1f} s, peak {again_mb} MiB  (ratio cached/first {again_s / first_s:.2f})")
    _killed_half_way(run, first_s)


def _killed_half_way(run: Path, first_s: float) -> None:
    """Kill a fresh audit half-way through, then resume it: the rerun grades only what is missing."""
    (run / "audit.jsonl").unlink()
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "audit", str(run), "--show", "0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(first_s / 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = sum(1 for line in open(run / "audit.jsonl", "rb") if b'"sample_index"' in line)
    resume_s, resume_mb, _ = evalkit("audit", str(run), "--show", "0")
    print(f"killed after {first_s / 2:.0f} s with {kept} verdicts kept; resumed: {resume_s:.1f} s, peak {resume_mb} MiB")


# -- fidelity --------------------------------------------------------------------------------------
def _runs(eval_dir: Path, data_dir: Path, out: Path) -> list[tuple[str, Path, dict]]:
    """Score every recorded file into a run directory; name -> (run dir, {(problem id, index): label})."""
    made = []
    qwen = read_jsonl(eval_dir / "qwen25math_math_cot_100_n8_rm.jsonl")
    bench = out / "qwen_bench.jsonl"
    write_jsonl(bench, ({"problem": r["question"], "answer": r["answer"], "unique_id": f"qwen/{r['idx']}"} for r in qwen))
    write_jsonl(out / "qwen_samples.jsonl", ({"problem_id": f"math500/{i}", "completions": r["code"]} for i, r in enumerate(qwen)))
    labels = {(f"math500/{i}", j): s for i, r in enumerate(qwen) for j, s in enumerate(r["score"])}
    made.append(("qwen25math_math_cot_100_n8", ["--bench", "math500", "--data", str(bench), "--allow-unknown-data",
                                                 "--samples", str(out / "qwen_samples.jsonl"), "--k", "1,8"], labels))
    for path in sorted(glob.glob(str(eval_dir / "skythought_qwen25math_harness_greedy" / "*.jsonl"))):
        name = Path(path).stem
        bench_name = name.split("__")[1]
        rows = read_jsonl(Path(path))
        write_jsonl(out / f"{name}_samples.jsonl", ({"problem_id": f"{bench_name}/{r['idx']}", "completion": r["code"][0]} for r in rows))
        labels = {(f"{bench_name}/{r['idx']}", 0): r["score"][0] for r in rows}
        made.append((name, ["--bench", bench_name, "--samples", str(out / f"{name}_samples.jsonl")], labels))
    pairs = read_jsonl(eval_dir / "verifier_pairs.jsonl")
    write_jsonl(out / "pairs_bench.jsonl", ({"problem": f"pair {r['id']}", "answer": r["gold"], "unique_id": f"pair/{r['id']}"} for r in pairs))
    write_jsonl(out / "pairs_samples.jsonl", ({"problem_id": f"math500/{i}", "completion": r["pred"]} for i, r in enumerate(pairs)))
    labels = {(f"math500/{i}", 0): r["equal"] for i, r in enumerate(pairs)}
    made.append(("verifier_pairs", ["--bench", "math500", "--data", str(out / "pairs_bench.jsonl"), "--allow-unknown-data",
                                    "--samples", str(out / "pairs_samples.jsonl")], labels))
    result = []
    for name, args, labels in made:
        run = out / name
        if not (run / "metrics.json").exists():
            evalkit("score", *args, "--out", str(run), "--overwrite")
        result.append((name, run, labels))
    return result


def fidelity(eval_dir: Path, data_dir: Path, out: Path, show: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    totals: Counter = Counter()
    for name, run, labels in _runs(eval_dir, data_dir, out):
        evalkit("audit", str(run), "--json", str(run / "audit_report.json"), "--show", "0")
        report = json.loads((run / "audit_report.json").read_text())
        flags = report["disagreements"]
        n = report["num_samples"]
        caught = sum(labels[d["problem_id"], d["sample_index"]] != d["primary"] for d in flags)
        print(f"\n== {name}: {n} samples, agreement {report['agreement']:.4f} ({len(flags)} disagreements; "
              f"the stored label sides with the second on {caught}); pass@1 primary {report['pass_at_k']['primary']['1']:.4f} "
              f"second {report['pass_at_k']['second']['1']:.4f} both {report['pass_at_k']['both']['1']:.4f} any {report['pass_at_k']['any']['1']:.4f}")
        for row in report["disagreement_table"]:
            print(f"   {row['count']:4}  {row['class']} ({row['primary_status']} / {row['second_status']})")
            totals[row["class"], row["primary_status"], row["second_status"]] += row["count"]
        for d in flags[:show]:
            label = int(labels[d["problem_id"], d["sample_index"]])
            print(f"   {d['problem_id']}#{d['sample_index']} label {label} gold {str(d['gold'])[:40]!r} | primary {int(d['primary'])} "
                  f"{str(d['primary_answer'])[:40]!r} | second {int(d['second'])} {str(d['second_answer'])[:40]!r}")
    print("\n== all recorded generations")
    for (cls, ps, ss), count in totals.most_common():
        print(f"   {count:4}  {cls} ({ps} / {ss})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("/tmp/evalkit-bench-audit"))
    parser.add_argument("--fidelity", action="store_true")
    parser.add_argument("--show", type=int, default=60)
    args = parser.parse_args()
    data = os.environ.get("EVALKIT_DATA_DIR")
    if not data or not Path(data).is_dir():
        sys.exit("error: EVALKIT_DATA_DIR is not set; point it at ../shared/data")
    if args.fidelity:
        fidelity(Path(data).parent / "eval", Path(data), args.out, args.show)
    else:
        speed(Path(data), args.problems, args.n, args.out)


if __name__ == "__main__":
    main()
