"""What evalkit adds on top of vLLM: `evalkit run --backend vllm` against raw `LLM.generate` on the
same prompts and sampling parameters, each in a fresh child process of this one, side by side.

    python benchmarks/bench_sampler_overhead.py [--model tiny-arith] [--bench arith] [--limit 200]
        [--n 16] [--max-tokens 32] [--repeats 3] [--paired-rounds 6]

The parent renders the prompts once (evalkit's own rendering, untimed) and hands the same requests
(one per sample, n=1, the sample's derived seed, every parameter explicit) to both children:

    raw      vllm.LLM(...) with the same engine arguments, then one LLM.generate over all requests
    evalkit  `evalkit run` (the CLI, in-process in its child), sampling streamed into samples.jsonl,
             then grading and metrics.json

Each child reports its phases: engine start, generation (raw: LLM.generate; evalkit: first request
queued to last sample stored) and the whole process. Printed: the median over --repeats of each, and
the ratios evalkit / raw for generation (the overhead of streaming and storing, target <= 1.05) and
for the whole run (which also holds evalkit's grading). Then, in a third child, both paths alternate
on one warm engine (--paired-rounds): evalkit's sampler writing samples.jsonl through its store
against LLM.generate, which cancels engine start-up and machine drift. On CPU without VLLM_CPU_KVCACHE_SPACE set, a
2 GiB KV cache is used so the figures do not depend on the machine's free RAM.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAW_CHILD = """
import json, sys, time
t0 = time.perf_counter()
if __name__ == "__main__":
    spec = json.load(open(sys.argv[1]))
    from vllm import LLM
    from evalkit.config import EngineConfig, SamplingConfig
    from evalkit.samplers.vllm import engine_kwargs, sampling_params
    sampling, engine = SamplingConfig(**spec["sampling"]), EngineConfig(**spec["engine"])
    llm = LLM(**engine_kwargs(spec["model"], sampling, engine))
    t1 = time.perf_counter()
    reqs = spec["requests"]
    outs = llm.generate([r["prompt"] for r in reqs], [sampling_params(sampling, r["seed"]) for r in reqs], use_tqdm=False)
    t2 = time.perf_counter()
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    print("RESULT " + json.dumps({"start": t1 - t0, "generate": t2 - t1, "tokens": tokens, "t_end": t2 - t0}), flush=True)
    llm.llm_engine.engine_core.shutdown()
"""

EVALKIT_CHILD = """
import json, sys, time
t0 = time.perf_counter()
if __name__ == "__main__":
    import evalkit.samplers as samplers
    from evalkit.cli import main
    marks = {}
    make = samplers.make_sampler

    def timed_make(*a, **k):
        s = make(*a, **k)
        marks["start"] = time.perf_counter() - t0
        inner = s.sample

        def sample(requests):
            t = time.perf_counter()
            for x in inner(requests):
                yield x
            marks["generate"] = time.perf_counter() - t
        s.sample = sample
        return s

    samplers.make_sampler = timed_make
    try:
        main(sys.argv[1:], standalone_mode=False)
    finally:
        marks["t_end"] = time.perf_counter() - t0
        print("RESULT " + json.dumps(marks), flush=True)
"""


PAIRED_CHILD = """
import json, shutil, sys, tempfile, time
if __name__ == "__main__":
    spec, rounds = json.load(open(sys.argv[1])), int(sys.argv[2])
    from vllm import LLM
    from evalkit.config import EngineConfig, SamplingConfig
    from evalkit.pipeline import append_samples
    from evalkit.samplers.vllm import VLLMSampler, engine_kwargs, sampling_params
    from evalkit.store import RunStore
    from evalkit.types import SampleRequest
    sampling, engine = SamplingConfig(**spec["sampling"]), EngineConfig(**spec["engine"])
    llm = LLM(**engine_kwargs(spec["model"], sampling, engine))
    reqs = [SampleRequest(r["problem_id"], r["index"], r["seed"], r["prompt"]) for r in spec["requests"]]

    def raw():
        llm.generate([r.prompt for r in reqs], [sampling_params(sampling, r.seed) for r in reqs], use_tqdm=False)

    def evalkit():
        d = tempfile.mkdtemp()
        try:
            store = RunStore(d)
            append_samples(store, VLLMSampler(spec["model"], sampling, engine, llm=llm).sample(reqs), len(reqs))
        finally:
            shutil.rmtree(d)

    raw(); evalkit()  # warm both paths
    times = {"raw": [], "evalkit": []}
    for i in range(rounds):
        for name, fn in (("raw", raw), ("evalkit", evalkit)) if i % 2 == 0 else (("evalkit", evalkit), ("raw", raw)):
            t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
    print("RESULT " + json.dumps(times), flush=True)
    llm.llm_engine.engine_core.shutdown()
