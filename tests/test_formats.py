"""Issue 31: `evalkit score` reads other harnesses' outputs as they write them.

Every fixture is written the way its tool writes it: lm-eval's by lm-eval's own EvaluationTracker (the
records built as lm_eval/evaluator.py builds them); lighteval's by `datasets` exactly as lighteval's
EvaluationTracker.save does, from copies of its dataclasses (lighteval does not install beside this
project's pins); Qwen2.5-Math's and SkyThought's with their writers' json calls. Each sample's verdict
is planted (a boxed gold answer or a wrong one), so the grades are checked sample by sample against the
plan; the filtered / post-processed fields each tool also writes say the opposite, to show they are not
what is graded. Real recorded Qwen2.5-Math-harness outputs reproduce their published figures.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from rundirs import cli_result as cli, metrics

NUM = 12  # MATH-500 problems per fixture
REPEATS = 4


def correct(i: int, j: int) -> bool:
    """The plan: which sample j of problem i is right (every problem gets a different mix)."""
    return (i * 7 + j * 3) % 5 < 3


def response(row: dict, i: int, j: int) -> str:
    answer = row["answer"] if correct(i, j) else "-987654"
    return f"Let me think step by step.\nSo the answer is $\\boxed{{{answer}}}$."


@pytest.fixture(scope="module")
def rows(data_dir: Path) -> list[dict]:
    lines = (data_dir / "math500.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:NUM]]


def score(tmp_path: Path, samples: Path, *extra: str) -> tuple[int, str, Path]:
    out = tmp_path / "run"
    code, text = cli("score", "--bench", "math500", "--samples", str(samples), "--k", "1", "--out", str(out), *extra)
    return code, text, out


def verdicts(out: Path) -> dict[tuple[str, int], bool]:
    grades = [json.loads(line) for line in (out / "grades.jsonl").read_text().splitlines()]
    return {(g["problem_id"], g["sample_index"]): g["correct"] for g in grades}


def planned(n: int, order: list[int] | None = None) -> dict[tuple[str, int], bool]:
    return {(f"math500/{i}", j): correct(i, j) for i in (order or range(NUM)) for j in range(n)}


# -- lm-evaluation-harness ---------------------------------------------------------------------------
def lm_eval_samples(rows: list[dict], docs: list[dict], filters: list[str]) -> list[dict]:
    """Records as lm_eval/evaluator.py (EleutherAI/lm-evaluation-harness @ 4e7e0d47, lines 636-666) builds
    them with log_samples: per filter, per doc; `resps` per request, `repeats` responses each."""
    from lm_eval.utils import handle_non_serializable, hash_string

    out = []
    for filter_key in filters:
        for doc_id, (row, doc) in enumerate(zip(rows, docs)):
            context = f"Problem:\n{doc['problem']}\n\nSolution:"
            args = (context, {"until": ["Problem:"], "do_sample": True, "temperature": 0.6})
            resps = [response(row, doc_id, j) for j in range(REPEATS)]
            filtered = f"\\boxed{{{row['answer']}}}"  # what a filter kept: always right, so grading it would differ
            out.append({
                "doc_id": doc_id, "doc": doc, "target": row["answer"], "arguments": [args], "resps": [resps],
                "filtered_resps": [filtered], "filter": filter_key, "metrics": ["exact_match"],
                "doc_hash": hash_string(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False)),
                "prompt_hash": hash_string(context), "target_hash": hash_string(str(row["answer"])), "exact_match": 1.0,
            })
    return out


def write_with_lm_eval(tmp_path: Path, task: str, samples: list[dict]) -> Path:
    """lm-eval's own writer: EvaluationTracker.save_results_aggregated then save_results_samples."""
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(tmp_path / "lm-eval-out"))
    tracker.general_config_tracker.log_experiment_args(model_source="vllm", model_args="pretrained=Org/Model-7B",
                                                       system_instruction=None, chat_template=None, fewshot_as_multiturn=False)
    tracker.save_results_aggregated(results={"results": {task: {"alias": task}}}, samples={task: samples})
    tracker.save_results_samples(task, samples)
    (path,) = (tmp_path / "lm-eval-out").rglob(f"samples_{task}_*.jsonl")
    return path


