"""evalkit as a library, for training loops (verl, OpenRLHF, TRL callbacks) and notebooks.

    import evalkit

    result = evalkit.evaluate("tiny-arith", "arith", ks=(1, 4), limit=20, backend="hf")
    result.metrics["pass_at_k"]["4"]               # the same metrics.json the CLI writes
    result.grades["arith/0"][3].status              # per-sample grades, problems in benchmark order

    result = evalkit.score("arith", {"arith/0": ["\\\\boxed{3}", "\\\\boxed{4}"]}, ks=(1, 2))

`evaluate` can draw with a vLLM engine the trainer already runs (`llm=`), so no second copy of the
model is loaded. Both run the CLI's pipeline (the same run directory, resume and counting); without
`out` the run directory is a temporary one, removed once the results are read. Errors are
`evalkit.EvalkitError`s worded for Python (parameter names, not command-line flags).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .types import EvalkitError, Grade, natural_key


@dataclass
class Result:
    """What a call produced: metrics.json's content, and every grade by problem (in benchmark order)
    and sample index. `run_dir` is None when the run directory was temporary."""

    metrics: dict
    grades: dict[str, list[Grade]]
    run_dir: Path | None


def evaluate(model: str | None, bench: str, *, ks: Sequence[int] = (1,), n: int | None = None, llm: Any = None,
             out: str | Path | None = None, data: str | None = None, limit: int | None = None, seed: int = 0,
             backend: str = "auto", temperature: float = 1.0, top_p: float = 1.0, top_k: int = -1, min_p: float = 0.0,
             max_tokens: int = 1024, stop: Sequence[str] = (), logprobs: int | None = None, chat: bool | None = None,
             prompt_template: str | None = None, overwrite: bool = False, selection: dict | None = None,
             think_budgets: Sequence[int] | None = None, think_end: str | None = None, **engine: Any) -> Result:
    """Draw n samples per problem (n defaults to the largest k), grade them, and count.
    `think_budgets`: also force the thinking at each budget (metrics["budgets"], docs/reasoning-length.md),
    with `think_end` as the end-of-thinking marker (None: the model's own).

    `llm`: a running vllm.LLM to draw with (it is not shut down); `model` then only labels the run
    (None: the engine's model name). `engine`: EngineConfig fields (dtype, max_model_len,
    gpu_memory_utilization, tensor_parallel_size, base_url, batch_size, ...). `selection`: the benchmark's loading
    options, e.g. {"release_version": "release_v5", "start_date": "2024-08-01"} for livecodebench."""
    from .config import BudgetConfig, EngineConfig, RunConfig, SamplingConfig
    from .pipeline import run

    think = BudgetConfig(tuple(sorted(set(think_budgets))), think_end=think_end) if think_budgets is not None else None
    if llm is not None:
        backend = "vllm"
        model = model or str(llm.llm_engine.model_config.model)
    with _python_errors():
        config = RunConfig(
            model=model or "", bench=bench, ks=tuple(ks), n=n or max(ks), seed=seed, data=data, limit=limit,
            sampling=SamplingConfig(temperature, top_p, top_k, min_p, max_tokens, tuple(stop), logprobs),
            engine=EngineConfig(backend=backend, **engine), chat=chat, prompt_template=prompt_template, overwrite=overwrite,
            selection=dict(selection or {}), think=think,
        )
        return _in_run_dir(out, lambda d: run(_with_out(config, d), argv=["evalkit.evaluate"], llm=llm))


def score(bench: str, completions: Mapping[str, Sequence[str]] | Iterable[Mapping[str, Any]], *, ks: Sequence[int] = (1,),
          out: str | Path | None = None, data: str | None = None, model: str = "completions", overwrite: bool = False,
          selection: dict | None = None) -> Result:
    """Grade completions held in memory: {problem id: [text, ...]} (ids as evalkit or the benchmark
    names them), or records shaped like `evalkit score` lines ({"problem_id", "completion"}, ...)."""
    from .pipeline import ScoreConfig
    from .pipeline import score as run_score

    records = [{"problem_id": pid, "completions": list(texts)} for pid, texts in completions.items()] \
        if isinstance(completions, Mapping) else [dict(r) for r in completions]
    with tempfile.TemporaryDirectory(prefix="evalkit-score-") as tmp, _python_errors(Path(tmp) / "completions.jsonl", records):
        path = Path(tmp) / "completions.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

        def go(run_dir: Path) -> Any:
            return run_score(ScoreConfig(bench, str(path), tuple(ks), str(run_dir), data=data, model=model, overwrite=overwrite,
                                         selection=selection),
                             argv=["evalkit.score"])

        return _in_run_dir(out, go)


def _with_out(config: Any, run_dir: Path) -> Any:
    from dataclasses import replace

    return replace(config, out=str(run_dir))


def _in_run_dir(out: str | Path | None, go: Any) -> Result:
    """Run `go(run_dir)` in `out`, or in a temporary directory removed afterwards; read the results."""
    if out is not None:
        result = go(Path(out))
        return Result(result.metrics, read_grades(result.out), result.out)
    with tempfile.TemporaryDirectory(prefix="evalkit-run-") as tmp:
        result = go(Path(tmp) / "run")
        return Result(result.metrics, read_grades(result.out), None)


def read_grades(run_dir: str | Path) -> dict[str, list[Grade]]:
    """Every problem's grades in sample-index order (a regrade's later line wins)."""
    from .store import RunStore

    by_problem: dict[str, dict[int, Grade]] = {}
    for rec in RunStore(run_dir).iter_grades():
        g = Grade.from_json(rec)
        by_problem.setdefault(g.problem_id, {})[g.sample_index] = g
    return {pid: [row[i] for i in sorted(row)] for pid, row in sorted(by_problem.items(), key=lambda kv: natural_key(kv[0]))}


_FLAG = re.compile(r"--([a-z][a-z0-9-]*)")
_SWITCHES = {"overwrite", "regrade", "allow-unknown-data", "allow-partial"}
_NAMES = {"k": "ks", "samples": "completions", "bench": "bench"}


class _python_errors:
    """Re-word EvalkitErrors for Python callers: `--n 4` -> `n=4`, `pass --overwrite` -> `pass overwrite=True`;
    `score`'s internal file of the completions (`temp`, line N = `records[N - 1]`) becomes the argument."""

    def __init__(self, temp: Path | None = None, records: Sequence[Mapping[str, Any]] = ()) -> None:
        self.temp, self.records = temp, records

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> bool:
        if isinstance(error, EvalkitError):
            text = for_python(str(error)) if "--" in str(error) else str(error)
            if self.temp is not None:
                text = self._argument(text)
            if text != str(error):
                raise EvalkitError(text) from None
        return False

    def _argument(self, text: str) -> str:
        def record(m: re.Match) -> str:
            i = int(m.group(1)) - 1
            pid = self.records[i].get("problem_id") if 0 <= i < len(self.records) else None
            return f"completions[{pid!r}]" if isinstance(pid, str) and "completions" in self.records[i] else f"completions[{i}]"

        text = re.sub(re.escape(str(self.temp)) + r":(\d+)", record, text)
        return text.replace(f"in {self.temp}", "in the completions").replace(str(self.temp), "the completions")


def for_python(message: str) -> str:
    def name(m: re.Match) -> str:
        flag = m.group(1)
        if flag in _SWITCHES:
            return flag.replace("-", "_") + "=True"
        return _NAMES.get(flag, flag.replace("-", "_"))

    text = message.replace("rerun the same command", "call again with the same arguments")
    text = text.replace("rerun the command that made it", "call again with the same arguments")
    text = re.sub(r"--k (\d+(?:,\d+)*)", lambda m: f"ks=({', '.join(m.group(1).split(','))})", text)
    return _FLAG.sub(name, text)
