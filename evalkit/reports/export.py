"""`evalkit export`: merge runs into a leaderboard JSON file with a shipped JSON Schema.

An entry is keyed by the evaluation's identity (model, benchmark, data_hash, sampling, seed,
prompt template), so exporting a run again, or after extending it, replaces its entry instead of
adding a second one; entries are sorted, so re-exporting the same runs rewrites identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import jsonschema

from .compare import run_summary
from .runs import RunData, load_run
from ..store import write_json_atomic
from ..types import EvalkitError

SCHEMA_VERSION = 1


def schema() -> dict:
    return json.loads((files("evalkit") / "schemas" / "leaderboard.schema.json").read_text(encoding="utf-8"))


def default_ks(n: int) -> list[int]:
    """Powers of 2 up to n, and n itself."""
    out = [2**i for i in range(0, 31) if 2**i <= n]
    return out + ([n] if out[-1] != n else [])


def entry_id(manifest: dict) -> str:
    identity = {key: manifest.get(key) for key in ("model", "benchmark", "data_hash", "sampling", "seed", "prompt_template")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def entry(run: RunData, ks: Sequence[int] | None = None) -> dict:
    """One leaderboard entry, recomputed from the run's grades."""
    ks = sorted(set(ks)) if ks else default_ks(run.n_min())
    for k in ks:
        run.check_k(k)
    s = run_summary(run, ks)
    m = run.manifest
    return {
        "id": entry_id(m),
        "model": run.model,
        "benchmark": run.benchmark,
        "data_hash": run.data_hash,
        "n": s["n"],
        **({"n_max": s["n_max"]} if "n_max" in s else {}),
        "num_problems": s["num_problems"],
        "num_samples": s["num_samples"],
        "pass_at_k": s["pass_at_k"],
        "status_counts": s["status_counts"],
        "sampling": m.get("sampling"),
        "seed": m.get("seed"),
        "prompt_template": m.get("prompt_template"),
        "versions": m.get("versions") or {},
        "date": m.get("created"),
    }


def read_leaderboard(path: Path) -> dict:
    """An existing file must already be a valid leaderboard: never merge into something else."""
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "entries": []}
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(board, schema())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EvalkitError(f"--out {path} is not JSON ({e}); choose another --out or delete it")
    except jsonschema.ValidationError as e:
        raise EvalkitError(f"--out {path} is not an evalkit leaderboard ({e.message}); choose another --out or delete it")
    return board


def export(run_dirs: Sequence[str | Path], out: str | Path, ks: Sequence[int] | None = None) -> tuple[dict, int, int]:
    """Merge the runs into `out`; returns (board, entries added, entries replaced)."""
    path = Path(out)
    if not path.parent.is_dir():
        raise EvalkitError(f"--out {path}: directory {path.parent} does not exist")
    board = read_leaderboard(path)
    new = [entry(load_run(d), ks) for d in run_dirs]  # all runs load before the file is touched
    by_id = {e["id"]: e for e in board["entries"]}
    replaced = sum(e["id"] in by_id for e in {e["id"]: e for e in new}.values())
    by_id.update({e["id"]: e for e in new})
    entries = sorted(by_id.values(), key=lambda e: (e["benchmark"], e["model"], e["id"]))
    board = {"schema_version": SCHEMA_VERSION, "entries": entries}
    jsonschema.validate(board, schema())
    write_json_atomic(path, board)
    return board, len({e["id"] for e in new}) - replaced, replaced
