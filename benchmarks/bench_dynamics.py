"""Wall time of `evalkit dynamics` at the size the issue sets: 3 training runs x 20 checkpoints x
MATH-500 x n = 64 (1.92 M samples), with a base run, --base-model sparsity (cache warm), the JSON,
the figure and the page; against the floor any tool pays to read the same runs from JSONL
(json.loads of every grades.jsonl and samples.jsonl line) and against reading them through
RunData alone (what issue 29's columnar table.parquet replaces).

    python benchmarks/bench_dynamics.py [--runs 3] [--checkpoints 20] [--problems 500] [--n 64] [--keep DIR]

Run directories are planted (tests/rundirs.make_run: short completions, random token statistics);
checkpoints are copies of the tiny model with known fractions of their weights changed, so the first
(cold) call computes every diff and the timed calls find the cache warm.
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


def plant(root: Path, runs: int, checkpoints: int, problems: int, n: int) -> list[str]:
    """The run directories (and their checkpoints); returns the --run specs."""
    from evalkit.store import RunStore
    from evalkit.tiny_model import ASSET_DIR, sparse_update_checkpoint

    rng = np.random.default_rng(0)
    p = rng.beta(0.6, 1.0, problems)
    shutil.copytree(ASSET_DIR, root / "ckpts" / "base")
    base = make_run(root / "results" / "base" / "math500", rng.random((problems, n)) < p[:, None], model="ckpts/base", benchmark="math500", rng=rng)
    RunStore(base).write_metrics({"benchmark": "math500", "n": n})
    specs = []
    for r in range(runs):
        name = f"run{r}"
        for c in range(checkpoints):
            step = 50 * (c + 1)
            model = f"ckpts/{name}/global_step_{step}"
            sparse_update_checkpoint(ASSET_DIR, root / model, {"mlp": 0.01 * (c + 1), "self_attn": 0.005 * (c + 1) * r}, seed=1000 * r + c)
            q = np.clip(p + 0.002 * (r + 1) * c, 0, 1)
            d = make_run(root / "results" / f"{name}--global_step_{step}" / "math500", rng.random((problems, n)) < q[:, None], model=model,
                         benchmark="math500", rng=rng)
            RunStore(d).write_metrics({"benchmark": "math500", "n": n})  # finished (dynamics counts from the grades)
        specs.append(f"{name.upper()}={root}/results/{name}--global_step_*/math500")
    return specs


CPU: dict[float, float] = {}  # wall seconds -> CPU seconds of the same call (all threads of this process)


def timed(fn) -> float:
    """Wall seconds of fn(); its CPU seconds go to CPU (on a busy machine they are the steadier figure)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - t0
    CPU[wall] = time.process_time() - c0
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--checkpoints", type=int, default=20)
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--keep", type=Path, default=None, help="Plant into (or reuse) this directory and keep it.")
    args = ap.parse_args()

    import os

    from evalkit.reports.dynamics_report import dynamics
    from evalkit.reports.runs import load_run

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_dynamics_"))
    try:
        t_plant = 0.0
        if not (root / "specs.json").exists():
            root.mkdir(parents=True, exist_ok=True)
            t_plant = timed(lambda: (root / "specs.json").write_text(json.dumps(plant(root, args.runs, args.checkpoints, args.problems, args.n))))
        specs = json.loads((root / "specs.json").read_text())
        os.chdir(root)
        quiet = lambda line: None  # noqa: E731
        ks = sorted({1, min(8, args.n), args.n})
        call = lambda: dynamics(specs, ks, base_run=str(root / "results/base/math500"), base_model="ckpts/base",  # noqa: E731
                                json_file=str(root / "d.json"), plot=str(root / "d.png"), html=str(root / "d.html"), notify=quiet)
        for cache in root.glob("results/*/math500/param_sparsity.json"):  # a kept directory starts cold too
            cache.unlink()
        cold = timed(call)
        warm = min(timed(call) for _ in range(2))  # the faster of two, with its own CPU time
        dirs = sorted(str(p.parent) for p in root.glob("results/*/math500/manifest.json"))
        read = timed(lambda: [load_run(d) for d in dirs])
        floor = timed(lambda: [json.loads(line) for d in dirs for f in ("grades.jsonl", "samples.jsonl") for line in open(Path(d) / f, "rb")])
        samples = len(dirs) * args.problems * args.n
        print(f"{args.runs} training runs x {args.checkpoints} checkpoints + a base run, {args.problems} problems x n={args.n}: "
              f"{len(dirs)} run directories, {samples:,} samples" + (f" (planted in {t_plant:.0f}s)" if t_plant else ""))
        print(f"{'stage':<52}{'wall s':>9}{'CPU s':>9}{'x parse floor (wall)':>22}")
        rows = (("json.loads of every grades/samples line (floor)", floor, CPU[floor]),
                ("reading the runs through RunData (load_run)", read, CPU[read]),
                (f"evalkit dynamics, cold (computes {len(dirs) - 1} diffs)", cold, CPU[cold]),
                ("evalkit dynamics, sparsity cache warm", warm, CPU[warm]),
                ("  of which not reading runs (warm - read)", max(0.0, warm - read), max(0.0, CPU[warm] - CPU[read])))
        for name, t, cpu in rows:
            print(f"{name:<52}{t:9.2f}{cpu:9.2f}{t / floor:22.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
