"""Throughput (GB/s) and peak memory of `evalkit diff-params` against a naive diff that loads both
state dicts and compares whole tensors with torch (what labs write by hand).

    python benchmarks/bench_diff_params.py [--size-mb 400] [--shards 4] [--changed 0.3] [--repeats 2]

Writes a BF16 multi-shard checkpoint pair (with index) of --size-mb per side under /tmp, runs each
method in a fresh subprocess (peak RSS = VmHWM growth over the process after imports), prints both
side by side with the ratio, and deletes the files. The files were just written, so reads come from
the page cache: the figures measure compute and copying, not the disk.
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

HIDDEN, INTER = 1024, 2816  # layer shapes of a ~0.5B Qwen/Llama

_PEAK = """
def peak_rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) * 1024
"""

STREAMING = _PEAK + """
import sys, time, json
from evalkit.analysis.param_diff import diff_checkpoints
workers = int(sys.argv[3])
before = peak_rss(); t = time.perf_counter(); cpu = time.process_time()
r = diff_checkpoints(sys.argv[1], sys.argv[2], workers=workers)
print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - cpu, "peak_growth": peak_rss() - before, "identical": r["overall"]["num_identical"]}))
"""

NAIVE = _PEAK + """
import sys, time, json, glob
import torch
from safetensors.torch import load_file
def load(d):
    sd = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        sd.update(load_file(f))
    return sd
before = peak_rss(); t = time.perf_counter(); cpu = time.process_time()
a, b = load(sys.argv[1]), load(sys.argv[2])
identical = 0
for k in a:  # whole tensors, but the fast torch calls: count_nonzero, float32 math
    same = a[k].view(torch.int16) == b[k].view(torch.int16)
    identical += int(torch.count_nonzero(same))
    d = b[k].float() - a[k].float()
    within = int(torch.count_nonzero(same | (d.abs() <= 0.0)))
    rel = float(torch.linalg.vector_norm(d) / torch.linalg.vector_norm(a[k].float()))
print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - cpu, "peak_growth": peak_rss() - before, "identical": identical}))
"""


def make_checkpoints(root: Path, size_mb: int, shards: int, changed: float) -> int:
    """BF16 base/ckpt dirs of about size_mb each; returns the number of bit-identical entries."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    shapes = {"self_attn.q_proj.weight": (HIDDEN, HIDDEN), "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
              "mlp.gate_proj.weight": (INTER, HIDDEN), "mlp.up_proj.weight": (INTER, HIDDEN),
              "mlp.down_proj.weight": (HIDDEN, INTER), "input_layernorm.weight": (HIDDEN,)}
    layer_bytes = 2 * sum(torch.Size(s).numel() for s in shapes.values())
    n_layers = max(shards, round(size_mb * 2**20 / layer_bytes))
    pairs = {}  # one random (base, ckpt) pair per shape, reused by every layer: generating is the slow part
    for suffix, shape in shapes.items():
        a = torch.randn(shape, generator=g).to(torch.bfloat16)
        b = a.clone()
        mask = torch.rand(shape, generator=g) < changed
        b[mask] += 0.01 * torch.randn(int(mask.sum()), generator=g).to(torch.bfloat16)
        pairs[suffix] = (a, b, int((a.view(torch.int16) == b.view(torch.int16)).sum()))
    identical, weight_map = 0, {}
    per_shard = -(-n_layers // shards)
    for s in range(shards):
        base, ckpt = {}, {}
        for layer in range(s * per_shard, min(n_layers, (s + 1) * per_shard)):
            for suffix, (a, b, same) in pairs.items():
                name = f"model.layers.{layer}.{suffix}"
                base[name], ckpt[name] = a.clone(), b.clone()  # safetensors refuses shared storage
                identical += same
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        for side, sd in (("base", base), ("ckpt", ckpt)):
            save_file(sd, str(root / side / fname))
        weight_map.update({k: fname for k in base})
    for side in ("base", "ckpt"):
        (root / side / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return identical


def measure(script: str, root: Path, workers: int) -> dict:
    cmd = [sys.executable, "-c", script, str(root / "base"), str(root / "ckpt"), str(workers)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=400, help="checkpoint size per side")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--changed", type=float, default=0.3, help="fraction of entries updated")
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs per method")
    ap.add_argument("--workers", type=int, default=None, help="diff-params threads [default: its own default]")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_diff_params_", dir="/tmp"))
    try:
        (root / "base").mkdir()
        (root / "ckpt").mkdir()
        t = time.perf_counter()
        identical = make_checkpoints(root, args.size_mb, args.shards, args.changed)
        total = sum(f.stat().st_size for f in root.rglob("*.safetensors"))
        print(f"checkpoints: 2 x {total / 2 / 2**20:.0f} MiB bf16 in {args.shards} shards each, {args.changed:.0%} entries changed (written in {time.perf_counter() - t:.1f}s)")
        from evalkit.analysis.param_diff import DEFAULT_WORKERS

        workers = args.workers or DEFAULT_WORKERS
        results = {}
        for label, script in (("evalkit diff-params", STREAMING), ("naive load-both", NAIVE)):
            runs = [measure(script, root, workers) for _ in range(args.repeats)]
            assert all(r["identical"] == identical for r in runs), f"{label} miscounted identical entries"
            results[label] = {"gbps": total / 1e9 / min(r["seconds"] for r in runs), "cpu_s": min(r["cpu_seconds"] for r in runs),
                              "peak_mib": max(r["peak_growth"] for r in runs) / 2**20}
        ours, naive = results["evalkit diff-params"], results["naive load-both"]
        print(f"{'':<22} {'evalkit':>10} {'naive':>10} {'ratio':>8}")
        print(f"{'throughput GB/s':<22} {ours['gbps']:>10.2f} {naive['gbps']:>10.2f} {ours['gbps'] / naive['gbps']:>7.2f}x")
        print(f"{'CPU seconds':<22} {ours['cpu_s']:>10.1f} {naive['cpu_s']:>10.1f} {naive['cpu_s'] / max(ours['cpu_s'], 1e-9):>7.1f}x less")
        print(f"{'peak RSS growth MiB':<22} {ours['peak_mib']:>10.0f} {naive['peak_mib']:>10.0f} {naive['peak_mib'] / max(ours['peak_mib'], 1e-9):>7.1f}x less")
        print(f"(GB of both sides per second; evalkit with {workers} threads; {os.cpu_count()} CPUs; page cache warm; best of {args.repeats})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
