"""A tiny reasoning checkpoint, built by hand in a second: thinks, closes `</think>`, answers, stops.

    python -m evalkit.tiny_think --out DIR [--mean-think 400]

Budget forcing (evalkit/forcing.py) needs a model whose completions have a thinking section, and the
shipped tiny-arith has none. This one is a real Qwen2 checkpoint (transformers and vLLM load it like
any other) with tiny-arith's tokenizer plus the added tokens `<think>` and `</think>`, and a chat
template that opens `<think>` in the prompt, as DeepSeek-R1's and Qwen3's thinking templates do.

Its weights are set, not trained, so its behaviour is known exactly: one attention head looks for a
`</think>` in the context. Until there is one, each token is drawn from the *thinking* distribution
(mostly text, `</think>` with probability 1/mean_think, end-of-text rarely), so thinking lengths are
geometric; once `</think>` is there, from the *answer* distribution (mostly digits, end-of-text with
probability 1/mean_answer). Forced with `</think>` + "Final answer:", it answers a
few tokens and stops, as a reasoning model does. It knows no arithmetic: its answers are right by
chance, which is all the tests and benchmarks of the machinery need.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .tiny_model import ASSET_DIR

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}Question: {{ m['content'] }}\nAnswer: {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}" + THINK_OPEN + "\n{% endif %}"
)
HIDDEN, HEAD_DIM = 128, 64
_SCORE = 20.0  # attention logit of a `</think>` key: e^20 outweighs any context length this model serves


def build_think_checkpoint(out: Path, mean_think: float = 24.0, mean_answer: float = 6.0, max_positions: int = 8192) -> Path:
    """Write the checkpoint to `out`: thinking lasts `mean_think` tokens on average (geometric), an
    answer `mean_answer`. Deterministic: the same arguments give the same files."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(ASSET_DIR)
    tokenizer.add_tokens([THINK_OPEN, THINK_CLOSE], special_tokens=False)
    tokenizer.chat_template = CHAT_TEMPLATE
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in (THINK_OPEN, THINK_CLOSE)}
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=256, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, head_dim=HEAD_DIM, max_position_embeddings=max_positions,
        rope_parameters={"rope_theta": 1e6, "rope_type": "default"}, tie_word_embeddings=False, rms_norm_eps=1e-6,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    think = _distribution(tokenizer, ids, answer=False, end=1 / mean_think)
    answer = _distribution(tokenizer, ids, answer=True, end=1 / mean_answer)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        _set_weights(model, ids[THINK_CLOSE], think, answer)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.do_sample = True
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def _distribution(tokenizer, ids: dict[str, int], answer: bool, end: float) -> list[float]:
    """Next-token probabilities of one mode. Thinking: printable text, `</think>` with probability `end`,
    end-of-text at 1/2000. Answering: mostly digits, end-of-text with probability `end`."""
    vocab = len(tokenizer)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    weights = [1.0 if _readable(tokenizer.decode([t])) else 0.0 for t in range(vocab)]
    if answer:  # a number, then end-of-text
        weights = [0.02 * w for w in weights]
    for digit in "0123456789":
        weights[tokenizer.convert_tokens_to_ids(digit)] = 1.0 if answer else 4.0
    if not answer:
        for t in tokenizer.encode(" \n", add_special_tokens=False):
            weights[t] = 20.0
    for t in (pad, ids[THINK_OPEN], ids[THINK_CLOSE], eos):
        weights[t] = 0.0
    scale = (1.0 - end - (0.0 if answer else 1 / 2000)) / sum(weights)
    probs = [w * scale for w in weights]
    probs[eos] = end if answer else 1 / 2000
    if not answer:
        probs[ids[THINK_CLOSE]] = end
    return probs


def _readable(text: str) -> bool:
    """Printable ASCII (a byte-level piece of a multi-byte character decodes to U+FFFD and is left out)."""
    return bool(text) and all(" " <= c <= "~" or c == "\n" for c in text)


def _set_weights(model, close_id: int, think: list[float], answer: list[float]) -> None:
    """One layer. Residual dim 0 is always 1; `</think>`'s embedding adds dim 2; head 0 attends to a
    `</think>` key (dim 31 of q and k: RoPE's slowest pair, so position barely matters) and writes 1 into
    dim 1. The final norm maps dims 0/1 to (s, 0) before `</think>` and (s/sqrt2, s/sqrt2) after it, and
    the untied lm_head turns those into the log-probabilities of the two distributions."""
    import torch

    s = math.sqrt(HIDDEN)  # RMSNorm of a unit vector along one axis
    emb = model.model.embed_tokens.weight
    emb[:, 0] = 1.0
    emb[close_id, 2] = 1.0
    layer = model.model.layers[0]
    for norm in (layer.input_layernorm, layer.post_attention_layernorm, model.model.norm):
        norm.weight.fill_(1.0)
    attn = layer.self_attn
    attn.q_proj.bias[31] = 4.0
    attn.k_proj.weight[31, 2] = _SCORE * math.sqrt(HEAD_DIM) * math.sqrt(2) / (4.0 * s)
    attn.v_proj.weight[0, 2] = math.sqrt(2) / s
    attn.o_proj.weight[1, 0] = 1.0
    log_think = torch.tensor([math.log(p) if p > 0 else -60.0 for p in think])
    log_answer = torch.tensor([math.log(p) if p > 0 else -60.0 for p in answer])
    head = model.lm_head.weight
    head[:, 0] = log_think / s
    head[:, 1] = math.sqrt(2) * log_answer / s - head[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mean-think", type=float, default=24.0, help="Mean thinking length in tokens.")
    ap.add_argument("--mean-answer", type=float, default=6.0, help="Mean answer length in tokens.")
    args = ap.parse_args()
    build_think_checkpoint(args.out, args.mean_think, args.mean_answer)
    print(json.dumps({"wrote": str(args.out), "mean_think": args.mean_think, "mean_answer": args.mean_answer}))


if __name__ == "__main__":
    main()
