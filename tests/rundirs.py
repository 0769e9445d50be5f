"""Build run directories with planted grades and samples (for compare, gate and export tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from evalkit.store import GRADES, MANIFEST, SAMPLES, JsonlAppender, write_json_atomic
from evalkit.types import Grade, Sample


def make_run(
    path: Path,
    correct: np.ndarray | Sequence[Sequence[bool]],
    *,
    model: str = "model",
    benchmark: str = "arith",
    data_hash: str = "sha256:planted",
    statuses: dict[tuple[int, int], str] | None = None,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    ids: Sequence[str] | None = None,
    completion: Callable[[int, int], str] | None = None,
    finish: dict[tuple[int, int], str] | None = None,
) -> Path:
    """One problem per row of `correct` (n samples each); wrong samples get status `wrong` unless
    `statuses[(row, index)]` says otherwise. Samples get random tokens/entropy/log-prob, the text
    `completion(row, index)` (default "answer <index>") and the finish reason `finish[(row, index)]`
    (default "stop")."""
    correct = np.asarray(correct, dtype=bool)
    num, n = correct.shape
    ids = list(ids) if ids is not None else [f"{benchmark}/{i}" for i in range(num)]
    rng = rng or np.random.default_rng(seed)
    path.mkdir(parents=True)
    write_json_atomic(path / MANIFEST, {
        "model": model, "benchmark": benchmark, "data_hash": data_hash, "num_problems_total": num,
        "sampling": {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "max_tokens": 64, "stop": [], "logprobs": None},
        "seed": seed, "n": n, "limit": None, "versions": {"evalkit": "0.1.0", "python": "3.11"},
        "created": "2026-01-02T03:04:05+00:00",
    })
    with JsonlAppender(path / SAMPLES) as s_out, JsonlAppender(path / GRADES) as g_out:
        for r, pid in enumerate(ids):
            for i in range(n):
                ok = bool(correct[r, i])
                status = "correct" if ok else (statuses or {}).get((r, i), "wrong")
                text = completion(r, i) if completion is not None else f"answer {i}"
                s_out.write(Sample(pid, i, seed + i, text, (finish or {}).get((r, i), "stop"), num_tokens=int(rng.integers(5, 200)),
                                   mean_entropy=float(rng.uniform(0.1, 2.0)), mean_logprob=float(-rng.uniform(0.05, 1.5))).to_json())
                g_out.write(Grade(pid, i, ok, status, answer=str(i % 3) if status in ("correct", "wrong") else None).to_json())
    return path


def cli_result(*args: str) -> tuple[int, str]:
    """Invoke the CLI in-process; unexpected exceptions propagate, exits become (code, output)."""
    from click.testing import CliRunner

    from evalkit.cli import main

    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def records(run_dir: Path, name: str = "samples.jsonl") -> set[str]:
    """The file's records as a set (order-free), each canonicalised."""
    lines = (run_dir / name).read_text().splitlines()
    return {json.dumps(json.loads(line), sort_keys=True) for line in lines if line.strip()}


def metrics(run_dir: Path) -> dict:
    """metrics.json's figures: all of it but `cost` (wall times, which no two runs share)."""
    return figures(json.loads((run_dir / "metrics.json").read_text()))


def figures(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "cost"}