@pytest.mark.parametrize("task", ["math500_full_rows", "minerva_math500"])
def test_lm_eval_samples_file(tmp_path: Path, rows: list[dict], task: str) -> None:
    """Full MATH-500 rows carry `unique_id` (found by id); minerva_math500's process_docs keeps only
    problem/solution/answer (found by question). Two filters: each doc is written twice, read once."""
    pytest.importorskip("lm_eval", reason="needs lm-eval (the dev extra) to write its samples file")
    docs = rows if task == "math500_full_rows" else [{"problem": r["problem"], "solution": r["solution"], "answer": r["answer"]} for r in rows]
    path = write_with_lm_eval(tmp_path, task, lm_eval_samples(rows, docs, ["score-first", "maj@4"]))
    assert len(path.read_text().splitlines()) == 2 * NUM
    code, out, run = score(tmp_path, path)
    assert code == 0, out
    assert "as lm-eval" in out and "raw responses (`resps`" in out and "not `filtered_resps`" in out
    assert verdicts(run) == planned(REPEATS)
    m = metrics(run)
    assert m["n"] == REPEATS and m["num_problems"] == NUM
    assert json.loads((run / "manifest.json").read_text())["samples_format"] == "lm-eval"


def test_lm_eval_file_of_another_benchmark_is_refused(tmp_path: Path, rows: list[dict], data_dir: Path) -> None:
    pytest.importorskip("lm_eval", reason="needs lm-eval (the dev extra) to write its samples file")
    aime = [json.loads(line) for line in (data_dir / "aime24.jsonl").read_text().splitlines()[:3]]
    docs = [{"problem": r["problem"], "answer": str(r["answer"])} for r in aime]
    path = write_with_lm_eval(tmp_path, "aime24", lm_eval_samples(rows[:3], docs, ["none"]))
    code, out, run = score(tmp_path, path)
    assert code != 0 and out.startswith("error: ") and out.count("\n") == 1, out
    assert ":1: it carries no id of the benchmark, and its question" in out and "matches none of math500's 500 problems" in out
    assert not run.exists()


# -- lighteval ----------------------------------------------------------------------------------------
class SamplingMethod(str, enum.Enum):  # lighteval/tasks/requests.py
    GENERATIVE = "GENERATIVE"
    LOGPROBS = "LOGPROBS"
    PERPLEXITY = "PERPLEXITY"


@dataclass(slots=True)
class Doc:  # huggingface/lighteval @ 3fd15266 src/lighteval/tasks/requests.py: the fields, order and defaults
    query: str
    choices: list[str]
    gold_index: int | list[int]
    instruction: str | None = None
    images: list | None = None
    specific: dict | None = None
    unconditioned_query: str | None = None
    original_query: str | None = None
    id: str = ""
    task_name: str = ""
    fewshot_samples: list = field(default_factory=list)
    sampling_methods: list = field(default_factory=list)
    fewshot_sorting_class: str | None = None
    generation_size: int | None = None
    stop_sequences: list[str] | None = None
    use_logits: bool = False
    num_samples: int = 1
    generation_grammar: None = None


@dataclass
class ModelResponse:  # src/lighteval/models/model_output.py
    input: str | list | None = None
    input_tokens: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    output_tokens: list[list[int]] = field(default_factory=list)
    text_post_processed: list[str] | None = None
    reasonings: list = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    argmax_logits_eq_gold: list[bool] = field(default_factory=list)
    logits: list[list[float]] | None = None
    unconditioned_logprobs: list[float] | None = None
    truncated_tokens_count: int = 0
    padded_tokens_count: int = 0


@dataclass
class Detail:  # src/lighteval/logging/info_loggers.py DetailsLogger.Detail
    doc: Doc
    model_response: ModelResponse
    metric: dict


MATH_QUERY_TEMPLATE = """
Solve the following problem. The final line of your response MUST be of the following format:
"ANSWER: $ANSWER" (without quotes) where $ANSWER is the final answer. Think step by step before answering.

{prompt}
""".strip()  # lighteval/tasks/tasks/math_500.py


def write_like_lighteval(path: Path, details: list[Detail]) -> None:
    """src/lighteval/logging/evaluation_tracker.py EvaluationTracker.save + save_details."""
    from datasets import Dataset

    dataset = Dataset.from_list([asdict(d) for d in details])
    names = [c for c in dataset.column_names if c != "id"]
    dataset.select_columns(sorted(names)).to_parquet(str(path))


