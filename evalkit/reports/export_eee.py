"""`evalkit export RUN... --format every-eval-ever --out DIR`: Every Eval Ever records (schema 0.3.0).

Schemas: evaleval/every_eval_ever @ 805ef1eb every_eval_ever/schemas/{eval,instance_level_eval}.schema.json,
vendored as evalkit/schemas/every_eval_ever.*.schema.json (see evalkit/schemas/README.md). Layout, as the
datastore requires (its validator's path and companion checks):
    DIR/data/<benchmark>/<developer>/<model>/<uuid4>.json            aggregate: one log per run
    DIR/data/<benchmark>/<developer>/<model>/<uuid4>_samples.jsonl   instance level: one record per sample
A suite adds DIR/data/<suite name>/<developer>/<model>/<uuid4>.json (macro averages, no sidecar).
Results per run: pass@k (metric_id pass_at_k, proportion in [0, 1]) with its bootstrap interval and
standard error, pass^k, maj@k (math), and EvalPlus's base figure as its own evaluation. Every sample is
one instance record linked to the run's pass@1 result (a sample's correctness is what pass@1 averages;
pass@k for k > 1 has no per-sample value). The uuid and every id derive from the run's identity and
creation time, so exporting the same runs again rewrites the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..store import PROMPTS, RunStore, iter_jsonl, model_slug
from .export import entry_id
from .run_records import problem_samples
from .runs import RunData

SCHEMA_VERSION = "0.3.0"
SCHEMAS = {"aggregate": "every_eval_ever.eval.schema.json", "instance": "every_eval_ever.instance_level_eval.schema.json"}
RELATIONSHIPS = ("first_party", "third_party", "collaborative", "other")


def schema(kind: str) -> dict:
    return json.loads((files("evalkit") / "schemas" / SCHEMAS[kind]).read_text(encoding="utf-8"))


def model_identity(run: RunData) -> tuple[str, str, str]:
    """(model_info.id, developer, model): a hub id as it is; a local checkpoint as local/<its slug>."""
    model = run.model
    parts = model.split("/")
    if len(parts) == 2 and all(parts) and not Path(model).exists() and not model.startswith((".", "/", "~")):
        return model, parts[0], parts[1]
    name = model_slug(model).replace(":", "_")
    return f"local/{name}", "local", name


def path_part(text: str) -> str:
    """One portable datastore path component (the validator's rules: no <>:"\\|?*, no trailing dot)."""
    out = "".join("_" if c in '<>:"\\|?*/' or ord(c) < 32 else c for c in text).rstrip(". ")
    return out if out and out != "data" else f"_{out}"


def file_uuid(*identity: str) -> str:
    """A version-4-shaped UUID derived from the run's identity (stable across re-exports)."""
    return str(uuid.UUID(bytes=hashlib.sha256("\0".join(identity).encode()).digest()[:16], version=4))


def created(run: RunData) -> tuple[str, str]:
    """(ISO time, Unix epoch string) of the run's creation."""
    iso = str(run.manifest.get("created") or "1970-01-01T00:00:00+00:00")
    return iso, str(int(datetime.fromisoformat(iso).timestamp()))


def source_data(run: RunData) -> dict:
    from ..adapters.registry import find_benchmark

    m = run.manifest
    details = {"data_hash": str(m.get("data_hash")), "data_version": str(m.get("data_version")), "data_source": str(m.get("data_source"))}
    bench = find_benchmark(run.benchmark)
    total = run.coverage()[1] or len(run.problem_ids)
    if bench is not None and bench.hub_id and not m.get("custom"):
        return {"dataset_name": run.benchmark, "source_type": "hf_dataset", "hf_repo": bench.hub_id, "hf_split": bench.split,
                "samples_number": int(total), "additional_details": details}
    return {"dataset_name": run.benchmark, "source_type": "other", "additional_details": details}


def metric(name: str, metric_id: str, k: int, n: int, description: str) -> dict:
    return {"evaluation_description": description, "metric_id": metric_id, "metric_name": name, "metric_kind": metric_id,
            "metric_unit": "proportion", "metric_parameters": {"k": k, "n": n}, "lower_is_better": False,
            "score_type": "continuous", "min_score": 0.0, "max_score": 1.0}


def score(values: np.ndarray, ci: Sequence[float] | None) -> dict:
    """score_details: the mean, its standard error (sample sd / sqrt(problems)) and bootstrap interval."""
    out: dict = {"score": float(values.mean()), "uncertainty": {"num_samples": int(len(values))}}
    if len(values) > 1:
        out["uncertainty"]["standard_error"] = {"value": float(np.std(values, ddof=1) / np.sqrt(len(values))), "method": "analytic"}
    if ci is not None:
        out["uncertainty"]["confidence_interval"] = {"lower": float(ci[0]), "upper": float(ci[1]), "confidence_level": 0.95,
                                                     "method": "percentile bootstrap over problems"}
        out["uncertainty"]["num_bootstrap_samples"] = 2000
    return out


def generation_config(run: RunData) -> dict:
    s = run.manifest.get("sampling") or {}
    args = {k: s[k] for k in ("temperature", "top_p") if s.get(k) is not None}
    if s.get("top_k") is not None:
        args["top_k"] = None if s["top_k"] == -1 else s["top_k"]
    if s.get("max_tokens") is not None:
        args["max_tokens"] = int(s["max_tokens"])
    extra = {"min_p": s.get("min_p"), "stop": s.get("stop"), "seed": run.manifest.get("seed"),
             "prompt_template": run.manifest.get("prompt_template"), "samples_file": run.manifest.get("samples_file")}
    return {"generation_args": args, "additional_details": {k: json.dumps(v) for k, v in extra.items() if v is not None}}


def results(run: RunData, ks: Sequence[int], base: dict | None) -> list[dict]:
    from ..scoring.stats import bootstrap_ci

    out, n = [], int(run.table.n.min()) if len(run.problem_ids) else 0
    kinds = [("pass", "pass@{k}", "pass_at_k"), ("hat", "pass^{k}", "pass_hat_k")] + ([("maj", "maj@{k}", "maj_at_k")] if run.family == "math" else [])
    for kind, label, metric_id in kinds:
        for k in ks:
            values = run.per_problem(kind, k)
            name = label.format(k=k)
            out.append({"evaluation_result_id": f"{run.benchmark}/{name}", "evaluation_name": run.benchmark, "source_data": source_data(run),
                        "evaluation_timestamp": created(run)[0], "metric_config": metric(name, metric_id, k, n, f"{name} on {run.benchmark}, unbiased estimator over n={n} samples per problem"),
                        "score_details": score(values, bootstrap_ci(values)[0] if kind == "pass" else None), "generation_config": generation_config(run)})
    for k, cell in (base or {}).get("pass_at_k", {}).items():
        out.append({"evaluation_result_id": f"{base['benchmark']}/pass@{k}", "evaluation_name": base["benchmark"], "source_data": source_data(run),
                    "evaluation_timestamp": created(run)[0], "metric_config": metric(f"pass@{k}", "pass_at_k", int(k), n, f"pass@{k} on {base['benchmark']}: EvalPlus's base tests of the {run.benchmark} samples"),
                    "score_details": {"score": cell["value"], "uncertainty": {"confidence_interval": {"lower": cell["ci95"][0], "upper": cell["ci95"][1],
                                      "confidence_level": 0.95, "method": "percentile bootstrap over problems"}, "num_bootstrap_samples": 2000}},
                    "generation_config": generation_config(run)})
    return out


def model_info(run: RunData) -> dict:
    model_id, developer, _ = model_identity(run)
    backend = str(run.manifest.get("backend") or "")
    deployment = "externally_managed" if backend == "openai" else "self_deployed" if backend in ("vllm", "hf") else "unknown"
    info = {"name": run.label, "id": model_id, "developer": developer,
            "additional_details": {"deployment_type": deployment, "model_availability": "unknown", "evalkit_model": run.model}}
    versions = run.manifest.get("versions") or {}
    if backend in ("vllm", "hf"):
        engine = "vllm" if backend == "vllm" else "transformers"
        info["inference_engine"] = {"name": engine, "version": str(versions.get(engine) or "unknown")}
    return info


def aggregate_log(run: RunData, ks: Sequence[int], base: dict | None, source_org: str, relationship: str) -> tuple[dict, str, Path]:
    """(the log without its sidecar reference, its uuid, its directory relative to DIR)."""
    model_id, developer, model = model_identity(run)
    iso, epoch = created(run)
    ident = entry_id(run.manifest)
    log = {
        "schema_version": SCHEMA_VERSION, "evaluation_id": f"evalkit/{run.benchmark}/{model_id}/{ident}", "evaluation_timestamp": iso,
        "retrieved_timestamp": epoch,
        "source_metadata": {"source_name": "evalkit", "source_type": "evaluation_run", "source_organization_name": source_org,
                            "evaluator_relationship": relationship, "additional_details": {"run_dir": str(run.path), "label": run.label}},
        "eval_library": {"name": "evalkit", "version": __version__,
                         "additional_details": {k: str(v) for k, v in (("samples_format", run.manifest.get("samples_format")),) if v}},
        "model_info": model_info(run), "evaluation_results": results(run, ks, base),
    }
    where = Path("data") / path_part(run.benchmark) / path_part(developer) / path_part(model)
    return log, file_uuid(ident, run.benchmark), where


def instance_records(run: RunData, log: dict, problems: dict | None):
    """One instance-level record per counted sample, problem by problem (index order)."""
    prompts = {rec["problem_id"]: rec["prompt"] for _, _, rec in iter_jsonl(RunStore(run.path).path / PROMPTS)}
    method = "evalkit code sandbox (tests)" if run.family == "code" else "evalkit math verifier (extraction + equivalence)"
    base = {"schema_version": SCHEMA_VERSION, "evaluation_id": log["evaluation_id"], "model_id": log["model_info"]["id"],
            "evaluation_name": run.benchmark, "evaluation_result_id": f"{run.benchmark}/pass@1", "interaction_type": "single_turn"}
    for pid, scored in problem_samples(run):
        p = problems.get(pid) if problems else None
        formatted = prompts.get(pid)
        formatted = formatted if isinstance(formatted, str) or formatted is None else json.dumps(formatted, ensure_ascii=False)
        raw = p.prompt if p is not None else (formatted or "")
        reference = [str(p.answer)] if p is not None and p.answer is not None else []
        sample_hash = hashlib.sha256(json.dumps({"raw": raw, "reference": reference}, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        for s in scored:
            yield {**base, "sample_id": pid, "sample_hash": sample_hash,
                   "input": {"raw": raw, "formatted": formatted, "reference": reference}, "output": {"raw": [s.completion]}, "messages": None,
                   "answer_attribution": [{"turn_idx": 0, "source": "output.raw", "extracted_value": "" if s.answer is None else str(s.answer),
                                           "extraction_method": method, "is_terminal": True}],
                   "evaluation": {"score": 1.0 if s.correct else 0.0, "is_correct": s.correct},
                   "error": s.status if s.status in ("timeout", "error", "oom") else None,
                   "metadata": {"sample_index": str(s.index), "status": s.status, "num_tokens": str(s.num_tokens)}}


def write_run(out: Path, run: RunData, ks: Sequence[int], base: dict | None, source_org: str, relationship: str) -> list[Path]:
    """The run's aggregate log and its instance-level sidecar, each written whole or not at all."""
    from ..store import write_json_atomic
    from .view import benchmark_problems

    log, name, where = aggregate_log(run, ks, base, source_org, relationship)
    folder = out / where
    folder.mkdir(parents=True, exist_ok=True)
    samples = folder / f"{name}_samples.jsonl"
    tmp, digest, rows = samples.with_name(samples.name + ".tmp"), hashlib.sha256(), 0
    with open(tmp, "wb") as f:
        for rec in instance_records(run, log, benchmark_problems(run, None)[0]):
            line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            digest.update(line)
            rows += 1
    tmp.replace(samples)
    log["detailed_evaluation_results"] = {"format": "jsonl", "file_path": (where / samples.name).as_posix(), "hash_algorithm": "sha256",
                                          "checksum": digest.hexdigest(), "total_rows": rows}
    write_json_atomic(folder / f"{name}.json", log)
    return [folder / f"{name}.json", samples]


def write_suite(out: Path, suite: dict, runs_by_label: dict, source_org: str, relationship: str) -> list[Path]:
    """One aggregate log per suite member: the macro-averaged pass@k (no sidecar: the samples are the runs')."""
    from ..store import write_json_atomic

    written = []
    for row in suite["runs"]:
        first = runs_by_label[row["label"]]
        model_id, developer, model = model_identity(first)
        iso, epoch = created(first)
        ident = hashlib.sha256(json.dumps(sorted(row["run_dirs"])).encode()).hexdigest()[:16]
        data = {"dataset_name": suite["name"], "source_type": "other",
                "additional_details": {"benchmarks": json.dumps(suite["benchmarks"]), "data_hashes": json.dumps(suite["data_hashes"]),
                                       "average": suite["average"]}}
        results_ = [{"evaluation_result_id": f"{suite['name']}/pass@{k}", "evaluation_name": suite["name"], "source_data": data,
                     "metric_config": {**metric(f"pass@{k}", "pass_at_k", int(k), 0, f"pass@{k} macro-averaged over {', '.join(suite['benchmarks'])}"),
                                       "metric_parameters": {"k": int(k)}},
                     "score_details": {"score": c["value"], "uncertainty": {"confidence_interval": {"lower": c["ci95"][0], "upper": c["ci95"][1],
                                       "confidence_level": 0.95, "method": "stratified percentile bootstrap over each benchmark's problems"},
                                       "standard_error": {"value": row["stderr"][k], "method": "bootstrap"},
                                       "num_bootstrap_samples": 2000}}} for k, c in row["pass_at_k"].items()]
        log = {"schema_version": SCHEMA_VERSION, "evaluation_id": f"evalkit/{suite['name']}/{model_id}/{ident}", "evaluation_timestamp": iso,
               "retrieved_timestamp": epoch, "source_metadata": {"source_name": "evalkit", "source_type": "evaluation_run",
                                                                 "source_organization_name": source_org, "evaluator_relationship": relationship},
               "eval_library": {"name": "evalkit", "version": __version__}, "model_info": model_info(first), "evaluation_results": results_}
        folder = out / "data" / path_part(suite["name"]) / path_part(developer) / path_part(model)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{file_uuid(ident, suite['name'])}.json"
        write_json_atomic(path, log)
        written.append(path)
    return written
