"""Budget forcing end to end on the hf backend, with a hand-built reasoning checkpoint (evalkit/tiny_think.py):
the forced prompt is exactly prompt + the first B drawn tokens + marker + cue, the full-length budget is the
plain run, `evalkit budgets` afterwards equals forcing during the run (same seeds), a cut sweep resumes to
the same answers, the cost counts what was sent, the chat template is recorded and guarded, and samples
without recorded ids are re-tokenised only when that reproduces their token count."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from evalkit.config import sample_seed
from evalkit.samplers.hf import HFSampler
from evalkit.store import BUDGETS, TOKENS
from evalkit.thinking import budget_seed
from evalkit.tiny_think import THINK_CLOSE, build_think_checkpoint
from rundirs import cli_result as cli, figures, metrics, records

pytestmark = pytest.mark.slow  # loads a model (hf backend)

BUDGETS_ARG = "2,6,12,24"
MAX_TOKENS = 24
CUE = "\n\nFinal answer:"


def run_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--bench", "arith", "--backend", "hf", "--limit", "6", "--n", "4", "--k", "1,4",
            "--max-tokens", str(MAX_TOKENS), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def think_model(tmp_path_factory) -> Path:
    return build_think_checkpoint(tmp_path_factory.mktemp("think") / "tiny-think", mean_think=10, mean_answer=2, max_positions=512)


@pytest.fixture(scope="module")
def tokenizer(think_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(think_model)


@pytest.fixture(scope="module")
def forced(think_model, tmp_path_factory):
    """`evalkit run --think-budgets`, every continuation the sampler was asked for recorded."""
    out = tmp_path_factory.mktemp("forced") / "run"
    sent = []
    original = HFSampler.continue_tokens

    def spy(self, continuations, max_tokens):
        for got in original(self, continuations, max_tokens):
            sent.append(got.request)
            yield got

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HFSampler, "continue_tokens", spy)
        code, output = cli(*run_args(think_model, out, "--think-budgets", BUDGETS_ARG))
    assert code == 0, output
    return out, sent, output


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_forced_prompts_are_the_drawn_prefix_and_only_longer_thinking_is_forced(forced, tokenizer):
    out, sent, output = forced
    prompts = {r["problem_id"]: r["prompt"] for r in lines(out / "prompts.jsonl")}
    ids = {(r["problem_id"], r["sample_index"]): r["token_ids"] for r in lines(out / TOKENS)}
    samples = {(r["problem_id"], r["sample_index"]): r for r in lines(out / "samples.jsonl")}
    close, cue = tokenizer.convert_tokens_to_ids(THINK_CLOSE), tokenizer.encode(CUE, add_special_tokens=False)
    want = set()
    for key, drawn in ids.items():
        assert len(drawn) == samples[key]["num_tokens"]  # the ids recorded are the tokens the sample counts
        assert tokenizer.decode(drawn, skip_special_tokens=True) == samples[key]["completion"]
        think = drawn.index(close) if close in drawn else len(drawn) - (drawn[-1] == tokenizer.eos_token_id)
        want |= {(*key, b) for b in (2, 6, 12, 24) if b < think}
    assert {(c.problem_id, c.sample_index, c.budget) for c in sent} == want and len(sent) == len(want) > 20
    for c in sent:
        key = (c.problem_id, c.sample_index)
        prompt = tokenizer(prompts[c.problem_id], add_special_tokens=False)["input_ids"]
        assert list(c.prompt_ids) == prompt + ids[key][: c.budget] + [close] + cue
        assert c.seed == budget_seed(sample_seed(0, *key), c.budget)
    written = lines(out / BUDGETS)
    assert {(r["problem_id"], r["sample_index"], r["budget"]) for r in written} == want
    assert all(r["prefix_tokens"] == r["budget"] and r["token_source"] == "recorded" for r in written)
    assert "samples hit --max-tokens" in output


def test_the_full_length_budget_is_the_plain_run_and_figures_match_the_lines(forced):
    out, sent, _ = forced
    m = metrics(out)
    full = m["budgets"][str(MAX_TOKENS)]
    assert full["forced"] == 0
    assert full["pass_at_k"] == m["pass_at_k"] and full["ci95"] == m["ci95"] and full["maj_at_k"] == m["maj_at_k"]
    grades = {(g["problem_id"], g["sample_index"]): g["correct"] for g in lines(out / "grades.jsonl")}
    for b in (2, 6, 12):
        column = dict(grades)
        column.update({(r["problem_id"], r["sample_index"]): r["correct"] for r in lines(out / BUDGETS) if r["budget"] == b})
        pass1 = sum(column.values()) / len(column)
        assert m["budgets"][str(b)]["pass_at_k"]["1"] == pytest.approx(pass1)
        assert m["budgets"][str(b)]["forced"] == sum(c.budget == b for c in sent)


def test_budgets_afterwards_equal_budgets_during_the_run(forced, tmp_path):
    """`evalkit budgets` on the run's samples, in a process of its own with its own model: the same answers."""
    out, _, _ = forced
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    for name in (BUDGETS, "metrics.json"):
        (plain / name).unlink()
    manifest = json.loads((plain / "manifest.json").read_text())
    (plain / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k not in ("think_budgets", "cost")}))
    t0 = time.perf_counter()
    code, output = cli("budgets", str(plain), "--think-budgets", BUDGETS_ARG)
    elapsed = time.perf_counter() - t0
    assert code == 0, output
    cost = json.loads((plain / "manifest.json").read_text())["cost"]["budgets"]
    assert cost["startup_s"] > 0 and cost["wall_s"] > 0  # the sweep started its own model...
    assert cost["startup_s"] + cost["wall_s"] <= elapsed  # ...and that start is not also counted as generation
    assert records(plain, BUDGETS) == records(out, BUDGETS)
    assert metrics(plain) == metrics(out)


