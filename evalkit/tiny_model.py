"""The embedded default checkpoint: a tiny Qwen2 trained from scratch on `arith`, on CPU, in about a minute.

    python -m evalkit.tiny_model --out DIR      # rebuild it (deterministic given torch's CPU kernels)

A copy ships in evalkit/assets/tiny-arith and is what `--model tiny-arith` resolves to. It is a
real checkpoint (config.json, model.safetensors, tokenizer.json with a chat-free base template):
transformers and vLLM load it like any other. head_dim is 64, the size vLLM's CPU attention needs.
Training stops early, so at temperature 1 it solves some problems and guesses at others: pass@1
lands well inside (0, 1) and pass@k rises with k.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

BUILTIN_NAME = "tiny-arith"
ASSET_DIR = Path(__file__).parent / "assets" / BUILTIN_NAME
SPECIALS = ("<|endoftext|>", "<|pad|>")


def resolve_builtin(model: str) -> str:
    """`tiny-arith` names the shipped checkpoint; anything else is returned unchanged."""
    return str(ASSET_DIR) if model == BUILTIN_NAME else model


def build_tokenizer(corpus: list[str]):
    """A byte-level BPE with single-digit tokens, trained from scratch on the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=list(SPECIALS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=SPECIALS[0], pad_token=SPECIALS[1])


def training_text(question: str, value: int) -> str:
    return f"Question: {question}\nAnswer: \\boxed{{{value}}}"


def build(out: Path, steps: int = 1200, seed: int = 0, log: bool = True) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from .adapters.arith import arith_question

    torch.manual_seed(seed)
    rng = random.Random(seed + 1)
    corpus = [training_text(*arith_question(rng)[:2]) for _ in range(4000)]
    tokenizer = build_tokenizer(corpus)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    t0 = time.time()
    for step in range(steps):
        batch = [training_text(*arith_question(rng)[:2]) for _ in range(64)]
        ids = [tokenizer(t)["input_ids"] + [eos] for t in batch]
        width = max(map(len, ids))
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        labels = input_ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        if log and step % 100 == 0:
            print(f"step {step:4d}  loss {loss.item():.3f}  {time.time() - t0:.0f}s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.do_sample = True
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def perturbed_checkpoint(src: Path, dst: Path, seed: int, scale: float) -> Path:
    """A copy of `src` (same architecture and tokenizer) whose every weight matrix moved by seeded
    Gaussian noise of `scale` times its own spread: a stand-in for a later training step, for sweep
    tests and benchmarks. scale 0 copies the weights unchanged."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = load_file(Path(src) / "model.safetensors")
    gen = torch.Generator().manual_seed(seed)
    moved = {name: (w + scale * w.float().std() * torch.randn(w.shape, generator=gen)).to(w.dtype) if w.numel() > 1 else w
             for name, w in weights.items()}
    save_file(moved, Path(dst) / "model.safetensors", metadata={"format": "pt"})
    return Path(dst)


def sparse_update_checkpoint(src: Path, dst: Path, fractions: dict[str, float], seed: int, scale: float = 0.3) -> dict[str, int]:
    """A copy of `src` in which, for every tensor whose name contains a key of `fractions`, exactly
    floor(fraction x size) entries at seeded random positions moved by Gaussian noise (`scale` times the
    tensor's spread) and now differ in their bits; all other entries are bit-identical. A stand-in for
    a checkpoint of a training run with a known update sparsity. Returns the changed entries per tensor."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = load_file(Path(src) / "model.safetensors")
    gen = torch.Generator().manual_seed(seed)
    changed = {}
    for name, w in weights.items():
        frac = next((f for key, f in fractions.items() if key in name), 0.0)
        count = int(frac * w.numel())
        flat = w.flatten().clone()
        where = torch.randperm(w.numel(), generator=gen)[:count]
        moved = flat[where] + scale * w.float().std() * torch.randn(count, generator=gen)
        same = moved == flat[where]  # noise below half an ulp: step to the next float instead
        moved[same] = torch.nextafter(flat[where][same], torch.full_like(flat[where][same], float("inf")))
        flat[where] = moved.to(w.dtype)
        weights[name], changed[name] = flat.reshape(w.shape), count
    save_file(weights, Path(dst) / "model.safetensors", metadata={"format": "pt"})
    return changed


def resized_checkpoint(src: Path, dst: Path, num_hidden_layers: int, seed: int = 0) -> Path:
    """A randomly initialised Qwen2 with `src`'s tokenizer and another depth: a checkpoint of another
    architecture, which cannot take `src`'s place in a running engine."""
    import shutil

    import torch
    from transformers import AutoConfig, Qwen2ForCausalLM

    shutil.copytree(src, dst)
    config = AutoConfig.from_pretrained(src)
    config.num_hidden_layers = num_hidden_layers
    config.layer_types = [config.layer_types[0]] * num_hidden_layers
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).save_pretrained(dst, safe_serialization=True)
    return Path(dst)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ASSET_DIR)
    ap.add_argument("--steps", type=int, default=1200)
    args = ap.parse_args()
    t0 = time.time()
    build(args.out, steps=args.steps)
    print(f"wrote {args.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
