"""pass@k against thinking budget from one draw: what a sweep of 4 budgets adds to the draw (goal: <= 30 %).

    nice -n 5 python benchmarks/bench_budgets.py [--problems 32] [--n 4] [--mean-think 1000] [--max-tokens 2048]

On the CPU vLLM engine, with the hand-built reasoning checkpoint (evalkit/tiny_think.py: thinking lengths
geometric with mean --mean-think tokens, then a short answer and end-of-text, as a reasoning model writes),
three commands, each its own process and run directory, on the same problems and seeds:

  plain     `evalkit run`                                  the single draw (the baseline)
  swept     `evalkit run --think-budgets B1,B2,B3,B4`      the same draw, then the budgets on its engine
  after     `evalkit budgets PLAIN_COPY --think-budgets`   the budgets alone, later, on a fresh engine

Printed side by side: generation and grading wall time of the draw and of the budget sweep
(manifest.json `cost`, measured inside each command around the engine's work and the verifier's), the
sweep's share of the draw (the goal: generation + grading of the forced answers against generation +
grading of the samples, in the same command, on the same engine), the whole commands' wall times, the
prefix-cache hit rate of the forced prompts, and the token accounting (prompt / cached / completion
tokens of the forced answers, checked against budgets.jsonl). `swept` and
`after` must produce the same forced answers. The largest budget is --max-tokens: it forces nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=32)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--mean-think", type=float, default=1000.0, help="Mean thinking length of the checkpoint, tokens.")
    ap.add_argument("--mean-answer", type=float, default=20.0, help="Mean answer length of the checkpoint, tokens.")
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--budgets", default=None, help="Comma-separated [default: max-tokens / 8, / 4, / 2, and max-tokens].")
    ap.add_argument("--keep", type=Path, default=None, help="Keep the run directories here.")
    return ap.parse_args()


def command(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "evalkit.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"evalkit {' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def main() -> None:
    a = parse()
    budgets = a.budgets or ",".join(str(b) for b in (a.max_tokens // 8, a.max_tokens // 4, a.max_tokens // 2, a.max_tokens))
    root = Path(a.keep or tempfile.mkdtemp(prefix="bench-budgets-"))
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")  # GiB: the tiny model's whole draw stays cacheable
    from evalkit.tiny_think import build_think_checkpoint

    model = build_think_checkpoint(root / "tiny-think", a.mean_think, a.mean_answer, max_positions=max(8192, 2 * a.max_tokens))
    base = ["run", "--model", str(model), "--bench", "arith", "--backend", "vllm", "--dtype", "float32",
            "--max-model-len", str(a.max_tokens + 512), "--limit", str(a.problems), "--n", str(a.n), "--k", f"1,{a.n}",
            "--max-tokens", str(a.max_tokens)]
    wall = {"plain": command([*base, "--out", str(root / "plain")], env),
            "swept": command([*base, "--out", str(root / "swept"), "--think-budgets", budgets], env)}
    shutil.copytree(root / "plain", root / "after")
    wall["after"] = command(["budgets", str(root / "after"), "--think-budgets", budgets], env)
    report(a, budgets, root, wall)
    if a.keep is None:
        shutil.rmtree(root)


def report(a: argparse.Namespace, budgets: str, root: Path, wall: dict[str, float]) -> None:
    cost = {name: json.loads((root / name / "manifest.json").read_text())["cost"] for name in wall}
    forced = {name: lines(root / name / "budgets.jsonl") for name in ("swept", "after")}
    same = {json.dumps(r, sort_keys=True) for r in forced["swept"]} == {json.dumps(r, sort_keys=True) for r in forced["after"]}
    draw, sweep, late = cost["plain"]["draw"], cost["swept"]["budgets"], cost["after"]["budgets"]
    samples = lines(root / "plain" / "samples.jsonl")
    think = json.loads((root / "swept" / "metrics.json").read_text())["budgets"]
    print(f"bench_budgets: {a.problems} problems x n={a.n}, --max-tokens {a.max_tokens}, budgets {budgets}; checkpoint mean thinking "
          f"{a.mean_think:.0f} tokens, answer {a.mean_answer:.0f}; vLLM CPU engine ({cost['plain']['engine'].get('device')})")
    print(f"draw: {len(samples)} samples, {draw['completion_tokens']} tokens, {sum(s['finish_reason'] == 'length' for s in samples)} hit --max-tokens")
    print(f"{'':28}{'plain (draw)':>14}{'swept: draw':>14}{'swept: budgets':>16}{'after: budgets':>16}")
    print(f"{'generation wall s':28}{draw['wall_s']:>14.1f}{cost['swept']['draw']['wall_s']:>14.1f}{sweep['wall_s']:>16.1f}{late['wall_s']:>16.1f}")
    print(f"{'requests':28}{draw['requests']:>14}{cost['swept']['draw']['requests']:>14}{sweep['requests']:>16}{late['requests']:>16}")
    print(f"{'prompt tokens':28}{draw['prompt_tokens']:>14}{cost['swept']['draw']['prompt_tokens']:>14}{sweep['prompt_tokens']:>16}{late['prompt_tokens']:>16}")
    print(f"{'  of which prefix-cached':28}{_n(draw['cached_prompt_tokens']):>14}{_n(cost['swept']['draw']['cached_prompt_tokens']):>14}"
          f"{_n(sweep['cached_prompt_tokens']):>16}{_n(late['cached_prompt_tokens']):>16}")
    print(f"{'prefix-cache hit rate':28}{_pct(draw['prefix_cache_hit_rate']):>14}{_pct(cost['swept']['draw']['prefix_cache_hit_rate']):>14}"
          f"{_pct(sweep['prefix_cache_hit_rate']):>16}{_pct(late['prefix_cache_hit_rate']):>16}")
    print(f"{'completion tokens':28}{draw['completion_tokens']:>14}{cost['swept']['draw']['completion_tokens']:>14}{sweep['completion_tokens']:>16}{late['completion_tokens']:>16}")
    print(f"{'command wall s (whole)':28}{wall['plain']:>14.1f}{wall['swept']:>30.1f}{wall['after']:>16.1f}")
    print(f"{'grading s':28}{_s(draw.get('grade_s')):>14}{_s(cost['swept']['draw'].get('grade_s')):>14}{_s(sweep.get('grade_s')):>16}{_s(late.get('grade_s')):>16}")
    own = cost["swept"]["draw"]
    share = (sweep["wall_s"] + (sweep.get("grade_s") or 0)) / (own["wall_s"] + (own.get("grade_s") or 0))
    print(f"budget sweep / draw (generation + grading, same command): {share:.3f}  (goal <= 0.30: {'met' if share <= 0.30 else 'NOT met'})")
    print(f"budget sweep / draw (generation only, same command): {sweep['wall_s'] / own['wall_s']:.3f}")
    print(f"swept command / plain command (whole, engine start and grading included): {wall['swept'] / wall['plain']:.3f}")
    print(f"budgets later on a fresh engine / during the run: {late['wall_s'] / sweep['wall_s']:.2f}x the generation time")
    accounted = sum(r["num_tokens"] for r in forced["swept"]) == sweep["completion_tokens"] and len(forced["swept"]) == sweep["requests"]
    print(f"token accounting matches budgets.jsonl: {accounted}; forced answers identical during and after the run: {same}")
    for b, f in think.items():
        print(f"  budget {b:>5}: {f['forced']:>4} samples forced, {f['mean_think_tokens']:.0f} thinking tokens on average, pass@1 {100 * f['pass_at_k']['1']:.2f}")


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _n(x: float | None) -> str:
    return "-" if x is None else str(int(x))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


if __name__ == "__main__":
    main()
