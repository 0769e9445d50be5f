"""Prompt rendering: chat prompts are the model's own chat template applied to the established
instruction (checked against a ChatML string written out by hand), base prompts are the documented
few-shot templates, overrides (string, text file, TOML/JSON/YAML config) take effect, and a run
records the rendered prompt of every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.adapters.registry import MATH_INSTRUCTION, get_benchmark
from evalkit.cli import main
from evalkit.prompts import render, resolve_style
from evalkit.types import EvalkitError, Problem

# A Qwen-like ChatML template: a default system message unless the conversation brings its own.
CHATML = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a tiny assistant.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chatml(user: str, system: str = "You are a tiny assistant.") -> str:
    """The expected text, written out independently of any template engine."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def chat_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<|im_start|>": 1, "<|im_end|>": 2, "what": 3, "is": 4}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", bos_token="<|im_start|>", eos_token="<|im_end|>")
    tok.chat_template = CHATML
    return tok


@pytest.fixture(scope="module")
def base_tokenizer(chat_tokenizer):
    import copy

    tok = copy.deepcopy(chat_tokenizer)
    tok.chat_template = None
    return tok


PROBLEM = Problem(id="math500/0", prompt="Compute $\\sqrt{16}$ and write {x} literally.", answer="4", metadata={"level": 2})


def test_chat_prompt_is_the_models_template_around_the_instruction(chat_tokenizer):
    bench = get_benchmark("math500")
    style = resolve_style(bench, chat_tokenizer, None, None)
    assert style.chat
    got = render(PROBLEM, bench, style, chat_tokenizer)
    assert got == chatml(PROBLEM.prompt + "\n" + MATH_INSTRUCTION)
    assert MATH_INSTRUCTION == "Please reason step by step, and put your final answer within \\boxed{}."


def test_another_models_template_gives_that_models_format(chat_tokenizer):
    """Nothing is hard-coded: a Mistral-style template turns the same problem into [INST] ... [/INST]."""
    import copy

    tok = copy.deepcopy(chat_tokenizer)
    tok.chat_template = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
    bench = get_benchmark("olympiadbench")
    got = render(PROBLEM, bench, resolve_style(bench, tok, None, None), tok)
    assert got == f"<|im_start|>[INST] {PROBLEM.prompt}\n{MATH_INSTRUCTION} [/INST]"


def test_server_backend_gets_messages_not_text():
    bench = get_benchmark("aime24")
    style = resolve_style(bench, None, None, None)
    assert render(PROBLEM, bench, style, None) == [{"role": "user", "content": PROBLEM.prompt + "\n" + MATH_INSTRUCTION}]


def test_base_model_gets_few_shot_templates(base_tokenizer):
    gsm8k, math500 = get_benchmark("gsm8k"), get_benchmark("math500")
    style = resolve_style(gsm8k, base_tokenizer, None, None)
    text = render(PROBLEM, gsm8k, style, base_tokenizer)
    assert not style.chat and style.stop == ("\nQ:",)
    assert text.count("Q: ") == 9 and text.count("The answer is ") == 8  # Wei et al.: 8 exemplars
    assert text.startswith("Q: There are 15 trees in the grove.") and text.endswith(f"Q: {PROBLEM.prompt}\nA:")
    minerva = render(PROBLEM, math500, resolve_style(math500, base_tokenizer, None, None), base_tokenizer)
    assert minerva.count("Problem:\n") == 5 and minerva.count("Final Answer: The final answer is") == 4
    assert minerva.endswith(f"Problem:\n{PROBLEM.prompt}\n\nSolution:")


def test_chat_flag_without_a_chat_template_is_refused(base_tokenizer):
    with pytest.raises(EvalkitError, match="no chat template"):
        resolve_style(get_benchmark("math500"), base_tokenizer, True, None)


def test_string_and_text_file_overrides(chat_tokenizer, base_tokenizer, tmp_path):
    bench = get_benchmark("math500")
    style = resolve_style(bench, chat_tokenizer, None, "Solve: {prompt} (level {level}) {instruction}")
    assert render(PROBLEM, bench, style, chat_tokenizer) == chatml(f"Solve: {PROBLEM.prompt} (level 2) {MATH_INSTRUCTION}")
    f = tmp_path / "tpl.txt"
    f.write_text("Question: {prompt}\nAnswer:")
    base = resolve_style(bench, base_tokenizer, None, str(f))
    assert render(PROBLEM, bench, base, base_tokenizer) == f"Question: {PROBLEM.prompt}\nAnswer:"
    assert base.stop == ()  # the few-shot stops belong to the few-shot template, not to an override


