"""`evalkit dynamics`: how training changes a model, checkpoint by checkpoint, several training runs
side by side: pass@k with intervals, maj@k, token entropy, length and truncation, update sparsity
against the starting checkpoint, and the paired difference against the starting checkpoint's run.

Every figure of a checkpoint is `summarize`'s (scoring/metrics.py), so it equals that run's
metrics.json; paired differences are `compare`'s. Everything that can be refused is checked from the
manifests before any run is read or any file written: steps, duplicate steps, benchmarks and data
versions, the checkpoints' architectures against --base-model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..scoring.metrics import default_ks
from ..scoring.table import STATUS_CODE, RunTable
from ..store import METRICS, RunStore
from ..types import EvalkitError
from .compare import manifest_differences, versus
from .runs import RunData, load_run
from .steps import Checkpoint, training_runs

SCHEMA = "evalkit.dynamics/1"
Notify = Callable[[str], None]


def truncated_rate(table: RunTable) -> float:
    """Share of samples cut off by the token limit: finish_reason `length` where the run's table records
    every sample's finish reason (`finish`, NO_FINISH = -1 when unknown), else the graders' `truncated`
    status (a length stop, or a <think> that never closed)."""
    finish = getattr(table, "finish", None)
    if finish is not None and len(finish) and (np.asarray(finish) >= 0).all():
        return float(np.count_nonzero(table.finished_by("length")) / len(finish))
    return float(np.count_nonzero(table.status == STATUS_CODE["truncated"]) / max(1, len(table.status)))


def checkpoint_figures(run: RunData, ks: Sequence[int]) -> dict:
    """One checkpoint's figures, as metrics.json gives them (summarize), plus entropy and truncation."""
    s = run.summary(ks)
    graded, total = run.coverage()
    return {
        "n": s["n"], **({"n_max": s["n_max"]} if "n_max" in s else {}),
        "num_problems": s["num_problems"], "num_problems_total": total,
        "pass_at_k": s["pass_at_k"], "ci95": s["ci95"], "maj_at_k": s.get("maj_at_k"),
        "mean_entropy": s["entropy"]["all"], "mean_tokens": s["mean_tokens"], "truncated_rate": truncated_rate(run.table),
    }


# -- what is asked for, checked before anything is read ---------------------------------------------
@dataclass
class Plan:
    """The checkpoints to count (by training run, in step order), the runs left out, and the checks' results."""

    trainings: dict[str, list[Checkpoint]]
    ks: list[int]
    reference: Path  # the run every other is checked against: --base-run, else the first checkpoint
    base_run: Path | None = None
    base_model: Path | None = None
    checkpoint_paths: dict[Path, Path] = field(default_factory=dict)  # run dir -> its checkpoint (with --base-model)
    skipped: list[dict] = field(default_factory=list)


def plan(specs: Sequence[str], ks: Sequence[int] | None, step_regex: str | None = None, base_run: str | None = None,
         base_model: str | None = None, notify: Notify = print) -> Plan:
    """Expand the globs, read steps and manifests, refuse what cannot be compared: no run is read yet."""
    trainings = training_runs(specs, step_regex)
    skipped = _drop_unfinished(trainings, notify)
    base = Path(base_run) if base_run else None
    if base is not None and not (base / METRICS).is_file():
        raise EvalkitError(f"--base-run {base} is not a finished run directory (no {METRICS}); pass the run of the starting checkpoint")
    every = [c.run_dir for cks in trainings.values() for c in cks]
    reference = base or every[0]
    _check_same_benchmark(reference, every)
    p = Plan(trainings, _choose_ks([*every, *([base] if base else [])], ks), reference, base, skipped=skipped)
    if base_model is not None:
        p.base_model = Path(base_model)
        p.checkpoint_paths = _locate_checkpoints(p.base_model, trainings)
    return p


