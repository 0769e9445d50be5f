"""The hand-built reasoning checkpoint (evalkit/tiny_think.py) behaves as its docstring says, checked
on its own next-token distributions: before `</think>` the chance of closing the thought is
1/mean_think, after it the chance of ending the answer is 1/mean_answer, and the answer mode draws
digits. Budget forcing's tests (slow tier) rely on exactly this."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def think_model(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.tiny_think import build_think_checkpoint

    path = build_think_checkpoint(tmp_path_factory.mktemp("think") / "m", mean_think=40.0, mean_answer=5.0)
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def _next_probs(model, tokenizer, text: str):
    import torch

    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        return torch.softmax(model(input_ids=ids).logits[0, -1].double(), -1)


def test_thinking_closes_and_answers_end_at_the_set_rates(think_model):
    from evalkit.tiny_think import THINK_CLOSE

    model, tok = think_model
    close, eos = tok.convert_tokens_to_ids(THINK_CLOSE), tok.eos_token_id
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True)
    assert prompt.rstrip().endswith("<think>")
    for context in ("", " let me add the numbers 2 and 3", " a much longer line of thought " * 20):
        p = _next_probs(model, tok, prompt + context)
        assert float(p[close]) == pytest.approx(1 / 40, rel=0.02) and float(p[eos]) == pytest.approx(1 / 2000, rel=0.05)
    answering = _next_probs(model, tok, prompt + " thinking about it " + THINK_CLOSE + " Final answer: 4")
    assert float(answering[close]) < 1e-6 and float(answering[eos]) == pytest.approx(1 / 5, rel=0.02)
    digits = sum(float(answering[tok.convert_tokens_to_ids(d)]) for d in "0123456789")
    assert digits > 0.5  # an answer is mostly digits
