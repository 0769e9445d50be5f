"""`evalkit export RUN... --format lm-eval --out DIR`: results in lm-evaluation-harness's file layout.

What lm-eval writes with `--output_path DIR --log_samples` (lm_eval/loggers/evaluation_tracker.py,
lm-eval 0.4.13 / EleutherAI/lm-evaluation-harness @ 4e7e0d47): per model, DIR/<model_name_sanitized>/
    results_<date>.json          {"results": {task: {"alias", "<metric>,<filter>": value, "<metric>_stderr,<filter>": se}},
                                  "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
                                  "n-samples": {task: {original, effective}}, "config", "git_hash", "date", ...}
    samples_<task>_<date>.jsonl  per doc: doc_id, doc, target, arguments, resps (n repeats), filtered_resps,
                                  filter, metrics, doc_hash, prompt_hash, target_hash, and each metric's value
<date> is an ISO time with ":" as "-" (here: the newest run's creation time, so re-exporting the same
runs rewrites the same files). Metrics: pass@k and pass^k per k, maj@k (math), filter "none"; the stderr
is lm-eval's (the sample standard deviation of the per-problem values over sqrt(problems)). A suite
becomes a group (macro average over its tasks; its stderr: the sd of the stratified bootstrap). EvalPlus's base figure is `pass@k,base_tests`.
`filtered_resps` holds what evalkit's verifier extracted from each response; `resps` the responses.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..adapters.custom import dir_name
from ..store import PROMPTS, RunStore, iter_jsonl
from ..types import EvalkitError
from .run_records import problem_samples
from .runs import RunData


def sanitize_model_name(model: str) -> str:
    """lm_eval.utils.sanitize_model_name: the directory lm-eval files a model's results under."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", model)


def date_id(runs: Sequence[RunData]) -> str:
    created = max((str(r.manifest.get("created") or "") for r in runs), default="") or "1970-01-01T00:00:00"
    return datetime.fromisoformat(created).replace(tzinfo=None).isoformat().replace(":", "-")


def task_name(run: RunData) -> str:
    return dir_name(run.benchmark)