def _drop_unfinished(trainings: dict[str, list[Checkpoint]], notify: Notify) -> list[dict]:
    """Runs without metrics.json (still sampling, or a --watch sweep under way) are left out, said once each."""
    skipped = []
    for name, cks in trainings.items():
        done = [c for c in cks if (c.run_dir / METRICS).is_file()]
        for c in cks:
            if c not in done:
                skipped.append({"run": name, "step": c.step, "run_dir": str(c.run_dir), "reason": "unfinished (no metrics.json)"})
                notify(f"note: {c.run_dir} (step {c.step} of {name}) is left out: unfinished (no {METRICS} yet)")
        if not done:
            raise EvalkitError(f"--run {name}: none of its {len(cks)} run directories is finished (no {METRICS}); "
                               "wait for `evalkit run` to finish them, or rerun it to resume")
        trainings[name] = done
    return skipped


def _check_same_benchmark(reference: Path, run_dirs: Sequence[Path]) -> None:
    """One benchmark and one data version throughout, as `compare` demands."""
    ref = RunStore(reference).manifest() or {}
    for d in run_dirs:
        m = RunStore(d).manifest() or {}
        if m.get("benchmark") != ref.get("benchmark"):
            raise EvalkitError(f"{d} is on benchmark {m.get('benchmark')} but {reference} is on {ref.get('benchmark')}; "
                               "give run directories of one benchmark (one `evalkit dynamics` per benchmark)")
        if m.get("data_hash") != ref.get("data_hash"):
            raise EvalkitError(f"{d} and {reference} were made on different versions of {ref.get('benchmark')} "
                               f"(data_hash {m.get('data_hash')} vs {ref.get('data_hash')}); rerun them on the same benchmark file")


def _choose_ks(run_dirs: Sequence[Path], ks: Sequence[int] | None) -> list[int]:
    """The user's ks (each at most every run's n), else powers of 4 up to the smallest n, as compare."""
    smallest = {d: _usable_n(d) for d in run_dirs}
    low = min(smallest, key=smallest.__getitem__)
    if not ks:
        return default_ks(smallest[low])
    if max(ks) > smallest[low]:
        raise EvalkitError(f"k={max(ks)} exceeds n={smallest[low]} of run {low}; drop that k or extend the run with a larger --n")
    return sorted(set(ks))


def _usable_n(run_dir: Path) -> int:
    """The largest k a finished run supports (its metrics.json n, or its adaptive design's min-n)."""
    try:
        metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EvalkitError(f"{run_dir / METRICS} is unreadable ({e}); rerun the command that made the run to rewrite it") from None
    design = metrics.get("design") or {}
    return int(design.get("min_n") or metrics.get("n") or 1)


def _locate_checkpoints(base_model: Path, trainings: dict[str, list[Checkpoint]]) -> dict[Path, Path]:
    """Each checkpoint's directory, found from its manifest, and of the base model's architecture."""
    from ..analysis.sparsity import check_architecture, locate_checkpoint

    if not base_model.exists():
        raise EvalkitError(f"--base-model {base_model} does not exist; pass the checkpoint training started from (a safetensors directory)")
    out = {}
    for cks in trainings.values():
        for c in cks:
            path = locate_checkpoint(c.model, c.run_dir)
            if path is None:
                raise EvalkitError(f"checkpoint {c.model!r} of run {c.run_dir} is not found from here; run `evalkit dynamics` "
                                   "in the directory `evalkit run` was started in, or drop --base-model")
            check_architecture(base_model, path, c.run_dir)
            out[c.run_dir] = path
    return out


# -- counting -------------------------------------------------------------------------------------
def build(p: Plan, notify: Notify = print) -> dict:
    """The report (schema evalkit.dynamics/1): one point per checkpoint, runs in the order given."""
    base = load_run(p.base_run) if p.base_run else None
    reference = (RunStore(p.reference).manifest() or {}) if base is None else base.manifest
    from tqdm import tqdm

    sparsity = _sparsity_cache(p, notify)
    runs = []
    with tqdm(total=sum(map(len, p.trainings.values())), desc="counting", unit="checkpoint", disable=None) as bar:
        for name, cks in p.trainings.items():
            points = []
            for c in cks:
                points.append(_point(c, p, base, reference, sparsity))
                bar.update(1)
            runs.append({"name": name, "points": points})
    return {
        "schema": SCHEMA, "benchmark": reference.get("benchmark"), "data_hash": reference.get("data_hash"),
        "data_version": reference.get("data_version"), "ks": p.ks,
        "reference": str(p.reference),
        "base_run": _base_summary(base, p.ks) if base is not None else None,
        "base_model": str(p.base_model) if p.base_model else None,
        "runs": runs, "skipped": p.skipped, "notes": notes(runs, p.skipped, str(p.reference)),
    }


