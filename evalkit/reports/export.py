"""`evalkit export`: merge runs into a leaderboard JSON file with a shipped JSON Schema.

An entry is keyed by the evaluation's identity (the manifest's identity fields, store.IDENTITY_KEYS),
so exporting a run again, or after extending it, replaces its entry instead of adding a second one;
entries are sorted, so re-exporting the same runs rewrites identical bytes. A run that covers only part
of its benchmark (`score` of a subset, `--limit`) is refused unless --allow-partial, and its coverage
is recorded; so is data that matches no known release of the benchmark.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import jsonschema

from ..scoring.metrics import default_ks
from ..store import IDENTITY_KEYS, write_json_atomic
from ..types import EvalkitError
from .compare import run_summary
from .runs import RunData, load_run

SCHEMA_VERSION = 1
# Identity fields every entry id has hashed since schema 1 (None included); newer identity fields enter
# the hash only when a run has them, so the ids of existing entries do not change.
_LEGACY_IDENTITY = ("model", "benchmark", "data_hash", "sampling", "seed", "prompt_template")


def schema() -> dict:
    return json.loads((files("evalkit") / "schemas" / "leaderboard.schema.json").read_text(encoding="utf-8"))


def entry_id(manifest: dict) -> str:
    identity = {key: manifest.get(key) for key in IDENTITY_KEYS if key in _LEGACY_IDENTITY or manifest.get(key) is not None}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def entry(run: RunData, ks: Sequence[int] | None = None, allow_partial: bool = False) -> dict:
    """One leaderboard entry, recomputed from the run's grades."""
    graded, total = run.coverage()
    if total and graded < total and not allow_partial:
        raise EvalkitError(f"{run.path} covers {graded} of {total} problems of {run.benchmark}; "
                           "export full runs, or pass --allow-partial (the entry then records its coverage)")
    ks = sorted(set(ks)) if ks else default_ks(run.design.min_n if run.design is not None else run.n_min())
    s = run_summary(run, ks)
    m = run.manifest
    return {
        "id": entry_id(m),
        "model": run.model,
        "label": run.label,
        "benchmark": run.benchmark,
        "data_hash": run.data_hash,
        "data_version": m.get("data_version"),
        **({"unknown_data": True} if m.get("unknown_data") else {}),
        "n": s["n"],
        **({"n_max": s["n_max"]} if "n_max" in s else {}),
        "num_problems": s["num_problems"],
        **({"num_problems_total": total, "coverage": graded / total} if total else {}),
        "num_samples": s["num_samples"],
        "pass_at_k": s["pass_at_k"],
        "pass_hat_k": s["pass_hat_k"],
        **({"maj_at_k": s["maj_at_k"]} if "maj_at_k" in s else {}),
        "status_counts": s["status_counts"],
        **({"audit": s["audit"]} if "audit" in s else {}),
        **({"evalplus_base": s["evalplus_base"]} if "evalplus_base" in s else {}),
        **({"custom": m["custom"]} if m.get("custom") else {}),
        **{key: s[key] for key in ("truncation", "budgets", "cost") if key in s},
        "sampling": m.get("sampling"),
        "seed": m.get("seed"),
        "prompt_template": m.get("prompt_template"),
        **({"design": m["design"]} if m.get("design") else {}),
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
        raise EvalkitError(f"--out {path} is not JSON ({e}); choose another --out or delete it") from None
    except jsonschema.ValidationError as e:
        raise EvalkitError(f"--out {path} is not an evalkit leaderboard ({e.message}); choose another --out or delete it") from None
    return board


def export(run_dirs: Sequence[str | Path], out: str | Path, ks: Sequence[int] | None = None,
           allow_partial: bool = False) -> tuple[dict, int, int]:
    """Merge the runs into `out`; returns (board, entries added, entries replaced)."""
    path = Path(out)
    if not path.parent.is_dir():
        raise EvalkitError(f"--out {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise EvalkitError(f"--out {path} is a directory; the leaderboard is one JSON file (--format lm-eval or every-eval-ever write directories)")
    board = read_leaderboard(path)
    runs = [load_run(d) for d in run_dirs]  # all runs load before the file is touched
    new = [entry(r, ks, allow_partial) for r in runs]
    by_id = {e["id"]: e for e in board["entries"]}
    replaced = sum(e["id"] in by_id for e in {e["id"]: e for e in new}.values())
    by_id.update({e["id"]: e for e in new})
    entries = sorted(by_id.values(), key=lambda e: (e["benchmark"], e["model"], e["id"]))
    suites = merge_suites(board.get("suites", []), suite_entries(runs, ks))
    board = {"schema_version": SCHEMA_VERSION, "entries": entries, **({"suites": suites} if suites else {})}
    jsonschema.validate(board, schema())
    write_json_atomic(path, board)
    return board, len({e["id"] for e in new}) - replaced, replaced


def suite_entries(runs: Sequence[RunData], ks: Sequence[int] | None) -> list[dict]:
    """The suite rows of the exported runs (reports/suite.py): one per model label found on every benchmark."""
    from .suite import suite_id, suite_report

    groups = groups_of(runs, ks)
    suite = suite_report(groups, ks) if len(groups) > 1 else None
    if suite is None:
        return []
    by_dir = {str(r.path): entry_id(r.manifest) for r in runs}
    return [{"id": suite_id([by_dir[d] for d in row["run_dirs"]]), "name": suite["name"], "model": row["model"], "label": row["label"],
             "benchmarks": [{"benchmark": b, "data_hash": suite["data_hashes"][b], "entry": by_dir[d]} for b, d in zip(suite["benchmarks"], row["run_dirs"])],
             "average": suite["average"], "pass_at_k": row["pass_at_k"], "per_benchmark": row["per_benchmark"]} for row in suite["runs"]]


def merge_suites(old: list[dict], new: list[dict]) -> list[dict]:
    by_id = {s["id"]: s for s in old}
    by_id.update({s["id"]: s for s in new})
    return sorted(by_id.values(), key=lambda s: (s["name"], s["model"], s["id"]))


def groups_of(runs: Sequence[RunData], ks: Sequence[int] | None) -> list:
    """Runs grouped by benchmark as compare groups them (no baseline to put first). A benchmark whose runs
    were made on different data has no single figure per label: no suite is formed then."""
    from .compare import Group, choose_ks

    by_bench: dict[str, list[RunData]] = {}
    for r in runs:
        by_bench.setdefault(r.benchmark, []).append(r)
    if any(len({r.data_hash for r in rs}) > 1 for rs in by_bench.values()):
        return []
    return [Group(b, rs[0].data_hash, rs, choose_ks(rs, ks)) for b, rs in by_bench.items()]
