"""Evaluating a training run: one `evalkit run --model 'ckpts/step_*'` (one resident vLLM engine, the
later checkpoints' weights loaded into it in place, evalkit/sweep.py) against one `evalkit run` per
checkpoint, the way a user evaluates checkpoints without the sweep, side by side in the same run.

    python benchmarks/bench_sweep.py [--checkpoints 3] [--limit 40] [--n 8] [--max-tokens 32] [--repeats 1]

The checkpoints are the tiny model and copies with every weight moved by seeded noise (a stand-in for
later training steps: same architecture and tokenizer, different samples). Each command is its own
process with its own output directory, timed from process start to exit (imports, engine start,
sampling, grading, the comparison table); the two sides alternate order across repeats. Printed: the
wall times, the ratio sweep / separate (target <= 0.6 for three checkpoints on the CPU engine), whether
every checkpoint's samples are identical on both sides, and the measured phases: engine start-up per
command, in-place weight load per swapped checkpoint, and the start-up share f of a separate command
(everything but the time from its engine being ready to its return, measured inside each command). From
it the GPU saving is estimated: with start-up fraction f of one command, k
checkpoints in one sweep take about f/k + (1 - f) of k separate commands (the weight loads are
negligible beside f); printed for the measured f and for the start-up fractions a GPU run can have
(engine start with CUDA-graph capture is minutes there, sampling far faster than on this CPU).
On CPU without VLLM_CPU_KVCACHE_SPACE set, a 2 GiB KV cache is used.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
t0 = time.perf_counter()
if __name__ == "__main__":
    import evalkit.samplers.vllm as V
    import evalkit.sweep as S
    marks = {"start": [], "swap": []}
    build, swap = V.build_llm, S.ResidentEngine._swap

    def timed_build(*a, **k):
        t = time.perf_counter(); llm = build(*a, **k); marks["start"].append(time.perf_counter() - t)
        marks.setdefault("ready", time.perf_counter() - t0); return llm

    def timed_swap(self, path):
        t = time.perf_counter(); swap(self, path); marks["swap"].append(time.perf_counter() - t)

    V.build_llm, S.ResidentEngine._swap = timed_build, timed_swap
    from evalkit.cli import main
    try:
        main(sys.argv[1:], standalone_mode=False)
    finally:
        print("RESULT " + json.dumps({**marks, "t_end": time.perf_counter() - t0}), flush=True)
"""


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", type=int, default=3)
    ap.add_argument("--bench", default="arith")
    ap.add_argument("--limit", type=int, default=40, help="problems per checkpoint (x n requests, all queued at once)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--scale", type=float, default=0.3, help="relative weight noise added per training step")
    ap.add_argument("--repeats", type=int, default=1)
    return ap.parse_args()


def build_checkpoints(root: Path, count: int, scale: float) -> list[str]:
    from evalkit.tiny_model import ASSET_DIR, perturbed_checkpoint

    names = []
    for step in range(count):
        perturbed_checkpoint(ASSET_DIR, root / "ckpts" / f"step_{step}", seed=step, scale=scale * step)
        names.append(f"ckpts/step_{step}")
    return names


def argv(args: argparse.Namespace, models: list[str]) -> list[str]:
    return ["run", *[a for m in models for a in ("--model", m)], "--bench", args.bench, "--limit", str(args.limit),
            "--n", str(args.n), "--k", f"1,{args.n}", "--temperature", "1.0", "--max-tokens", str(args.max_tokens),
            "--backend", "vllm"]