def metric_values(run: RunData, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """metric name -> per-problem values (the mean is the figure)."""
    out = {}
    for k in ks:
        out[f"pass@{k}"] = run.per_problem("pass", k)
        out[f"pass^{k}"] = run.per_problem("hat", k)
        if run.family == "math":
            out[f"maj@{k}"] = run.per_problem("maj", k)
    return out


def stderr(values: np.ndarray) -> float | str:
    """lm_eval.api.metrics.mean_stderr; "N/A" for a single problem, as lm-eval writes it."""
    if len(values) < 2:
        return "N/A"
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def task_results(run: RunData, ks: Sequence[int], base: dict | None) -> dict:
    row: dict = {"alias": run.benchmark}
    for name, values in metric_values(run, ks).items():
        row[f"{name},none"] = float(values.mean())
        row[f"{name}_stderr,none"] = stderr(values)
    if base:
        for k, cell in base["pass_at_k"].items():
            row[f"pass@{k},base_tests"] = cell["value"]
            row[f"pass@{k}_stderr,base_tests"] = "N/A"
    return row


def task_config(run: RunData) -> dict:
    m = run.manifest
    return {"task": task_name(run), "dataset_path": m.get("data_source"), "output_type": "generate_until",
            "repeats": int(run.table.n.max()) if len(run.problem_ids) else 0, "num_fewshot": 0,
            "generation_kwargs": m.get("sampling") or {}, "metadata": {"version": m.get("data_version"), "data_hash": m.get("data_hash"),
                                                                        "evalkit_run_dir": str(run.path), "prompt_template": m.get("prompt_template"),
                                                                        **({"custom": m["custom"]} if m.get("custom") else {})}}


def results_document(runs: Sequence[RunData], ks_of: dict, suite: dict | None, bases: dict) -> dict:
    """The results_<date>.json of one model's runs."""
    first = runs[0]
    tasks = {task_name(r): r for r in runs}
    results = {t: task_results(r, ks_of[t], bases.get(t)) for t, r in tasks.items()}
    hib = {t: {name: True for name in metric_values(r, ks_of[t])} for t, r in tasks.items()}
    groups = {}
    if suite:
        row = next(x for x in suite["runs"] if x["label"] == first.label)
        groups[suite["name"]] = {"alias": suite["name"], **{f"pass@{k},none": c["value"] for k, c in row["pass_at_k"].items()},
                                 **{f"pass@{k}_stderr,none": se for k, se in row["stderr"].items()}}
        hib[suite["name"]] = {f"pass@{k}": True for k in row["pass_at_k"]}
    return {
        "results": {**results, **groups}, **({"groups": groups} if groups else {}),
        "group_subtasks": {**({suite["name"]: list(tasks)} if suite else {}), **{t: [] for t in tasks}},
        "configs": {t: task_config(r) for t, r in sorted(tasks.items())},
        "versions": {t: r.manifest.get("data_hash") for t, r in sorted(tasks.items())},
        "n-shot": {t: 0 for t in sorted(tasks)}, "higher_is_better": dict(sorted(hib.items())),
        "n-samples": {t: {"original": r.coverage()[1] or len(r.problem_ids), "effective": len(r.problem_ids)} for t, r in tasks.items()},
        "config": {"model": first.manifest.get("backend") or "evalkit", "model_args": f"pretrained={first.model}", "batch_size": None,
                   "batch_sizes": [], "device": None, "use_cache": None, "limit": first.manifest.get("limit"), "bootstrap_iters": 2000,
                   "gen_kwargs": first.manifest.get("sampling"), "random_seed": first.manifest.get("seed"), "numpy_seed": None,
                   "torch_seed": None, "fewshot_seed": None},
        "git_hash": None, "date": _timestamp(first), "model_source": first.manifest.get("backend") or "evalkit",
        "model_name": first.model, "model_name_sanitized": sanitize_model_name(first.model), "task_hashes": {},
        "evalkit_version": __version__, "label": first.label,
    }


def _timestamp(run: RunData) -> float | None:
    created = run.manifest.get("created")
    return datetime.fromisoformat(created).timestamp() if created else None


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()  # lm_eval.utils.hash_string


def sample_records(run: RunData, ks: Sequence[int], problems: dict | None):
    """samples_<task>_<date>.jsonl records, one per problem, in the run's problem order."""
    store = RunStore(run.path)
    prompts = {rec["problem_id"]: rec["prompt"] for _, _, rec in iter_jsonl(store.path / PROMPTS)}
    values = metric_values(run, ks)
    row_of = {pid: i for i, pid in enumerate(run.problem_ids)}
    for pid, scored in problem_samples(run):
        p = problems.get(pid) if problems else None
        target = "" if p is None or p.answer is None else str(p.answer)
        doc = {"problem_id": pid, **({"question": p.prompt, "answer": p.answer, **p.metadata} if p is not None else {})}
        prompt = prompts.get(pid)
        prompt_text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
        rec = {"doc_id": row_of[pid], "doc": doc, "target": target,
               "arguments": {"gen_args_0": {"arg_0": prompt_text or "", "arg_1": str(run.manifest.get("sampling") or {})}},
               "resps": [[s.completion for s in scored]], "filtered_resps": [[str(s.answer) if s.answer is not None else "" for s in scored]],
               "filter": "none", "metrics": list(values), "doc_hash": _hash(json.dumps(doc, indent=2, ensure_ascii=False, default=str)),
               "prompt_hash": _hash(prompt_text or ""), "target_hash": _hash(target),
               "correct": [s.correct for s in scored], "status": [s.status for s in scored]}
        rec.update({name: float(v[row_of[pid]]) for name, v in values.items()})
        yield rec


def write_model(out: Path, runs: Sequence[RunData], ks_of: dict, suite: dict | None, bases: dict) -> list[Path]:
    """One model's results file and one samples file per task; returns the paths written."""
    from ..store import write_json_atomic
    from .view import benchmark_problems

    folder = out / sanitize_model_name(runs[0].model)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = date_id(runs)
    written = []
    for run in runs:
        problems, _ = benchmark_problems(run, None)
        path = folder / f"samples_{task_name(run)}_{stamp}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for rec in sample_records(run, ks_of[task_name(run)], problems):
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        tmp.replace(path)
        written.append(path)
    results = folder / f"results_{stamp}.json"
    write_json_atomic(results, results_document(runs, ks_of, suite, bases))
    return [results, *written]


def check_one_model_per_task(runs: Sequence[RunData]) -> None:
    seen: dict[tuple[str, str], RunData] = {}
    for r in runs:
        key = (r.model, task_name(r))
        if key in seen:
            raise EvalkitError(f"{seen[key].path} and {r.path} are both {r.model} on {r.benchmark}; lm-eval's layout holds one run of a "
                               "model per task: export them in separate --out directories")
        seen[key] = r