def test_a_cut_sweep_resumes_to_the_same_answers(forced, tmp_path):
    out, _, _ = forced
    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    text = (cut / BUDGETS).read_text().splitlines(keepends=True)
    (cut / BUDGETS).write_text("".join(text[: len(text) // 2]) + text[len(text) // 2][:25])  # and a torn line
    (cut / "metrics.json").unlink()
    code, output = cli("budgets", str(cut), "--think-budgets", BUDGETS_ARG)
    assert code == 0, output
    assert len((cut / BUDGETS).read_text().splitlines()) == len(text)  # only the missing ones were drawn
    assert records(cut, BUDGETS) == records(out, BUDGETS)
    assert metrics(cut) == metrics(out)


def test_cost_counts_what_was_sent(forced, tokenizer):
    out, sent, _ = forced
    manifest = json.loads((out / "manifest.json").read_text())
    cost = manifest["cost"]
    samples, budgets, ids = lines(out / "samples.jsonl"), lines(out / BUDGETS), lines(out / TOKENS)
    prompts = {r["problem_id"]: r["prompt"] for r in lines(out / "prompts.jsonl")}
    assert cost["draw"]["requests"] == len(samples) == 24
    assert cost["draw"]["completion_tokens"] == sum(s["num_tokens"] for s in samples)
    assert cost["draw"]["prompt_tokens"] == sum(len(tokenizer(prompts[r["problem_id"]], add_special_tokens=False)["input_ids"]) for r in ids)
    assert cost["budgets"]["requests"] == len(budgets) == len(sent)
    assert cost["budgets"]["prompt_tokens"] == sum(len(c.prompt_ids) for c in sent)
    assert cost["budgets"]["completion_tokens"] == sum(r["num_tokens"] for r in budgets)
    assert cost["draw"]["wall_s"] > 0 and cost["draw"]["tokens_per_s"] == pytest.approx(cost["draw"]["completion_tokens"] / cost["draw"]["wall_s"])
    assert cost["engine"]["backend"] == "hf" and cost["draw"]["prefix_cache_hit_rate"] is None  # hf has no prefix cache
    assert json.loads((out / "metrics.json").read_text())["cost"] == cost


def test_manifest_records_the_chat_template_and_settings_and_guards_the_template(forced, think_model, tokenizer, tmp_path):
    out, _, _ = forced
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chat_template"]["text"] == tokenizer.chat_template
    assert manifest["chat_template"]["sha256"] == hashlib.sha256(tokenizer.chat_template.encode()).hexdigest()
    assert manifest["generation"]["max_tokens"] == MAX_TOKENS and manifest["generation"]["temperature"] == 1.0
    assert manifest["think_budgets"]["think_end"] == THINK_CLOSE and manifest["think_budgets"]["answer_cue"] == CUE
    model = tmp_path / "tiny-think"
    shutil.copytree(think_model, model)
    first = ["run", "--model", str(model), "--bench", "arith", "--backend", "hf", "--limit", "1", "--n", "1", "--max-tokens", "4"]
    assert cli(*first, "--out", str(tmp_path / "r"))[0] == 0
    config = json.loads((model / "tokenizer_config.json").read_text())
    template = model / "chat_template.jinja"
    if template.exists():
        template.write_text(template.read_text().replace("Question: ", "Q: "))
    else:
        config["chat_template"] = config["chat_template"].replace("Question: ", "Q: ")
        (model / "tokenizer_config.json").write_text(json.dumps(config))
    code, output = cli(*first, "--n", "2", "--k", "1", "--out", str(tmp_path / "r"))
    assert code == 1 and "another chat template" in output and "--overwrite" in output


def test_samples_without_recorded_ids_are_retokenised_only_when_that_reproduces_them(tmp_path):
    """tiny-arith's short answers re-tokenise to the ids it drew: forcing them from text gives the answers
    forcing from the recorded ids gave; a sample whose count then disagrees is refused in one line."""
    recorded = tmp_path / "recorded"
    args = ["run", "--model", "tiny-arith", "--bench", "arith", "--backend", "hf", "--limit", "4", "--n", "2", "--k", "1",
            "--max-tokens", "12", "--think-budgets", "1,2", "--think-end", "{", "--answer-tokens", "6", "--out", str(recorded)]
    code, output = cli(*args)
    assert code == 0, output
    assert lines(recorded / BUDGETS)
    text = tmp_path / "text"
    shutil.copytree(recorded, text)
    (text / TOKENS).unlink()
    (text / BUDGETS).unlink()
    code, output = cli("budgets", str(text), "--think-budgets", "1,2", "--think-end", "{", "--answer-tokens", "6")
    assert code == 0, output
    strip = lambda rows: {json.dumps({k: v for k, v in r.items() if k != "token_source"}, sort_keys=True) for r in rows}  # noqa: E731
    assert strip(lines(text / BUDGETS)) == strip(lines(recorded / BUDGETS))
    assert {r["token_source"] for r in lines(text / BUDGETS)} == {"retokenized"}
    assert figures(json.loads((text / "metrics.json").read_text()))["budgets"] == metrics(recorded)["budgets"]
    bad = tmp_path / "bad"
    shutil.copytree(text, bad)
    (bad / BUDGETS).unlink()
    rows = lines(bad / "samples.jsonl")
    rows[0]["num_tokens"] += 3
    (bad / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, output = cli("budgets", str(bad), "--think-budgets", "1,2", "--think-end", "{", "--answer-tokens", "6")
    assert code == 1 and "no recorded token ids" in output and "--overwrite" in output and output.count("\n") == 1


def test_a_finished_sweep_reruns_without_a_model_and_regrades_its_answers(forced, think_model, tmp_path):
    """The same command again finds nothing to force (no model is loaded: no start-up is added to the cost);
    --regrade grades the forced answers again, to the same verdicts."""
    out, _, _ = forced
    again = tmp_path / "again"
    shutil.copytree(out, again)
    before = json.loads((again / "manifest.json").read_text())["cost"]
    code, output = cli(*run_args(think_model, again, "--think-budgets", BUDGETS_ARG))
    assert code == 0, output
    assert json.loads((again / "manifest.json").read_text())["cost"] == before
    code, output = cli(*run_args(think_model, again, "--think-budgets", BUDGETS_ARG, "--regrade"))
    assert code == 0, output
    assert records(again, BUDGETS) == records(out, BUDGETS) and metrics(again) == metrics(out)
