"""`evalkit export --format lm-eval | every-eval-ever --out DIR`: the runs in other tools' schemas.

The leaderboard JSON (export.py) stays the default. Both other formats are directories of files, each
written whole (a temporary file renamed), figures recomputed from the runs' grades as everywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..scoring.metrics import default_ks
from ..types import EvalkitError
from .runs import RunData, assign_labels, load_run

FORMATS = ("leaderboard", "lm-eval", "every-eval-ever")


def run_ks(run: RunData, ks: Sequence[int] | None) -> list[int]:
    if ks:
        for k in ks:
            run.check_k(k)
        return sorted(set(ks))
    return default_ks(run.design.min_n if run.design is not None else run.n_min())


def load_runs(run_dirs: Sequence[str | Path], allow_partial: bool) -> list[RunData]:
    runs = [load_run(d) for d in run_dirs]
    for run in runs:
        graded, total = run.coverage()
        if total and graded < total and not allow_partial:
            raise EvalkitError(f"{run.path} covers {graded} of {total} problems of {run.benchmark}; "
                               "export full runs, or pass --allow-partial (the export then records its coverage)")
    seen = {}
    for run in runs:
        if run.path.resolve() in seen:
            raise EvalkitError(f"{run.path} is given twice; export each run once")
        seen[run.path.resolve()] = run
    assign_labels(runs)
    return runs


def out_dir(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise EvalkitError(f"--out {path} is a file; these formats write a directory of files: choose a directory")
    if not path.parent.is_dir():
        raise EvalkitError(f"--out {path}: directory {path.parent} does not exist")
    return path


def extras(runs: Sequence[RunData], ks: Sequence[int] | None) -> tuple[dict, dict, dict | None]:
    """(ks per run path, EvalPlus base figures per run path, the suite report or None)."""
    from ..base_tests import base_figures
    from .export import groups_of
    from .suite import suite_report

    ks_of = {r.path: run_ks(r, ks) for r in runs}
    bases = {r.path: base_figures(r.path, r.benchmark, r.problem_ids, r.table.n, ks_of[r.path], r.design) for r in runs}
    groups = groups_of(runs, ks)
    return ks_of, bases, suite_report(groups, ks) if len(groups) > 1 else None


def export_lm_eval(run_dirs: Sequence[str | Path], out: str | Path, ks: Sequence[int] | None = None,
                   allow_partial: bool = False) -> list[Path]:
    """DIR/<model>/results_<date>.json and samples_<task>_<date>.jsonl per model (export_lmeval.py)."""
    from .export_lmeval import check_one_model_per_task, task_name, write_model

    runs = load_runs(run_dirs, allow_partial)
    check_one_model_per_task(runs)
    path = out_dir(out)
    ks_of, bases, suite = extras(runs, ks)
    written = []
    for model in dict.fromkeys(r.model for r in runs):
        mine = [r for r in runs if r.model == model]
        in_suite = suite if suite and any(row["label"] == mine[0].label for row in suite["runs"]) and len(mine) > 1 else None
        written += write_model(path, mine, {task_name(r): ks_of[r.path] for r in mine}, in_suite,
                               {task_name(r): bases[r.path] for r in mine if bases[r.path]})
    return written


def export_every_eval_ever(run_dirs: Sequence[str | Path], out: str | Path, ks: Sequence[int] | None = None,
                           allow_partial: bool = False, source_org: str = "unknown", relationship: str = "other") -> list[Path]:
    """DIR/data/<benchmark>/<developer>/<model>/<uuid>.json + <uuid>_samples.jsonl per run (export_eee.py)."""
    from .export_eee import RELATIONSHIPS, write_run, write_suite

    if relationship not in RELATIONSHIPS:
        raise EvalkitError(f"--evaluator-relationship {relationship!r}: choose one of {', '.join(RELATIONSHIPS)}")
    runs = load_runs(run_dirs, allow_partial)
    path = out_dir(out)
    ks_of, bases, suite = extras(runs, ks)
    written = []
    for run in runs:
        written += write_run(path, run, ks_of[run.path], bases[run.path], source_org, relationship)
    if suite:
        firsts = {row["label"]: next(r for r in runs if r.label == row["label"]) for row in suite["runs"]}
        written += write_suite(path, suite, firsts, source_org, relationship)
    return written