def test_lighteval_details_parquet(tmp_path: Path, rows: list[dict]) -> None:
    """math_500's docs: the problem inside the task's template, `id` its position (one planted wrong, to
    show it is only a hint); `text_post_processed` is always right, to show the raw `text` is graded."""
    details = []
    for i, row in enumerate(rows):
        doc = Doc(query=MATH_QUERY_TEMPLATE.format(prompt=row["problem"]), choices=[f"ANSWER: {row['solution']}"], gold_index=0,
                  id=str(i if i != 5 else 7), task_name="lighteval|math_500|0", sampling_methods=[SamplingMethod.GENERATIVE],
                  generation_size=32768, num_samples=REPEATS)
        texts = [response(row, i, j) for j in range(REPEATS)]
        reply = ModelResponse(input=doc.query, input_tokens=[1, 2, 3], text=texts, output_tokens=[[5] * (10 + j) for j in range(REPEATS)],
                              text_post_processed=[f"ANSWER: {row['answer']}"] * REPEATS, reasonings=[None] * REPEATS)
        details.append(Detail(doc, reply, {"pass@k:k=1&n=4": 0.5}))
    path = tmp_path / "details_lighteval|math_500|0_2026-01-02T03-04-05.parquet"
    write_like_lighteval(path, details[::-1])  # any row order
    code, out, run = score(tmp_path, path)
    assert code == 0, out
    assert "as lighteval" in out and "not `text_post_processed`" in out
    assert verdicts(run) == planned(REPEATS)
    tokens = {json.loads(line)["num_tokens"] for line in (run / "samples.jsonl").read_text().splitlines()}
    assert tokens == {10, 11, 12, 13}  # the output_tokens lengths travel with the samples


# -- Qwen2.5-Math / math-evaluation-harness, SkyThought ---------------------------------------------
def qwen_sample(row: dict, i: int, with_code: bool = True) -> dict:
    """QwenLM/Qwen2.5-Math @ a45202bd evaluation/math_eval.py: the sample dict, `code`/`pred`/`report`
    added after generation, `score` by evaluate.py; written by utils.save_jsonl (json.dumps, ensure_ascii=False)."""
    codes = [response(row, i, j) for j in range(REPEATS)]
    sample = {"idx": i, "question": row["problem"], "gt_cot": row["solution"], "gt": row["answer"], "level": row["level"]}
    if with_code:
        sample["code"] = codes
    sample.update({"pred": [row["answer"] if correct(i, j) else "-987654" for j in range(REPEATS)], "report": [None] * REPEATS,
                   "score": [True] * REPEATS})  # the harness's own labels, here always True: not what is graded
    return sample


@pytest.mark.parametrize("with_code", [True, False])
def test_qwen_math_output(tmp_path: Path, rows: list[dict], with_code: bool) -> None:
    path = tmp_path / "test_qwen25-math-cot_-1_seed0_t0.6_s0_e-1.jsonl"
    order = [3, 0, 11, 7, 1, 2, 4, 5, 6, 8, 9, 10]
    with open(path, "w", encoding="utf-8") as f:
        for i in order:
            f.write(json.dumps(qwen_sample(rows[i], i, with_code), ensure_ascii=False) + "\n")
    code, out, run = score(tmp_path, path)
    assert code == 0, out
    assert "as qwen-math" in out and "`code`" in out
    assert verdicts(run) == planned(REPEATS, order)


def test_skythought_results_json(tmp_path: Path, rows: list[dict]) -> None:
    """NovaSky-AI/SkyThought @ 0d190f11 skythought/evals/inference_and_check.py: id_to_results keyed by
    `_index`, the row plus prompt / input_conversation / responses / token_usages, json.dumps(indent=4)."""
    results = {}
    for i, row in enumerate(rows):
        prompt = f"Return your final response within \\boxed{{}}. {row['problem']}"
        results[str(i)] = {**row, "_index": str(i), "prompt": prompt, "input_conversation": [{"role": "user", "content": prompt}],
                           "responses": [{"content": response(row, i, j), "correctness": True, "reason": None} for j in range(REPEATS)],
                           "token_usages": [{"completion_tokens": 100 + j, "prompt_tokens": 50} for j in range(REPEATS)]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results, indent=4, ensure_ascii=False), encoding="utf-8")
    code, out, run = score(tmp_path, path)
    assert code == 0, out
    assert "as skythought" in out
    assert verdicts(run) == planned(REPEATS)
    tokens = {(json.loads(s)["problem_id"], json.loads(s)["sample_index"]): json.loads(s)["num_tokens"]
              for s in (run / "samples.jsonl").read_text().splitlines()}
    assert all(tokens[(f"math500/{i}", j)] == 100 + j for i in range(NUM) for j in range(REPEATS))