def command(cwd: Path, args: list[str], env: dict) -> dict:
    """One `evalkit run` process, as a user starts it; its wall time and its phases."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    lines = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        sys.exit(f"evalkit run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return {**json.loads(lines[-1][7:]), "wall": wall}


def samples_of(cwd: Path, model: str) -> set[str]:
    from evalkit.store import model_slug

    (run,) = list((cwd / "results" / model_slug(model)).iterdir())
    return {json.dumps(json.loads(x), sort_keys=True) for x in (run / "samples.jsonl").read_text().splitlines() if x.strip()}


def one_repeat(root: Path, args: argparse.Namespace, models: list[str], env: dict, r: int) -> dict:
    sides = {}
    order = ("sweep", "separate") if r % 2 == 0 else ("separate", "sweep")
    for side in order:
        cwd = root / f"{side}-{r}"
        cwd.mkdir()
        (cwd / "ckpts").symlink_to(root / "ckpts")
        if side == "sweep":
            runs = [command(cwd, argv(args, ["ckpts/step_*"]), env)]
        else:
            runs = [command(cwd, argv(args, [m]), env) for m in models]
        # start-up of a command: all but the time from its engine being ready to its CLI returning (drawing,
        # grading, tables): interpreter start, imports, engine start, and the engine's shutdown at exit
        overhead = [x["wall"] - (x["t_end"] - x["ready"]) for x in runs]
        sides[side] = {"wall": sum(x["wall"] for x in runs), "start": sum(sum(x["start"]) for x in runs),
                       "overhead": sum(overhead) / len(runs),
                       "swap": [s for x in runs for s in x["swap"]], "starts": sum(len(x["start"]) for x in runs), "cwd": cwd}
    sides["identical"] = all(samples_of(sides["sweep"]["cwd"], m) == samples_of(sides["separate"]["cwd"], m) for m in models)
    print(f"repeat {r + 1}: separate {sides['separate']['wall']:.1f}s ({sides['separate']['starts']} engine starts), "
          f"sweep {sides['sweep']['wall']:.1f}s ({sides['sweep']['starts']} engine start, {len(sides['sweep']['swap'])} weight loads)", flush=True)
    return sides


def report(args: argparse.Namespace, reps: list[dict]) -> None:
    k = args.checkpoints
    med = lambda side, key: statistics.median(r[side][key] for r in reps)  # noqa: E731
    sep, swp = med("separate", "wall"), med("sweep", "wall")
    start_per_cmd = med("separate", "start") / k
    swaps = [s for r in reps for s in r["sweep"]["swap"]]
    per_cmd = sep / k
    f = med("separate", "overhead") / per_cmd  # start-up share of one command, from its own phases
    print(f"\n{k} checkpoints x {args.limit} problems x n={args.n} (max {args.max_tokens} tokens), {len(reps)} repeat(s), medians:")
    print(f"  separate commands  {sep:8.1f}s   ({per_cmd:.1f}s per checkpoint, of which vLLM engine start {start_per_cmd:.1f}s)")
    print(f"  one sweep command  {swp:8.1f}s   (one engine start {med('sweep', 'start'):.1f}s; in-place weight load "
          f"{statistics.median(swaps) if swaps else float('nan'):.2f}s per later checkpoint)")
    print(f"  ratio sweep / separate: {swp / sep:.2f}  (target <= 0.60)")
    print(f"  samples identical to the separate runs for every checkpoint: {all(r['identical'] for r in reps)}")
    print(f"\nstart-up share of one separate command (interpreter start, imports, engine start, engine shutdown; "
          f"measured inside each command): f = {f:.2f} (engine start alone: {start_per_cmd / per_cmd:.2f}); "
          f"predicted ratio for k={k}: {f / k + 1 - f:.2f}, measured {swp / sep:.2f}")
    print("estimated sweep / separate for k checkpoints = f/k + (1 - f):")
    print("  f                 k=3    k=10   k=50")
    for label, share in ((f"{f:.2f} (measured)", f), ("0.25", 0.25), ("0.50", 0.5), ("0.75", 0.75)):
        print(f"  {label:16s}" + "".join(f"  {share / n + 1 - share:5.2f}" for n in (3, 10, 50)))
    print("  (on a GPU, f = process and engine start with CUDA-graph capture, 1-3 min for a 7B model, over that plus one "
          "checkpoint's sampling and grading: 0.25 / 0.5 / 0.75 for 6 / 2 / 0.7 minutes of sampling after a 2-minute start)")


def main() -> None:
    args = parse()
    env = dict(os.environ)
    import torch

    if not torch.cuda.is_available():
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        models = build_checkpoints(root, args.checkpoints, args.scale)
        reps = [one_repeat(root, args, models, env, r) for r in range(args.repeats)]
        report(args, reps)


if __name__ == "__main__":
    main()