def notes(runs: list[dict], skipped: list[dict], reference: str) -> list[str]:
    """What to keep in mind reading the figures, one line per kind of caveat (not per checkpoint)."""
    out = []
    partial: dict[tuple, list[str]] = {}
    differ: dict[tuple, list[str]] = {}
    for run in runs:
        for pt in run["points"]:
            total = pt.get("num_problems_total")
            if total and pt["num_problems"] < total:
                partial.setdefault((pt["num_problems"], total), []).append(f"{run['name']} step {pt['step']}")
            if pt["settings_differ"]:
                differ.setdefault(tuple(pt["settings_differ"]), []).append(f"{run['name']} step {pt['step']}")
    for (graded, total), where in partial.items():
        out.append(f"partial: {graded} of the benchmark's {total} problems at {_listing(where)}")
    for why, where in differ.items():
        out.append(f"settings differ from {reference} ({'; '.join(why)}) at {_listing(where)}")
    out += [f"left out: {s['run_dir']} ({s['run']} step {s['step']}): {s['reason']}" for s in skipped]
    return out


def _listing(items: list[str], most: int = 6) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _sparsity_cache(p: Plan, notify: Notify) -> Any:
    if p.base_model is None:
        return None
    from ..analysis.sparsity import SparsityCache

    return SparsityCache(p.base_model, notify=notify)


def _point(c: Checkpoint, p: Plan, base: RunData | None, reference: dict, sparsity: Any) -> dict:
    run = load_run(c.run_dir)
    point: dict[str, Any] = {"step": c.step, "run_dir": str(c.run_dir), "model": c.model, **checkpoint_figures(run, p.ks)}
    point.update({"sparsity": None, "sparsity_by_module": None, "update_norm_rel": None, "delta_vs_base": None, "crossover_k": None})
    if sparsity is not None:
        figures = sparsity.figures(c.run_dir, p.checkpoint_paths[c.run_dir])
        point["sparsity"] = figures["overall"]["frac_identical"]
        point["sparsity_by_module"] = {kind: s["frac_identical"] for kind, s in figures["by_module"].items()}
        point["update_norm_rel"] = figures["overall"]["rel_update_norm"]
    if base is not None:
        v = versus(run, base, p.ks)
        point["delta_vs_base"] = {k: {"diff": d["diff"], "ci95": d["ci95"], "p": d["p_value"]} for k, d in v["diff"].items()}
        point["crossover_k"] = v["crossover_k"]
        point["num_shared_problems"] = v["num_shared_problems"]
    point["settings_differ"] = _differences(reference, run, point)
    return point


def _differences(reference: dict, run: RunData, point: dict) -> list[str]:
    """What makes this checkpoint's samples not comparable with the reference's: settings, n, problems."""
    out = manifest_differences(reference, run.manifest)
    ref_n, ref_limit = reference.get("n"), reference.get("limit")
    if ref_n is not None and run.manifest.get("n") is not None and run.manifest.get("n") != ref_n:
        out.append(f"n: {ref_n} vs {run.manifest.get('n')}")
    if run.manifest.get("limit") != ref_limit:
        out.append(f"problems: {ref_limit or 'all'} vs {run.manifest.get('limit') or 'all'} (--limit)")
    return out


def _base_summary(base: RunData, ks: Sequence[int]) -> dict:
    return {"run_dir": str(base.path), "model": base.model, **checkpoint_figures(base, ks)}


def points_of(report: dict) -> list[tuple[str, dict]]:
    """(training run name, point) for every point of the report, runs in order, steps ascending."""
    return [(r["name"], pt) for r in report["runs"] for pt in r["points"]]