def test_recorded_qwen_harness_outputs_reproduce_upstream(eval_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    """Qwen2.5-14B-Instruct through the Qwen2.5-Math harness (SkyThought's copy), scored as they are:
    AIME24 and AMC23 give the harness's own accuracy; on MATH-500 evalkit's grader agrees with the
    harness's stored labels on all but a few samples (its known false positives and negatives)."""
    sky = eval_dir / "skythought_qwen25math_harness_greedy"
    for bench in ("aime24", "amc23", "math500"):
        path = sky / f"Qwen2.5-14B-Instruct__{bench}.jsonl"
        out = tmp_path / bench
        code, text = cli("score", "--bench", bench, "--data", str(data_dir), "--samples", str(path), "--out", str(out))
        assert code == 0, text
        upstream = json.loads((sky / f"Qwen2.5-14B-Instruct__{bench}_metrics.json").read_text())["acc"]
        labels = {f"{bench}/{r['idx']}": r["score"][0] for r in map(json.loads, path.read_text().splitlines())}
        mine = {pid: ok for (pid, _), ok in verdicts(out).items()}
        agree = sum(labels[pid] == ok for pid, ok in mine.items()) / len(labels)
        if bench == "math500":
            assert agree >= 0.98 and abs(100 * metrics(out)["pass_at_k"]["1"] - upstream) <= 1.0, (agree, upstream)
        else:
            assert agree == 1.0 and round(100 * metrics(out)["pass_at_k"]["1"], 1) == upstream


# -- bad input -----------------------------------------------------------------------------------------
def test_file_in_no_known_format_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({"input": "What is 1 + 1?", "output": "2"}) + "\n")
    code, out = cli("score", "--bench", "arith", "--samples", str(path), "--out", str(tmp_path / "o"))
    assert code != 0 and out.startswith("error: ") and out.count("\n") == 1, out
    for name, needs in (("lm-eval", "doc_id, doc, resps"), ("lighteval", "doc, model_response"), ("qwen-math", "idx, question, code|pred"),
                        ("skythought", "responses"), ("evalplus", "task_id + solution"), ("evalkit", "problem_id")):
        assert f"{name} (" in out and needs in out, (name, out)
    assert not (tmp_path / "o").exists()


def test_named_format_that_does_not_fit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"problem_id": "arith/0", "completion": "1"}) + "\n")
    code, out = cli("score", "--bench", "arith", "--samples", str(path), "--format", "lm-eval", "--out", str(tmp_path / "o"))
    assert code != 0 and out.count("\n") == 1 and ':1: an lm-eval samples line has "doc_id" and "resps"' in out, out
    assert not (tmp_path / "o").exists()


def test_digest_covers_the_file(tmp_path: Path, rows: list[dict]) -> None:
    """The run records the bytes it read: the same file, the same samples_hash, whatever the format."""
    path = tmp_path / "results.json"
    results = {"0": {**rows[0], "_index": "0", "responses": [{"content": response(rows[0], 0, 0)}]}}
    path.write_text(json.dumps(results, indent=4), encoding="utf-8")
    code, out, run = score(tmp_path, path)
    assert code == 0, out
    want = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert json.loads((run / "manifest.json").read_text())["samples_hash"] == want


def test_format_names_are_the_readers() -> None:
    """The CLI's --format choices (formats.NAMES, importable without the readers) are the registry's."""
    from evalkit import formats

    assert tuple(formats.registry()) == formats.NAMES


@dataclass
class LegacyDetail:  # lighteval before 0.11 (@ 0ba8812f src/lighteval/logging/info_loggers.py DetailsLogger.Detail)
    example: str = ""
    instruction: str = ""
    full_prompt: str = ""
    num_effective_few_shots: int = 0
    num_asked_few_shots: int = 0
    predictions: list = field(default_factory=list)
    prediction_logits: list = field(default_factory=list)
    input_tokens: list = field(default_factory=list)
    cont_tokens: list = field(default_factory=list)
    truncated: list = field(default_factory=list)
    padded: list = field(default_factory=list)
    gold: list = field(default_factory=list)
    pred_logits: list = field(default_factory=list)
    choices: list = field(default_factory=list)
    gold_index: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    specifics: dict = field(default_factory=dict)


def test_lighteval_details_before_0_11(tmp_path: Path, rows: list[dict]) -> None:
    """The flat layout lighteval wrote until 0.11 (DetailsLogger.log: example = doc.query, predictions = the
    n generations flattened, cont_tokens per output); still what most published details files are."""
    details = [LegacyDetail(example=MATH_QUERY_TEMPLATE.format(prompt=row["problem"]), full_prompt=f"<|user|>{row['problem']}",
                            predictions=[response(row, i, j) for j in range(REPEATS)], cont_tokens=[[1] * (20 + j) for j in range(REPEATS)],
                            gold=[row["answer"]], metrics={"extractive_match": 1.0}, specifics={"extracted_predictions": ["x"]})
               for i, row in enumerate(rows)]
    path = tmp_path / "details_custom|math_500|0_2025-02-03T04-05-06.parquet"
    write_like_lighteval(path, details)
    code, out, run = score(tmp_path, path)
    assert code == 0, out
    assert "as lighteval" in out and verdicts(run) == planned(REPEATS)