"""


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny-arith")
    ap.add_argument("--bench", default="arith")
    ap.add_argument("--data", default=None)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--max-model-len", type=int, default=None)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paired-rounds", type=int, default=6, help="then both paths alternated on one engine (0: skip)")
    return ap.parse_args()


def requests_spec(args: argparse.Namespace) -> dict:
    """The exact requests `evalkit run` will send, rendered by evalkit itself (not timed)."""
    from evalkit.config import EngineConfig, RunConfig, SamplingConfig, sample_seed
    from evalkit.adapters.loading import load
    from evalkit.pipeline import load_tokenizer
    from evalkit.prompts import render, resolve_style
    from evalkit.tiny_model import resolve_builtin

    sampling = SamplingConfig(temperature=args.temperature, max_tokens=args.max_tokens)
    engine = EngineConfig(backend="vllm", dtype=args.dtype, max_model_len=args.max_model_len,
                          gpu_memory_utilization=args.gpu_memory_utilization)
    config = RunConfig(model=args.model, bench=args.bench, ks=(1,), n=args.n, sampling=sampling, engine=engine, data=args.data)
    loaded = load(args.bench, args.data)
    model = resolve_builtin(args.model)
    tok = load_tokenizer(model, config)
    style = resolve_style(loaded.bench, tok, None, None)
    reqs = [{"prompt": render(p, loaded.bench, style, tok), "seed": sample_seed(0, p.id, i), "problem_id": p.id, "index": i}
            for p in loaded.select(args.limit) for i in range(args.n)]
    return {"model": model, "sampling": vars(sampling) | {"stop": []}, "engine": vars(engine), "requests": reqs}


def evalkit_argv(args: argparse.Namespace, out: Path) -> list[str]:
    argv = ["run", "--model", args.model, "--bench", args.bench, "--limit", str(args.limit), "--n", str(args.n),
            "--k", "1", "--temperature", str(args.temperature), "--max-tokens", str(args.max_tokens), "--backend", "vllm",
            "--dtype", args.dtype, "--gpu-memory-utilization", str(args.gpu_memory_utilization), "--out", str(out), "--overwrite"]
    if args.max_model_len:
        argv += ["--max-model-len", str(args.max_model_len)]
    if args.data:
        argv += ["--data", args.data]
    return argv


def child(code: str, argv: list[str], env: dict) -> dict:
    """Run one side; `cpu` is the CPU time of its whole process tree (engine processes included),
    which a busy shared machine disturbs far less than wall time."""
    before, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True)
    wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lines = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        sys.exit(f"child failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return {**json.loads(lines[-1][7:]), "wall": wall, "cpu": cpu}


def main() -> None:
    args = parse()
    env = dict(os.environ)
    import torch

    if not torch.cuda.is_available():
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    with tempfile.TemporaryDirectory(prefix="bench-sampler-") as tmp:
        spec_path = Path(tmp) / "requests.json"
        spec = requests_spec(args)
        spec_path.write_text(json.dumps(spec))
        runs: dict[str, list[dict]] = {"raw": [], "evalkit": []}
        for r in range(args.repeats):
            runs["raw"].append(child(RAW_CHILD, [str(spec_path)], env))
            runs["evalkit"].append(child(EVALKIT_CHILD, evalkit_argv(args, Path(tmp) / "run"), env))
            print(f"repeat {r + 1}: raw generate {runs['raw'][-1]['generate']:.2f}s, evalkit sampling {runs['evalkit'][-1]['generate']:.2f}s", flush=True)
        stored = sum(1 for _ in open(Path(tmp) / "run" / "samples.jsonl"))
        report(args, spec, runs, stored)
        if args.paired_rounds:
            paired = child(PAIRED_CHILD, [str(spec_path), str(args.paired_rounds)], env)
            report_paired(paired)


def report_paired(times: dict) -> None:
    """One engine, both paths alternated: engine start and machine drift cancel out."""
    raw, ek = statistics.median(times["raw"]), statistics.median(times["evalkit"])
    print(f"\nsteady state, one engine, {len(times['raw'])} alternating rounds (median): raw LLM.generate {raw:.2f}s, "
          f"evalkit sampler + samples.jsonl {ek:.2f}s, ratio {ek / raw:.3f}x")
    print("  raw:     " + " ".join(f"{t:.2f}" for t in times["raw"]))
    print("  evalkit: " + " ".join(f"{t:.2f}" for t in times["evalkit"]))


def report(args: argparse.Namespace, spec: dict, runs: dict, stored: int) -> None:
    med = {m: {k: statistics.median(x[k] for x in rs) for k in ("start", "generate", "wall", "cpu")} for m, rs in runs.items()}
    tokens = runs["raw"][0]["tokens"]
    print(f"\n{args.model} on {args.bench}: {len(spec['requests'])} requests ({args.limit} prompts x n={args.n}), "
          f"max_tokens={args.max_tokens}, {tokens} tokens generated (raw), {stored} samples stored (evalkit); "
          f"median of {args.repeats}")
    print(f"{'':10}{'engine start':>14}{'generation':>12}{'whole process':>15}{'tree CPU':>11}")
    for m in ("raw", "evalkit"):
        r = med[m]
        print(f"{m:10}{r['start']:13.2f}s{r['generate']:11.2f}s{r['wall']:14.2f}s{r['cpu']:10.2f}s")
    ratio = {k: med["evalkit"][k] / med["raw"][k] for k in ("generate", "wall", "cpu")}
    print(f"{'ratio':10}{'':14}{ratio['generate']:11.3f}x{ratio['wall']:14.3f}x{ratio['cpu']:10.3f}x"
          "   (evalkit / raw; generation target <= 1.05)")


if __name__ == "__main__":
    main()