CONFIGS = {
    "p.toml": 'system = "Be brief."\ninstruction = "Box it."\nbase = "Q: {prompt}\\nA:"\nstop = ["\\nQ:"]\n\n[benchmarks.gsm8k]\nuser = "GSM: {prompt} {instruction}"\n',
    "p.json": json.dumps({"system": "Be brief.", "instruction": "Box it.", "base": "Q: {prompt}\nA:", "stop": ["\nQ:"], "benchmarks": {"gsm8k": {"user": "GSM: {prompt} {instruction}"}}}),
    "p.yaml": 'system: Be brief.\ninstruction: Box it.\nbase: "Q: {prompt}\\nA:"\nstop: ["\\nQ:"]\nbenchmarks:\n  gsm8k:\n    user: "GSM: {prompt} {instruction}"\n',
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_prompt_config_file(name, chat_tokenizer, base_tokenizer, tmp_path):
    path = tmp_path / name
    path.write_text(CONFIGS[name])
    gsm8k, math500 = get_benchmark("gsm8k"), get_benchmark("math500")
    got = render(PROBLEM, gsm8k, resolve_style(gsm8k, chat_tokenizer, None, str(path)), chat_tokenizer)
    assert got == chatml(f"GSM: {PROBLEM.prompt} Box it.", system="Be brief.")
    got = render(PROBLEM, math500, resolve_style(math500, chat_tokenizer, None, str(path)), chat_tokenizer)
    assert got == chatml(f"{PROBLEM.prompt}\nBox it.", system="Be brief.")  # no per-benchmark table: defaults
    base = resolve_style(math500, base_tokenizer, None, str(path))
    assert render(PROBLEM, math500, base, base_tokenizer) == f"Q: {PROBLEM.prompt}\nA:" and base.stop == ("\nQ:",)


@pytest.mark.parametrize(
    "text, match",
    [
        ("user = 3\n", "must be a string"),
        ('usr = "{prompt}"\n', "unknown prompt field 'usr'"),
        ("user = \n", "cannot read prompt config"),
        ('[benchmarks.math500]\nbase = "Solve it."\n', "'base' has no {prompt}"),
    ],
)
def test_bad_prompt_config_is_one_line(text, match, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(EvalkitError, match=match) as e:
        resolve_style(get_benchmark("math500"), None, None, str(path))
    assert "\n" not in str(e.value)


def test_mistyped_template_file_is_refused(tmp_path):
    with pytest.raises(EvalkitError, match="is not a file, and as a template it has no {prompt}"):
        resolve_style(get_benchmark("math500"), None, None, str(tmp_path / "promts.toml"))


def test_show_prompt_prints_both_modes_and_overrides(tmp_path):
    out = CliRunner().invoke(main, ["benchmarks", "--show-prompt", "minerva_math"])
    assert out.exit_code == 0, out.output
    assert MATH_INSTRUCTION in out.output and "{prompt}\n{instruction}" in out.output
    assert "Final Answer: The final answer is $24$. I hope it is correct." in out.output
    path = tmp_path / "p.toml"
    path.write_text(CONFIGS["p.toml"])
    out = CliRunner().invoke(main, ["benchmarks", "--show-prompt", "gsm8k", "--prompt-template", str(path)])
    assert "GSM: {prompt} {instruction}" in out.output and "Be brief." in out.output and "Box it." in out.output
    out = CliRunner().invoke(main, ["benchmarks", "--show-prompt", "gsm9k"])
    assert out.exit_code != 0 and "did you mean 'gsm8k'" in out.output


def test_run_records_every_rendered_prompt(chat_tokenizer, tmp_path):
    """`prepare` (everything before sampling) writes prompts.jsonl: one chat-rendered prompt per problem."""
    from evalkit.config import EngineConfig, RunConfig
    from evalkit.pipeline import prepare

    model = tmp_path / "chat-model"
    chat_tokenizer.save_pretrained(model)
    config = RunConfig(model=str(model), bench="arith", ks=(1,), n=2, out=str(tmp_path / "run"), engine=EngineConfig(backend="hf"), limit=5)
    prep = prepare(config)
    recorded = [json.loads(line) for line in (Path(prep.store.path) / "prompts.jsonl").read_text().splitlines()]
    assert len(recorded) == 5 and len(prep.todo) == 10
    by_id = {r["problem_id"]: r["prompt"] for r in recorded}
    for p in prep.problems:
        assert by_id[p.id] == chatml(p.prompt + "\n" + MATH_INSTRUCTION)
    assert {r.prompt for r in prep.todo} == set(by_id.values())


def test_few_shot_base_run_stops_at_the_next_question(base_tokenizer, data_dir, tmp_path):
    """The few-shot stop goes into the sampling config and the manifest; an explicit --stop wins."""
    from evalkit.config import EngineConfig, RunConfig, SamplingConfig
    from evalkit.pipeline import prepare

    model = tmp_path / "base-model"
    base_tokenizer.save_pretrained(model)
    common = dict(model=str(model), bench="gsm8k", ks=(1,), n=1, engine=EngineConfig(backend="hf"), limit=2, data=str(data_dir))
    prep = prepare(RunConfig(**common, out=str(tmp_path / "a")))
    manifest = json.loads((Path(prep.store.path) / "manifest.json").read_text())
    assert prep.config.sampling.stop == ("\nQ:",) and manifest["sampling"]["stop"] == ["\nQ:"]
    assert prep.todo[0].prompt.endswith(f"Q: {prep.problems[0].prompt}\nA:")
    prep = prepare(RunConfig(**common, out=str(tmp_path / "b"), sampling=SamplingConfig(stop=("###",))))
    assert prep.config.sampling.stop == ("###",)
